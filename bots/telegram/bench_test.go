package telegram

import (
	"fmt"
	"testing"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

// BenchmarkDecodeAndMap measures one typical group update through the decoder and mapper.
func BenchmarkDecodeAndMap(b *testing.B) {
	raw := []byte(`{"update_id":1,"message":{"message_id":5,"date":1700000000,` + group + `,` + annJSON +
		`,"text":"🎉 merci @bob et @chloe pour hier soir, à samedi !","entities":[{"type":"mention","offset":9,"length":4},{"type":"mention","offset":17,"length":6}],` +
		`"reply_to_message":{"message_id":4,"date":1700000000,` + group + `,"from":{"id":1002,"is_bot":false,"first_name":"Bob"}}}}`)
	m := newMapper("relais_bot", 1)
	b.ReportAllocs()
	for b.Loop() {
		u, err := DecodeUpdate(raw)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Map(u)) != 1 {
			b.Fatal("no event")
		}
	}
}

// BenchmarkPoll measures updates per second from the fake Bot API into JetStream, acks
// included, through the real client.
func BenchmarkPoll(b *testing.B) {
	h := newHarness(b)
	nord := tgtest.Supergroup(-1001000000001, "Nord")
	for i := range b.N {
		h.fake.Text(nord, ann, fmt.Sprintf("message %d", i))
	}
	b.ResetTimer()
	stop := run(b, h.adapter().Run)
	waitFor(b, "every update confirmed", func() bool { return h.fake.Pending() == 0 })
	b.StopTimer()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
}
