package webhook

// The README's "Webhook contract" is what integrators build receivers from: these tests fail
// when it and the code disagree (headers, field names, which fields are always sent, the
// example's bytes and signatures, the verification snippets, what each answer makes relais do).

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/crm"
)

// readmeContract is the parsed "### Webhook contract" section.
type readmeContract struct {
	section       string
	secret        string
	headerTable   []string          // header names of the request table
	fieldTable    []string          // field names of the body table
	alwaysSent    []string          // fields named as always present
	exampleHeader map[string]string // headers of the example request
	exampleBody   []byte            // its body, byte for byte
	eraseBody     []byte
	eraseSig      string
	goSnippet     string
	shSnippet     string
	answers       [][2]string // status cell, what relais does
}

func parseReadmeContract(t *testing.T) readmeContract {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "\n### Webhook contract\n")
	if start < 0 {
		t.Fatal(`README has no "### Webhook contract" section`)
	}
	sec := doc[start+1:]
	if end := strings.Index(sec[4:], "\n#"); end >= 0 {
		sec = sec[:end+4]
	}
	c := readmeContract{section: sec}

	m := regexp.MustCompile("`WEBHOOK_SECRET=([^`]+)`").FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("no example secret (`WEBHOOK_SECRET=...`)")
	}
	c.secret = m[1]

	blocks := codeBlocks(sec)
	httpBlock := blocks["http"]
	if len(httpBlock) != 1 || len(blocks["json"]) != 1 || len(blocks["go"]) != 1 || len(blocks["sh"]) != 1 {
		t.Fatalf("want one http, json, go and sh block, got %d, %d, %d, %d",
			len(httpBlock), len(blocks["json"]), len(blocks["go"]), len(blocks["sh"]))
	}
	head, body, ok := strings.Cut(httpBlock[0], "\n\n")
	if !ok {
		t.Fatal("the example request has no blank line between headers and body")
	}
	lines := strings.Split(head, "\n")
	if !strings.HasPrefix(lines[0], "POST ") {
		t.Fatalf("the example request starts %q, want POST", lines[0])
	}
	c.exampleHeader = map[string]string{}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("example header line %q", l)
		}
		c.exampleHeader[k] = v
	}
	c.exampleBody = []byte(body)
	c.eraseBody = []byte(blocks["json"][0])
	m = regexp.MustCompile("signed `(sha256=[0-9a-f]{64})`").FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("no signature given for the erase example (signed `sha256=...`)")
	}
	c.eraseSig = m[1]
	c.goSnippet, c.shSnippet = blocks["go"][0], blocks["sh"][0]

	c.headerTable = firstColumnNames(tableAfter(t, sec, "| header |"))
	c.fieldTable = firstColumnNames(tableAfter(t, sec, "| field |"))
	for _, row := range tableAfter(t, sec, "| status |") {
		c.answers = append(c.answers, [2]string{row[0], row[1]})
	}
	m = regexp.MustCompile(`(?s)except (.*?), which are always there`).FindStringSubmatch(sec)
	if m == nil {
		t.Fatal(`no sentence naming the fields "which are always there"`)
	}
	c.alwaysSent = backticked(m[1])
	return c
}

// codeBlocks returns the fenced blocks of s by language, without the trailing newline.
func codeBlocks(s string) map[string][]string {
	out := map[string][]string{}
	for _, m := range regexp.MustCompile("(?s)```([a-z]*)\n(.*?)\n```").FindAllStringSubmatch(s, -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

// tableAfter returns the rows (cells trimmed) of the table whose header line starts with head.
func tableAfter(t *testing.T, s, head string) [][]string {
	t.Helper()
	i := strings.Index(s, "\n"+head)
	if i < 0 {
		t.Fatalf("no table starting %q", head)
	}
	var rows [][]string
	for n, line := range strings.Split(s[i+1:], "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		if n < 2 { // header and separator
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for k := range cells {
			cells[k] = strings.TrimSpace(cells[k])
		}
		rows = append(rows, cells)
	}
	return rows
}

func firstColumnNames(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, backticked(r[0])...)
	}
	slices.Sort(out)
	return out
}

func backticked(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// payloadFields are Payload's JSON names, and those sent even when empty.
func payloadFields() (all, always []string) {
	rt := reflect.TypeFor[Payload]()
	for i := range rt.NumField() {
		name, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	slices.Sort(all)
	slices.Sort(always)
	return all, always
}

// captured is what a receiver saw of one request.
type captured struct {
	header http.Header
	body   []byte
}

// capture runs a receiver answering status (and answer as body) and records every request.
func capture(t *testing.T, status int, answer string, header map[string]string) (*httptest.Server, *[]captured) {
	t.Helper()
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, captured{header: r.Header.Clone(), body: body})
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// TestReadmeFieldsAndHeaders: the tables name exactly the fields and headers the code sends.
func TestReadmeFieldsAndHeaders(t *testing.T) {
	c := parseReadmeContract(t)
	all, always := payloadFields()
	if !slices.Equal(c.fieldTable, all) {
		t.Errorf("README body table names %v, the payload has %v", c.fieldTable, all)
	}
	slices.Sort(c.alwaysSent)
	if !slices.Equal(c.alwaysSent, always) {
		t.Errorf("README says %v are always there, the payload always sends %v", c.alwaysSent, always)
	}

	srv, got := capture(t, http.StatusOK, "", nil)
	cl, err := New(Config{URL: srv.URL, Secret: c.secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Upsert(context.Background(), crm.Contact{ExternalID: "relais-x", FirstName: "X"}); err != nil {
		t.Fatal(err)
	}
	var sent []string
	for k := range (*got)[0].header {
		if k != "Accept-Encoding" && k != "Content-Length" { // HTTP's own, set by Go's transport
			sent = append(sent, k)
		}
	}
	slices.Sort(sent)
	if !slices.Equal(c.headerTable, sent) {
		t.Errorf("README header table names %v, relais sends %v", c.headerTable, sent)
	}
	if !slices.Contains(c.headerTable, HeaderSignature) || !slices.Contains(c.headerTable, HeaderTimestamp) {
		t.Errorf("README header table %v lacks %s or %s", c.headerTable, HeaderSignature, HeaderTimestamp)
	}
	var example []string
	for k, v := range c.exampleHeader {
		example = append(example, k)
		if k != HeaderSignature && k != HeaderTimestamp && v != (*got)[0].header.Get(k) {
			t.Errorf("README example sends %s: %s, relais sends %q", k, v, (*got)[0].header.Get(k))
		}
	}
	slices.Sort(example)
	if !slices.Equal(example, sent) {
		t.Errorf("README example request has headers %v, relais sends %v", example, sent)
	}
	for _, row := range tableAfter(t, c.section, "| header |") {
		name := backticked(row[0])[0]
		if v := (*got)[0].header.Get(name); name != HeaderSignature && name != HeaderTimestamp && !strings.Contains(row[1], "`"+v+"`") {
			t.Errorf("README header table gives %s as %q, relais sends %q", name, row[1], v)
		}
	}
}

// TestReadmeExample: for the contact of the README's example, relais sends exactly the
// example's bytes, headers and signature, and the same for the erase.
func TestReadmeExample(t *testing.T) {
	c := parseReadmeContract(t)
	var p Payload
	dec := json.NewDecoder(strings.NewReader(string(c.exampleBody)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("README example body: %v", err)
	}
	if p.Op != "upsert" {
		t.Fatalf("README example op %q, want upsert", p.Op)
	}
	var shown map[string]json.RawMessage
	if err := json.Unmarshal(c.exampleBody, &shown); err != nil {
		t.Fatal(err)
	}
	if all, _ := payloadFields(); !slices.Equal(slices.Sorted(maps.Keys(shown)), all) {
		t.Errorf("the README example shows %v, not every field of %v", slices.Sorted(maps.Keys(shown)), all)
	}
	ct := crm.Contact{ExternalID: p.ExternalID, Ref: p.Ref, FirstName: p.FirstName, LastName: p.LastName, Name: p.Name,
		Phone: p.Phone, Handles: p.Handles, Tags: p.Tags, RemoveTags: p.RemoveTags, Groups: p.Groups, DoNotContact: p.DoNotContact}
	if p.LastActive != nil {
		ct.LastActive = *p.LastActive
	}

	srv, got := capture(t, http.StatusOK, `{"id":"4711"}`, nil)
	at := time.Unix(p.SentAt, 0)
	cl, err := New(Config{URL: srv.URL, Secret: c.secret, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := cl.Upsert(context.Background(), ct)
	if err != nil || ref != "4711" {
		t.Fatalf("upsert: %q, %v", ref, err)
	}
	req := (*got)[0]
	if string(req.body) != string(c.exampleBody) {
		t.Errorf("for the README's contact relais sends\n%s\nthe README shows\n%s", req.body, c.exampleBody)
	}
	for _, h := range []string{HeaderSignature, HeaderTimestamp} {
		if req.header.Get(h) != c.exampleHeader[h] {
			t.Errorf("relais sends %s: %s, the README example shows %q", h, req.header.Get(h), c.exampleHeader[h])
		}
	}
	if _, err := Verify([]byte(c.secret), c.exampleBody, c.exampleHeader[HeaderSignature], c.exampleHeader[HeaderTimestamp], at, 5*time.Minute); err != nil {
		t.Errorf("the README example does not verify: %v", err)
	}

	var e Payload
	if err := json.Unmarshal(c.eraseBody, &e); err != nil || e.Op != "erase" {
		t.Fatalf("README erase example: op %q, %v", e.Op, err)
	}
	at = time.Unix(e.SentAt, 0)
	if err := cl.Erase(context.Background(), e.ExternalID, e.Ref); err != nil {
		t.Fatal(err)
	}
	req = (*got)[1]
	if string(req.body) != string(c.eraseBody) {
		t.Errorf("relais erases with\n%s\nthe README shows\n%s", req.body, c.eraseBody)
	}
	if req.header.Get(HeaderSignature) != c.eraseSig {
		t.Errorf("relais signs the erase %s, the README says %s", req.header.Get(HeaderSignature), c.eraseSig)
	}
}

// TestReadmeAnswers: each row of the answer table is what relais does with that status.
func TestReadmeAnswers(t *testing.T) {
	c := parseReadmeContract(t)
	documented := func(status int, op string) string {
		code := strconv.Itoa(status)
		class := code[:1] + "xx"
		pick := func(match func(cell string) bool) string {
			for _, a := range c.answers {
				if match(a[0]) {
					return strings.Trim(strings.Fields(a[1])[0], ".:,;")
				}
			}
			return ""
		}
		if d := pick(func(cell string) bool {
			return slices.Contains(backticked(cell), code) && (!strings.Contains(cell, "to an `erase`") || op == "erase")
		}); d != "" {
			return d
		}
		if d := pick(func(cell string) bool {
			return slices.Contains(backticked(cell), class) && !strings.HasPrefix(cell, "other ")
		}); d != "" {
			return d
		}
		return pick(func(cell string) bool { return cell == "other `"+class+"`" })
	}
	outcome := func(err error) string {
		switch {
		case err == nil:
			return "success"
		case crm.IsRetryable(err):
			return "retried"
		default:
			return "permanent"
		}
	}
	for _, status := range []int{200, 201, 202, 204, 400, 401, 403, 404, 408, 409, 410, 413, 422, 429, 500, 502, 503, 504} {
		for _, op := range []string{"upsert", "erase"} {
			want := documented(status, op)
			if want == "" {
				t.Errorf("README answer table says nothing of %d to an %s", status, op)
				continue
			}
			srv, _ := capture(t, status, `{"error":"nope"}`, nil)
			cl, err := New(Config{URL: srv.URL, Secret: c.secret})
			if err != nil {
				t.Fatal(err)
			}
			if op == "upsert" {
				_, err = cl.Upsert(context.Background(), crm.Contact{ExternalID: "relais-x", FirstName: "X"})
			} else {
				err = cl.Erase(context.Background(), "relais-x", "")
			}
			if got := outcome(err); got != want {
				t.Errorf("%d to an %s: relais does %q, the README says %q", status, op, got, want)
			}
		}
	}

	// Retry-After is honoured; without it a refused credential waits a minute.
	for _, tc := range []struct {
		status int
		header map[string]string
		want   time.Duration
	}{
		{http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{http.StatusServiceUnavailable, map[string]string{"Retry-After": "100000"}, crm.MaxRetryAfter},
		{http.StatusUnauthorized, nil, time.Minute},
	} {
		srv, _ := capture(t, tc.status, "", tc.header)
		cl, _ := New(Config{URL: srv.URL, Secret: c.secret})
		_, err := cl.Upsert(context.Background(), crm.Contact{ExternalID: "relais-x", FirstName: "X"})
		if e, ok := crm.AsError(err); !ok || e.RetryAfter != tc.want {
			t.Errorf("%d %v: retry after %v, want %v", tc.status, tc.header, err, tc.want)
		}
	}
	if !strings.Contains(c.section, "at most 10 minutes") || crm.MaxRetryAfter != 10*time.Minute {
		t.Errorf("README and crm.MaxRetryAfter (%v) disagree on the longest Retry-After", crm.MaxRetryAfter)
	}

	// The id answer: a string or a number.
	for answer, want := range map[string]string{`{"id":"abc"}`: "abc", `{"id":42}`: "42", `{}`: "relais-x"} {
		srv, _ := capture(t, http.StatusOK, answer, nil)
		cl, _ := New(Config{URL: srv.URL, Secret: c.secret})
		if ref, err := cl.Upsert(context.Background(), crm.Contact{ExternalID: "relais-x"}); err != nil || ref != want {
			t.Errorf("answer %s: ref %q (%v), want %q", answer, ref, err, want)
		}
	}
}

// TestReadmeGoSnippet compiles the README's Go verification and runs it on the example.
func TestReadmeGoSnippet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	c := parseReadmeContract(t)
	dir := t.TempDir()
	prog := `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

` + c.goSnippet + `

func main() {
	var cases []struct {
		Body, Sig, TS string
		Now           int64
	}
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	for _, k := range cases {
		fmt.Println(verifyRelais([]byte(os.Getenv("WEBHOOK_SECRET")), []byte(k.Body), k.Sig, k.TS, time.Unix(k.Now, 0)))
	}
	_ = strconv.Itoa
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o600); err != nil {
		t.Fatal(err)
	}
	body, sig, ts := string(c.exampleBody), c.exampleHeader[HeaderSignature], c.exampleHeader[HeaderTimestamp]
	now, _ := strconv.ParseInt(ts, 10, 64)
	type tc struct {
		Body, Sig, TS string
		Now           int64
	}
	cases := []tc{
		{body, sig, ts, now},       // the example
		{body, sig, ts, now + 240}, // 4 minutes later
		{strings.Replace(body, "Nadia", "Nadya", 1), sig, ts, now}, // tampered
		{body, sig, strconv.FormatInt(now+1, 10), now},             // header differs from sent_at
		{body, sig, ts, now + 3600},                                // replayed an hour later
		{body, "sha256=" + strings.Repeat("0", 64), ts, now},       // forged
	}
	want := "true\ntrue\nfalse\nfalse\nfalse\nfalse\n"
	in, _ := json.Marshal(cases)
	cmd := exec.Command(goBin, "run", "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+c.secret, "GOFLAGS=")
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's Go snippet does not run: %v\n%s", err, out)
	}
	if string(out) != want {
		t.Errorf("the README's Go snippet answers\n%swant\n%s", out, want)
	}
}

// TestReadmeShellSnippet runs the README's openssl line on the example body.
func TestReadmeShellSnippet(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	c := parseReadmeContract(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "body.json"), c.exampleBody, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", c.shSnippet)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+c.secret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the README's shell line fails: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != c.exampleHeader[HeaderSignature] {
		t.Errorf("the README's shell line prints %q, the example's signature is %q", got, c.exampleHeader[HeaderSignature])
	}
	if got := Sign([]byte(c.secret), c.exampleBody); got != c.exampleHeader[HeaderSignature] {
		t.Errorf("Sign gives %s for the README example, the README shows %s", got, c.exampleHeader[HeaderSignature])
	}
}
