package dashboard

import (
	"net/url"
	"testing"
)

// TestOriginOf: a URL's origin as browsers write it in Origin: default ports left out, case
// folded, IPv6 literals in brackets (without them two different hosts could look alike).
func TestOriginOf(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://Relais.Example.org/relais/", "https://relais.example.org"},
		{"https://relais.example.org:443/", "https://relais.example.org"},
		{"http://relais.example.org:80", "http://relais.example.org"},
		{"https://relais.example.org:8443/x", "https://relais.example.org:8443"},
		{"http://[::1]:8080/relais", "http://[::1]:8080"},
		{"http://[::1]/relais", "http://[::1]"},
		{"https://[2001:db8::1]:443/", "https://[2001:db8::1]"},
	} {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := originOf(u); got != tt.want {
			t.Errorf("originOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
