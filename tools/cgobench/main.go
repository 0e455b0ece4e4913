// cgobench: a malloc/free-heavy C workload called from Go, for benchmarking C heap
// tracing (scripts/bench-cgo.sh, docs/PERFORMANCE.md).
//
// -threads goroutines (default GOMAXPROCS) each call C in a loop; every cgo call runs
// -batch malloc/free pairs (sizes 16, 32, 48, 64, 128, 256, 512 and 1024 bytes in
// turn, each block written once) and returns. The C is built with frame pointers, so
// that a frame-pointer walk from the allocator reaches the Go caller, as it does in
// cgo code built that way.
//
// Phases: warm-up (-warmup seconds of work), then, with -wait, "ready" on stdout and
// a wait for SIGUSR1 with nothing running (a tracer attaches then; what it sees from
// here on is the measured phase and little else), then the measured phase: -seconds,
// or -pairs pairs in all when given, then one result line of key=value pairs:
//
//	result go=V threads=G batch=B seconds=S pairs=N pairs_per_s=R ns_per_pair=X
//	       cpu_s=C cpu_ns_per_pair=Y
//
// ns_per_pair is the wall time of a pair on one thread (seconds * threads / pairs),
// cpu_ns_per_pair the process's CPU time (user + system, all threads) per pair. With
// -linger it then stays idle until SIGTERM or SIGINT, so that a tracer can be read
// and stopped before the workload goes away.
package main

/*
#cgo CFLAGS: -O2 -fno-omit-frame-pointer
#include <stdlib.h>

static const size_t cgobench_sizes[8] = { 16, 32, 48, 64, 128, 256, 512, 1024 };

// n malloc/free pairs; returns a byte of each block, so that nothing is optimized out.
__attribute__((noinline)) unsigned cgobench_pairs(unsigned n, unsigned seed)
{
	unsigned i, sum = 0;

	for (i = 0; i < n; i++) {
		volatile unsigned char *p = malloc(cgobench_sizes[(seed + i) & 7]);

		p[0] = (unsigned char)i;
		sum += p[0];
		free((void *)p);
	}
	return sum;
}
*/
import "C"

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

var sink atomic.Uint32

//go:noinline
func batch(n, seed int) {
	sink.Add(uint32(C.cgobench_pairs(C.uint(n), C.uint(seed))))
}

// run makes batches on every thread until stop is closed or, with limit > 0, until
// limit pairs in all are claimed; returns the pairs made.
func run(threads, n int, limit int64, stop <-chan struct{}) int64 {
	var done, claimed atomic.Int64
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(seed int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if limit > 0 && claimed.Add(int64(n)) > limit {
					return
				}
				batch(n, seed)
				seed += n
				done.Add(int64(n))
			}
		}(t)
	}
	wg.Wait()
	return done.Load()
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func main() {
	threads := flag.Int("threads", 0, "goroutines calling C at once (0: GOMAXPROCS)")
	n := flag.Int("batch", 64, "malloc/free pairs per cgo call")
	seconds := flag.Float64("seconds", 10, "length of the measured phase")
	pairs := flag.Int64("pairs", 0, "measure this many pairs instead of -seconds")
	warmup := flag.Float64("warmup", 1, "seconds of unmeasured work first")
	wait := flag.Bool("wait", false, "after warm-up print \"ready\" and wait for SIGUSR1")
	linger := flag.Bool("linger", false, "after the result stay idle until SIGTERM/SIGINT")
	flag.Parse()
	if *threads <= 0 {
		*threads = runtime.GOMAXPROCS(0)
	}
	if *n < 1 || *seconds <= 0 || *pairs < 0 || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "cgobench: bad -batch, -seconds, -pairs or -warmup")
		os.Exit(2)
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	timed := func(d time.Duration, limit int64) int64 {
		ch := make(chan struct{})
		if limit == 0 {
			time.AfterFunc(d, func() { close(ch) })
		}
		return run(*threads, *n, limit, ch)
	}
	if *warmup > 0 {
		timed(time.Duration(*warmup*float64(time.Second)), 0)
	}
	if *wait {
		fmt.Println("ready")
		select {
		case <-usr1:
		case <-stop:
			os.Exit(1)
		}
	}
	cpu0, t0 := cpuNanos(), time.Now()
	done := timed(time.Duration(*seconds*float64(time.Second)), *pairs)
	el, cpu := time.Since(t0), cpuNanos()-cpu0
	fmt.Printf("result go=%s threads=%d batch=%d seconds=%.3f pairs=%d pairs_per_s=%.0f "+
		"ns_per_pair=%.1f cpu_s=%.3f cpu_ns_per_pair=%.1f\n",
		runtime.Version(), *threads, *n, el.Seconds(), done, float64(done)/el.Seconds(),
		float64(el.Nanoseconds())*float64(*threads)/float64(done), float64(cpu)/1e9,
		float64(cpu)/float64(done))
	if *linger {
		<-stop
	}
}
