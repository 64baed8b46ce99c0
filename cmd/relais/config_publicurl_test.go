package main

import "testing"

// TestDefaultPublicURL: without RELAIS_PUBLIC_URL, links point at the HTTP address, an
// unspecified host read as localhost (no browser sends Origin http://0.0.0.0:8080, so every
// login would be refused).
func TestDefaultPublicURL(t *testing.T) {
	for _, tt := range []struct{ public, addr, want string }{
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"", "0.0.0.0:8080", "http://localhost:8080"},
		{"", ":8080", "http://localhost:8080"},
		{"", "[::]:8080", "http://localhost:8080"},
		{"", "[::1]:8080", "http://[::1]:8080"},
		{"https://relais.example.org/relais/", "0.0.0.0:8080", "https://relais.example.org/relais/"},
	} {
		c := Config{HTTPAddr: tt.addr}
		c.PublicURL = tt.public
		if got := c.publicURL(); got != tt.want {
			t.Errorf("publicURL(%q, %q) = %q, want %q", tt.public, tt.addr, got, tt.want)
		}
	}
}
