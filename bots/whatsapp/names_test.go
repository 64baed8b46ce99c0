package whatsapp

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"

	"github.com/relais-bot/relais/events/eventstest"
)

// TestSessionStoreKeepsNoNames is what a DPO would try: names WhatsApp sends (push names,
// business names, the bot phone's address book), and names an earlier relais left in the
// session database, are not anywhere in the data dir once relais has opened it; yet relais
// still knows that those people wrote first.
func TestSessionStoreKeepsNoNames(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	bot := types.NewJID("33700000001", types.DefaultUserServer)
	old := types.NewJID("33600000001", types.DefaultUserServer)
	pushed := types.NewJID("111111111111111", types.HiddenUserServer)
	business := types.NewJID("33600000002", types.DefaultUserServer)
	book := types.NewJID("33600000003", types.DefaultUserServer)
	stranger := types.NewJID("33600000004", types.DefaultUserServer)

	// An earlier relais: whatsmeow's plain store, names written as WhatsApp sent them.
	dialect, dsn, err := storeDSN(dir, "", []string{"sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareSQLiteFile(filepath.Join(dir, storeFile)); err != nil {
		t.Fatal(err)
	}
	plain, err := sqlstore.New(ctx, dialect, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := plain.NewDevice()
	dev.ID = &bot
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := plain.PutDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dev.Contacts.PutPushName(ctx, old, "CanaryOldPushName"); err != nil {
		t.Fatal(err)
	}
	if err := dev.Contacts.PutContactName(ctx, old, "CanaryOld FullName", "CanaryOldFirst"); err != nil {
		t.Fatal(err)
	}
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	if len(eventstest.FilesHolding(t, dir, true, "CanaryOld")) == 0 {
		t.Fatal("the earlier store did not write the name: the test proves nothing")
	}

	// relais now.
	c, err := openStore(ctx, dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err = c.GetFirstDevice(ctx)
	if err != nil || dev.ID == nil {
		t.Fatalf("device: %v %v", dev, err)
	}
	forgetNames(dev)
	forgetNames(dev) // twice: still one wrapper
	if _, _, err := dev.Contacts.PutPushName(ctx, pushed, "CanaryPushed"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dev.Contacts.PutBusinessName(ctx, business, "CanaryBusiness SARL"); err != nil {
		t.Fatal(err)
	}
	if err := dev.Contacts.PutAllContactNames(ctx, []store.ContactEntry{{JID: book, FirstName: "CanaryBook", FullName: "CanaryBook Full"}}); err != nil {
		t.Fatal(err)
	}
	known := knownRecipients{seen: newRecentSenders(time.Hour, 1, time.Now), contacts: dev.Contacts, lids: dev.LIDs}
	for _, j := range []types.JID{old, pushed, book} {
		if ok, err := known.WroteFirst(ctx, j); err != nil || !ok {
			t.Errorf("WroteFirst(%s) = %v %v, want true", j, ok, err)
		}
	}
	if ok, err := known.WroteFirst(ctx, stranger); err != nil || ok {
		t.Errorf("WroteFirst(stranger) = %v %v, want false", ok, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if found := eventstest.FilesHolding(t, dir, true, "Canary"); len(found) != 0 {
		t.Errorf("names left in the data dir: %v", found)
	}
}
