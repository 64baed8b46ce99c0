package civicrm

import "context"

// Check makes one read-only call (one tag's id) to see that the site answers and accepts
// relais's API key: `relais doctor` uses it.
func (c *Client) Check(ctx context.Context) error {
	_, err := c.call(ctx, "Tag", "get", map[string]any{"select": []string{"id"}, "limit": 1})
	return err
}
