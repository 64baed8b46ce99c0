package commands_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
)

// TestScopeIncompleteSaysWhichGroups: when the platform cannot say whether the organiser is
// in a group, every answer built on the scope names that group and shows only what was
// checked; with nothing checked, the answer says so instead of "you are in no group".
func TestScopeIncompleteSaysWhichGroups(t *testing.T) {
	tests := []struct {
		name, cmd string
		fail      []string // group chat ids the platform cannot answer for
		want      []string
	}{
		{"stats, B unchecked", "stats", []string{otherGroup.ID}, []string{"could not tell me", "1 other group", tgGroup.Title}},
		{"actives, B unchecked", "actifs", []string{otherGroup.ID}, []string{"could not tell me", "1 other group", tgMember.Name}},
		{"leaders, B unchecked", "relais", []string{otherGroup.ID}, []string{"could not tell me", "1 other group"}},
		{"digest, B unchecked", "bilan", []string{otherGroup.ID}, []string{"could not tell me", "1 other group", tgGroup.Title}},
		{"nothing checked", "stats", []string{tgGroup.ID, otherGroup.ID}, []string{"could not tell me", "2 other groups", "try again"}},
		{"all checked", "stats", nil, []string{tgGroup.Title}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checker := &fakeMembership{members: map[[2]string]bool{{tgGroup.ID, tgOrganiser.ID}: true, {otherGroup.ID, tgOrganiser.ID}: true}, fail: map[string]bool{}}
			for _, g := range tt.fail {
				checker.fail[g] = true
			}
			r := newRig(t, "en", withScopes(checker))
			r.seedScoped()
			text := privateText(r.handle(r.cmd(events.Telegram, tgOrganiser, nil, tt.cmd)))
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("/%s lacks %q:\n%s", tt.cmd, w, text)
				}
			}
			if len(tt.fail) > 0 && strings.Contains(text, otherGroup.Title) {
				t.Errorf("/%s names a group the organiser was never known to be in:\n%s", tt.cmd, text)
			}
			if len(tt.fail) > 0 && strings.Contains(text, "99") {
				t.Errorf("/%s shows the unchecked group's figures:\n%s", tt.cmd, text)
			}
			if len(tt.fail) == 0 && strings.Contains(text, "could not tell me") {
				t.Errorf("/%s says a group is missing although all were checked:\n%s", tt.cmd, text)
			}
			if strings.Contains(text, r.h.NoScopeText()) {
				t.Errorf("/%s says the organiser is in no group:\n%s", tt.cmd, text)
			}
		})
	}
}

// digestRig is the rig with a digest bucket of its own and the organiser of group A.
type digestRig struct {
	*rig
	checker *fakeMembership
	kv      jetstream.KeyValue
	sched   commands.Schedule
	monday  time.Time
}

func newDigestRig(t *testing.T) *digestRig {
	t.Helper()
	checker := &fakeMembership{members: map[[2]string]bool{{tgGroup.ID, tgOrganiser.ID}: true}, fail: map[string]bool{}}
	r := newRig(t, "fr", withScopes(checker))
	r.seedScoped()
	kv, err := events.OrganiserBucket(context.Background(), r.env.JS, r.env.Names, r.env.Names.DigestBucket(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sched, _ := commands.ParseSchedule("MON 09:00 Europe/Paris")
	return &digestRig{rig: r, checker: checker, kv: kv, sched: sched, monday: time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)}
}

func (d *digestRig) setFail(chat string, fail bool) {
	d.checker.mu.Lock()
	defer d.checker.mu.Unlock()
	d.checker.fail[chat] = fail
}

// tick runs one replica's digest tick at the slot plus after; a tick's error is no failure
// here (a put-off digest reports one), what was sent is.
func (d *digestRig) tick(ctx context.Context, h *commands.Handler, after time.Duration) int {
	d.t.Helper()
	n, _ := h.DigestTick(ctx, d.kv, d.sched, d.monday.Add(after))
	return n
}

// digests are the week's digest replies published since the last call.
func (d *digestRig) digests() []events.Reply {
	d.t.Helper()
	var out []events.Reply
	for _, rep := range d.replies() {
		if strings.HasPrefix(rep.ID, "digest-") && strings.Contains(rep.Text, "2026-W11") {
			out = append(out, rep)
		}
	}
	return out
}

// sentRecorded says whether the Telegram organiser's digest of 2026-W11 is recorded sent.
func (d *digestRig) sentRecorded() bool {
	d.t.Helper()
	sum := sha256.Sum256([]byte("telegram:" + tgOrganiser.ID))
	_, err := d.kv.Get(context.Background(), "sent."+hex.EncodeToString(sum[:12])+".2026W11")
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		d.t.Fatal(err)
	}
	return err == nil
}

// TestWeeklyDigestWaitsForTheScope: at the digest time the platform cannot say whether the
// organiser is in their group: no digest goes out and none is recorded sent; it is retried
// within the minute, and once the platform answers the digest arrives, once.
func TestWeeklyDigestWaitsForTheScope(t *testing.T) {
	d := newDigestRig(t)
	ctx := context.Background()
	d.tick(ctx, d.h, -2*time.Hour) // last week's, due too: apart
	d.digests()
	d.setFail(tgGroup.ID, true)
	if n := d.tick(ctx, d.h, time.Hour); n != 0 || d.sentRecorded() {
		t.Fatalf("during the outage: %d digests, recorded sent %v", n, d.sentRecorded())
	}
	if n := d.tick(ctx, d.h, time.Hour+5*time.Second); n != 0 {
		t.Errorf("retried before its backoff: %d digests", n)
	}
	if n := d.tick(ctx, d.h, time.Hour+20*time.Second); n != 0 || d.sentRecorded() {
		t.Fatalf("still in the outage: %d digests, recorded sent %v", n, d.sentRecorded())
	}
	d.setFail(tgGroup.ID, false)
	sent := 0
	for _, after := range []time.Duration{time.Hour + time.Minute, time.Hour + 2*time.Minute, 3 * time.Hour, 5 * 24 * time.Hour} {
		sent += d.tick(ctx, d.h, after)
	}
	got := d.digests()
	if sent != 1 || len(got) != 1 || !d.sentRecorded() {
		t.Fatalf("after the outage: %d sent, %d digest replies, recorded %v; want 1, 1, true", sent, len(got), d.sentRecorded())
	}
	if !strings.Contains(got[0].Text, tgGroup.Title) || strings.Contains(got[0].Text, "n'a pas pu") {
		t.Errorf("the digest after the outage is not the complete one:\n%s", got[0].Text)
	}
}

// TestWeeklyDigestSaysWhatIsMissingAfterWaiting: a group the platform never answers for does
// not cost the organiser the week's digest: after six hours of retries it goes out, once,
// naming the group it could not check.
func TestWeeklyDigestSaysWhatIsMissingAfterWaiting(t *testing.T) {
	d := newDigestRig(t)
	ctx := context.Background()
	d.tick(ctx, d.h, -2*time.Hour)
	d.digests()
	d.setFail(tgGroup.ID, true)
	sent := 0
	for at := time.Hour; at <= 8*time.Hour; at += time.Minute {
		sent += d.tick(ctx, d.h, at)
		if at < 7*time.Hour && sent > 0 {
			t.Fatalf("sent at %v, before six hours of retries", at)
		}
	}
	got := d.digests()
	if sent != 1 || len(got) != 1 || !d.sentRecorded() {
		t.Fatalf("%d sent, %d digests, recorded %v; want 1, 1, true", sent, len(got), d.sentRecorded())
	}
	if !strings.Contains(got[0].Text, "n'a pas pu me dire si vous êtes membre de : 1 autre groupe") {
		t.Errorf("the digest does not say which group is missing:\n%s", got[0].Text)
	}
}

// TestWeeklyDigestNotLostByACrash: a replica dies between claiming the digest and
// publishing it (its context ends while it asks the platform): the digest is not recorded
// sent, the other replica leaves the claim alone while it is live, takes it over once stale
// and sends the digest; the restarted replica sends nothing more. Then a publish that fails
// once (next week) is retried and sent once.
func TestWeeklyDigestNotLostByACrash(t *testing.T) {
	d := newDigestRig(t)
	ctx := context.Background()
	d.tick(ctx, d.h, -2*time.Hour)
	d.digests()
	dying, die := context.WithCancel(ctx)
	crashing := &fakeMembership{members: d.checker.members, fail: map[string]bool{}, onAsk: die}
	victim := d.replica(withScopes(crashing))
	if n := d.tick(dying, victim, time.Hour); n != 0 || d.sentRecorded() {
		t.Fatalf("the dying replica sent %d, recorded sent %v", n, d.sentRecorded())
	}
	other := d.replica(withScopes(d.checker))
	if n := d.tick(ctx, other, time.Hour+time.Minute); n != 0 {
		t.Errorf("the other replica sent %d while the claim was live", n)
	}
	if n := d.tick(ctx, other, time.Hour+3*time.Minute); n != 1 || !d.sentRecorded() {
		t.Errorf("once the claim is stale: %d sent, recorded %v; want 1, true", n, d.sentRecorded())
	}
	restarted := d.replica(withScopes(d.checker))
	if n := d.tick(ctx, restarted, time.Hour+10*time.Minute) + d.tick(ctx, other, 2*time.Hour); n != 0 {
		t.Errorf("sent again %d times after the takeover", n)
	}
	if got := d.digests(); len(got) != 1 {
		t.Errorf("%d digests of the week, want 1", len(got))
	}

	// Next week, NATS refuses the publish once.
	week := 7 * 24 * time.Hour
	restore := refuseReplies(t, d.rig)
	if n := d.tick(ctx, other, week+time.Hour); n != 0 {
		t.Fatalf("sent %d while the publish fails", n)
	}
	restore()
	sent := d.tick(ctx, other, week+time.Hour+30*time.Second) + d.tick(ctx, restarted, week+2*time.Hour) + d.tick(ctx, other, week+3*time.Hour)
	var next []events.Reply
	for _, rep := range d.replies() {
		if strings.HasPrefix(rep.ID, "digest-") && strings.Contains(rep.Text, "2026-W12") {
			next = append(next, rep)
		}
	}
	if sent != 1 || len(next) != 1 {
		t.Errorf("after a failed publish: %d sent, %d digests; want 1, 1", sent, len(next))
	}
}

// refuseReplies makes the replies stream refuse new messages until restore is called.
func refuseReplies(t *testing.T, r *rig) (restore func()) {
	t.Helper()
	ctx := context.Background()
	s, err := r.env.JS.Stream(ctx, r.env.Names.RepliesStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orig := info.Config
	full := orig
	full.MaxMsgs, full.Discard = int64(max(info.State.Msgs, 1)), jetstream.DiscardNew
	if info.State.Msgs == 0 {
		t.Fatal("the replies stream is empty: cannot make it full")
	}
	if _, err := r.env.JS.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := r.env.JS.UpdateStream(ctx, orig); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWeeklyDigestWaitsForTheRebuild: a relais restarted with an empty Redis sends nothing
// while its state is rebuilt from the event log (the digest would be empty, or partial, and
// recorded sent), then sends the whole digest once.
func TestWeeklyDigestWaitsForTheRebuild(t *testing.T) {
	var rebuilding atomic.Bool
	rebuilding.Store(true)
	d := newDigestRig(t)
	ctx := context.Background()
	h := d.replica(withScopes(d.checker), func(c *commands.Config, _ *rigDeps) {
		c.Rebuilding = func() (bool, int) { return rebuilding.Load(), 40 }
	})
	if n := d.tick(ctx, h, time.Hour); n != 0 || d.sentRecorded() {
		t.Fatalf("while rebuilding: %d digests, recorded sent %v", n, d.sentRecorded())
	}
	rebuilding.Store(false)
	if n := d.tick(ctx, h, time.Hour+time.Minute) + d.tick(ctx, h, 2*time.Hour); n != 1 || !d.sentRecorded() {
		t.Errorf("once rebuilt: %d digests, recorded sent %v; want 1, true", n, d.sentRecorded())
	}
}

// TestWeeklyDigestRaceOfReplicas: four replicas tick at the same moments, side by side:
// one digest.
func TestWeeklyDigestRaceOfReplicas(t *testing.T) {
	d := newDigestRig(t)
	ctx := context.Background()
	d.tick(ctx, d.h, -2*time.Hour)
	d.digests()
	hs := []*commands.Handler{d.h}
	for range 3 {
		hs = append(hs, d.replica(withScopes(d.checker)))
	}
	var (
		mu   sync.Mutex
		sent int
		wg   sync.WaitGroup
	)
	for _, after := range []time.Duration{time.Hour, time.Hour + time.Minute, 4 * time.Hour} {
		for _, h := range hs {
			wg.Go(func() {
				n := d.tick(ctx, h, after)
				mu.Lock()
				sent += n
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	if got := d.digests(); sent != 1 || len(got) != 1 {
		t.Errorf("%d sent, %d digests by four racing replicas; want 1", sent, len(got))
	}
}
