// Command relais bridges the WhatsApp and Telegram groups of a party's volunteers to its CRM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Exit codes: 2 is a usage or configuration error, which retrying will not fix.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `relais — des groupes WhatsApp et Telegram au CRM du parti
usage:
  relais run [--roles=telegram,whatsapp,bridge,crm]   run (all roles by default)
  relais demo                                          simulated groups, end to end, then exit
  relais bench [flags]                                 measure throughput (relais bench -h)
  relais replay                                        rebuild Redis state from the event log
  relais export [--out file.csv]                       local CRM as a NationBuilder import CSV
  relais import FILE... [--group <JID or title>]       count a group's past from chat exports, without text
  relais whatsapp pair [--phone +33...]                link the WhatsApp account
  relais dpo register|dpia|journal                     what a DPO signs (relais dpo)
  relais config check                                  validate and print the configuration
  relais doctor                                        check a deployment, each problem with its fix
  relais version
configuration: environment variables and ./.env (see .env.example)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a bad command line: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	err := dispatch(ctx, args, stdout, stderr)
	var cfgErr *ConfigError
	var uErr usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &cfgErr), errors.As(err, &uErr):
		fmt.Fprintln(stderr, "relais:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "relais:", err)
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			return coded.ExitCode()
		}
		return exitFailure
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "relais", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "config":
		if len(rest) != 1 || rest[0] != "check" {
			return usageError{"usage: relais config check"}
		}
		cfg, err := loadFromProcess(".env")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "configuration OK")
		return cfg.WriteEffective(stdout)
	case "run":
		return cmdRun(ctx, rest, stderr)
	}
	if sub, ok := extraCommands()[cmd]; ok {
		return sub(ctx, rest, stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown command %q; try relais help", cmd)}
}

// buildVersion reads the module version and VCS revision Go stamped into the binary.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
		if s.Key == "vcs.modified" && s.Value == "true" {
			v += "+dirty"
		}
	}
	return v + " " + info.GoVersion
}
