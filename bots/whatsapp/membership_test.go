package whatsapp

import (
	"context"
	"errors"
	"testing"

	"go.mau.fi/whatsmeow/types"
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
	}{
		{"by phone, given as +E.164", "1203@g.us", "+33611111111", fakeGroups{info: info}, true, false},
		{"by LID", "1203@g.us", "111@lid", fakeGroups{info: info}, true, false},
		{"by phone JID with a device", "1203@g.us", "33622222222:3@s.whatsapp.net", fakeGroups{info: info}, true, false},
		{"not a participant", "1203@g.us", "+33699999999", fakeGroups{info: info}, false, false},
		{"empty user", "1203@g.us", "", fakeGroups{info: info}, false, false},
		{"not a group id", "33611111111@s.whatsapp.net", "+33611111111", fakeGroups{info: info}, false, true},
		{"WhatsApp fails", "1203@g.us", "+33611111111", fakeGroups{err: errors.New("timeout")}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := groupMember(context.Background(), tt.fetch, tt.group, tt.user)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("groupMember = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
