// Package crm writes the contact changes the bridge publishes into the party's CRM: the Sink
// each CRM adapter implements, the error classes the worker acts on, the request throttle,
// and the worker that drains RELAIS_CRM into a Sink. One sub-package per CRM.
package crm

import "context"

// Sink is one CRM. Both calls must be idempotent: the worker repeats them after any doubt
// (a timeout, a crash between the CRM's answer and the ack).
type Sink interface {
	// Upsert creates or updates the contact and returns the CRM's id for it.
	Upsert(ctx context.Context, c Contact) (ref string, err error)
	// Erase deletes the contact where the CRM allows it. ref is the id Upsert returned, or ""
	// when relais does not know it (the sink then looks the contact up by externalID).
	// Erasing a contact the CRM does not hold is a success.
	Erase(ctx context.Context, externalID, ref string) error
}
