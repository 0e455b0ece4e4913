//go:build pprof

package main

import (
	"flag"
	"os"
	"runtime/pprof"
)

const pprofLinked = true

var heapProfile = flag.String("heapprofile", "", "write the runtime's own heap profile here at the end")

func finish() error {
	if *heapProfile == "" {
		return nil
	}
	f, err := os.Create(*heapProfile)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}
