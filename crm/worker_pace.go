package crm

import (
	"context"
	"time"

	"github.com/relais-bot/relais/events"
)

// write runs the sink for a change until the CRM confirmed it, and returns what to
// remember. The CRM's pace (a 429, or no turn under the shared rate limit in time) is waited
// out here, resuming after the steps already done, for up to PaceBudget; then the change goes
// back to the stream for after the Retry-After. Neither grows its backoff. A real failure
// is counted in the refs record and retried after a backoff that grows with that count; a
// permanent one is returned as such. Errors are ready for the settler.
func (h *handler) write(ctx context.Context, change events.ContactChange, rec record, state string) (record, error) {
	p := rec.resume(state)
	budget := time.Now().Add(h.w.cfg.PaceBudget)
	for {
		if err := h.w.throttle.Wait(ctx); err != nil {
			return record{}, err
		}
		next, err := h.call(ctx, change, rec, p)
		if err == nil {
			return next, nil
		}
		if ctx.Err() != nil {
			return record{}, ctx.Err() // shutting down: not the CRM's failure
		}
		if IsPaced(err) {
			d := time.Second
			if e, ok := AsError(err); ok && e.Status == 429 {
				if e.RetryAfter > 0 {
					d = e.RetryAfter
				}
				h.w.throttle.Backoff(d)
			}
			h.w.metrics.outcome("paced")
			h.w.log.Debug("crm paced the change, resuming after the pause", "member", change.Member, "pause", d)
			if time.Now().Add(d).Before(budget) {
				continue
			}
			h.w.noteError(err.Error())
			return record{}, events.RetryAfter(err, d)
		}
		ferr := h.w.failed(change, err)
		if events.IsPermanent(ferr) {
			return record{}, ferr
		}
		p.Failures++
		h.savePending(ctx, change.Member, rec, p)
		d := events.Backoff(uint64(p.Failures), h.w.cfg.BaseDelay, h.w.cfg.MaxDelay)
		if e, ok := AsError(err); ok {
			d = max(d, e.RetryAfter)
		}
		if h.w.onRetry != nil {
			h.w.onRetry(change.Member, p.Failures, d)
		}
		return record{}, events.RetryAfter(ferr, d)
	}
}

// savePending records how far a change got. Best effort: without it a retry only repeats
// steps, which the CRM calls tolerate.
func (h *handler) savePending(ctx context.Context, member string, rec record, p *pending) {
	rec.Pending = p
	if err := h.save(ctx, member, rec); err != nil {
		h.w.log.Debug("crm progress not saved", "member", member, "err", err.Error())
	}
}

// failed turns a sink error into the settler's language and remembers it for Status.
func (w *Worker) failed(change events.ContactChange, err error) error {
	msg := err.Error()
	w.noteError(msg)
	e, classified := AsError(err)
	if classified && !e.Retryable {
		w.metrics.outcome("permanent")
		w.log.Warn("crm rejected contact", "member", change.Member, "status", e.Status, "code", e.Code, "op", e.Op)
		return events.Permanent(err)
	}
	w.metrics.outcome("retry")
	w.log.Debug("crm call failed, will retry", "member", change.Member, "status", statusOf(e))
	return err
}

func statusOf(e *Error) int {
	if e == nil {
		return 0
	}
	return e.Status
}
