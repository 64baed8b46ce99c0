package crm

import "time"

// OnRetry lets tests see each real failure of a change: its count and the delay it asked.
// Set it before Run.
func OnRetry(w *Worker, f func(member string, failures int, delay time.Duration)) { w.onRetry = f }
