//go:build cluster

package main

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The deploy files agree with the binary: every relais command in deploy/compose.yaml and
// deploy/relais.service names roles relais knows, together they run every role, and the
// settings the compose file gives every relais are a valid configuration whose REDIS_URL is
// the whole Redis Cluster. A small reading of the compose file, not a YAML parser: it reads
// the block and flow forms the file uses (tabs, which YAML forbids, are refused).
func TestClusterDeployFiles(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(raw)
	if strings.Contains(compose, "\t") {
		t.Error("deploy/compose.yaml holds a tab: YAML indents with spaces only")
	}

	// The settings every relais gets (the x-relais block's environment), as relais reads them.
	env := map[string]string{}
	block := regexp.MustCompile(`(?m)^x-relais: &relais\n((?:  .*\n|\n)+)`).FindStringSubmatch(compose)
	if block == nil {
		t.Fatal("no x-relais block in deploy/compose.yaml")
	}
	inEnv := false
	for _, l := range strings.Split(block[1], "\n") {
		switch {
		case l == "  environment:":
			inEnv = true
		case inEnv && strings.HasPrefix(l, "    ") && !strings.HasPrefix(strings.TrimSpace(l), "#"):
			k, v, ok := strings.Cut(strings.TrimSpace(l), ": ")
			if !ok {
				t.Fatalf("environment line %q", l)
			}
			env[k] = strings.Trim(v, `"`)
		case inEnv && strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "    "):
			inEnv = false
		}
	}
	for _, k := range []string{"NATS_URL", "REDIS_URL", "RELAIS_HTTP_ADDR"} {
		if env[k] == "" {
			t.Errorf("x-relais sets no %s", k)
		}
	}
	env["RELAIS_SECRET"] = "a-secret-of-at-least-16-characters"
	cfg, err := LoadConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatalf("the compose file's settings: %v", err)
	}
	rdb, err := connectRedis(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("REDIS_URL %q opens a %T, want a cluster client", cfg.RedisURL, rdb)
	}
	i := strings.Index(compose, "\nservices:\n")
	if i < 0 {
		t.Fatal("no services in deploy/compose.yaml")
	}
	services, _, _ := strings.Cut(compose[i:], "\nnetworks:\n")
	redisNodes := regexp.MustCompile(`(?m)^  (redis-[0-9]+):$`).FindAllStringSubmatch(services, -1)
	if got := len(cc.Options().Addrs); got != len(redisNodes) || got != 6 {
		t.Errorf("REDIS_URL names %d nodes; the file runs %d Redis nodes, want 6", got, len(redisNodes))
	}
	if n := strings.Count(cfg.NATSURL, "nats://"); n != 3 {
		t.Errorf("NATS_URL names %d servers, want the 3 nodes", n)
	}
	ips := regexp.MustCompile(`ipv4_address: ([0-9.]+)`).FindAllStringSubmatch(compose, -1)
	_, create, _ := strings.Cut(compose, "--cluster create")
	create, _, _ = strings.Cut(create, "--cluster-replicas")
	for _, ip := range ips {
		if !strings.Contains(create, ip[1]+":6379") {
			t.Errorf("redis-cli --cluster create leaves out %s", ip[1])
		}
	}
	if len(ips) != 6 {
		t.Errorf("%d Redis nodes with a fixed address, want 6", len(ips))
	}

	// Every relais command's roles, in flow form: [run, "--roles=a,b"].
	covered := map[string]bool{}
	commands := regexp.MustCompile(`(?m)^    command: \[(run, .*)\]$`).FindAllStringSubmatch(compose, -1)
	if len(commands) < 4 {
		t.Fatalf("%d relais commands in deploy/compose.yaml, want the 4 relais services", len(commands))
	}
	for _, c := range commands {
		args := flowSequence(c[1])
		if args[0] != "run" || len(args) != 2 || !strings.HasPrefix(args[1], "--roles=") {
			t.Errorf("relais command %q: want [run, \"--roles=...\"]", c[1])
			continue
		}
		roles, err := parseRoles(strings.TrimPrefix(args[1], "--roles="))
		if err != nil {
			t.Errorf("relais command %q: %v", c[1], err)
		}
		maps.Copy(covered, roles)
	}
	if got := slices.Sorted(maps.Keys(covered)); !slices.Equal(got, slices.Sorted(slices.Values(allRoles))) {
		t.Errorf("the compose file runs roles %v, want all of %v", got, allRoles)
	}

	// The systemd unit: its default roles parse, and it reads the documented env file.
	unit, err := os.ReadFile("../../deploy/relais.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^Environment=RELAIS_ROLES=(.*)$`).FindStringSubmatch(string(unit))
	if m == nil {
		t.Fatal("relais.service sets no default RELAIS_ROLES")
	}
	if _, err := parseRoles(m[1]); err != nil {
		t.Errorf("relais.service: RELAIS_ROLES=%s: %v", m[1], err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/relais run --roles=${RELAIS_ROLES}", "EnvironmentFile=/etc/relais/relais.env",
		"Environment=RELAIS_DATA_DIR=/var/lib/relais", "ReadWritePaths=/var/lib/relais", "StateDirectory=relais"} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("relais.service lacks %q", want)
		}
	}
}

// flowSequence splits the inside of a YAML flow sequence of plain and double-quoted scalars.
func flowSequence(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}
