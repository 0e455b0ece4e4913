module leakhound.test/allocbench

go 1.19
