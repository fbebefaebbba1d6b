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

// run executes the command line and returns the exit status. Errors are
// printed on stderr as one line; user mistakes never show a stack trace.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "poetvae: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
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
			corpusCommand(),
		},
		// Usage errors from flag parsing get status 2, like the go command.
		OnUsageError: func(c *cli.Context, err error, isSub bool) error {
			return usageError("%v (see poetvae %s --help)", err, c.Command.Name)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run prints and exits
	}
}
