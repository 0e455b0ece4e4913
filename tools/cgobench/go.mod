module leakhound/tools/cgobench

go 1.19
