//go:build !pprof

package main

const pprofLinked = false

func finish() error { return nil }
