package dashboard_test

import (
	"testing"

	"github.com/relais-bot/relais/dashboard"
)

// TestRoot: the dashboard's mount point from RELAIS_PUBLIC_URL; a path that http.ServeMux
// would rewrite before matching ("." or ".." segments) or that is not plain is refused at
// start rather than leaving the dashboard unreachable.
func TestRoot(t *testing.T) {
	for _, tt := range []struct {
		url, want string
		ok        bool
	}{
		{"https://example.org", "/tableau/", true},
		{"https://example.org/", "/tableau/", true},
		{"https://example.org/relais/", "/relais/tableau/", true},
		{"http://[::1]:8080/relais", "/relais/tableau/", true},
		{"https://example.org/relais/..", "", false},
		{"https://example.org/./relais", "", false},
		{"https://example.org/re lais/", "", false},
		{"https://example.org/relais/?x=1", "", false},
		{"ftp://example.org/", "", false},
		{"example.org/relais", "", false},
	} {
		got, err := dashboard.Root(tt.url)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Root(%q) = %q, %v; want %q, ok %v", tt.url, got, err, tt.want, tt.ok)
		}
	}
}
