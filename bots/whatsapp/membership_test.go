package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/relais-bot/relais/events"
)

type fakeGroups struct {
	info *types.GroupInfo
	err  error
}

func (f fakeGroups) GetGroupInfo(context.Context, types.JID) (*types.GroupInfo, error) {
	return f.info, f.err
}

func TestGroupMember(t *testing.T) {
	info := &types.GroupInfo{Participants: []types.GroupParticipant{
		{JID: types.NewJID("111", types.HiddenUserServer), LID: types.NewJID("111", types.HiddenUserServer), PhoneNumber: types.NewJID("33611111111", types.DefaultUserServer)},
		{JID: types.NewJID("33622222222", types.DefaultUserServer), PhoneNumber: types.NewJID("33622222222", types.DefaultUserServer)},
	}}
	tests := []struct {
		name, group, user string
		fetch             GroupFetcher
		want, wantErr     bool
		wantNotInGroup    bool
	}{
		{"by phone, given as +E.164", "1203@g.us", "+33611111111", fakeGroups{info: info}, true, false, false},
		{"by LID", "1203@g.us", "111@lid", fakeGroups{info: info}, true, false, false},
		{"by phone JID with a device", "1203@g.us", "33622222222:3@s.whatsapp.net", fakeGroups{info: info}, true, false, false},
		{"not a participant", "1203@g.us", "+33699999999", fakeGroups{info: info}, false, false, false},
		{"empty user", "1203@g.us", "", fakeGroups{info: info}, false, false, false},
		{"not a group id", "33611111111@s.whatsapp.net", "+33611111111", fakeGroups{info: info}, false, true, false},
		{"WhatsApp fails", "1203@g.us", "+33611111111", fakeGroups{err: errors.New("timeout")}, false, true, false},
		{"WhatsApp times out", "1203@g.us", "+33611111111", fakeGroups{err: context.DeadlineExceeded}, false, true, false},
		{"the account left the group (403)", "1203@g.us", "+33611111111", fakeGroups{err: fmt.Errorf("%w: forbidden", whatsmeow.ErrNotInGroup)}, false, true, true},
		{"the group no longer exists (404)", "1203@g.us", "+33611111111", fakeGroups{err: fmt.Errorf("%w: item-not-found", whatsmeow.ErrGroupNotFound)}, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := groupMember(context.Background(), tt.fetch, tt.group, tt.user)
			if got != tt.want || (err != nil) != tt.wantErr || errors.Is(err, events.ErrNotInGroup) != tt.wantNotInGroup {
				t.Errorf("groupMember = %v, %v; want %v, error %v, not in group %v", got, err, tt.want, tt.wantErr, tt.wantNotInGroup)
			}
		})
	}
}

// imageSender is a fakeSender that can also send pictures.
type imageSender struct {
	fakeSender
	images [][]byte
}

func (f *imageSender) SendImage(_ context.Context, to types.JID, id types.MessageID, png []byte, caption string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images = append(f.images, png)
	f.sent = append(f.sent, sentText{to, id, caption})
	return nil
}

// TestPhotoReplyAsImage: a chart goes out as an image with its caption; a sender that cannot
// send images sends the caption alone; a fallback to the group carries the text only.
func TestPhotoReplyAsImage(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), 1, 2, 3)
	rep := privateReply("chart", alicePN)
	rep.Photo = png
	cfg := DefaultThrottle()

	img := &imageSender{}
	r := newReplier(img, knownSet{alicePN: true}, cfg, slog.New(slog.DiscardHandler))
	r.sleep = func(context.Context, time.Duration) error { return nil }
	if err := r.Handle(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	if len(img.images) != 1 || !bytes.Equal(img.images[0], png) || img.texts()[0].text != rep.Text {
		t.Errorf("image sender got %d images, texts %+v", len(img.images), img.texts())
	}

	plain, _, _, _ := testReplier(cfg, knownSet{alicePN: true})
	if err := plain.Handle(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	if got := plain.send.(*fakeSender).texts(); len(got) != 1 || got[0].text != rep.Text {
		t.Errorf("text-only sender sent %+v", got)
	}
}

type countingGroups struct {
	info  *types.GroupInfo
	calls int
}

func (c *countingGroups) GetGroupInfo(context.Context, types.JID) (*types.GroupInfo, error) {
	c.calls++
	return c.info, nil
}

// TestParticipantsCached: questions about one group within five minutes cost one fetch.
func TestParticipantsCached(t *testing.T) {
	now := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	f := &countingGroups{info: &types.GroupInfo{Participants: []types.GroupParticipant{{JID: types.NewJID("33611111111", types.DefaultUserServer)}}}}
	p := newParticipants(f, func() time.Time { return now })
	for _, user := range []string{"+33611111111", "+33622222222", "33611111111@s.whatsapp.net"} {
		if _, err := groupMember(context.Background(), p, "1203@g.us", user); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls != 1 {
		t.Errorf("%d fetches for three questions, want 1", f.calls)
	}
	now = now.Add(participantsTTL)
	if ok, _ := groupMember(context.Background(), p, "1203@g.us", "+33611111111"); !ok || f.calls != 2 {
		t.Errorf("after the TTL: member %v, %d fetches; want true, 2", ok, f.calls)
	}
}
