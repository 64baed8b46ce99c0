package events

import "testing"

func TestPurgeMovesConsumers(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    bool
	}{
		{"2.9.10", true}, {"2.9.11", true}, {"2.8.4", true}, {"1.4.0", true},
		{"2.9.12", false}, {"2.9.25", false}, {"2.10.0", false}, {"v2.15.2", false},
		{"2.11.0-RC.1", false}, {"2.9.11-beta", true}, {"", false}, {"garbage", false},
	} {
		if got := purgeMovesConsumers(tc.version); got != tc.want {
			t.Errorf("purgeMovesConsumers(%q) = %v, want %v", tc.version, got, tc.want)
		}
	}
}
