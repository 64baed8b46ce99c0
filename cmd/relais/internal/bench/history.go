package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// ImportResult is what the history import bench measured (relais bench --import N).
type ImportResult struct {
	Messages int     `json:"messages"`
	Events   int     `json:"events"` // messages and reactions stored
	FileMB   float64 `json:"file_mb"`
	Members  int     `json:"members"`
	// MembersSeen is what the bridge counted in the group once done; Delivered the last
	// stream sequence the bridge was given.
	MembersSeen int     `json:"members_seen"`
	Cards       int     `json:"cards"` // members with activity in the window
	Delivered   uint64  `json:"delivered_seq"`
	ImportS     float64 `json:"import_s"` // check the file whole, then publish it: relais import
	ApplyS      float64 `json:"apply_s"`  // the bridge applying it (what is left once stored), to the end marker's settle
	// Running: the bridge ran while the import was stored (relais import against a running
	// relais) rather than starting once it was (on the data dir of a stopped relais).
	Running   bool    `json:"bridge_running"`
	TotalS    float64 `json:"total_s"`
	PerSecond int     `json:"events_per_s"`
}

// benchGroup is the supergroup of the import bench, as the export writes its id.
const benchGroup = 777

// RunImport writes a Telegram Desktop export of n messages (a busy supergroup over the last
// 85 days), imports it with the code path of relais import into a stage of its own, and
// runs a bridge until the import is applied and settled: started once the import is stored
// (relais was stopped), or before it (running: relais applies it as it comes).
func RunImport(ctx context.Context, env *Env, n, members int, running bool, log io.Writer) (ImportResult, error) {
	res := ImportResult{Messages: n, Members: members, Running: running}
	const stage = "h"
	defer func() { _ = env.cleanup(ctx, stage) }()
	names, pub, err := env.setup(ctx, stage)
	if err != nil {
		return res, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	// relais knows the group: one live event, after the history.
	if _, err := pub.Event(ctx, events.Event{V: events.Version, ID: "telegram:-100777:99999999", Kind: events.KindMessage,
		Platform: events.Telegram, At: now.Add(-time.Hour), Group: &events.Group{ID: "-100777", Title: "Bench"},
		Sender: events.Member{ID: "1", Name: "Membre 1"}, Chars: 3}); err != nil {
		return res, err
	}
	path := filepath.Join(env.dataDir, "bench-export.json")
	if err := writeExport(path, n, members, now); err != nil {
		return res, err
	}
	defer os.Remove(path)
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, err
	}
	res.FileMB = float64(st.Size()) / (1 << 20)
	fmt.Fprintf(log, "import bench: %d messages, %.0f MB export\n", n, res.FileMB)

	js, apub, closeConn, err := env.publisher(names)
	if err != nil {
		return res, err
	}
	defer closeConn()

	// SingleWriter as relais run configures it on an embedded Redis.
	reg := prometheus.NewRegistry() // its count of acked events says when to ask the server
	b, err := bridge.New(bridge.Config{KeyPrefix: env.keyPrefix(stage), Policy: bridge.PolicyNotice, Retention: 90 * benchDay,
		SingleWriter: env.embeddedRedis, Registerer: reg}, env.rdb, env.js, pub, nil, nil)
	if err != nil {
		return res, err
	}
	runCtx, stop := context.WithCancel(ctx)
	waitCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	done, started := make(chan struct{}), false
	startBridge := func() {
		started = true
		go func() {
			defer close(done)
			if err := b.Run(runCtx); err != nil {
				fail(fmt.Errorf("bridge stopped: %w", err))
			}
		}()
	}
	defer func() {
		stop()
		if started {
			<-done
		}
	}()
	if running {
		startBridge() // relais runs and applies the history as relais import stores it
	}

	start := time.Now()
	im := history.Importer{JS: js, Pub: apub}
	rep, err := im.Import(ctx, []history.File{{Name: "bench-export.json", Data: f, Size: st.Size()}},
		history.Options{Now: now, Since: now.AddDate(0, 0, -90)})
	if err != nil {
		return res, err
	}
	res.ImportS = time.Since(start).Seconds()
	for _, g := range rep.Groups {
		res.Events += g.Published
	}
	fmt.Fprintf(log, "import bench: stored %d events in %.1f s\n", res.Events, res.ImportS)
	applyStart := time.Now()
	if !running {
		startBridge() // relais was stopped: it applies the history at its start
	}
	// Not a consumer info every 200 ms: nats-server before 2.10 answers one by counting the
	// whole stream, and on this machine those reads took more of the server than the bridge's
	// own consuming. The live event, the imported ones and the end marker are acked.
	if err := benchWaitDrained(waitCtx, env.js, names.EventsStream(), names.BridgeConsumer(), benchAcked(reg, res.Events+2)); err != nil {
		return res, err
	}
	res.ApplyS = time.Since(applyStart).Seconds()
	fmt.Fprintf(log, "import bench: bridge acked up to the end marker (%d)\n", rep.EndSeq)
	// What the bridge holds, so the figure cannot come from an import applied in part.
	gs, err := b.Query().Groups(ctx)
	if err != nil {
		return res, err
	}
	for _, g := range gs {
		res.MembersSeen += g.MembersSeen
	}
	for uid := 1; uid <= members; uid++ {
		if c, found, err := b.Query().Member(ctx, env.hasher.Member(events.Telegram, fmt.Sprint(uid))); err == nil && found && c.Messages+c.RepliesReceived > 0 {
			res.Cards++
		}
	}
	if dlq, err := env.js.Stream(ctx, names.DLQStream()); err == nil {
		if info, err := dlq.Info(ctx); err == nil && info.State.Msgs > 0 {
			m, _ := dlq.GetMsg(ctx, info.State.FirstSeq)
			reason := ""
			if m != nil {
				reason = m.Header.Get(events.HeaderReason)
			}
			return res, fmt.Errorf("%d events dead-lettered, the first for %q", info.State.Msgs, reason)
		}
	}
	if cons, err := env.js.Consumer(ctx, names.EventsStream(), names.BridgeConsumer()); err == nil {
		if info, err := cons.Info(ctx); err == nil {
			res.Delivered = info.Delivered.Stream
		}
	}
	if res.MembersSeen == 0 {
		// Seen on this machine and not understood yet (the same path in package history's
		// tests holds every member): the apply figure is then not a measure of anything.
		fmt.Fprintln(log, "import bench: WARNING: the bridge's state holds no member of the group after the apply: its time is not valid")
	}
	res.TotalS = time.Since(start).Seconds()
	res.PerSecond = int(float64(res.Events) / res.TotalS)
	return res, nil
}

// writeExport writes a one-chat result.json: members with a skewed share of the talk, a
// third of the messages replies to a recent one, one in ten naming someone, one in ten with
// a reaction.
func writeExport(path string, n, members int, now time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, `{"name":"Bench","type":"private_supergroup","id":%d,"messages":[`, benchGroup)
	first := now.Add(-85 * benchDay)
	step := (84 * benchDay) / time.Duration(n)
	for i := range n {
		at := first.Add(time.Duration(i) * step)
		// Skewed: a few members talk most.
		from := 1 + (i*i+7*i)%members%(1+(i%members))
		if i > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, `{"id":%d,"type":"message","date":"%s","date_unixtime":"%d","from":"Membre %d","from_id":"user%d"`,
			i+1, at.Format("2006-01-02T15:04:05"), at.Unix(), from, from)
		switch {
		case i%10 == 3:
			to := 1 + (i*31)%members
			fmt.Fprintf(w, `,"text":["salut ",{"type":"mention_name","text":"Membre %d","user_id":%d}]`, to, to)
		default:
			w.WriteString(`,"text":"un message de longueur moyenne"`)
		}
		if i%3 == 1 {
			fmt.Fprintf(w, `,"reply_to_message_id":%d`, i-i%40)
		}
		if i%10 == 7 {
			r := 1 + (i*17)%members
			fmt.Fprintf(w, `,"reactions":[{"type":"emoji","count":1,"emoji":"+","recent":[{"from":"Membre %d","from_id":"user%d","date":"%s"}]}]`,
				r, r, at.Add(time.Minute).Format("2006-01-02T15:04:05"))
		}
		w.WriteString("}")
	}
	w.WriteString("]}")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
