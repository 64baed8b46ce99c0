package whatsapp

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"
)

// With DATABASE_URL set (CI on a machine with PostgreSQL), the session store works on a
// database of this test's own, created and dropped here.
func TestStoreOnPostgres(t *testing.T) {
	admin := os.Getenv("DATABASE_URL")
	if admin == "" {
		t.Skip("DATABASE_URL not set: PostgreSQL store not exercised (SQLite is, in every other test)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "relais_wa_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
		db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	container, err := openStore(ctx, t.TempDir(), u.String(), nil)
	if err != nil {
		t.Fatalf("open store on postgres: %v", err)
	}
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dev.ID != nil {
		t.Fatal("a fresh database must hold no paired device")
	}
	check, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var tables int
	if err := check.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'whatsmeow_%'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables < 5 {
		t.Fatalf("whatsmeow schema not created: %d tables", tables)
	}
	_ = container.Close()
}
