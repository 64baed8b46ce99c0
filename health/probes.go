package health

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/crm"
)

// crmStatus is what the CRM probe needs of crm.Worker.
type crmStatus interface {
	Status(ctx context.Context) (crm.Status, error)
}

// httpStatus finds the status crm.Error writes ("push signup: HTTP 401 ...").
var httpStatus = regexp.MustCompile(`: HTTP (\d{3})\b`)

// CRMProbe reports the CRM failing (a delayed kind) or refusing relais's credentials (at
// once), from the worker's last outcome: an error more recent than its last success.
func CRMProbe(w crmStatus) Probe {
	return ProbeFunc(func(ctx context.Context) []Condition {
		st, _ := w.Status(ctx) // the last outcome is filled even when the queue depth is not
		return crmConditions(st)
	})
}

func crmConditions(st crm.Status) []Condition {
	if st.LastError == "" || st.LastErrorAt.Before(st.LastSuccess) {
		return nil
	}
	detail := ""
	if m := httpStatus.FindStringSubmatch(st.LastError); m != nil {
		detail = "HTTP " + m[1]
	}
	if detail == "HTTP 401" || detail == "HTTP 403" {
		return []Condition{{Kind: CRMCredentials, Subject: "crm", Detail: detail}}
	}
	if detail == "" {
		detail = "no answer"
	}
	return []Condition{{Kind: CRMFailing, Subject: "crm", Detail: detail}}
}

// Reachable reports kind (NATSUnreachable, RedisUnreachable) while ping fails. Each ping
// gets its own deadline, so a server that hangs counts as unreachable.
func Reachable(kind Kind, subject string, ping func(ctx context.Context) error) Probe {
	return ProbeFunc(func(ctx context.Context) []Condition {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := ping(pctx); err != nil {
			return []Condition{{Kind: kind, Subject: subject}}
		}
		return nil
	})
}

// streamInfo is what the dead-letter probe needs of JetStream.
type streamInfo interface {
	Stream(ctx context.Context, name string) (jetstream.Stream, error)
}

// DeadLetterProbe reports dead letters while the newest is less than window old: an
// incident starts when they appear and ends a window after the last one. When the stream
// cannot be read (NATS down, a separate incident) it repeats what it last saw.
func DeadLetterProbe(js streamInfo, stream string, window time.Duration, now func() time.Time) Probe {
	if now == nil {
		now = time.Now
	}
	return holdOnError(func(ctx context.Context) ([]Condition, error) {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return nil, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return nil, err
		}
		if st := info.State; st.Msgs > 0 && now().Sub(st.LastTime) < window {
			return []Condition{{Kind: DeadLetters, Subject: "dlq", Detail: fmt.Sprintf("%d", st.Msgs)}}, nil
		}
		return nil, nil
	})
}

// holdOnError is a probe of what read sees; when read fails it repeats what it last saw, so
// a failed read neither starts nor ends an incident.
func holdOnError(read func(ctx context.Context) ([]Condition, error)) Probe {
	var (
		mu   sync.Mutex
		last []Condition
	)
	return ProbeFunc(func(ctx context.Context) []Condition {
		mu.Lock()
		defer mu.Unlock()
		if seen, err := read(ctx); err == nil {
			last = seen
		}
		return last
	})
}

// DiskSpace returns the free (available to relais) and total bytes of the file system
// holding dir.
type DiskSpace func(dir string) (free, total uint64, err error)

// DiskProbe reports free disk under 10 % in dir. space nil means the operating system's.
func DiskProbe(dir string, space DiskSpace) Probe {
	if space == nil {
		space = Statfs
	}
	return ProbeFunc(func(context.Context) []Condition {
		free, total, err := space(dir)
		if err != nil || !DiskLowRule(free, total) {
			return nil
		}
		return []Condition{{Kind: DiskLow, Subject: "data", Detail: fmt.Sprintf("%d %%", free*100/total)}}
	})
}

// DiskLowRule: under 10 % free.
func DiskLowRule(free, total uint64) bool { return total > 0 && free*10 < total }
