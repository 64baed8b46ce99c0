package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// testBinary is the relais binary the tests run (buildRelais), built at most once per run
// into a directory removed at the end.
var testBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relais-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test binary directory:", err)
		os.Exit(1)
	}
	testBinary.dir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
