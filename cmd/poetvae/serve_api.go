package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// The JSON API. A request is a POST whose JSON body holds fields named as
// the flags of the matching command ("count", "acrostic", "steps", "rhyme",
// ...), plus the poems that the command takes as arguments. The fields are
// set on a flag set built from the command's own flags, and the handlers
// call the command line's checks and the same model functions on it, so a
// request means what the command line means and is refused in its words.

// Limits of a request: together they bound the work of one request to well
// under a second of a core with a model of the default size.
const (
	maxBody       = 64 << 10 // bytes of a request body
	maxText       = 200      // characters of a poem, template or other text field
	maxCount      = 20       // poems of one generate
	maxSteps      = 32       // intervals of one walk
	maxBeam       = 8        // beams
	maxRows       = 100      // poems decoded at once, beams counted: count × beam
	maxCodes      = 64       // codes of one decode
	maxNeighbours = 50       // neighbours of one query
	maxThemeK     = 10       // keywords of one theme
	maxCodeValue  = 100      // magnitude of a coordinate of a code given
)

// serverOnlyFlags are the flags of the commands that requests may not set:
// files and devices are the server's to choose, and the output is JSON.
var serverOnlyFlags = []string{"model", "device", "json", "rhyme-table", "jieba-dict", "quiet"}

// server holds the loaded model and what the handlers share. Everything in
// it is read-only once newServer returns, except the worker slots and the
// map's codes, which are set before the map says it is ready.
type server struct {
	m            *model.Model
	modelPath    string          // the model's file name, as clients see it
	prosody      *poetry.Prosody // judges tones and rhymes in decoding and in answers: the rhyme table's, or the model's
	judge        string          // what prosody is, for people
	seg          *corpus.Segmenter
	atlas        *atlas
	work         chan struct{} // a slot for each request computed at once
	timeout      time.Duration
	log          io.Writer
	loopbackOnly bool // refuse Host headers that do not name the loopback
	page         *pageAssets
	stopMap      func() // stops encoding the map and waits for it
}

func (s *server) close() {
	if s.stopMap != nil {
		s.stopMap()
	}
	s.seg.Close()
}

// endpoint describes one API call: the command whose flags the request may
// set (nil for none), flags of it to leave out, the other fields it takes,
// and the work.
type endpoint struct {
	command func() *cli.Command
	omit    []string
	extra   []string
	get     bool // also answers GET, without a body
	run     func(s *server, ctx context.Context, rq *request) (any, error)
}

func (s *server) endpoints() map[string]endpoint {
	return map[string]endpoint{
		"/api/info":        {get: true, run: (*server).info},
		"/api/generate":    {command: generateCommand, run: (*server).generate},
		"/api/interpolate": {command: interpolateCommand, extra: []string{"a", "b", "za", "zb"}, run: (*server).interpolate},
		"/api/reconstruct": {command: reconstructCommand, extra: []string{"poem"}, run: (*server).reconstruct},
		"/api/decode":      {command: reconstructCommand, omit: []string{"strict"}, extra: []string{"z"}, run: (*server).decode},
		"/api/neighbors":   {command: strictOnly, extra: []string{"poem", "z", "k"}, run: (*server).neighbors},
		"/api/map":         {get: true, run: (*server).mapData},
		"/api/direction":   {extra: []string{"by", "from", "to"}, run: (*server).direction},
	}
}

// strictOnly is the one flag of neighbors, for a poem given.
func strictOnly() *cli.Command { return &cli.Command{Flags: []cli.Flag{strictFlag()}} }

// request is a parsed request: a command line context whose flags hold
// the request's fields, the fields that are not flags, and the notes and
// warnings the command line would print on stderr.
type request struct {
	c     *cli.Context
	extra map[string]json.RawMessage
	notes *bytes.Buffer
}

// badRequest is an error in what the client sent: HTTP 400.
type badRequest struct{ err error }

func (e *badRequest) Error() string { return e.err.Error() }
func (e *badRequest) Unwrap() error { return e.err }

// internalError is the server's own failure: HTTP 500.
type internalError struct{ err error }

func (e *internalError) Error() string { return "internal error: " + e.err.Error() }

func badf(format string, args ...any) error {
	return &badRequest{fmt.Errorf(format, args...)}
}

// apiFlags returns fresh flags of a command that requests may set (fresh,
// because urfave/cli records on a flag whether it was set).
func apiFlags(ep endpoint) []cli.Flag {
	if ep.command == nil {
		return nil
	}
	var flags []cli.Flag
	for _, f := range ep.command().Flags {
		name := f.Names()[0]
		if slices.Contains(serverOnlyFlags, name) || slices.Contains(ep.omit, name) {
			continue
		}
		switch f.(type) {
		case *cli.BoolFlag, *cli.IntFlag, *cli.Uint64Flag, *cli.Float64Flag, *cli.StringFlag:
			flags = append(flags, f)
		}
	}
	return flags
}

// fieldNames lists the fields an endpoint takes, for its error messages
// and the info endpoint.
func fieldNames(ep endpoint) []string {
	var names []string
	for _, f := range apiFlags(ep) {
		names = append(names, f.Names()[0])
	}
	return append(names, ep.extra...)
}

// fieldDefaults returns the default of each field of ep that has one: the
// value its flag takes when it is not given, so that the page can show the
// command line's defaults and send only what differs from them.
func fieldDefaults(ep endpoint) map[string]any {
	defaults := map[string]any{}
	for _, f := range apiFlags(ep) {
		name := f.Names()[0]
		switch f := f.(type) {
		case *cli.BoolFlag:
			defaults[name] = f.Value
		case *cli.IntFlag:
			defaults[name] = f.Value
		case *cli.Float64Flag:
			defaults[name] = f.Value
		case *cli.StringFlag:
			defaults[name] = f.Value
		}
	}
	return defaults
}

// parseRequest reads the JSON body of r into a request for ep.
func (s *server) parseRequest(body []byte, ep endpoint) (*request, error) {
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			return nil, badf("the request body is not a JSON object: %v", err)
		}
		if dec.More() {
			return nil, badf("the request body holds more than one JSON value")
		}
	}
	flags := apiFlags(ep)
	set := flag.NewFlagSet("request", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	// The server's model, so that messages name it as the command line
	// would; no request can set it.
	model := &cli.StringFlag{Name: "model", Value: s.modelPath}
	for _, f := range append(flags, model) {
		if err := f.Apply(set); err != nil {
			return nil, err
		}
	}
	rq := &request{extra: map[string]json.RawMessage{}, notes: &bytes.Buffer{}}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		raw := fields[name]
		if string(raw) == "null" {
			continue
		}
		i := slices.IndexFunc(flags, func(f cli.Flag) bool { return f.Names()[0] == name })
		if i < 0 {
			if !slices.Contains(ep.extra, name) {
				return nil, badf("unknown field %q: this call takes %s", name, strings.Join(quoted(fieldNames(ep)), ", "))
			}
			rq.extra[name] = raw
			continue
		}
		value, err := flagValue(flags[i], raw)
		if err != nil {
			return nil, badf("%s: %v", name, err)
		}
		if err := set.Set(name, value); err != nil {
			return nil, badf("%s: %v", name, err)
		}
	}
	app := &cli.App{Name: "poetvae", Writer: io.Discard, ErrWriter: rq.notes}
	rq.c = cli.NewContext(app, set, nil)
	return rq, nil
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}

// flagValue turns a JSON value into the text of a flag's value, checking
// that it is of the flag's kind.
func flagValue(f cli.Flag, raw json.RawMessage) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch f.(type) {
	case *cli.BoolFlag:
		b, ok := v.(bool)
		if !ok {
			return "", fmt.Errorf("want true or false, not %s", raw)
		}
		return strconv.FormatBool(b), nil
	case *cli.IntFlag, *cli.Uint64Flag:
		n, ok := v.(json.Number)
		if !ok {
			return "", fmt.Errorf("want a whole number, not %s", raw)
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			if _, uerr := strconv.ParseUint(n.String(), 10, 64); uerr != nil {
				return "", fmt.Errorf("want a whole number, not %s", raw)
			}
		}
		return n.String(), nil
	case *cli.Float64Flag:
		n, ok := v.(json.Number)
		if !ok {
			return "", fmt.Errorf("want a number, not %s", raw)
		}
		return n.String(), nil
	default:
		str, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("want a string, not %s", raw)
		}
		if n := utf8.RuneCountInString(str); n > maxText {
			return "", fmt.Errorf("%d characters, more than the %d this server reads", n, maxText)
		}
		return str, nil
	}
}

// text reads a string field that is not a flag ("" when absent).
func (rq *request) text(name string) (string, error) {
	raw, ok := rq.extra[name]
	if !ok {
		return "", nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return "", badf("%s: want a string, not %s", name, raw)
	}
	if n := utf8.RuneCountInString(str); n > maxText {
		return "", badf("%s: %d characters, more than the %d this server reads", name, n, maxText)
	}
	return str, nil
}

// integer reads a whole-number field that is not a flag.
func (rq *request) integer(name string, def int) (int, error) {
	raw, ok := rq.extra[name]
	if !ok {
		return def, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, badf("%s: want a whole number, not %s", name, raw)
	}
	return n, nil
}

// code reads a latent code field: Latent finite numbers.
func (s *server) code(name string, raw json.RawMessage) ([]float64, error) {
	var z []float64
	if err := json.Unmarshal(raw, &z); err != nil {
		return nil, badf("%s: want a latent code, an array of %d numbers, not %s", name, s.m.Config.Latent, abbreviate(raw))
	}
	if len(z) != s.m.Config.Latent {
		return nil, badf("%s: a code of %d numbers; this model's codes have %d", name, len(z), s.m.Config.Latent)
	}
	for i, v := range z {
		if math.IsNaN(v) || math.Abs(v) > maxCodeValue {
			return nil, badf("%s: coordinate %d is %g; want a number from -%d to %d", name, i+1, v, maxCodeValue, maxCodeValue)
		}
	}
	return z, nil
}

func abbreviate(raw json.RawMessage) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}

// messages returns what the command line would have printed on stderr,
// one line each.
func (rq *request) messages() []string {
	s := strings.TrimSuffix(rq.notes.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// form applies the form flags of the request to opt as the command line
// does, judged by the server's prosody, and holds beam search to the
// server's limits for n poems.
func (s *server) form(rq *request, opt *model.DecodeOptions, repeatsOff bool, n int) error {
	if err := formOptions(rq.c, opt, repeatsOff); err != nil {
		return err
	}
	// One prosody for every request, the one the model's caches were
	// filled for (warmUp): the server's rhyme table, or the model's own,
	// loaded once rather than for each request.
	opt.Prosody = s.prosody
	if opt.Beam > maxBeam {
		return badf("--beam %d is more than this server's limit of %d", opt.Beam, maxBeam)
	}
	if rows := n * max(opt.Beam, 1); rows > maxRows {
		return badf("%d poems × %d beams is more than this server decodes at once (%d)", n, max(opt.Beam, 1), maxRows)
	}
	return nil
}

// servePoem is a poem as generate --json writes it, with its tones and
// rhyme as corpus check judges them.
type servePoem struct {
	poemJSON
	Tones      []string `json:"tones"`                 // 平, 仄 or 中 under each character, a string a line
	RhymeLines []int    `json:"rhyme_lines,omitempty"` // lines (from 1) that rhyme with line 2
	RhymeGroup string   `json:"rhyme_group,omitempty"` // of line 2's last character
	Rhymed     bool     `json:"rhymed"`                // the even lines rhyme in one group
	Form       string   `json:"form,omitempty"`        // the standard tonal pattern it follows best
	Score      float64  `json:"score"`                 // how well it keeps rhyme and pattern, 0 to 1
}

func (s *server) poem(j poemJSON, p poetry.Poem) servePoem {
	a := s.prosody.Analyze(p)
	sp := servePoem{poemJSON: j, RhymeLines: a.RhymeLines, RhymeGroup: rhymeGroup(s.prosody, p),
		Rhymed: a.Rhymed, Form: a.Pattern, Score: a.Score}
	for _, line := range a.Tones {
		var b strings.Builder
		for _, t := range line {
			b.WriteString(t.String())
		}
		sp.Tones = append(sp.Tones, b.String())
	}
	return sp
}

func (s *server) info(ctx context.Context, rq *request) (any, error) {
	calls := map[string][]string{}
	defaults := map[string]map[string]any{}
	for path, ep := range s.endpoints() {
		calls[path] = fieldNames(ep)
		defaults[path] = fieldDefaults(ep)
	}
	sampler := "prior N(0, I)"
	if s.m.Sampler != nil {
		sampler = "mixture fitted to the training poems' codes"
	}
	out := map[string]any{
		"model":      s.modelPath,
		"lines":      s.m.Config.Lines,
		"latent":     s.m.Config.Latent,
		"characters": s.m.Vocab.Size() - corpus.NumSpecial,
		"theme":      s.m.Keywords != nil,
		"sampler":    sampler,
		"judged_by":  s.judge,
		"map":        s.atlas.size(),
		"map_ready":  mapReady(s.atlas),
		"fields":     calls,
		"defaults":   defaults,
		"limits": map[string]int{"body_bytes": maxBody, "text": maxText, "count": maxCount, "steps": maxSteps,
			"beam": maxBeam, "rows": maxRows, "codes": maxCodes, "neighbors": maxNeighbours, "theme_k": maxThemeK,
			"timeout_ms": int(s.timeout / time.Millisecond)},
	}
	return out, nil
}

// generate is poetvae generate --json.
func (s *server) generate(ctx context.Context, rq *request) (any, error) {
	c, m := rq.c, s.m
	n := c.Int("count")
	if n < 1 {
		return nil, usageError("--count must be at least 1")
	}
	if n > maxCount {
		return nil, badf("--count %d is more than this server's limit of %d", n, maxCount)
	}
	if c.Float64("spread") < 0 {
		return nil, usageError("--spread cannot be negative")
	}
	if c.IsSet("spread") && !c.IsSet("like") {
		return nil, usageError("--spread needs --like")
	}
	if err := checkSampling(c); err != nil {
		return nil, err
	}
	if err := checkThemeFlags(c); err != nil {
		return nil, err
	}
	if c.Int("theme-k") > maxThemeK {
		return nil, badf("--theme-k %d is more than this server's limit of %d", c.Int("theme-k"), maxThemeK)
	}
	tm, lines, err := fixedTemplate(c, c.Int("lines"))
	if err != nil {
		return nil, err
	}
	opt := model.DecodeOptions{Lines: lines, Greedy: c.Bool("greedy"),
		Temperature: c.Float64("temperature"), TopK: c.Int("top-k"), Template: tm}
	if err := s.form(rq, &opt, true, n); err != nil {
		return nil, err
	}
	if tm != nil {
		if opt.Template, err = matchScript(c, m, tm, "the fixed characters"); err != nil {
			return nil, err
		}
	}
	rng, seed := rngFor(c)
	var z [][]float64
	var near []int
	var theme *themeJSON
	if c.String("theme") != "" {
		if z, near, theme, err = themeLatentsWith(c, m, s.seg, n, rng); err != nil {
			return nil, err
		}
	} else if like := c.String("like"); like != "" {
		poems, err := parsePoems(c, m, []string{like})
		if err != nil {
			return nil, fmt.Errorf("--like: %w", err)
		}
		mu, logvar, err := m.Encode(poems)
		if err != nil {
			return nil, err
		}
		z = m.SampleAround(mu[0], logvar[0], n, c.Float64("spread"), rng)
	} else {
		z = m.SampleLatent(n, rng)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results, err := m.DecodeResults(z, opt, rng)
	if err != nil {
		return nil, err
	}
	out := struct {
		Seed     uint64      `json:"seed"`
		Theme    *themeJSON  `json:"theme,omitempty"`
		Poems    []servePoem `json:"poems"`
		Messages []string    `json:"messages,omitempty"`
	}{Seed: seed, Theme: theme, Messages: rq.messages()}
	for i, r := range results {
		j := resultJSON(r, z[i])
		if near != nil {
			j.Near = m.Poems[near[i]].String()
		}
		out.Poems = append(out.Poems, s.poem(j, r.Poem))
	}
	return out, nil
}

// endJSON is one end of a walk given as a poem: what its code decodes to.
type endJSON struct {
	Input        string  `json:"input"`
	Reconstructs bool    `json:"reconstructs"` // the end decodes to the poem itself
	Recovered    float64 `json:"recovered"`    // the share of its characters it decodes to
}

// interpolate is poetvae interpolate --json, from two poems ("a" and "b")
// or two codes ("za" and "zb"), such as generate's.
func (s *server) interpolate(ctx context.Context, rq *request) (any, error) {
	c, m := rq.c, s.m
	steps := c.Int("steps")
	if steps < 1 {
		return nil, usageError("--steps must be at least 1")
	}
	if steps > maxSteps {
		return nil, badf("--steps %d is more than this server's limit of %d", steps, maxSteps)
	}
	opt := model.DecodeOptions{Greedy: true, Lines: m.Config.Lines}
	if err := s.form(rq, &opt, false, steps+1); err != nil {
		return nil, err
	}
	rhymeFromCode(rq.c, m, &opt)
	codes := make([][]float64, 2)
	var texts []string
	var textEnd []int
	for i, name := range []string{"a", "b"} {
		zname := "z" + name
		_, hasText := rq.extra[name]
		raw, hasCode := rq.extra[zname]
		switch {
		case hasText && hasCode:
			return nil, badf("give %s (a poem) or %s (a code), not both", name, zname)
		case hasCode:
			z, err := s.code(zname, raw)
			if err != nil {
				return nil, err
			}
			codes[i] = z
		case hasText:
			t, err := rq.text(name)
			if err != nil {
				return nil, err
			}
			texts, textEnd = append(texts, t), append(textEnd, i)
		default:
			return nil, badf(`interpolate needs two poems, "a" and "b" (or two codes, "za" and "zb")`)
		}
	}
	var ends []poetry.Poem
	if len(texts) > 0 {
		var err error
		if ends, err = parsePoems(c, m, texts); err != nil {
			return nil, err
		}
		mu, _, err := m.Encode(ends)
		if err != nil {
			return nil, err
		}
		for k, i := range textEnd {
			codes[i] = mu[k]
		}
	}
	path := make([][]float64, steps+1)
	ts := make([]float64, steps+1)
	for i := range path {
		ts[i] = float64(i) / float64(steps)
		if c.Bool("slerp") {
			path[i] = model.Slerp(codes[0], codes[1], ts[i])
		} else {
			path[i] = model.Lerp(codes[0], codes[1], ts[i])
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results, err := m.DecodeResults(path, opt, nil)
	if err != nil {
		return nil, err
	}
	out := struct {
		Poems    []servePoem `json:"poems"`
		Ends     []*endJSON  `json:"ends"` // null for an end given as a code
		Messages []string    `json:"messages,omitempty"`
	}{Ends: make([]*endJSON, 2), Messages: rq.messages()}
	for i, r := range results {
		j := resultJSON(r, path[i])
		j.T = &ts[i]
		out.Poems = append(out.Poems, s.poem(j, r.Poem))
	}
	for k, i := range textEnd {
		got := results[i*steps].Poem
		out.Ends[i] = &endJSON{Input: ends[k].String(), Reconstructs: got.Equal(ends[k]), Recovered: model.Recovered(got, ends[k])}
	}
	return out, nil
}

// reconstruct is poetvae reconstruct --json, with the poem's code.
func (s *server) reconstruct(ctx context.Context, rq *request) (any, error) {
	c, m := rq.c, s.m
	text, err := rq.text("poem")
	if err != nil {
		return nil, err
	}
	if text == "" {
		return nil, badf(`reconstruct needs a poem: {"poem": "床前明月光，疑是地上霜。举头望明月，低头思故乡。"}`)
	}
	opt := model.DecodeOptions{Greedy: true, Lines: m.Config.Lines}
	if err := s.form(rq, &opt, false, 1); err != nil {
		return nil, err
	}
	rhymeFromCode(rq.c, m, &opt)
	in, err := parsePoems(c, m, []string{text})
	if err != nil {
		return nil, err
	}
	mu, _, err := m.Encode(in)
	if err != nil {
		return nil, err
	}
	res, err := m.DecodeResults(mu, opt, nil)
	if err != nil {
		return nil, err
	}
	return struct {
		Input     string    `json:"input"`
		Recovered float64   `json:"recovered"`
		Result    servePoem `json:"result"`
		Messages  []string  `json:"messages,omitempty"`
	}{in[0].String(), model.Recovered(in[0], res[0].Poem), s.poem(resultJSON(res[0], mu[0]), res[0].Poem), rq.messages()}, nil
}

// decode decodes codes as reconstruct decodes a poem's: greedily, or by
// beam search, held to the form flags. The page's Explore view moves a
// code along directions of the space and decodes it here.
func (s *server) decode(ctx context.Context, rq *request) (any, error) {
	raw, ok := rq.extra["z"]
	if !ok {
		return nil, badf(`decode needs codes: {"z": [[%d numbers], ...]}`, s.m.Config.Latent)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil || len(rows) == 0 {
		return nil, badf("z: want a list of latent codes, each an array of %d numbers", s.m.Config.Latent)
	}
	if len(rows) > maxCodes {
		return nil, badf("z: %d codes, more than this server's limit of %d", len(rows), maxCodes)
	}
	z := make([][]float64, len(rows))
	for i, row := range rows {
		var err error
		if z[i], err = s.code(fmt.Sprintf("z[%d]", i), row); err != nil {
			return nil, err
		}
	}
	opt := model.DecodeOptions{Greedy: true, Lines: s.m.Config.Lines}
	if err := s.form(rq, &opt, false, len(z)); err != nil {
		return nil, err
	}
	rhymeFromCode(rq.c, s.m, &opt)
	res, err := s.m.DecodeResults(z, opt, nil)
	if err != nil {
		return nil, err
	}
	out := struct {
		Poems    []servePoem `json:"poems"`
		Messages []string    `json:"messages,omitempty"`
	}{Messages: rq.messages()}
	for i, r := range res {
		out.Poems = append(out.Poems, s.poem(resultJSON(r, z[i]), r.Poem))
	}
	return out, nil
}

// queryCode reads the code a request is about: "z", or the posterior mean
// of "poem".
func (s *server) queryCode(rq *request) (z []float64, p *poetry.Poem, err error) {
	text, err := rq.text("poem")
	if err != nil {
		return nil, nil, err
	}
	raw, hasCode := rq.extra["z"]
	switch {
	case text != "" && hasCode:
		return nil, nil, badf("give poem or z, not both")
	case hasCode:
		z, err := s.code("z", raw)
		return z, nil, err
	case text == "":
		return nil, nil, badf(`give a poem ("poem") or a code ("z")`)
	}
	poems, err := parsePoems(rq.c, s.m, []string{text})
	if err != nil {
		return nil, nil, err
	}
	mu, _, err := s.m.Encode(poems)
	if err != nil {
		return nil, nil, err
	}
	return mu[0], &poems[0], nil
}

// writeJSONError answers with status and {"error": msg}.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSONStatus(w, status, map[string]string{"error": msg})
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "{\"error\":%q}\n", "encoding the answer: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// serveAPI answers one call: method, body and limits first, then the work,
// in a worker slot, within the time limit.
func (s *server) serveAPI(w http.ResponseWriter, r *http.Request, ep endpoint) {
	switch {
	case r.Method == http.MethodPost:
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.TrimSpace(ct), "application/json") {
			// A browser sends a page's form posts to another site without
			// asking first, but never a JSON body: this keeps other sites'
			// pages from using the server.
			writeJSONError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("the request body must be JSON, sent with Content-Type: application/json (got %q)", ct))
			return
		}
	case r.Method == http.MethodGet && ep.get:
	default:
		allow := "POST"
		if ep.get {
			allow = "GET, POST"
		}
		w.Header().Set("Allow", allow)
		writeJSONError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s, not %s", r.URL.Path, allow, r.Method))
		return
	}
	var body []byte
	if r.Method == http.MethodPost {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("the request body is over this server's limit of %d bytes", maxBody))
				return
			}
			writeJSONError(w, http.StatusBadRequest, "reading the request: "+err.Error())
			return
		}
	}
	rq, err := s.parseRequest(body, ep)
	if err != nil {
		s.answerError(w, r, err)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	select {
	case s.work <- struct{}{}:
	case <-ctx.Done():
		writeJSONError(w, http.StatusServiceUnavailable, fmt.Sprintf("the server is busy: no turn came within the time limit of %s; try again", s.timeout))
		return
	}
	type answer struct {
		v   any
		err error
	}
	done := make(chan answer, 1)
	go func() {
		a := func() (a answer) {
			defer func() {
				if p := recover(); p != nil {
					fmt.Fprintf(s.log, "error: %s: %v\n", r.URL.Path, p)
					a = answer{err: &internalError{fmt.Errorf("%v", p)}}
				}
			}()
			v, err := ep.run(s, ctx, rq)
			return answer{v, err}
		}()
		// The slot is held until the work ends, even past the time limit
		// (no more requests are computed at once than there are slots), and
		// given back before the answer, so that a client that has its
		// answer finds its slot free again.
		<-s.work
		done <- a
	}()
	select {
	case a := <-done:
		if a.err != nil {
			s.answerError(w, r, a.err)
			return
		}
		if raw, ok := a.v.(rawJSON); ok {
			raw.serve(w, r)
			return
		}
		writeJSONStatus(w, http.StatusOK, a.v)
	case <-ctx.Done():
		writeJSONError(w, http.StatusServiceUnavailable, fmt.Sprintf("the request took longer than the time limit of %s", s.timeout))
	}
}

// answerError answers an error: 400 for the client's mistakes, which are
// nearly all errors here (the checks of the command line, poems the model
// cannot read, constraints it cannot keep), 503 for a time limit, and 500
// for the server's own failures.
func (s *server) answerError(w http.ResponseWriter, r *http.Request, err error) {
	var bad *badRequest
	var usage *exitError
	var internal *internalError
	var notReady *mapNotReady
	switch {
	case errors.As(err, &notReady):
		w.Header().Set("Retry-After", "2")
		writeJSONError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeJSONError(w, http.StatusServiceUnavailable, fmt.Sprintf("the request took longer than the time limit of %s", s.timeout))
	case errors.Is(err, context.Canceled):
		writeJSONError(w, http.StatusServiceUnavailable, "the request was cancelled")
	case errors.As(err, &bad), errors.As(err, &usage):
		writeJSONError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &internal):
		writeJSONError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSONError(w, http.StatusBadRequest, err.Error())
	}
}

// allowedHost reports whether a request's Host header names the loopback,
// as it must when the server listens there: a page of another site that
// a DNS name pointing at 127.0.0.1 brought to this server names its own.
func allowedHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// handler routes the API, the page and its static files.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	for path, ep := range s.endpoints() {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, ep) })
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("no such call %s: see /api/info", r.URL.Path))
	})
	s.routePage(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.loopbackOnly && !allowedHost(r.Host) {
			writeJSONError(w, http.StatusMisdirectedRequest, fmt.Sprintf("this server answers only requests to the loopback (localhost), not to %q", r.Host))
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		mux.ServeHTTP(w, r)
	})
}
