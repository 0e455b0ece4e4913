module leakhound.test/cgobench

go 1.19
