package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validEvent() Event {
	return Event{
		V: Version, ID: "telegram:-100:42", Kind: KindMessage, Platform: Telegram,
		At:     time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC),
		Group:  &Group{ID: "-100", Title: "Entraide Belleville"},
		Sender: Member{ID: "7", Name: "Camille Martin", FirstName: "Camille", LastName: "Martin"},
		Chars:  12,
	}
}

func TestEventRoundTrip(t *testing.T) {
	e := validEvent()
	e.Mentions = []string{"8", "@nadia"}
	e.ReplyTo = "9"
	b, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Group.Title != e.Group.Title || got.Sender.Name != e.Sender.Name ||
		!got.At.Equal(e.At) || got.ReplyTo != "9" || len(got.Mentions) != 2 || got.Chars != 12 {
		t.Fatalf("round trip changed the event: %+v", got)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"oversize", `{"v":1,"id":"` + strings.Repeat("x", MaxSize) + `"}`, ErrOversize},
		{"invalid utf8", "{\"v\":1,\"id\":\"a\xff\"}", ErrInvalidUTF8},
		{"not json", `hello`, ErrMalformed},
		{"array", `[1,2]`, ErrMalformed},
		{"trailing", `{"v":1,"id":"a","kind":"message","platform":"telegram","at":"2026-01-01T00:00:00Z","sender":{"id":"1"}} {}`, ErrMalformed},
		{"wrong type", `{"v":1,"id":"a","kind":"message","platform":"telegram","at":"2026-01-01T00:00:00Z","sender":{"id":1}}`, ErrMalformed},
		{"no version", `{"id":"a"}`, ErrUnknownVersion},
		{"version 2", `{"v":2,"id":"a"}`, ErrUnknownVersion},
		{"missing id", `{"v":1,"kind":"message","platform":"telegram","at":"2026-01-01T00:00:00Z","sender":{"id":"1"}}`, ErrMissingID},
		{"unknown kind", `{"v":1,"id":"a","kind":"poke","platform":"telegram","at":"2026-01-01T00:00:00Z","sender":{"id":"1"}}`, ErrUnknownKind},
		{"unknown platform", `{"v":1,"id":"a","kind":"message","platform":"signal","at":"2026-01-01T00:00:00Z","sender":{"id":"1"}}`, ErrUnknownPlatform},
		{"no time", `{"v":1,"id":"a","kind":"message","platform":"telegram","sender":{"id":"1"}}`, ErrInvalidField},
		{"no sender", `{"v":1,"id":"a","kind":"message","platform":"telegram","at":"2026-01-01T00:00:00Z"}`, ErrInvalidField},
		{"command without name", `{"v":1,"id":"a","kind":"command","platform":"telegram","at":"2026-01-01T00:00:00Z","sender":{"id":"1"}}`, ErrInvalidField},
		{"negative chars", `{"v":1,"id":"a","kind":"message","platform":"telegram","at":"2026-01-01T00:00:00Z","sender":{"id":"1"},"chars":-1}`, ErrInvalidField},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "xxxxxxxxxx") {
				t.Fatalf("error echoes input: %.80s", err.Error())
			}
			seen[tc.want.Error()] = tc.name
		})
	}
	// The five rejections the contract names each read differently.
	for _, want := range []error{ErrUnknownVersion, ErrMissingID, ErrUnknownKind, ErrOversize, ErrInvalidUTF8} {
		if _, ok := seen[want.Error()]; !ok {
			t.Errorf("no case produced %v", want)
		}
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	e := validEvent()
	e.Kind = "shout"
	if _, err := Encode(e); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("got %v, want ErrUnknownKind", err)
	}
}

func TestContactChangeAndReplyValidation(t *testing.T) {
	c := ContactChange{V: 1, ID: "c1", Member: "abc", ExternalID: ExternalID("abc"), Op: OpUpsert, Tags: []string{"relais-actif"}}
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeContactChange(b); err != nil || got.Tags[0] != "relais-actif" {
		t.Fatalf("contact change round trip: %v %+v", err, got)
	}
	c.ExternalID = "someone-else"
	if _, err := Encode(c); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("mismatched external id: got %v", err)
	}
	r := Reply{V: 1, ID: "r1", Platform: WhatsApp, Chat: "33612345678@s.whatsapp.net", Text: "Merci !"}
	b, err = Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeReply(b); err != nil {
		t.Fatal(err)
	}
	r.Text = ""
	if _, err := Encode(r); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("empty reply: got %v", err)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	good, _ := Encode(validEvent())
	f.Add(good)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"id":"x","kind":"command","platform":"whatsapp","at":"2026-01-01T00:00:00Z","sender":{"id":"1"},"command":{"name":"stats","args":["a"]}}`))
	f.Add([]byte("{\"v\":1,\"id\":\"\xc3\x28\"}"))
	f.Add([]byte(`{"v":1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvent(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a DecodeError: %v", err)
			}
			return
		}
		// Whatever decodes must validate and survive a round trip unchanged.
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("decoded event does not re-encode: %v", err)
		}
		again, err := DecodeEvent(b)
		if err != nil || again.ID != e.ID || again.Kind != e.Kind || !again.At.Equal(e.At) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

func FuzzDecodeContactChange(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"c","member":"m","external_id":"relais-m","op":"upsert"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeContactChange(data)
		if err != nil {
			return
		}
		if c.ExternalID != ExternalID(c.Member) {
			t.Fatalf("accepted a change whose external id does not match")
		}
	})
}
