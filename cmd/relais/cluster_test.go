//go:build cluster

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/events/eventsim"
)

// The scaled-out layout on real clusters: a three-node JetStream cluster, a Redis Cluster of
// three masters with a replica each, two `relais run --roles=bridge,crm` and one
// `relais run --roles=telegram` polling a fake Bot API, a webhook CRM. While an adapter-like
// publisher and the Telegram group feed events, the node leading the events stream, the Redis
// master of slot 0 and one bridge,crm relais are SIGKILLed, one after the other. The servers
// stay dead; the relais is restarted at once, as systemd would, with URLs that still name the
// dead nodes. Afterwards: the stream holds every event once, every event is counted exactly
// once, the state equals a clean run's over the same events, the CRM holds exactly the
// desired contacts, nothing was dead-lettered, and no relais gave up on its own.
//
// Streams and buckets are created with three replicas, as relais sets them up on a cluster
// (RELAIS_NATS_REPLICAS defaults to the cluster size, at most 3); the test checks they still
// have three once the relais processes have started.
func TestClusterKillOneOfEach(t *testing.T) {
	n := clusterEnvInt(t, "CLUSTER_EVENTS", 4000)
	bins := findClusterBins(t)
	bin := buildClusterRelais(t)
	ns := startNATSCluster(t, bins.nats, 3)
	rc := startRedisCluster(t, bins, 3, 1)
	t.Logf("NATS_URL=%s REDIS_URL=%s", ns.URL(), rc.URL())

	// go-redis logs every failed dial of the dead master on stderr; the test says what matters.
	redis.SetLogger(quietRedisLog{})
	bb := connectFailBackbone(t, ns.URL())
	rdb, err := connectRedis(rc.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	const webhookSecret = "cluster-test-webhook-secret"
	rx := crmtest.NewWebhook(t, webhookSecret)
	deployment := map[string]string{"CRM": "webhook", "WEBHOOK_URL": rx.URL, "WEBHOOK_SECRET": webhookSecret}
	d := newFailDeployment(t, bb, rdb, rc.URL(), deployment)
	setupReplicated(t, bb.js, d, 3)

	sim := eventsim.DefaultConfig(n)
	sim.Members, sim.Groups, sim.Leaders = 600, 8, 10
	wl := eventsim.Generate(sim)

	// The Telegram group: members of the workload also write there, through the adapter.
	bot := tgtest.New(t, tgtest.WithStart(time.Now().Add(-6*time.Hour)))
	tgGroup := tgtest.Supergroup(-1009990001, "Entraide cluster")
	var tgUsers []tgtest.User
	for i := range 30 {
		tgUsers = append(tgUsers, tgtest.User{ID: int64(100000 + i*7), FirstName: "Membre", LastName: strconv.Itoa(i * 7)})
	}

	// The processes, each with its own data dir (its identity) and HTTP address.
	telegram := startClusterRelais(t, bin, d, "telegram", "--roles=telegram",
		"TELEGRAM_TOKEN="+bot.Token(), "TELEGRAM_API_ENDPOINT="+bot.Endpoint())
	bridges := []*clusterRelais{
		startClusterRelais(t, bin, d, "bridge,crm #1", "--roles=bridge,crm"),
		startClusterRelais(t, bin, d, "bridge,crm #2", "--roles=bridge,crm"),
	}
	all := append([]*clusterRelais{telegram}, bridges...)
	for _, r := range all {
		r.ready = waitReady(t, r.p, r.addr, time.Minute)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range all {
				t.Logf("--- relais %s log (tail) ---\n%s", r.name, tailLines(r.p.Logs(), 40))
			}
		}
	})
	checkReplicas(t, bb.js, d.names, 3, "after the relais processes started")

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start := time.Now()

	// An adapter-like publisher: each event acked before the next, retried with its id
	// through the outage (the stream drops the duplicates).
	var published atomic.Int64
	var pubWG sync.WaitGroup
	var pubStats failPublishStats
	var pubErr error
	pubWG.Go(func() {
		pubStats, pubErr = failPublishOneByOne(ctx, d.pub, wl.Events, func(i int) { published.Store(int64(i)) })
	})
	// The Telegram group talks meanwhile.
	var tgSent []events.Event
	var tgWG sync.WaitGroup
	stopTalk := make(chan struct{})
	tgWG.Go(func() {
		for k := 0; ; k++ {
			select {
			case <-stopTalk:
				return
			case <-time.After(40 * time.Millisecond):
			}
			u := tgUsers[k%len(tgUsers)]
			bot.Text(tgGroup, u, fmt.Sprintf("message %d du groupe", k))
			tgSent = append(tgSent, events.Event{Platform: events.Telegram, Sender: events.Member{ID: strconv.FormatInt(u.ID, 10)}})
		}
	})

	// The faults, a fifth of the way apart, while the publisher goes on. The NATS node first:
	// the publisher waits for a new leader anyway; the Redis failover is watched meanwhile.
	var faults []string
	waitPublished(t, ctx, &published, int64(n/5), all)
	faults = append(faults, killNATSLeader(t, ctx, bb.js, ns, d.names.EventsStream()))
	waitPublished(t, ctx, &published, int64(2*n/5), all)
	failover := killRedisMaster(t, rc, published.Load())
	waitPublished(t, ctx, &published, int64(3*n/5), all)
	killed := bridges[0]
	if err := killed.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-killed.p.done
	killed.gone = true
	relaisKill := fmt.Sprintf("relais %s SIGKILLed at %d published", killed.name, published.Load())
	t.Log(relaisKill)
	fo := <-failover
	if fo.ok {
		t.Log(fo.msg)
	} else {
		t.Error(fo.msg)
	}
	faults = append(faults, fo.msg, relaisKill)
	// Restarted as systemd would, with the same settings: NATS_URL and REDIS_URL still name
	// the dead nodes, and it must start anyway.
	restarted := startClusterRelais(t, bin, d, "bridge,crm #1 restarted", "--roles=bridge,crm")
	all = append(all, restarted)
	restarted.ready = waitReady(t, restarted.p, restarted.addr, time.Minute)
	faults = append(faults, fmt.Sprintf("%s restarted, ready in %s", killed.name, restarted.ready.Round(time.Millisecond)))

	pubWG.Wait()
	close(stopTalk)
	tgWG.Wait()
	if pubErr != nil {
		t.Fatalf("publisher: %v (published %d of %d)", pubErr, published.Load(), n)
	}
	pubTook := time.Since(start)
	for deadline := time.Now().Add(time.Minute); bot.Pending() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the telegram relais left %d of %d updates unconfirmed a minute after the talk ended", bot.Pending(), len(tgSent))
		}
	}
	expected := append(slices.Clone(wl.Events), tgSent...)
	total := uint64(len(expected))
	info := failWaitDrained(t, bb.js, d.names.EventsStream(), d.names.BridgeConsumer(), total, 3*time.Minute)
	drained := time.Since(start)
	if msgs := failStreamMsgs(t, bb.js, d.names.EventsStream()); msgs != total {
		t.Errorf("events stream holds %d messages, %d events sent (%d published, %d through Telegram)", msgs, total, n, len(tgSent))
	}
	checkAlive(t, all)

	// The state under fire, settled at the reference day. The test's own readers name only the
	// live Redis nodes: starting with a dead one listed is the restarted relais's test.
	d.env["REDIS_URL"] = rc.liveURL()
	waitRedisURL(t, rc.liveURL(), 30*time.Second)
	after := d.inProcessBridge(t)
	after.settle(t)
	got := failTakeSnapshot(t, after.bridge.Query(), d.hasher, sim.Members)
	counted := failCheckCounts(t, "after the kills", got, d.hasher, expected)

	// The reference: exactly the events stored, through one bridge nobody disturbs, on a NATS
	// server of its own (the cluster is down a node) and the same Redis Cluster.
	stored := clusterStoredEvents(t, bb.js, d.names.EventsStream())
	refNATS, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(refNATS.Shutdown)
	refBB := connectFailBackbone(t, refNATS.URL())
	clean := newFailDeployment(t, refBB, rdb, rc.liveURL(), deployment)
	if _, err := failPublish(ctx, refBB.js, clean.pub, stored); err != nil {
		t.Fatal(err)
	}
	ref := clean.inProcessBridge(t)
	ref.runUntilDrained(t, refBB.js, clean.names, uint64(len(stored)), 3*time.Minute)
	ref.settle(t)
	want := failTakeSnapshot(t, ref.bridge.Query(), clean.hasher, sim.Members)
	failDiffSnapshots(t, "after the kills vs clean run", want, got)
	failCheckCounts(t, "clean run", want, clean.hasher, expected)
	wantCC, _ := failContactStates(t, refBB.js, clean.names)
	gotCC, _ := failContactStates(t, bb.js, d.names)
	failDiffContacts(t, "contacts: after the kills vs clean", failDesiredContacts(wantCC), failDesiredContacts(gotCC))
	if len(wantCC) == 0 {
		t.Error("the clean run desired no contact: the workload proves nothing about the CRM")
	}

	// The CRM: the surviving worker delivers every desired contact, each exactly once.
	cc, lastSeq := failContactStates(t, bb.js, d.names)
	failWaitDrained(t, bb.js, d.names.CRMStream(), d.names.CRMConsumer(), lastSeq, 3*time.Minute)
	crmTook := time.Since(start)
	checkWebhookHolds(t, rx, cc)
	if dl := failStreamMsgs(t, bb.js, d.names.DLQStream()); dl != 0 {
		t.Errorf("%d dead letters, want 0", dl)
	}

	// Every group got its information notice (under the notice policy) through the adapter.
	notices := map[int64]int{}
	for _, m := range bot.Sent() {
		if strings.Contains(m.Text, "/stop") {
			notices[m.ChatID]++
		}
	}
	groups := []int64{tgGroup.ID}
	for g := range sim.Groups {
		id, _ := strconv.ParseInt(eventsim.GroupID(g), 10, 64)
		groups = append(groups, id)
	}
	extraNotices := 0
	for _, g := range groups {
		switch c := notices[g]; {
		case c == 0:
			t.Errorf("group %d got no information notice", g)
		case c > 1:
			// Sending to a platform is at least once: an ack lost with the NATS node means a
			// second send. Logged, not failed.
			extraNotices += c - 1
		}
	}

	checkReplicas(t, bb.js, d.names, 3, "at the end")
	checkAlive(t, all)
	for _, r := range all {
		if !r.gone {
			stopRelais(t, r.p)
		}
		if strings.Contains(r.p.Logs(), "DATA RACE") {
			t.Errorf("relais %s: the race detector fired:\n%s", r.name, r.p.Logs())
		}
	}

	t.Logf("workload: %d events published one by one (%d publish retries, %d duplicates dropped by the stream) + %d through Telegram; %d members, %d groups",
		n, pubStats.retries, pubStats.duplicates, len(tgSent), sim.Members, sim.Groups+1)
	t.Logf("faults: %s", strings.Join(faults, "; "))
	t.Logf("publishing took %s; events drained at %s (%d deliveries for %d messages: %d redeliveries); CRM drained at %s",
		pubTook.Round(time.Millisecond), drained.Round(time.Millisecond), info.Delivered.Consumer, total, info.Delivered.Consumer-total, crmTook.Round(time.Millisecond))
	t.Logf("state: %d members, %d groups, %d messages counted of %d sent; %d contacts desired and held by the webhook CRM (requests %s); %d notices sent twice",
		len(got.Members), len(got.Groups), counted, total, len(cc), rx.Requests.Summary(), extraNotices)
}

// clusterRelais is one relais process of the deployment under test.
type clusterRelais struct {
	name  string
	p     *process
	addr  string
	ready time.Duration
	gone  bool // killed by the test
	dead  bool // reported as exited on its own
}

// startClusterRelais starts relais run with the deployment's settings, its own data dir and
// HTTP address. Like the servers, it dies with the test binary.
func startClusterRelais(t *testing.T, bin string, d *failDeployment, name string, roles string, extra ...string) *clusterRelais {
	t.Helper()
	addr := freeAddr(t)
	env := append(failProcessEnv(), d.environ(append([]string{"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + addr}, extra...)...)...)
	if clusterRace {
		env = append(env, "GORACE=halt_on_error=1")
	}
	cmd := exec.Command(bin, "run", roles)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			k, err := stderr.Read(buf)
			if k > 0 {
				p.mu.Lock()
				p.logs.Write(buf[:k])
				p.mu.Unlock()
			}
			if err != nil {
				break
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return &clusterRelais{name: name, p: p, addr: addr}
}

// buildClusterRelais builds the binary, with the race detector when the test has it.
func buildClusterRelais(t *testing.T) string {
	t.Helper()
	if !clusterRace {
		return buildRelais(t)
	}
	bin := t.TempDir() + "/relais"
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -race: %v\n%s", err, out)
	}
	return bin
}

// checkAlive reports every relais the test did not kill that exited on its own: an outage of
// a node must not stop a process (under systemd it would restart, but the test wants none).
func checkAlive(t *testing.T, all []*clusterRelais) {
	t.Helper()
	for _, r := range all {
		if r.gone || r.dead {
			continue
		}
		select {
		case err := <-r.p.done:
			r.dead, r.gone = true, true
			t.Errorf("relais %s exited on its own: %v\n%s", r.name, err, tailLines(r.p.Logs(), 40))
		default:
		}
	}
}

// waitPublished waits until the publisher is past want. It fails when publishing makes no
// progress for a minute, and reports any relais that exited meanwhile.
func waitPublished(t *testing.T, ctx context.Context, published *atomic.Int64, want int64, all []*clusterRelais) {
	t.Helper()
	last, since := published.Load(), time.Now()
	for published.Load() < want {
		checkAlive(t, all)
		if p := published.Load(); p != last {
			last, since = p, time.Now()
		}
		if time.Since(since) > time.Minute || ctx.Err() != nil {
			t.Fatalf("publishing stalled at %d events (waiting for %d)", last, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killNATSLeader SIGKILLs the node leading stream and waits for another to lead it.
func killNATSLeader(t *testing.T, ctx context.Context, js jetstream.JetStream, c *natsCluster, stream string) string {
	t.Helper()
	info := clusterStreamInfo(t, ctx, js, stream)
	if info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("stream %s has no leader", stream)
	}
	leader := info.Cluster.Leader
	node := c.node(leader)
	if node == nil {
		t.Fatalf("stream %s led by unknown server %q", stream, leader)
	}
	killedAt := time.Now()
	node.kill()
	for {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := js.Stream(ictx, stream)
		var now *jetstream.StreamInfo
		if err == nil {
			now, err = s.Info(ictx)
		}
		cancel()
		if err == nil && now.Cluster != nil && now.Cluster.Leader != "" && now.Cluster.Leader != leader {
			msg := fmt.Sprintf("NATS node %s (leader of %s, %d replicas) SIGKILLed; %s leads it after %s",
				leader, stream, info.Config.Replicas, now.Cluster.Leader, time.Since(killedAt).Round(time.Millisecond))
			t.Log(msg)
			return msg
		}
		if time.Since(killedAt) > 30*time.Second {
			// Nothing can be stored or consumed: the rest would only wait.
			t.Fatalf("NATS node %s (leader of %s, %d replicas) SIGKILLed; no new leader after 30s (%v)", leader, stream, info.Config.Replicas, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killRedisMaster SIGKILLs the master serving slot 0, then watches its replica take over;
// the channel says how it went (the test logs it: the watcher outlives a failed test).
func killRedisMaster(t *testing.T, c *redisCluster, published int64) <-chan failoverReport {
	t.Helper()
	owner, err := slotOwner(c.live(), 0)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	c.node(owner).kill()
	out := make(chan failoverReport, 1)
	go func() {
		for {
			now, err := slotOwner(c.live(), 0)
			if err == nil && now != owner && redisClusterHealthy(c.live()) == nil {
				out <- failoverReport{msg: fmt.Sprintf("Redis master %s SIGKILLed at %d published; replica %s serves its slots after %s",
					owner, published, now, time.Since(killedAt).Round(time.Millisecond)), ok: true}
				return
			}
			if time.Since(killedAt) > 30*time.Second {
				out <- failoverReport{msg: fmt.Sprintf("Redis master %s SIGKILLed at %d published; no failover after 30s (%v)", owner, published, err)}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return out
}

type failoverReport struct {
	msg string
	ok  bool
}

// waitRedisURL waits until a new client of url answers the ping relais starts with, three
// times in a row, logging what failed: the test's readers start only then.
func waitRedisURL(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for ok := 0; ok < 3; {
		rdb, err := connectRedis(url)
		if err != nil {
			t.Fatal(err)
		}
		err = pingRedis(context.Background(), rdb)
		_ = rdb.Close()
		if err == nil {
			ok++
			continue
		}
		ok = 0
		t.Logf("redis ping from a new client: %v", err)
		if time.Now().After(deadline) {
			t.Fatalf("redis cluster: a new client's ping still fails after %s: %v", within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// setupReplicated creates the deployment's streams and buckets with replicas copies.
func setupReplicated(t *testing.T, js jetstream.JetStream, d *failDeployment, replicas int) {
	t.Helper()
	limits := events.DefaultLimits()
	limits.Retention = d.config(t).Retention()
	limits.Replicas = replicas
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := events.Setup(ctx, js, d.names, limits); err != nil {
		t.Fatal(err)
	}
}

// checkReplicas reports every stream and bucket of names with fewer than want replicas: on a
// cluster, one node's loss must lose nothing and stop nothing.
func checkReplicas(t *testing.T, js jetstream.JetStream, names events.Names, want int, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range []string{names.EventsStream(), names.CRMStream(), names.DLQStream(), names.RepliesStream(),
		"KV_" + names.ConsentBucket(), "KV_" + names.LocksBucket(), "KV_" + names.CRMRefsBucket()} {
		info := clusterStreamInfo(t, ctx, js, s)
		if info.Config.Replicas < want {
			t.Errorf("%s: stream %s has %d replica(s) on a %d-node cluster: losing its node loses or stops it", when, s, info.Config.Replicas, want)
		}
	}
}

func clusterStreamInfo(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string) *jetstream.StreamInfo {
	t.Helper()
	var last error
	for range 50 {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := js.Stream(ictx, stream)
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = s.Info(ictx)
		}
		cancel()
		if err == nil {
			return info
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("stream %s: %v", stream, last)
	return nil
}

// clusterStoredEvents reads every event of a stream, in order.
func clusterStoredEvents(t *testing.T, js jetstream.JetStream, stream string) []events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The cluster is down a node: a JetStream API request may find no responder while the
	// remaining servers settle who places the reader. Such a read is tried again; what it
	// reads is checked as before.
	var last error
	for range 10 {
		out, err := clusterReadStored(t, ctx, js, stream)
		if err == nil {
			return out
		}
		last = err
		t.Logf("reading the stored events: %v; again", err)
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("reading the stored events: %v", last)
	return nil
}

// clusterReadStored reads every event of the stream once, in order. An error is the
// cluster's; a stored event that does not decode, or is there twice, fails the test.
func clusterReadStored(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string) ([]events.Event, error) {
	t.Helper()
	info := clusterStreamInfo(t, ctx, js, stream)
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	out := make([]events.Event, 0, info.State.Msgs)
	seen := map[string]bool{}
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		k := 0
		for m := range batch.Messages() {
			k++
			e, err := events.DecodeEvent(m.Data())
			if err != nil {
				t.Fatalf("stored event: %v", err)
			}
			if seen[e.ID] {
				t.Errorf("event %s stored twice", e.ID)
			}
			seen[e.ID] = true
			out = append(out, e)
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if k == 0 {
			return nil, fmt.Errorf("read %d of %d stored events, then nothing", len(out), info.State.Msgs)
		}
	}
	return out, nil
}

// checkWebhookHolds compares what the webhook CRM holds with the desired contacts: each
// desired member exactly once with the desired tags, names and flag, and nobody else.
func checkWebhookHolds(t *testing.T, rx *crmtest.Webhook, desired map[string]events.ContactChange) {
	t.Helper()
	held := map[string]crmtest.WebhookContact{}
	for _, c := range rx.Contacts() {
		held[c.ExternalID] = c
	}
	upserts, wrong := 0, 0
	for _, c := range desired {
		if c.Op != events.OpUpsert {
			continue
		}
		upserts++
		h, ok := held[c.ExternalID]
		tags := slices.Sorted(slices.Values(c.Tags))
		switch {
		case !ok:
			t.Errorf("the CRM lacks %s", c.ExternalID)
		case !slices.Equal(h.Tags, tags) || h.DoNotContact != c.DoNotContact || h.FirstName != c.FirstName || h.LastName != c.LastName:
			if wrong == 0 {
				t.Errorf("the CRM holds %+v for %s, desired tags %v, do-not-contact %v", h, c.ExternalID, tags, c.DoNotContact)
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d contacts in the CRM differ from the desired state", wrong)
	}
	if len(held) != upserts {
		t.Errorf("the CRM holds %d contacts, %d desired", len(held), upserts)
	}
	if k := rx.Requests.Malformed(); k != 0 {
		t.Errorf("the CRM refused %d requests: %v", k, rx.Requests.MalformedReasons())
	}
}

type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

func clusterEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 {
		t.Fatalf("%s=%q: want a number of events, at least 100", name, v)
	}
	return n
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
