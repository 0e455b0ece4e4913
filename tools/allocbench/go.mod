module leakhound/tools/allocbench

go 1.19
