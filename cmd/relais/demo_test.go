package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := runMain(t.Context(), []string{"demo", "--data-dir", dir}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errb.String(), out.String())
	}
	s := out.String()
	for _, want := range []string{"SIMULÉS", "avis d'information", "/stop",
		"Camille Martin", "Nadia Benali", "relais-leader", "opposé (/stop)", "non (minimisation)",
		"Les 2 relais", "Tous les groupes", "export.csv",
		"Aperçu de la campagne", "joignables maintenant : 1", "injoignables (jamais écrit au bot en privé) : 1",
		"Camille reçoit, en privé", "[📣 Je relaie]", "vous relayez ce message", "Envoyés : 1", "Relaient :\n  │ • Camille Martin"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The leaders are the two people many neighbours answer, and only they.
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "relais-leader") && !strings.Contains(line, "Camille Martin") && !strings.Contains(line, "Nadia Benali") {
			t.Errorf("unexpected leader: %s", line)
		}
	}
	f, err := os.Open(filepath.Join(dir, "export.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := regexp.MustCompile(`(\d+) personnes dans le CRM`).FindStringSubmatch(s); got == nil || got[1] != "6" || len(rows) != 7 {
		t.Fatalf("CRM: output says %v, CSV has %d rows; want 6 contacts", got, len(rows)-1)
	}
	logs, err := os.ReadFile(filepath.Join(dir, "relais.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Camille", "Nadia", "Julien", "Martin", "Benali", "Mme Diallo", "Belleville"} {
		if bytes.Contains(logs, []byte(name)) {
			t.Fatalf("the demo's log holds %q", name)
		}
	}
}
