package main

import (
	"context"
	"errors"
	"io"
	"testing"
)

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no events", []string{"--events", "0"}},
		{"too many leaders", []string{"--members", "10", "--leaders", "6"}},
		{"bad rss counts", []string{"--rss", "--rss-events", "100k,lots"}},
		{"negative crm rate", []string{"--crm-rate", "-1"}},
		{"stray argument", []string{"now"}},
		{"unknown flag", []string{"--fast"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cmdBench(context.Background(), tc.args, io.Discard, io.Discard)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("cmdBench(%v) = %v, want a usage error", tc.args, err)
			}
		})
	}
}
