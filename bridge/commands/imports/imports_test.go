package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands/reply"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

type sentReplies struct {
	mu  sync.Mutex
	out []events.Reply
}

func (s *sentReplies) Reply(_ context.Context, r events.Reply) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := events.Encode(r); err != nil {
		return err
	}
	for _, o := range s.out {
		if o.ID == r.ID {
			return nil // the replies stream drops a duplicate id
		}
	}
	s.out = append(s.out, r)
	return nil
}

// failingUploader fails the test if an import is tried.
type failingUploader struct{ t *testing.T }

func (f failingUploader) Upload(context.Context, history.File, history.Options, history.Cards, string, time.Duration) (history.UploadSummary, error) {
	f.t.Error("an import was tried")
	return history.UploadSummary{}, errors.New("no")
}

type noDownload struct{ t *testing.T }

func (d noDownload) Open(context.Context, string) (io.ReadCloser, error) {
	d.t.Error("a file was downloaded")
	return nil, errors.New("no")
}

func testFeature(t *testing.T, pub *sentReplies) *Feature {
	t.Helper()
	hash, err := events.NewHasher([]byte("imports-test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Deps{
		Lang: "fr", Downloaders: map[events.Platform]Downloader{events.Telegram: noDownload{t}},
		Importer: failingUploader{t}, Cards: nilCards{}, Options: func(time.Time) history.Options { return history.Options{} },
		Scope:   func(context.Context, events.Event) (scope.Scope, error) { return scope.Everything(), nil },
		Hash:    hash,
		Replies: reply.NewSender(pub, "relais_bot", reply.Texts{StartMeFirst: "start%s", AnsweredPrivately: "privé"}),
		Records: &fakeRecords{}, Pub: pub,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type nilCards struct{}

func (nilCards) GroupMembers(context.Context, string) ([]string, error)       { return nil, nil }
func (nilCards) Cards(context.Context, []string) ([]bridge.MemberCard, error) { return nil, nil }

func upload(p events.Platform, doc *events.Document) events.Event {
	return events.Event{V: events.Version, ID: string(p) + ":dm:7:12", Kind: events.KindCommand, Platform: p, At: time.Now(),
		Sender: events.Member{ID: "7"}, Command: &events.Command{Name: events.UploadCommand}, Document: doc}
}

// TestUploadAnswersWithoutImporting: the answers that import nothing, and never fetch.
func TestUploadAnswersWithoutImporting(t *testing.T) {
	tests := []struct {
		name       string
		ev         events.Event
		want       string
		wantDelete bool
	}{
		{"no file: how to send one", upload(events.Telegram, nil), "envoyez-moi ici son export", false},
		{"whatsapp: relais import", upload(events.WhatsApp, &events.Document{FileID: "whatsapp:D1", Ext: "zip", Message: "D1"}), "relais import", false},
		{"over the limit", upload(events.Telegram, &events.Document{FileID: "F1", Ext: "json", Size: MaxBytes + 1, Message: "12"}), "dépasse 20 Mo", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &sentReplies{}
			if err := testFeature(t, pub).Upload(context.Background(), tc.ev); err != nil {
				t.Fatal(err)
			}
			if len(pub.out) == 0 || !strings.Contains(pub.out[0].Text, tc.want) || !pub.out[0].Private {
				t.Fatalf("answered %+v, want a private text with %q", pub.out, tc.want)
			}
			deleted := len(pub.out) == 2 && pub.out[1].Delete == "12" && pub.out[1].Text == ""
			if deleted != tc.wantDelete {
				t.Fatalf("replies %+v: file message deleted %v, want %v", pub.out, deleted, tc.wantDelete)
			}
		})
	}
}

type fakeRecords struct {
	mu      sync.Mutex
	noticed map[string]bool
}

func (r *fakeRecords) Ended(_ context.Context, _ string, gs []history.EndedGroup) ([]history.EndedGroup, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var due []history.EndedGroup
	for _, g := range gs {
		if !r.noticed[g.Token] {
			due = append(due, g)
		}
	}
	return due, nil
}

func (r *fakeRecords) NoticePosted(_ context.Context, g history.EndedGroup) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.noticed == nil {
		r.noticed = map[string]bool{}
	}
	r.noticed[g.Token] = true
	return nil
}

// TestEndedPostsTheNoticeOnce: the notice goes to each group of an import, with its days,
// once; an unreadable marker posts nothing and holds nothing back.
func TestEndedPostsTheNoticeOnce(t *testing.T) {
	pub := &sentReplies{}
	f := testFeature(t, pub)
	ctx := context.Background()
	marker := []byte(`{"groups":[{"platform":"telegram","id":"-100777","token":"g1","days":412},{"platform":"whatsapp","id":"1203@g.us","token":"g2","days":1}]}`)
	for range 2 {
		if err := f.Ended(ctx, "imp1", marker); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Ended(ctx, "imp2", marker); err != nil {
		t.Fatal(err)
	}
	if err := f.Ended(ctx, "old", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := f.Ended(ctx, "bad", []byte(`{"groups":`)); err != nil {
		t.Fatalf("an unreadable marker must not come back forever: %v", err)
	}
	if len(pub.out) != 2 {
		t.Fatalf("%d notices, want one per group: %+v", len(pub.out), pub.out)
	}
	if r := pub.out[0]; r.Chat != "-100777" || r.Private || !strings.Contains(r.Text, "412 jours") || !strings.Contains(r.Text, "Aucun texte") {
		t.Errorf("telegram notice: %+v", r)
	}
	if r := pub.out[1]; r.Chat != "1203@g.us" || !strings.Contains(r.Text, "1 jour ") || !strings.Contains(r.Text, "/oubli") {
		t.Errorf("whatsapp notice: %+v", r)
	}
}

// bytesDownload serves one file.
type bytesDownload []byte

func (b bytesDownload) Open(context.Context, string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(string(b))), nil
}

// groupUploader records the options of the import and refuses it as history would.
type groupUploader struct {
	opt history.Options
	err error
}

func (g *groupUploader) Upload(_ context.Context, _ history.File, opt history.Options, _ history.Cards, _ string, _ time.Duration) (history.UploadSummary, error) {
	g.opt = opt
	return history.UploadSummary{}, g.err
}

// TestUploadOfAWhatsAppExportNamesItsGroup: a WhatsApp export sent through Telegram names its
// group by the chat its file name gives; a group relais does not follow, or a renamed file,
// gets an answer that says so, and the file message is still deleted.
func TestUploadOfAWhatsAppExportNamesItsGroup(t *testing.T) {
	for _, tc := range []struct {
		chat string
		err  error
		want string
	}{
		{"Entraide Sud", fmt.Errorf("export.zip: %w: %q", history.ErrUnknownGroup, "Entraide Sud"), "aucun groupe WhatsApp nommé exactement « Entraide Sud »"},
		{"", fmt.Errorf("export.txt: %w", history.ErrNeedGroup), "ne dit plus de quel groupe"},
	} {
		pub := &sentReplies{}
		f := testFeature(t, pub)
		up := &groupUploader{err: tc.err}
		f.d.Importer = up
		f.d.Downloaders[events.Telegram] = bytesDownload("01/02/2026 10:00 - Zoé: bonjour")
		ev := upload(events.Telegram, &events.Document{FileID: "F1", Ext: "zip", Size: 30, Message: "12", Chat: tc.chat})
		if err := f.Upload(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if up.opt.Group != tc.chat || up.opt.Scope == nil || up.opt.MaxBytes != MaxBytes {
			t.Errorf("import options: group %q, scope set %v, max %d", up.opt.Group, up.opt.Scope != nil, up.opt.MaxBytes)
		}
		if len(pub.out) != 2 || !strings.Contains(pub.out[0].Text, tc.want) || !strings.Contains(pub.out[0].Text, "Rien n'a changé") || pub.out[1].Delete != "12" {
			t.Errorf("replies %+v, want %q then the deletion", pub.out, tc.want)
		}
	}
}
