package telegram

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
)

// TestPrivateDocumentIsAnUploadCommand: a document sent privately becomes the importer
// command naming the file by its handle; its name, caption and content stay in the adapter,
// and a document in a group is a message like any other.
func TestPrivateDocumentIsAnUploadCommand(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	orga := tgtest.User{ID: 1001, FirstName: "Lina"}
	content := []byte(`{"name":"CANARY-NAME","messages":[{"text":"CANARY-TEXT"}]}`)
	msg, fileID := h.fake.SendDocument(tgtest.Private(orga), orga, "Entraide CANARY.json", content)
	h.fake.SendDocument(tgtest.Group(-1001000000001, "Entraide"), orga, "photo.json", []byte("x"))
	stop := run(t, a.Run)
	waitFor(t, "two events", func() bool { return h.streamCount() == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	evs := h.streamEvents()
	up := evs[0]
	if up.Kind != events.KindCommand || up.Command.Name != events.UploadCommand || up.Document == nil {
		t.Fatalf("private document: got %s", summary(up))
	}
	if d := *up.Document; d.FileID != fileID || d.Ext != "json" || d.Size != int64(len(content)) || d.Message != itoa(msg) {
		t.Fatalf("document = %+v, want file %s, json, %d bytes, message %d", d, fileID, len(content), msg)
	}
	if raw, _ := events.Encode(up); bytes.Contains(raw, []byte("CANARY")) {
		t.Fatalf("the upload event carries the file's name or content: %s", raw)
	}
	if g := evs[1]; g.Kind != events.KindMessage || g.Document != nil {
		t.Fatalf("a document in a group: got %s", summary(g))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestFilesOpen downloads a file by its handle, as the bridge does; errors never carry the
// token.
func TestFilesOpen(t *testing.T) {
	fake := tgtest.New(t)
	u := tgtest.User{ID: 1001, FirstName: "Lina"}
	_, fileID := fake.SendDocument(tgtest.Private(u), u, "result.json", []byte(`{"ok":true}`))
	files := Files{Token: fake.Token(), APIEndpoint: fake.Endpoint(), FileEndpoint: fake.FileEndpoint(), Client: fake.Client()}
	rc, err := files.Open(context.Background(), fileID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != `{"ok":true}` {
		t.Fatalf("downloaded %q", got)
	}
	_, err = files.Open(context.Background(), "nope")
	if err == nil || strings.Contains(err.Error(), fake.Token()) {
		t.Fatalf("unknown file: got %v", err)
	}
	bad := files
	bad.FileEndpoint = "http://127.0.0.1:1/file/bot%s/%s"
	if _, err := bad.Open(context.Background(), fileID); err == nil || strings.Contains(err.Error(), fake.Token()) {
		t.Fatalf("unreachable file endpoint: got %v", err)
	}
	big := make([]byte, 20<<20+1)
	_, bigID := fake.SendDocument(tgtest.Private(u), u, "big.zip", big)
	if _, err := files.Open(context.Background(), bigID); !errors.Is(err, ErrFileTooBig) {
		t.Fatalf("a file over 20 MB: got %v, want ErrFileTooBig", err)
	}
}

// TestReplyDeletes deletes the message a reply names, with or without a text.
func TestReplyDeletes(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	u := tgtest.User{ID: 1001, FirstName: "Lina"}
	m1, _ := h.fake.SendDocument(tgtest.Private(u), u, "a.json", []byte("{}"))
	m2, _ := h.fake.SendDocument(tgtest.Private(u), u, "b.json", []byte("{}"))
	h.reply(events.Reply{ID: "d1", Chat: "1001", Private: true, Delete: itoa(m1)})
	h.reply(events.Reply{ID: "d2", Chat: "1001", Private: true, Delete: itoa(m2), Text: "Importé."})
	h.reply(events.Reply{ID: "d3", Chat: "1001", Private: true, Delete: itoa(m1)}) // gone already
	stop := run(t, a.ServeReplies)
	waitFor(t, "replies settled", func() bool { return len(h.fake.Deleted()) == 2 && h.repliesSettled() })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if d := h.fake.Deleted(); d[0] != [2]int64{1001, int64(m1)} || d[1] != [2]int64{1001, int64(m2)} {
		t.Fatalf("deleted %v", d)
	}
	if s := h.fake.Sent(); len(s) != 1 || s[0].Text != "Importé." {
		t.Fatalf("sent %+v, want the one text", s)
	}
}
