package main

import (
	"testing"
	"time"
)

// The flush starts within half of RELAIS_ERASE_WITHIN: settle plus one tick, leaving the rest
// for the flush, the servers' snapshots and one retry.
func TestRaftFlushTimes(t *testing.T) {
	for _, within := range []time.Duration{10 * time.Second, 30 * time.Second, 15 * time.Minute, 24 * time.Hour} {
		tick, settle := raftFlushTimes(within)
		if tick < time.Second || settle <= 0 || settle+tick > within/2 {
			t.Errorf("RELAIS_ERASE_WITHIN=%s: tick %s, settle %s: the flush may start after half of it", within, tick, settle)
		}
	}
}
