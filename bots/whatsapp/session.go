package whatsapp

import (
	"context"
	"fmt"
)

// Paired reports whether the session store holds a linked device, without connecting (a
// second connection would replace the running relais's session). Whether WhatsApp still
// accepts the device only the running relais sees (Health, incidents).
func Paired(ctx context.Context, dataDir, db string) (bool, error) {
	container, err := openStore(ctx, dataDir, db, newWALogger(nil, "whatsmeow/store"))
	if err != nil {
		return false, err
	}
	defer container.Close()
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		return false, fmt.Errorf("whatsapp: load device: %w", err)
	}
	return dev.ID != nil, nil
}
