package whatsapp

import (
	"context"
	"database/sql"
	"fmt"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// nameMarker is what the device store keeps instead of a person's name. relais never reads
// names from the store (events carry the push name of each message); it reads only that a
// name was seen, which tells that the person wrote first (knownRecipients). Keeping the
// marker instead of the name keeps that and leaves no name of anyone on disk, so an erasure
// has no name to chase in the WhatsApp session database.
const nameMarker = "·"

// namelessContacts is whatsmeow's contact store with every name replaced by nameMarker
// before it is written.
type namelessContacts struct{ store.ContactStore }

// forgetNames makes the device's contact store nameless from now on.
func forgetNames(dev *store.Device) {
	if _, done := dev.Contacts.(namelessContacts); !done {
		dev.Contacts = namelessContacts{dev.Contacts}
	}
}

func marked(name string) string {
	if name == "" {
		return ""
	}
	return nameMarker
}

func (c namelessContacts) PutPushName(ctx context.Context, user types.JID, pushName string) (bool, string, error) {
	return c.ContactStore.PutPushName(ctx, user, marked(pushName))
}

func (c namelessContacts) PutBusinessName(ctx context.Context, user types.JID, businessName string) (bool, string, error) {
	return c.ContactStore.PutBusinessName(ctx, user, marked(businessName))
}

func (c namelessContacts) PutContactName(ctx context.Context, user types.JID, fullName, firstName string) error {
	return c.ContactStore.PutContactName(ctx, user, marked(fullName), marked(firstName))
}

func (c namelessContacts) PutAllContactNames(ctx context.Context, contacts []store.ContactEntry) error {
	out := make([]store.ContactEntry, len(contacts))
	for i, e := range contacts {
		out[i] = store.ContactEntry{JID: e.JID, FirstName: marked(e.FirstName), FullName: marked(e.FullName)}
	}
	return c.ContactStore.PutAllContactNames(ctx, out)
}

// scrubStoredNames replaces the names an earlier relais let whatsmeow write. On SQLite the
// connection has secure_delete on, so the old bytes are overwritten, and the WAL, which still
// holds the old pages, is checkpointed and truncated. PostgreSQL keeps dead row versions until
// its own VACUUM.
func scrubStoredNames(ctx context.Context, dialect, dsn string) error {
	db, err := sql.Open(dialect, dsn)
	if err != nil {
		return fmt.Errorf("whatsapp store: scrub names: %w", err)
	}
	defer db.Close()
	const q = `UPDATE whatsmeow_contacts SET
		first_name = CASE WHEN COALESCE(first_name, '') = '' THEN first_name ELSE '` + nameMarker + `' END,
		full_name = CASE WHEN COALESCE(full_name, '') = '' THEN full_name ELSE '` + nameMarker + `' END,
		push_name = CASE WHEN COALESCE(push_name, '') = '' THEN push_name ELSE '` + nameMarker + `' END,
		business_name = CASE WHEN COALESCE(business_name, '') = '' THEN business_name ELSE '` + nameMarker + `' END
		WHERE COALESCE(first_name, '') NOT IN ('', '` + nameMarker + `')
		   OR COALESCE(full_name, '') NOT IN ('', '` + nameMarker + `')
		   OR COALESCE(push_name, '') NOT IN ('', '` + nameMarker + `')
		   OR COALESCE(business_name, '') NOT IN ('', '` + nameMarker + `')`
	res, err := db.ExecContext(ctx, q)
	if err != nil {
		return fmt.Errorf("whatsapp store: scrub names: %w", err)
	}
	if dialect != "sqlite" {
		return nil
	}
	if n, _ := res.RowsAffected(); n > 0 {
		// The rewritten pages leave free space the old names were in; VACUUM rebuilds the
		// file without it.
		if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
			return fmt.Errorf("whatsapp store: scrub names: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("whatsapp store: scrub names: %w", err)
	}
	return nil
}
