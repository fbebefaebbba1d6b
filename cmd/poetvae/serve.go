package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// poetvae serve: a local web application over one loaded model. The page
// (serve_page.go, web/) uses only the JSON API (serve_api.go), and the API
// reads its fields as the command line reads its flags and calls the same
// functions, so that the two never disagree.

const (
	defaultAddr    = "127.0.0.1:8080"
	defaultTimeout = 10 * time.Second
	// shutdownGrace bounds how long Ctrl-C waits for requests in flight.
	// A request runs at most its time limit, so it is rarely reached.
	shutdownGrace = 30 * time.Second
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "explore the latent space in a web browser",
		Description: `Starts a web server on this machine and prints its address: open it in a
browser to write poems with every control of generate, walk from one poem
to another, see a corpus as a map of the latent space, find a poem's
neighbours and move through the space along its principal directions.

Every view is a JSON API as well (POST, fields named as the flags of the
commands: see docs/REFERENCE.md). The server binds to 127.0.0.1, this machine only,
unless --addr says otherwise. Ctrl-C stops it after the requests in flight.

The map shows the poems of --corpus, or else the model's training poems
(stored in models trained with a keyword index), coloured by rhyme group,
and by dynasty or author with --meta (a TSV as for plot latent).

Examples:
   poetvae serve
   poetvae serve --model demo.ckpt --addr 127.0.0.1:9000
   poetvae serve --corpus tang_valid.txt --corpus song_valid.txt --rhyme-table pingshui.tsv   # dynasties from the file names
   poetvae serve --corpus tang_valid.txt --meta tang_meta.tsv                                # and authors from the metadata`,
		Flags: []cli.Flag{
			modelFlag(),
			&cli.StringFlag{Name: "addr", Value: defaultAddr, Usage: "`HOST:PORT` to listen on (port 0: any free port); a host other than the loopback lets other machines in"},
			&cli.StringSliceFlag{Name: "corpus", Usage: "corpus `FILE` to show on the map (repeatable; default: the model's training poems)"},
			&cli.StringFlag{Name: "meta", Usage: "metadata `FILE` (TSV with author, dynasty, source or text columns) to colour the map by"},
			&cli.IntFlag{Name: "map-limit", Value: 20000, Usage: "show at most `N` poems on the map (a seeded sample of a larger corpus)"},
			&cli.DurationFlag{Name: "timeout", Value: defaultTimeout, Usage: "time limit of each request"},
			&cli.IntFlag{Name: "workers", DefaultText: "the number of cores", Usage: "requests computed at once; more wait for a turn, within their time limit"},
			rhymeTableFlag(),
			jiebaDictFlag(),
		},
		Action: serve,
	}
}

func serve(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("serve takes no arguments (got %q); a corpus for the map goes after --corpus", c.Args().First())
	}
	if c.Duration("timeout") <= 0 {
		return usageError("--timeout must be positive")
	}
	if c.Int("map-limit") < 0 {
		return usageError("--map-limit cannot be negative")
	}
	if c.Int("workers") < 0 {
		return usageError("--workers cannot be negative")
	}
	if c.String("meta") != "" && len(c.StringSlice("corpus")) == 0 {
		return usageError("--meta needs --corpus: the metadata describes the poems of the corpus files")
	}
	addr := c.String("addr")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usageError("--addr %s: want HOST:PORT, such as %s", shortQuote(addr), defaultAddr)
	}
	s, err := newServer(c)
	if err != nil {
		return err
	}
	defer s.close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if !isLoopback(ln.Addr()) {
		fmt.Fprintf(c.App.ErrWriter, "warning: listening on %s, not on the loopback: anyone who can reach this machine can use the server\n", ln.Addr())
	}
	s.loopbackOnly = isLoopback(ln.Addr())
	fmt.Fprintf(c.App.Writer, "serving %s on http://%s/ (Ctrl-C to stop)\n", modelPath(c), hostPort(ln.Addr()))

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runServer(ctx, ln, s.handler(), c.App.ErrWriter)
}

// newServer loads the model and what the views need: the prosody, the
// segmenter for --theme and the map.
func newServer(c *cli.Context) (*server, error) {
	m, err := loadModel(c)
	if err != nil {
		return nil, err
	}
	if m.Config.LM {
		return nil, fmt.Errorf("%s is a plain language model (trained with --lm): it has no latent space to explore", modelPath(c))
	}
	pros, judge := modelProsody(m)
	if table := c.String("rhyme-table"); table != "" {
		var err error
		if pros, _, err = loadProsody(c, false); err != nil {
			return nil, err
		}
		// Clients see the files by name, not where they lie on the server.
		judge = "rhyme table " + filepath.Base(table)
	}
	workers := c.Int("workers")
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	s := &server{
		m:         m,
		modelPath: filepath.Base(modelPath(c)),
		prosody:   pros,
		judge:     judge,
		seg:       corpus.NewSegmenter(c.String("jieba-dict")),
		work:      make(chan struct{}, workers),
		timeout:   c.Duration("timeout"),
		log:       c.App.ErrWriter,
	}
	if err := s.warmUp(); err != nil {
		s.close()
		return nil, err
	}
	if s.atlas, err = readAtlas(c, m, pros); err != nil {
		s.close()
		return nil, err
	}
	// The map's codes are computed while the server starts serving.
	ctx, cancel := context.WithCancel(context.Background())
	s.stopMap = func() {
		cancel()
		<-s.atlas.ready
	}
	say := func(format string, args ...any) { fmt.Fprintf(c.App.ErrWriter, format, args...) }
	go s.atlas.encode(ctx, m, say)
	if err := s.preparePage(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// modelProsody is what the model's constrained decoding judges tones and
// rhymes by when no rhyme table is given, as the command line's does
// (Model.Prosody), and how to name it.
func modelProsody(m *model.Model) (*poetry.Prosody, string) {
	if m.Rhymes != nil && m.Rhymes.Len() > 0 {
		return m.Prosody(), "modern pinyin tones and the model's rhyme classes"
	}
	return m.Prosody(), "modern pinyin tones"
}

// warmUp fills the model's caches before requests share it: the forward
// pass's copy of the weights and the character tables of the prosody,
// which the model builds on first use without a lock.
func (s *server) warmUp() error {
	z := [][]float64{make([]float64, s.m.Config.Latent)}
	_, err := s.m.DecodeResults(z, model.DecodeOptions{Lines: s.m.Config.Lines, Greedy: true,
		Tones: model.TonesLoose, Prosody: s.prosody}, nil)
	return err
}

// runServer serves h on ln until ctx is done, then stops taking new
// connections and waits for the requests in flight (at most shutdownGrace).
func runServer(ctx context.Context, ln net.Listener, h http.Handler, log io.Writer) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(log, "stopping: finishing the requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) && serveErr != nil {
		return serveErr
	}
	if err != nil {
		return fmt.Errorf("stopping the server: %w", err)
	}
	fmt.Fprintln(log, "stopped")
	return nil
}

// isLoopback reports whether a listener's address is on the loopback.
func isLoopback(a net.Addr) bool {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	return false
}

// hostPort writes a listener's address for a URL: the loopback address a
// browser can open when listening on every interface.
func hostPort(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}
