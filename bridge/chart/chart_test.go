package chart

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// french are the chart's words as relais says them in French.
var french = Labels{Days: "jours (aujourd'hui à droite)", Weeks: "semaines", Messages: "messages par jour", Members: "membres actifs par semaine"}

func TestStatsIsAPNG(t *testing.T) {
	tests := []struct {
		name          string
		perDay, weeks []int
	}{
		{"a month", []int{0, 3, 5, 8, 13, 21, 34, 21, 13, 8, 5, 3, 1, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 9}, []int{3, 5, 8, 6}},
		{"quiet", make([]int, 30), []int{0, 0, 0, 0}},
		{"one day, no week", []int{4}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := french
			l.Title = "Entraide Belleville"
			b, err := Stats(l, tt.perDay, tt.weeks)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 300 || len(b) > MaxBytes {
				t.Errorf("%v, %d bytes", r, len(b))
			}
			if tt.name != "a month" {
				return
			}
			// The README's picture of a chart: RELAIS_DOCS_IMG=1 refreshes it.
			dirs := []string{os.Getenv("RELAIS_ARTIFACTS")}
			if os.Getenv("RELAIS_DOCS_IMG") == "1" {
				dirs = append(dirs, "../../docs/img")
			}
			for _, d := range dirs {
				if d != "" {
					if err := os.WriteFile(filepath.Join(d, "stats-chart.png"), b, 0o644); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	if _, err := Stats(french, nil, nil); err == nil {
		t.Error("a chart of no days")
	}
}

func BenchmarkStats(b *testing.B) {
	days := make([]int, 30)
	for i := range days {
		days[i] = (i * 7) % 23
	}
	weeks := []int{4, 8, 6, 9, 12}
	for b.Loop() {
		if _, err := Stats(french, days, weeks); err != nil {
			b.Fatal(err)
		}
	}
}
