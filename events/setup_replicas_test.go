package events

import (
	"errors"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// The default replica count comes from the servers the connection knows: a server alone
// gets 1, a cluster its size, at most three, whatever names the URLs use.
func TestClusterReplicasDefault(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		servers []string
		want    int
	}{
		{"embedded or single server", "", []string{"nats://127.0.0.1:4222"}, 1},
		{"single server that advertises several addresses", "", []string{"nats://a:4222", "nats://b:4222"}, 1},
		{"cluster of one", "c", []string{"nats://127.0.0.1:4222"}, 1},
		{"cluster of two", "c", []string{"nats://n1:4222", "nats://n2:4222"}, 2},
		{"cluster of three", "c", []string{"nats://n1:4222", "nats://n2:4222", "nats://n3:4222"}, 3},
		{"cluster of five", "c", []string{"nats://n1:4222", "nats://n2:4222", "nats://n3:4222", "nats://n4:4222", "nats://n5:4222"}, 3},
		{"same server twice", "c", []string{"nats://n1:4222", "tls://n1:4222"}, 1},
		{"no servers known", "c", nil, 1},
		{"unparsable entries ignored", "c", []string{"::", "nats://n1:4222"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := clusterReplicas(tc.cluster, tc.servers); got != tc.want {
				t.Fatalf("clusterReplicas(%q, %v) = %d, want %d", tc.cluster, tc.servers, got, tc.want)
			}
		})
	}
}

// Setup's replica decision for one stream: what it asks the server for, in order, and
// whether it gives up, when the server can place at most `room` replicas.
func TestReplicaPlacement(t *testing.T) {
	placementErr := &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement"}
	tests := []struct {
		name     string
		want     int
		guessed  bool
		current  int // 0: no stream yet
		room     int
		asks     []int
		wantErr  bool
		wantNext int // what the next stream is asked for
	}{
		{"new stream, chosen count", 3, false, 0, 3, []int{3}, false, 3},
		{"single-replica stream scaled up", 3, false, 1, 3, []int{3}, false, 3},
		{"guessed count scales up too", 3, true, 1, 3, []int{3}, false, 3},
		{"chosen count scales down", 1, false, 3, 3, []int{1}, false, 1},
		{"guessed count never scales down", 1, true, 3, 3, []int{3}, false, 1},
		{"zero means one", 0, false, 0, 3, []int{1}, false, 1},
		{"guess too high is lowered", 3, true, 0, 2, []int{3, 2}, false, 2},
		{"guess on a server alone", 3, true, 0, 1, []int{3, 2, 1}, false, 1},
		{"chosen count too high is an error", 3, false, 0, 2, []int{3}, true, 3},
		{"kept count that cannot be placed is an error", 2, true, 3, 2, []int{3}, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &replicaPlan{want: tc.want, guessed: tc.guessed}
			var asks []int
			err := p.place(tc.current, func(r int) error {
				asks = append(asks, r)
				if r > tc.room {
					return placementErr
				}
				return nil
			})
			if !slices.Equal(asks, tc.asks) {
				t.Errorf("asked for %v, want %v", asks, tc.asks)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("err %v, want error %v", err, tc.wantErr)
			}
			if next := replicasFor(p.want, p.guessed, 0); next != tc.wantNext {
				t.Errorf("next stream asked for %d, want %d", next, tc.wantNext)
			}
		})
	}
}

// Only the errors that say "not that many replicas here" lower a guess.
func TestIsPlacementError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&jetstream.APIError{ErrorCode: 10005}, true},
		{&jetstream.APIError{ErrorCode: 10023}, true},
		{&jetstream.APIError{ErrorCode: 10074}, true},
		{&jetstream.APIError{ErrorCode: 10058}, false},
		{jetstream.ErrStreamNotFound, false},
		{errors.New("nats: timeout"), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := isPlacementError(tc.err); got != tc.want {
			t.Errorf("isPlacementError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
