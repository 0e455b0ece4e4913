module leakhound.test/spawnbench

go 1.19
