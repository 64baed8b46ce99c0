package commands_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

// failStateScanOnce fails the first scan for one member's Redis keys: the last Redis step of
// an erasure (deleting their state), which runs after the event log was erased.
type failStateScanOnce struct {
	token         string
	scans, failed atomic.Int32
}

var errInjected = errors.New("injected redis failure")

func (f *failStateScanOnce) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f *failStateScanOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "scan" && strings.Contains(fmt.Sprint(cmd.Args()...), f.token) {
			f.scans.Add(1)
			if f.failed.CompareAndSwap(0, 1) {
				cmd.SetErr(errInjected)
				return errInjected
			}
		}
		return next(ctx, cmd)
	}
}
func (f *failStateScanOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// An /oubli whose erasure fails after the event log was erased is redelivered and finished:
// the command's own message stays in the log until every step succeeded, so the failure
// leaves it pending rather than settled. In the batch loop and off it alike.
func TestForgetRetriedAfterLateFailure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		foreground bool
	}{
		{"background", false},
		{"foreground", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook := &failStateScanOnce{}
			s := newStackWith(t, consent.PolicyNotice, hook, func(s *stack) {
				s.foreground = tc.foreground
				hook.token = s.token(alice)
			}, nil)
			ctx := context.Background()
			s.publish(s.conversation(3)...)
			if _, found := s.lastChange(alice); !found {
				t.Fatal("Alice was not synced")
			}
			token := s.token(alice)

			m, err := s.env.Pub.EventMsg(s.command(alice, nil, "oubli"))
			if err != nil {
				t.Fatal(err)
			}
			ack, err := s.env.JS.PublishMsg(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.env.JS.Stream(ctx, s.env.Names.EventsStream())
			if err != nil {
				t.Fatal(err)
			}
			// Done once the erase change is out and the command's message is gone.
			var erased, cmdGone bool
			deadline := time.Now().Add(20 * time.Second)
			for !erased || !cmdGone {
				if time.Now().After(deadline) {
					t.Fatalf("after 20 s: erase change published %v, command deleted %v, state deletes tried %d",
						erased, cmdGone, hook.scans.Load())
				}
				time.Sleep(10 * time.Millisecond)
				c, _ := s.lastChange(alice)
				_, err := st.GetMsg(ctx, ack.Sequence)
				erased, cmdGone = c.Op == events.OpErase, errors.Is(err, jetstream.ErrMsgNotFound)
			}
			s.settled()

			if hook.failed.Load() != 1 || hook.scans.Load() < 2 {
				t.Fatalf("state deletes: %d failed of %d: the failure was not injected then retried",
					hook.failed.Load(), hook.scans.Load())
			}
			s.noTraceOf(t, token)
			if _, found := s.card(alice); found {
				t.Error("her card is still there")
			}
			if c, _ := s.lastChange(alice); c.Op != events.OpErase {
				t.Errorf("last contact change %+v, want erase", c)
			}
			s.checkLogs()
		})
	}
}
