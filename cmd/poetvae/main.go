// Command poetvae learns a latent space of Chinese five-character poems with
// a variational autoencoder and uses it to write, reconstruct and
// interpolate poems.
//
//	poetvae train corpus.txt
//	poetvae generate --lines 4
//	poetvae interpolate "POEM A" "POEM B"
//
// Run poetvae help for every command.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// exitError carries an exit status other than 1 (2 for usage, 130 for an
// interrupt).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// Exit statuses: 0 done, 1 a failure of the environment (a file that
// cannot be read or written, a damaged model), 2 a mistake in the command
// line (usageError), 70 a bug in poetvae (EX_SOFTWARE of sysexits.h), 130
// interrupted.
const exitInternal = 70

// run executes the command line and returns the exit status. Errors are
// printed on stderr as one line; user mistakes never show a stack trace.
func run(args []string, stdout, stderr io.Writer) int {
	return runApp(newApp(stdout, stderr), args, stderr)
}

// runApp is run with the application given, so that a test can add to it.
// A panic is a bug whatever the input: it is reported in one line that
// says so and where it happened, with status 70, rather than as a stack
// trace that reads as the user's fault. (A panic in another goroutine
// cannot be recovered here and still ends the program.)
func runApp(app *cli.App, args []string, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "poetvae: internal error, please report it with the command line that caused it: %v%s\n",
				oneLine(fmt.Sprint(r)), panicSite())
			code = exitInternal
		}
	}()
	err := app.Run(args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "poetvae: %s\n", oneLine(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// oneLine joins the lines of a message, so that an error wrapping text
// with line breaks (a panic's, a library's) still prints as one line, and
// cuts it at maxErrorRunes characters: a message quoting what the user typed
// (a file name of 100,000 characters, say) stays readable.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	msg := strings.Join(lines, " ")
	if r := []rune(msg); len(r) > maxErrorRunes {
		msg = string(r[:maxErrorRunes/2]) + " … " + string(r[len(r)-maxErrorRunes/2:])
	}
	return msg
}

// maxErrorRunes is the most characters of an error message printed: the
// start says what failed, the end why.
const maxErrorRunes = 400

// panicSite names, as " (at FUNCTION FILE:LINE)", the function of poetvae
// or of a library that panicked, for the report: the first frame of the
// panicking goroutine's stack outside the runtime. It is called from the
// deferred function that recovers, whose caller is the panic.
func panicSite() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if f.Function != "" && !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf(" (at %s %s:%d)", f.Function, filepath.Base(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "poetvae",
		Usage:     "learn and explore a latent space of Chinese five-character poems",
		UsageText: "poetvae <command> [flags] [arguments]",
		Description: `Examples:
   poetvae train --sample                     # train briefly on the built-in sample corpus
   poetvae train corpus.txt                   # train on your own corpus, writes poetvae.ckpt
   poetvae generate --lines 4 --count 3       # write three quatrains
   poetvae interpolate "POEM A" "POEM B"      # walk between two poems
   poetvae reconstruct "POEM"                 # what the model keeps of a poem
   poetvae corpus stats corpus.txt            # check a corpus before training`,
		Writer:                 stdout,
		ErrWriter:              stderr,
		HideVersion:            true,
		UseShortOptionHandling: true,
		Suggest:                true,
		Commands: []*cli.Command{
			trainCommand(),
			generateCommand(),
			interpolateCommand(),
			reconstructCommand(),
			neighborsCommand(),
			evalCommand(),
			corpusCommand(),
			plotCommand(),
			priorCommand(),
			serveCommand(),
			packCommand(),
			exportCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return unknownCommand(c)
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // run prints and exits
	}
	// urfave/cli does not pass the app's OnUsageError down to commands.
	var setUp func([]*cli.Command)
	setUp = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			cmd.OnUsageError = onUsageError
			if action := cmd.Action; action != nil {
				cmd.Action = func(c *cli.Context) error {
					if err := flagAfterArguments(c); err != nil {
						return err
					}
					return action(c)
				}
			}
			setUp(cmd.Subcommands)
		}
	}
	setUp(app.Commands)
	return app
}

// flagAfterArguments reports one of the command's flags written after its
// arguments: urfave/cli reads flags only up to the first argument, so
// `interpolate "A" "B" --steps 4` would otherwise take --steps and 4 for
// two more poems and fail with a puzzling message.
func flagAfterArguments(c *cli.Context) error {
	for _, arg := range c.Args().Slice() {
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if hasFlag(c, name) {
			return usageError("%s comes after the arguments, where it is read as one: put flags first (see %s --help)",
				arg, c.Command.HelpName)
		}
	}
	return nil
}

// hasFlag reports whether the command has a flag of that name (set or not).
func hasFlag(c *cli.Context, name string) bool {
	return slices.ContainsFunc(c.Command.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) })
}

// onUsageError gives usage errors from flag parsing status 2, like the go
// command.
func onUsageError(c *cli.Context, err error, isSub bool) error {
	return usageError("%v (see %s --help)", err, c.Command.HelpName)
}

// unknownCommand reports the first argument of a command that has
// subcommands but none of that name. (urfave/cli would print "No help
// topic" and exit with status 1.)
func unknownCommand(c *cli.Context) error {
	var names []string
	for _, sub := range c.Command.Subcommands {
		if !sub.Hidden && sub.Name != "help" {
			names = append(names, sub.Name)
		}
	}
	return usageError("unknown command %q: want %s (see %s --help)",
		c.Args().First(), strings.Join(names, ", "), c.Command.HelpName)
}
