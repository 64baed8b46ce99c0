package crm_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/crm"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// eraseSink records erases and fails them as told.
type eraseSink struct {
	mu     sync.Mutex
	erases []string // refs passed to Erase
	fail   []error  // returned by the next calls, in order
}

func (s *eraseSink) Upsert(_ context.Context, c crm.Contact) (string, error) {
	return "crm-" + c.ExternalID, nil
}

func (s *eraseSink) Erase(_ context.Context, _, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erases = append(s.erases, ref)
	if len(s.fail) > 0 {
		err := s.fail[0]
		s.fail = s.fail[1:]
		return err
	}
	return nil
}

func (s *eraseSink) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.erases...)
}

// runWorker runs a worker into sink until the test ends. With erasable, the refs bucket is
// created the way a deployment should create it: allowing secure deletes.
func runWorker(t *testing.T, sink crm.Sink, erasable bool) *eventstest.Env {
	t.Helper()
	env := eventstest.New(t)
	ctx := context.Background()
	if erasable {
		if err := env.JS.DeleteKeyValue(ctx, env.Names.CRMRefsBucket()); err != nil {
			t.Fatal(err)
		}
		if _, err := events.ErasableKeyValue(ctx, env.JS, jetstream.KeyValueConfig{Bucket: env.Names.CRMRefsBucket(), Storage: jetstream.FileStorage}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := crm.NewWorker(crm.WorkerConfig{Concurrency: 2, BaseDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond}, env.JS, env.Names, env.Pub, sink)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return env
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var notify = &events.Notify{Platform: events.Telegram, Chat: "7001", Done: "Vos données sont effacées.", Failed: "Effacement impossible : %s"}

func eraseChange(member, id string) events.ContactChange {
	return events.ContactChange{V: events.Version, ID: id, Member: member, ExternalID: events.ExternalID(member),
		Op: events.OpErase, At: time.Now().UTC(), Notify: notify}
}

// replies returns every reply waiting in the stream.
func replies(t *testing.T, env *eventstest.Env) []events.Reply {
	t.Helper()
	ctx := context.Background()
	s, err := env.JS.Stream(ctx, env.Names.RepliesStream())
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Reply
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(env.Names.RepliesFilter()))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := events.DecodeReply(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		seq = m.Sequence + 1
	}
}

// onSubject reports whether stream holds any message on subject.
func onSubject(t *testing.T, env *eventstest.Env, stream, subject string) bool {
	t.Helper()
	s, err := env.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.GetMsg(context.Background(), 1, jetstream.WithGetMsgSubject(subject))
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestWorkerEraseNotifies: once the CRM confirmed an erasure, the member is told once, and
// neither the change (their chat id) nor the refs entry (the CRM's id for them) stays.
// A retryable failure first tells them nothing.
func TestWorkerEraseNotifies(t *testing.T) {
	sink := &eraseSink{fail: []error{&crm.Error{Op: "delete signup", Status: 503, Retryable: true}}}
	env := runWorker(t, sink, true)
	ctx := context.Background()
	up := change("gone", 1, []string{"relais-actif"}, false, "+33612345678")
	if err := env.Pub.ContactChange(ctx, up); err != nil {
		t.Fatal(err)
	}
	kv, err := env.JS.KeyValue(ctx, env.Names.CRMRefsBucket())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the upsert confirmed", func() bool { _, err := kv.Get(ctx, "gone"); return err == nil })

	erase := eraseChange("gone", "gone-erase-1")
	if err := env.Pub.ContactChange(ctx, erase); err != nil {
		t.Fatal(err)
	}
	refsSubject := "$KV." + env.Names.CRMRefsBucket() + ".gone"
	eventually(t, "the erase settled", func() bool {
		return len(replies(t, env)) == 1 && !onSubject(t, env, env.Names.CRMStream(), env.Names.CRMSubject("gone")) &&
			!onSubject(t, env, "KV_"+env.Names.CRMRefsBucket(), refsSubject)
	})
	time.Sleep(200 * time.Millisecond) // a second notice would have arrived by now
	got := replies(t, env)
	want := events.Reply{V: events.Version, ID: "erase-gone-erase-1", Platform: events.Telegram, Chat: "7001", Private: true, Text: notify.Done}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("replies %+v, want only %+v", got, want)
	}
	if calls := sink.calls(); len(calls) != 2 || calls[0] != "crm-relais-gone" {
		t.Errorf("erase calls %v, want a failed then a successful one with the CRM id", calls)
	}
	if n := env.StreamMsgs(t, env.Names.DLQStream()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// TestWorkerEraseNotifiesWithNatsGoBucket: a refs bucket created by nats.go refuses
// message deletes; the erasure still completes (the entry is purged) and the member is told.
func TestWorkerEraseNotifiesWithNatsGoBucket(t *testing.T) {
	sink := &eraseSink{}
	env := runWorker(t, sink, false)
	ctx := context.Background()
	if err := env.Pub.ContactChange(ctx, eraseChange("gone", "gone-erase-1")); err != nil {
		t.Fatal(err)
	}
	kv, err := env.JS.KeyValue(ctx, env.Names.CRMRefsBucket())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the erase settled", func() bool {
		_, err := kv.Get(ctx, "gone")
		return len(replies(t, env)) == 1 && errors.Is(err, jetstream.ErrKeyNotFound) &&
			!onSubject(t, env, env.Names.CRMStream(), env.Names.CRMSubject("gone"))
	})
}

// TestWorkerEraseRefusedNotifies: the CRM refuses the erasure for good. The member is told
// why, without the CRM's free text; the dead letter lets an operator retry the erase but
// holds no chat id or text; the change is deleted; the refs entry keeps the CRM id.
func TestWorkerEraseRefusedNotifies(t *testing.T) {
	sink := &eraseSink{fail: []error{&crm.Error{Op: "delete signup", Status: 422, Code: "locked", Message: "signup Philibertine is locked"}}}
	env := runWorker(t, sink, true)
	ctx := context.Background()
	if err := env.Pub.ContactChange(ctx, change("gone", 1, []string{"relais-actif"}, false, "")); err != nil {
		t.Fatal(err)
	}
	kv, err := env.JS.KeyValue(ctx, env.Names.CRMRefsBucket())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the upsert confirmed", func() bool { _, err := kv.Get(ctx, "gone"); return err == nil })
	if err := env.Pub.ContactChange(ctx, eraseChange("gone", "gone-erase-1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refusal settled", func() bool {
		return len(replies(t, env)) == 1 && env.StreamMsgs(t, env.Names.DLQStream()) == 1 &&
			!onSubject(t, env, env.Names.CRMStream(), env.Names.CRMSubject("gone"))
	})
	r := replies(t, env)[0]
	if r.Text != "Effacement impossible : delete signup: HTTP 422 locked" || r.Chat != "7001" || !r.Private {
		t.Errorf("notice %+v", r)
	}
	dlq, err := env.JS.Stream(ctx, env.Names.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	dl, err := dlq.GetLastMsgForSubject(ctx, env.Names.DLQSubject(env.Names.CRMSubject("gone")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := events.DecodeContactChange(dl.Data)
	if err != nil || c.Op != events.OpErase || c.Notify != nil || c.Member != "gone" {
		t.Errorf("dead letter %+v (%v): want the erase without its notice", c, err)
	}
	if strings.Contains(string(dl.Data), "7001") || dl.Header.Get(events.HeaderReason) == "" {
		t.Errorf("dead letter %s, reason %q", dl.Data, dl.Header.Get(events.HeaderReason))
	}
	if e, err := kv.Get(ctx, "gone"); err != nil || !strings.Contains(string(e.Value()), "crm-relais-gone") {
		t.Errorf("refs entry after a refused erase: %v; want the CRM id kept for a retry", err)
	}
}
