package nationbuilder

import (
	"context"
	"net/http"
)

// Check makes one read-only call (the first signup tag) to see that the nation answers and
// accepts relais's credentials: `relais doctor` uses it.
func (c *Client) Check(ctx context.Context) error {
	_, _, err := c.do(ctx, "check credentials", http.MethodGet, "/signup_tags?page[size]=1", nil)
	return err
}
