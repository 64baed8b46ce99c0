//go:build cluster

package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/crm/crmtest"
	"github.com/relais-bot/relais/events/eventstest"
)

// An erasure on a cluster reaches the Raft logs. A member with a canary name, username and
// phone talks in a group on a three-node JetStream cluster and a Redis Cluster, is replied to
// and mentioned, then sends /oubli. Before it, a byte search finds her in the Raft logs
// ($SYS/_js_/S-R3F-*/msgs/*.blk) of every node: the search can see what it looks for. After
// RELAIS_ERASE_WITHIN (short here) no file of any NATS node, Raft logs included, and no file
// of any Redis node holds any of it.
func TestClusterErasureReachesRaftLogs(t *testing.T) {
	const within = 30 * time.Second
	bins := findClusterBins(t)
	bin := buildClusterRelais(t)
	ns := startNATSCluster(t, bins.nats, 3)
	rc := startRedisCluster(t, bins, 3, 1)
	redis.SetLogger(quietRedisLog{})
	bb := connectFailBackbone(t, ns.URL())
	rdb, err := connectRedis(rc.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	const webhookSecret = "cluster-erase-webhook-secret"
	rx := crmtest.NewWebhook(t, webhookSecret)
	d := newFailDeployment(t, bb, rdb, rc.URL(), map[string]string{
		"CRM": "webhook", "WEBHOOK_URL": rx.URL, "WEBHOOK_SECRET": webhookSecret,
		"RELAIS_ERASE_WITHIN": within.String(), "RELAIS_ACTIVE_MIN_MESSAGES": "3", "RELAIS_ACTIVE_MIN_DAYS": "1",
		"RELAIS_LOG_LEVEL": "info", // the flush says when it ran
	})
	setupReplicated(t, bb.js, d, 3)

	bot := tgtest.New(t, tgtest.WithStart(time.Now().Add(-6*time.Hour)))
	group := tgtest.Supergroup(-1009990077, "Entraide Ménilmontant")
	r := startClusterRelais(t, bin, d, "all roles", "--roles=telegram,bridge,crm",
		"TELEGRAM_TOKEN="+bot.Token(), "TELEGRAM_API_ENDPOINT="+bot.Endpoint())
	waitReady(t, r.p, r.addr, time.Minute)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- relais log (tail) ---\n%s", tailLines(r.p.Logs(), 60))
		}
	})
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within a minute", what)
			}
		}
	}

	zoe := tgtest.User{ID: 7301, FirstName: "Zéphyrine", LastName: "Canari", Username: "zcanari42"}
	canaries := []string{"Zéphyrine", "Canari", "zcanari42", "612345678"}
	voisins := []tgtest.User{{ID: 7302, FirstName: "Marc"}, {ID: 7303, FirstName: "Inès"}}
	for i := range 12 {
		bot.Text(group, zoe, fmt.Sprintf("Je peux aider pour les courses, créneau %d", i))
	}
	bot.ShareContact(zoe, "+33 6 12 34 56 78", zoe.ID)
	for _, v := range voisins {
		bot.Reply(group, v, 1, "Merci !")
		text := "Demande à @zcanari42 pour jeudi"
		bot.Send(tgtest.Message{Chat: group, From: &v, Text: text, Entities: []tgtest.Entity{tgtest.EntityOf(text, "@zcanari42", "mention")}})
	}
	eventually("confirmed updates", func() bool { return bot.Pending() == 0 })

	// Before: she is in every node's Raft log of the events stream.
	eventually("her name in the Raft logs of every node", func() bool {
		return len(raftLogNodesHolding(t, ns, "Canari")) == len(ns.names)
	})
	t.Logf("before /oubli: %s", strings.Join(clusterLeaks(t, ns, rc, canaries...), "; "))

	bot.Text(group, zoe, "/oubli")
	asked := time.Now()
	eventually("the erasure confirmed", func() bool {
		return slices.ContainsFunc(bot.Sent(), func(s tgtest.Sent) bool {
			return s.ChatID == zoe.ID && strings.HasPrefix(s.Text, "Effacement terminé")
		})
	})
	erased := time.Since(asked)
	// Erased from every store at once; the Raft logs still hold her until the flush.
	t.Logf("erasure confirmed after %s; then: %s", erased.Round(time.Millisecond), strings.Join(clusterLeaks(t, ns, rc, canaries...), "; "))

	// When she first disappears is logged; the contract is checked at RELAIS_ERASE_WITHIN.
	cleanAt := time.Duration(-1)
	for time.Since(asked) < within {
		if cleanAt < 0 && len(clusterLeaks(t, ns, rc, canaries...)) == 0 {
			cleanAt = time.Since(asked)
		}
		time.Sleep(time.Second)
	}
	if l := clusterLeaks(t, ns, rc, canaries...); len(l) > 0 {
		t.Errorf("RELAIS_ERASE_WITHIN (%s) after /oubli:\n%s", within, strings.Join(l, "\n"))
		out, _ := exec.Command("sh", "-c", "cd "+ns.dir+"/n1/jetstream/\\$SYS/_js_ && ls -lR S-R3F-*/msgs S-R3F-*/snapshots").CombinedOutput()
		t.Logf("n1 raft groups:\n%s", out)
		for name := range bb.js.StreamNames(context.Background()).Name() {
			if s, err := bb.js.Stream(context.Background(), name); err == nil && s.CachedInfo().Cluster != nil {
				t.Logf("stream %s: raft group %s, subjects %v", name, s.CachedInfo().Cluster.RaftGroup, s.CachedInfo().Config.Subjects)
			}
		}
	}
	if !strings.Contains(r.p.Logs(), "raft logs flushed after an erasure") {
		t.Errorf("the relais log does not say the Raft logs were flushed:\n%s", grepLines(r.p.Logs(), "raft"))
	}
	checkAlive(t, []*clusterRelais{r})
	if cleanAt >= 0 {
		t.Logf("nothing of her on any node %s after /oubli (checked again at %s)", cleanAt.Round(time.Second), within)
	}
}

// clusterLeaks lists, per needle, the files of every NATS node (JetStream store and Raft
// logs) and every Redis node that hold it.
func clusterLeaks(t *testing.T, ns *natsCluster, rc *redisCluster, needles ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{ns.dir, rc.dir} {
		for n, files := range eventstest.FilesHolding(t, dir, false, needles...) {
			sort.Strings(files)
			out = append(out, fmt.Sprintf("%q in %s", n, strings.Join(files, ", ")))
		}
	}
	sort.Strings(out)
	return out
}

// raftLogNodesHolding returns the nodes with a Raft log block of a replicated stream
// ($SYS/_js_/S-R3F-*) holding needle.
func raftLogNodesHolding(t *testing.T, ns *natsCluster, needle string) []string {
	t.Helper()
	var nodes []string
	for _, name := range ns.names {
		for _, files := range eventstest.FilesHolding(t, filepath.Join(ns.dir, name), false, needle) {
			if slices.ContainsFunc(files, func(f string) bool {
				return strings.Contains(f, "_js_") && strings.Contains(f, "S-R3F-") && strings.HasSuffix(f, ".blk")
			}) {
				nodes = append(nodes, name)
			}
		}
	}
	return nodes
}

// grepLines returns the lines of s that hold sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
