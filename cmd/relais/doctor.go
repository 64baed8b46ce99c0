package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// finding is one thing relais doctor checked: what it saw and, for a problem, the fix.
type finding struct {
	part, saw, fix string
	problem        bool
}

func good(part, format string, args ...any) finding {
	return finding{part: part, saw: fmt.Sprintf(format, args...)}
}

func bad(part, fix, format string, args ...any) finding {
	return finding{part: part, saw: fmt.Sprintf(format, args...), fix: fix, problem: true}
}

// doctorProblems is relais doctor's outcome when something is wrong: exit 1.
type doctorProblems int

func (n doctorProblems) Error() string {
	if n == 1 {
		return "doctor: 1 problem"
	}
	return fmt.Sprintf("doctor: %d problems", int(n))
}

// doctorCheck checks one part of a deployment.
type doctorCheck struct {
	name string
	run  func(ctx context.Context, cfg Config) []finding
}

func doctorChecks() []doctorCheck {
	return []doctorCheck{
		{"telegram", checkTelegram},
		{"crm", checkCRM},
		{"nats", checkNATS},
		{"redis", checkRedis},
		{"disk", checkDisk},
		{"whatsapp", checkWhatsApp},
	}
}

// cmdDoctor checks a deployment from the command line: the configuration, then each part it
// names, one line each, a fix under each problem. It exits 0 only when all is well.
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment")
	timeout := fs.Duration("timeout", 10*time.Second, "how long each check may take")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		var ce *ConfigError
		fix := "see .env.example for what each variable takes"
		if errors.As(err, &ce) {
			fix = "set " + ce.Var + ": " + ce.Want
		}
		n := report(stdout, []finding{bad("configuration", fix, "%v", err)})
		return doctorProblems(n)
	}
	all := []finding{good("configuration", "read, CRM=%s", cfg.CRM)}
	for _, c := range doctorChecks() {
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		all = append(all, c.run(cctx, cfg)...)
		cancel()
	}
	if n := report(stdout, all); n > 0 {
		return doctorProblems(n)
	}
	return nil
}

// report prints the findings and returns how many are problems.
func report(w io.Writer, fs []finding) int {
	n := 0
	for _, f := range fs {
		if !f.problem {
			fmt.Fprintf(w, "ok    %s: %s\n", f.part, f.saw)
			continue
		}
		n++
		fmt.Fprintf(w, "FAIL  %s: %s\n      fix: %s\n", f.part, f.saw, f.fix)
	}
	if n == 0 {
		fmt.Fprintln(w, "all is well")
	} else {
		fmt.Fprintf(w, "%d problem(s)\n", n)
	}
	return n
}
