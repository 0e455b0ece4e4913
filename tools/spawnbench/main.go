// spawnbench: a goroutine-spawning workload for the goroutine tracer's benchmark
// (scripts/bench-gortrace.sh). One worker per GOMAXPROCS starts goroutines in batches
// of 64 that each do a little work and end, and waits for each batch. It warms up for
// -warmup seconds, prints "ready" and waits for SIGUSR1 (so that a tracer can attach
// first), then measures for -seconds and prints "spawns N per_s R ns_per_spawn X".
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var sink atomic.Uint64

//go:noinline
func task(i int, wg *sync.WaitGroup) {
	s := uint64(i)
	for k := 0; k < 50; k++ {
		s = s*6364136223846793005 + 1442695040888963407
	}
	sink.Add(s & 1)
	wg.Done()
}

// run spawns batches until stop is closed; returns the goroutines started.
func run(stop <-chan struct{}) uint64 {
	var total atomic.Uint64
	var workers sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			var wg sync.WaitGroup
			n := uint64(0)
			for {
				select {
				case <-stop:
					total.Add(n)
					return
				default:
				}
				wg.Add(64)
				for i := 0; i < 64; i++ {
					go task(i, &wg)
				}
				wg.Wait()
				n += 64
			}
		}()
	}
	workers.Wait()
	return total.Load()
}

func phase(d time.Duration) uint64 {
	stop := make(chan struct{})
	time.AfterFunc(d, func() { close(stop) })
	return run(stop)
}

func main() {
	secs := flag.Float64("seconds", 10, "measured phase")
	warm := flag.Float64("warmup", 2, "warm-up before it")
	wait := flag.Bool("wait", true, "wait for SIGUSR1 between warm-up and measurement")
	flag.Parse()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	phase(time.Duration(*warm * float64(time.Second)))
	fmt.Println("ready")
	if *wait {
		<-usr1
	}
	start := time.Now()
	n := phase(time.Duration(*secs * float64(time.Second)))
	el := time.Since(start).Seconds()
	fmt.Printf("spawns %d per_s %.0f ns_per_spawn %.1f\n", n, float64(n)/el, el*1e9/float64(n))
}
