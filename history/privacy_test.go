package history_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	tgexport "github.com/relais-bot/relais/bots/telegram/export"
	waexport "github.com/relais-bot/relais/bots/whatsapp/export"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// TestImportKeepsNoText imports an export whose every text holds a canary: it is in no
// message of any stream, no Redis key and no log line.
func TestImportKeepsNoText(t *testing.T) {
	c := makeConversation(12)
	_, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()[:1]...)
	raw := c.export()
	if n := bytes.Count(raw, []byte(canary)); n < len(c.msgs) {
		t.Fatalf("canary %d times in the export, want at least once per message", n)
	}
	rep, err := s.importFiles(history.Options{}, file("result.json", raw))
	if err != nil || rep.Groups[0].Published == 0 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	ctx := context.Background()
	n := s.env.Names
	for _, stream := range []string{n.EventsStream(), n.CRMStream(), n.DLQStream(), n.RepliesStream(), "KV_" + n.HistoryBucket()} {
		if found := s.streamHolds(stream, canary); found != 0 {
			t.Errorf("stream %s: canary in %d messages", stream, found)
		}
	}
	if s.streamHolds(n.EventsStream(), userName(c.users[0])) == 0 {
		t.Fatal("the events stream holds no name either: the scan reads nothing")
	}
	var cursor uint64
	keys := 0
	for {
		batch, next, err := s.rdb.Scan(ctx, cursor, s.prefix+"*", 500).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range batch {
			keys++
			if strings.Contains(s.redisValue(k), canary) || strings.Contains(k, canary) {
				t.Errorf("redis key %s holds the canary", k)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if keys == 0 {
		t.Fatal("no redis key: the scan reads nothing")
	}
	if strings.Contains(s.logs.String(), canary) {
		t.Error("the logs hold the canary")
	}
}

// streamHolds counts a stream's messages whose bytes hold needle.
func (s *stack) streamHolds(stream, needle string) int {
	s.t.Helper()
	found := 0
	s.eachStored(stream, func(m *jetstream.RawStreamMsg) {
		if bytes.Contains(m.Data, []byte(needle)) || bytes.Contains([]byte(m.Subject), []byte(needle)) {
			found++
		}
	})
	return found
}

// eachStored calls fn with every message a stream holds.
func (s *stack) eachStored(stream string, fn func(*jetstream.RawStreamMsg)) {
	s.t.Helper()
	ctx := context.Background()
	st, err := s.env.JS.Stream(ctx, stream)
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			s.t.Fatal(err)
		}
		fn(m)
	}
}

// TestImportedCoveredByStopAndErase: /stop removes an imported member's state, and /oubli
// erases their imported events from the log, as for live ones.
func TestImportedCoveredByStopAndErase(t *testing.T) {
	c := makeConversation(12)
	_, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()[:1]...)
	if _, err := s.importFiles(history.Options{}, file("result.json", c.export())); err != nil {
		t.Fatal(err)
	}
	stopper, eraser := c.users[1], c.users[2]
	ctx := context.Background()
	q := s.bridge.Query()
	for _, uid := range []int64{stopper, eraser} {
		if _, found, _ := q.Member(ctx, s.token(uid)); !found || s.memberEvents(s.token(uid)) == 0 {
			t.Fatalf("member %d was not imported", uid)
		}
	}
	for _, cmd := range []struct {
		uid  int64
		name string
	}{{stopper, "stop"}, {eraser, "oubli"}} {
		ev := events.Event{V: events.Version, ID: "telegram:dm:" + cmd.name, Kind: events.KindCommand, Platform: events.Telegram,
			At: now.Add(-time.Minute), Sender: events.Member{ID: strconv.FormatInt(cmd.uid, 10), Name: userName(cmd.uid)},
			Command: &events.Command{Name: cmd.name}}
		if _, err := s.env.Pub.Event(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stopFound, _ := q.Member(ctx, s.token(stopper))
		_, eraseFound, _ := q.Member(ctx, s.token(eraser))
		left := s.memberEvents(s.token(eraser))
		if !stopFound && !eraseFound && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after /stop and /oubli: stopper shown %v, erased shown %v, erased events left %d", stopFound, eraseFound, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestImportSinceAndExpiry: nothing older than Since is imported, and imported events leave
// the log once their day is past the retention, though they were stored much later.
func TestImportSinceAndExpiry(t *testing.T) {
	c := makeConversation(100)
	_, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()[:1]...)
	since := now.AddDate(0, 0, -90)
	rep, err := s.importFiles(history.Options{Since: since}, file("result.json", c.export()))
	if err != nil {
		t.Fatal(err)
	}
	if g := rep.Groups[0]; g.First.Before(since) || g.Published == 0 {
		t.Fatalf("imported from %v, want nothing before %v: %+v", g.First, since, g)
	}
	oldest := func() (time.Time, int) {
		t.Helper()
		st, _ := s.env.JS.Stream(context.Background(), s.env.Names.EventsStream())
		info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(s.env.Names.EventsFilter()))
		if err != nil {
			t.Fatal(err)
		}
		var first time.Time
		n := 0
		for subj, cnt := range info.State.Subjects {
			i := strings.Index(subj, ".ev.h")
			if i < 0 || strings.HasPrefix(subj[i:], ".ev.hdone") {
				continue
			}
			day, err := time.Parse("20060102", subj[i+5:i+13])
			if err != nil {
				t.Fatal(err)
			}
			n += int(cnt)
			if first.IsZero() || day.Before(first) {
				first = day
			}
		}
		return first, n
	}
	first, before := oldest()
	if first.Before(since.Truncate(24 * time.Hour)) {
		t.Fatalf("oldest imported day %v before %v", first, since)
	}
	// Fifteen days later, the days past the retention are gone; the others stay.
	s.clock = func() time.Time { return now.AddDate(0, 0, 15) }
	if err := s.bridge.ExpireHistory(context.Background()); err != nil {
		t.Fatal(err)
	}
	first2, after := oldest()
	limit := now.AddDate(0, 0, 15-90).Truncate(24 * time.Hour)
	if first2.Before(limit.AddDate(0, 0, -1)) || after >= before || after == 0 {
		t.Errorf("after expiry: oldest day %v (limit %v), %d of %d imported events left", first2, limit, after, before)
	}
}

// TestImportBadFiles: each wrong file gives a clear error and stores nothing.
func TestImportBadFiles(t *testing.T) {
	c := makeConversation(5)
	_, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()[:1]...)
	good := c.export()
	dup := bytes.Replace(good, []byte(`"id":102,`), []byte(`"id":101,`), 1)
	for _, tc := range []struct {
		name string
		data []byte
		opt  history.Options
		want error
	}{
		{"truncated json", good[:len(good)/2], history.Options{}, tgexport.ErrTruncated},
		{"wrong format", []byte("\x89PNG\r\n\x1a\nnot an export at all"), history.Options{Group: chatTitle}, waexport.ErrBinary},
		{"whatsapp without group", []byte("06/03/2024 14:05 - Ann: salut\n"), history.Options{}, history.ErrNeedGroup},
		{"unknown whatsapp group", []byte("06/03/2024 14:05 - Ann: salut\n"), history.Options{Group: "Inconnu"}, history.ErrUnknownGroup},
		{"over the size limit", good, history.Options{MaxBytes: 1024}, tgexport.ErrTooLarge},
		{"dates in the future", good, history.Options{Now: now.AddDate(0, 0, -3)}, tgexport.ErrFutureDate},
		{"duplicated ids", dup, history.Options{}, tgexport.ErrDuplicateID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.env.StreamMsgs(t, s.env.Names.EventsStream())
			_, err := s.importFiles(tc.opt, file("export", tc.data))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := s.env.StreamMsgs(t, s.env.Names.EventsStream()); got != before {
				t.Errorf("log went from %d to %d messages", before, got)
			}
		})
	}
}

// redisValue is everything a key holds, as text.
func (s *stack) redisValue(k string) string {
	s.t.Helper()
	ctx := context.Background()
	typ, err := s.rdb.Type(ctx, k).Result()
	if err != nil {
		s.t.Fatal(err)
	}
	var v any
	switch typ {
	case "string":
		v, err = s.rdb.Get(ctx, k).Result()
	case "hash":
		v, err = s.rdb.HGetAll(ctx, k).Result()
	case "set":
		v, err = s.rdb.SMembers(ctx, k).Result()
	case "zset":
		v, err = s.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
	case "list":
		v, err = s.rdb.LRange(ctx, k, 0, -1).Result()
	case "none":
		return ""
	default:
		s.t.Fatalf("redis key %s of type %s", k, typ)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		s.t.Fatal(err)
	}
	return fmt.Sprint(v)
}
