// allocbench: an allocation-heavy Go workload for benchmarking leakhound's Go heap
// tracer (scripts/bench-trace.sh, docs/PERFORMANCE.md).
//
// Every worker goroutine (one per GOMAXPROCS) serves "requests" the way a JSON/map
// service does: it builds a record (a map of strings, a slice of tags, nested
// structs with pointers), encodes it to JSON, decodes that into a map[string]any,
// sometimes allocates a medium buffer (1-64 KiB), and keeps a fraction of the
// results in a bounded per-worker cache, so the heap has a steady live set full of
// pointers and the GC has work. Live heap stays bounded: there is no leak.
//
// Phases: start (-memprofilerate sets runtime.MemProfileRate first thing in main),
// warm-up (-warmup), then, with -wait, "ready" on stdout and a wait for SIGUSR1
// (the driver sends it once the tracer is attached), then the measured phase
// (-seconds; with -wait-rate N, only once runtime.MemProfileRate is N, as a tracer
// writes it), then one result line of key=value pairs on stdout. With -linger the
// program then keeps running (unmeasured, idle) until SIGTERM/SIGINT, so that the
// driver can read the tracer's figures and stop it before the target goes away.
//
// Built twice: with -tags pprof it links runtime/pprof (the runtime samples at
// 512 KiB from the start) and -heapprofile writes its own heap profile at the end;
// without, nothing reaches runtime.MemProfile and the linker disables heap
// profiling (runtime.MemProfileRate is 0 when main starts).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type address struct {
	Street string `json:"street"`
	City   string `json:"city"`
	Zip    string `json:"zip"`
}

type item struct {
	SKU   string            `json:"sku"`
	Qty   int               `json:"qty"`
	Price float64           `json:"price"`
	Attrs map[string]string `json:"attrs"`
}

type record struct {
	ID      int64             `json:"id"`
	User    string            `json:"user"`
	Tags    []string          `json:"tags"`
	Labels  map[string]string `json:"labels"`
	Ship    *address          `json:"ship"`
	Items   []*item           `json:"items"`
	Comment string            `json:"comment"`
}

// cacheSize results kept per worker: the steady live set (no leak), tens of MiB.
const cacheSize = 16384

type worker struct {
	rnd   uint64
	cache [cacheSize]any
	next  int
	sink  []byte
	ops   uint64
}

func (w *worker) rand() uint64 {
	w.rnd ^= w.rnd << 13
	w.rnd ^= w.rnd >> 7
	w.rnd ^= w.rnd << 17
	return w.rnd
}

//go:noinline
func (w *worker) buildRecord() *record {
	n := int(w.rand()%6) + 1
	r := &record{
		ID:     int64(w.rand() >> 1),
		User:   "user-" + strconv.FormatUint(w.rand()%100000, 10),
		Labels: make(map[string]string, 4),
		Ship: &address{
			Street: strconv.FormatUint(w.rand()%999, 10) + " Main Street",
			City:   "City " + strconv.FormatUint(w.rand()%500, 10),
			Zip:    strconv.FormatUint(10000+w.rand()%89999, 10),
		},
	}
	for i := 0; i < n; i++ {
		r.Tags = append(r.Tags, "tag"+strconv.Itoa(i)+"-"+strconv.FormatUint(w.rand()%64, 10))
		r.Labels["k"+strconv.Itoa(i)] = strconv.FormatUint(w.rand(), 36)
		it := &item{
			SKU:   "sku-" + strconv.FormatUint(w.rand()%1e6, 16),
			Qty:   int(w.rand() % 10),
			Price: float64(w.rand()%10000) / 100,
			Attrs: map[string]string{"color": "red", "size": strconv.Itoa(i)},
		}
		r.Items = append(r.Items, it)
	}
	if w.rand()%4 == 0 {
		r.Comment = string(make([]byte, 64+w.rand()%512))
	}
	return r
}

// One request: build, encode, decode, maybe a medium buffer, maybe keep the result.
//
//go:noinline
func (w *worker) request() {
	r := w.buildRecord()
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	if w.rand()%16 == 0 {
		w.sink = make([]byte, 1024+w.rand()%(64*1024))
	}
	switch w.rand() % 8 {
	case 0:
		w.cache[w.next] = m
		w.next = (w.next + 1) % cacheSize
	case 1:
		w.cache[w.next] = r
		w.next = (w.next + 1) % cacheSize
	}
}

// cpuNanos: user+system CPU time of this process (all threads), from getrusage.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func mallocs() (uint64, uint64, uint32) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs, ms.TotalAlloc, ms.NumGC
}

func main() {
	rate := flag.Int("memprofilerate", -1, "set runtime.MemProfileRate to this first thing in main (-1: leave it)")
	seconds := flag.Float64("seconds", 10, "length of the measured phase")
	warmup := flag.Float64("warmup", 1, "seconds of unmeasured work before the measured phase")
	wait := flag.Bool("wait", false, "after warm-up print \"ready\" and wait for SIGUSR1 before measuring")
	linger := flag.Bool("linger", false, "after the result keep running (idle) until SIGTERM/SIGINT")
	waitRate := flag.Int("wait-rate", -1, "after SIGUSR1, wait until runtime.MemProfileRate is this (a tracer writes it) before measuring")
	workers := flag.Int("workers", 0, "worker goroutines (0: GOMAXPROCS)")
	flag.Parse()

	rateAtStart := runtime.MemProfileRate
	if *rate >= 0 {
		runtime.MemProfileRate = *rate
	}
	if *workers <= 0 {
		*workers = runtime.GOMAXPROCS(0)
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	var phase atomic.Int32 // 0 run, 1 stop
	ws := make([]*worker, *workers)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &worker{rnd: uint64(i)*0x9e3779b97f4a7c15 + 1}
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			for phase.Load() == 0 {
				for j := 0; j < 16; j++ {
					w.request()
				}
				atomic.AddUint64(&w.ops, 16)
			}
		}(ws[i])
	}
	totalOps := func() uint64 {
		var n uint64
		for _, w := range ws {
			n += atomic.LoadUint64(&w.ops)
		}
		return n
	}

	time.Sleep(time.Duration(*warmup * float64(time.Second)))
	if *wait {
		fmt.Println("ready")
		select {
		case <-usr1:
		case <-stop:
			os.Exit(1)
		}
	}
	if *waitRate >= 0 {
		// The tracer writes the rate into this process after its probes are attached:
		// the measured phase starts once the write is seen (read anew after each sleep).
		deadline := time.Now().Add(30 * time.Second)
		for runtime.MemProfileRate != *waitRate {
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "allocbench: MemProfileRate is %d after 30 s, not %d\n",
					runtime.MemProfileRate, *waitRate)
				os.Exit(1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	rateBefore := runtime.MemProfileRate
	ops0, cpu0 := totalOps(), cpuNanos()
	m0, b0, gc0 := mallocs()
	t0 := time.Now()
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	ops1, cpu1 := totalOps(), cpuNanos()
	m1, b1, gc1 := mallocs()
	el := time.Since(t0)
	rateAfter := runtime.MemProfileRate
	phase.Store(1)
	wg.Wait()

	ops := ops1 - ops0
	allocs := m1 - m0
	procs := runtime.GOMAXPROCS(0)
	fmt.Printf("result go=%s pprof=%t workers=%d procs=%d rate_at_start=%d rate_before=%d "+
		"rate_after=%d seconds=%.3f ops=%d ops_per_s=%.1f allocs=%d alloc_bytes=%d "+
		"allocs_per_op=%.2f ns_per_alloc=%.2f cpu_s=%.3f cpu_ns_per_op=%.1f cpu_ns_per_alloc=%.2f gcs=%d\n",
		runtime.Version(), pprofLinked, *workers, procs, rateAtStart, rateBefore,
		rateAfter, el.Seconds(), ops, float64(ops)/el.Seconds(), allocs, b1-b0,
		float64(allocs)/float64(ops), float64(el.Nanoseconds())*float64(procs)/float64(allocs),
		float64(cpu1-cpu0)/1e9, float64(cpu1-cpu0)/float64(ops),
		float64(cpu1-cpu0)/float64(allocs), gc1-gc0)
	if err := finish(); err != nil {
		fmt.Fprintln(os.Stderr, "allocbench:", err)
		os.Exit(1)
	}
	if *linger {
		<-stop
	}
}
