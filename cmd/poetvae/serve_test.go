package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// The serve tests run the handlers on a small model that has learnt the
// sample corpus well enough for its codes to matter: poems change along a
// walk, and a poem's neighbours are poems like it.
var serveTrain = []string{"train", "--sample", "--epochs", "30", "--batch", "16", "--lr", "0.005",
	"--embed", "32", "--enc-hidden", "48", "--dec-hidden", "48", "--latent", "8", "--dropout", "0.1",
	"--word-dropout", "0.1", "--kl-anneal-steps", "200", "--free-bits", "1", "--valid-split", "0", "--quiet"}

// sampleCorpus is the built-in sample corpus, as a file for --corpus.
const sampleCorpus = "../../corpus/sample.txt"

var served struct {
	once sync.Once
	path string
	err  error
}

// serveModel returns the path of the small model, trained once for all
// tests beside the shared model (whose folder TestMain removes).
func serveModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Dir(sharedModel(t))
	served.once.Do(func() { served.path, served.err = trainServeModel(dir) })
	if served.err != nil {
		t.Fatal(served.err)
	}
	return served.path
}

// trainServeModel trains the small model into dir.
func trainServeModel(dir string) (string, error) {
	path := filepath.Join(dir, "serve.ckpt")
	var out, errb bytes.Buffer
	if code := run(slices.Concat([]string{"poetvae"}, serveTrain, []string{"--out", path}), &out, &errb); code != 0 {
		return "", fmt.Errorf("training the serve model: status %d: %s", code, errb.String())
	}
	return path, nil
}

// newTestServer builds the server of `poetvae serve ARGS` (with the serve
// model unless ARGS name one) without listening, and what it said on
// stderr.
func newTestServer(t *testing.T, args ...string) (*server, string) {
	t.Helper()
	if !slices.Contains(args, "--model") {
		args = append([]string{"--model", serveModel(t)}, args...)
	}
	t.Setenv(rhymeTableEnv, "")
	return newServerArgs(t, args...)
}

// newServerArgs builds the server of `poetvae serve ARGS`.
func newServerArgs(t testing.TB, args ...string) (*server, string) {
	t.Helper()
	cmd := serveCommand()
	set := flag.NewFlagSet("serve", flag.ContinueOnError)
	for _, f := range cmd.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	c := cli.NewContext(&cli.App{Name: "poetvae", Writer: io.Discard, ErrWriter: &errb}, set, nil)
	c.Command = cmd
	s, err := newServer(c)
	if err != nil {
		t.Fatalf("serve %s: %v", strings.Join(args, " "), err)
	}
	t.Cleanup(s.close)
	if err := s.atlas.wait(context.Background()); err != nil {
		t.Fatalf("serve %s: encoding the map: %v", strings.Join(args, " "), err)
	}
	return s, errb.String()
}

// call posts body (a JSON value, or a string sent as it is) to path and
// returns the status and the decoded answer.
func call(t testing.TB, h http.Handler, path string, body any) (int, map[string]any) {
	t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		raw = string(b)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("POST %s %s: status %d, the answer is not a JSON object: %v\n%s", path, raw, rec.Code, err, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("POST %s: Content-Type %q", path, ct)
	}
	return rec.Code, out
}

// callOK is call for a request that must succeed, decoding into out.
func callOK(t testing.TB, h http.Handler, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST %s %s: status %d: %s", path, b, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		t.Fatalf("POST %s %s: %v\n%s", path, b, err, rec.Body)
	}
}

// apiPoem is a poem of an answer.
type apiPoem struct {
	Poem       string    `json:"poem"`
	Lines      []string  `json:"lines"`
	Z          []float64 `json:"z"`
	T          *float64  `json:"t"`
	Pattern    string    `json:"pattern"`
	Rhyme      []string  `json:"rhyme"`
	Notes      []any     `json:"notes"`
	Near       string    `json:"near"`
	Tones      []string  `json:"tones"`
	RhymeLines []int     `json:"rhyme_lines"`
	RhymeGroup string    `json:"rhyme_group"`
	Rhymed     bool      `json:"rhymed"`
	Form       string    `json:"form"`
	Score      float64   `json:"score"`
}

// checkPoem checks that p is a well-formed poem of n lines with a code of
// size latent and a tone under each character.
func checkPoem(t *testing.T, what string, p apiPoem, n, latent int) {
	t.Helper()
	parsed, err := poetry.Parse(p.Poem)
	if err != nil {
		t.Errorf("%s: %q is not a poem: %v", what, p.Poem, err)
		return
	}
	if parsed.NumLines() != n || len(p.Lines) != n || len(p.Tones) != n {
		t.Errorf("%s: %d lines, %d in lines, %d tone strings; want %d", what, parsed.NumLines(), len(p.Lines), len(p.Tones), n)
	}
	for i, tones := range p.Tones {
		if got := len([]rune(tones)); got != poetry.LineLen || strings.Trim(tones, "平仄中?") != "" {
			t.Errorf("%s: tones of line %d are %q; want five of 平仄中?", what, i+1, tones)
		}
	}
	if len(p.Z) != latent {
		t.Errorf("%s: code of %d numbers, want %d", what, len(p.Z), latent)
	}
}

// cliJSON runs the command line with args and --json and decodes its
// output into out.
func cliJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	args = slices.Concat(args[:1], []string{"--json"}, args[1:])
	code, stdout, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d: %s", strings.Join(args, " "), code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("poetvae %s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

func sameCode(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(a[i])) {
			return false
		}
	}
	return true
}

// TestServeGenerate holds /api/generate to poetvae generate --json: the
// same fields and flags give the same poems and codes.
func TestServeGenerate(t *testing.T) {
	s, _ := newTestServer(t, "--corpus", sampleCorpus)
	h := s.handler()
	m := serveModel(t)
	inTempDir(t)
	latent := s.m.Config.Latent
	tests := []struct {
		name string
		body map[string]any
		args []string
		n    int
	}{
		{"plain", map[string]any{"count": 3, "seed": 1}, []string{"--count", "3", "--seed", "1"}, 4},
		{"two lines", map[string]any{"lines": 2, "count": 2, "seed": 2, "temperature": 0.5, "top-k": 20},
			[]string{"--lines", "2", "--count", "2", "--seed", "2", "--temperature", "0.5", "--top-k", "20"}, 2},
		{"greedy", map[string]any{"greedy": true, "seed": 3}, []string{"--greedy", "--seed", "3"}, 4},
		{"acrostic and form", map[string]any{"acrostic": "春山白月", "rhyme": "any", "tones": "loose", "count": 2, "seed": 4},
			[]string{"--acrostic", "春山白月", "--rhyme", "any", "--tones", "loose", "--count", "2", "--seed", "4"}, 4},
		{"first line, beam", map[string]any{"first-line": "床前明月光", "beam": 3, "rhyme": "any", "seed": 5},
			[]string{"--first-line", "床前明月光", "--beam", "3", "--rhyme", "any", "--seed", "5"}, 4},
		{"template", map[string]any{"template": "春□□□□，□□□□□。□□□□□，□□□□□。", "tones": "strict", "seed": 6},
			[]string{"--template", "春□□□□，□□□□□。□□□□□，□□□□□。", "--tones", "strict", "--seed", "6"}, 4},
		{"like", map[string]any{"like": jingYeSi, "spread": 0.5, "count": 2, "seed": 7},
			[]string{"--like", jingYeSi, "--spread", "0.5", "--count", "2", "--seed", "7"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Seed  uint64    `json:"seed"`
				Poems []apiPoem `json:"poems"`
			}
			callOK(t, h, "/api/generate", tt.body, &got)
			var want struct {
				Seed  uint64    `json:"seed"`
				Poems []apiPoem `json:"poems"`
			}
			cliJSON(t, &want, slices.Concat([]string{"generate", "--model", m}, tt.args)...)
			if got.Seed != want.Seed || len(got.Poems) != len(want.Poems) {
				t.Fatalf("seed %d, %d poems; the command line: seed %d, %d poems", got.Seed, len(got.Poems), want.Seed, len(want.Poems))
			}
			for i, p := range got.Poems {
				checkPoem(t, fmt.Sprintf("poem %d", i+1), p, tt.n, latent)
				w := want.Poems[i]
				if p.Poem != w.Poem || !sameCode(p.Z, w.Z) || p.Pattern != w.Pattern || !slices.Equal(p.Rhyme, w.Rhyme) {
					t.Errorf("poem %d: %s (pattern %q, rhyme %v); the command line wrote %s (pattern %q, rhyme %v)",
						i+1, p.Poem, p.Pattern, p.Rhyme, w.Poem, w.Pattern, w.Rhyme)
				}
			}
		})
	}

	// Without a seed, the server draws one and says which.
	var a, b struct {
		Seed  uint64    `json:"seed"`
		Poems []apiPoem `json:"poems"`
	}
	callOK(t, h, "/api/generate", map[string]any{}, &a)
	callOK(t, h, "/api/generate", map[string]any{"seed": a.Seed}, &b)
	if len(a.Poems) != 1 || len(b.Poems) != 1 || a.Poems[0].Poem != b.Poems[0].Poem {
		t.Errorf("a poem without a seed and one with the seed it reported differ: %v, %v", a.Poems, b.Poems)
	}
}

// TestServeMessages: what the command line says on stderr comes back in
// messages, and --strict makes unknown characters an error.
func TestServeMessages(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.handler()
	traditional := "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"
	code, out := call(t, h, "/api/reconstruct", map[string]any{"poem": traditional})
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(out["messages"]), "舉→举") {
		t.Errorf("reconstruct of a traditional poem: status %d, messages %v; want 200 and a note of 舉→举", code, out["messages"])
	}
	odd := "床前明月光，疑是地上霜。举头望明月，低头思故龘。"
	code, out = call(t, h, "/api/reconstruct", map[string]any{"poem": odd})
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(out["messages"]), "龘 not in the model's vocabulary") {
		t.Errorf("reconstruct with an unknown character: status %d, messages %v; want 200 and a warning", code, out["messages"])
	}
	code, out = call(t, h, "/api/reconstruct", map[string]any{"poem": odd, "strict": true})
	if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "龘") {
		t.Errorf("reconstruct --strict with an unknown character: status %d, %v; want 400 naming 龘", code, out)
	}
}

// TestServeBadRequests: every call refuses bad input with 400 and the
// command line's words, before any work.
func TestServeBadRequests(t *testing.T) {
	s, _ := newTestServer(t, "--corpus", sampleCorpus)
	h := s.handler()
	zeros := make([]float64, s.m.Config.Latent)
	long := strings.Repeat("春", maxText+1)
	tests := []struct {
		name string
		path string
		body any
		want []string
	}{
		{"not JSON", "/api/generate", "count=3", []string{"not a JSON object"}},
		{"two values", "/api/generate", `{"count": 1} {"count": 2}`, []string{"more than one"}},
		{"array", "/api/generate", `[1, 2]`, []string{"not a JSON object"}},
		{"unknown field", "/api/generate", map[string]any{"cuont": 3}, []string{`unknown field "cuont"`, `"count"`}},
		{"server's file", "/api/generate", map[string]any{"rhyme-table": "/etc/passwd"}, []string{`unknown field "rhyme-table"`}},
		{"server's model", "/api/generate", map[string]any{"model": "other.ckpt"}, []string{`unknown field "model"`}},
		{"alias", "/api/generate", map[string]any{"n": 3}, []string{`unknown field "n"`}},
		{"count type", "/api/generate", map[string]any{"count": "3"}, []string{"count", "whole number"}},
		{"count fraction", "/api/generate", map[string]any{"count": 1.5}, []string{"count", "whole number"}},
		{"greedy type", "/api/generate", map[string]any{"greedy": 1}, []string{"greedy", "true or false"}},
		{"acrostic type", "/api/generate", map[string]any{"acrostic": 4}, []string{"acrostic", "string"}},
		{"negative seed", "/api/generate", map[string]any{"seed": -1}, []string{"seed"}},
		{"count 0", "/api/generate", map[string]any{"count": 0}, []string{"--count must be at least 1"}},
		{"count over the limit", "/api/generate", map[string]any{"count": maxCount + 1}, []string{"--count", "limit"}},
		{"temperature", "/api/generate", map[string]any{"temperature": 0}, []string{"--temperature must be positive"}},
		{"top-k", "/api/generate", map[string]any{"top-k": -1}, []string{"--top-k cannot be negative"}},
		{"tones", "/api/generate", map[string]any{"tones": "very"}, []string{"--tones"}},
		{"beam over the limit", "/api/generate", map[string]any{"beam": maxBeam + 1}, []string{"--beam", "limit"}},
		{"count × beam", "/api/generate", map[string]any{"beam": maxBeam, "count": maxCount}, []string{"beams", "at once"}},
		{"negative beam", "/api/generate", map[string]any{"beam": -1}, []string{"--beam cannot be negative"}},
		{"lines", "/api/generate", map[string]any{"lines": 3}, []string{"3-line"}},
		{"acrostic length", "/api/generate", map[string]any{"acrostic": "春夏"}, []string{"--acrostic", "4-line poem"}},
		{"acrostic not Han", "/api/generate", map[string]any{"acrostic": "abcd"}, []string{"--acrostic", "not a Chinese character"}},
		{"first line", "/api/generate", map[string]any{"first-line": "床前"}, []string{"--first-line"}},
		{"conflict", "/api/generate", map[string]any{"acrostic": "春山白月", "first-line": "床前明月光"}, []string{"--acrostic", "--first-line"}},
		{"template", "/api/generate", map[string]any{"template": "春□□"}, []string{"--template"}},
		{"rhyme char", "/api/generate", map[string]any{"rhyme-char": "光明"}, []string{"--rhyme-char"}},
		{"spread without like", "/api/generate", map[string]any{"spread": 0.5}, []string{"--spread needs --like"}},
		{"theme and like", "/api/generate", map[string]any{"theme": "明月", "like": jingYeSi}, []string{"--like", "--theme"}},
		{"theme not Chinese", "/api/generate", map[string]any{"theme": "moon"}, []string{"--theme", "Chinese"}},
		{"theme-k", "/api/generate", map[string]any{"theme": "明月", "theme-k": maxThemeK + 1}, []string{"--theme-k", "limit"}},
		{"like malformed", "/api/generate", map[string]any{"like": "床前明月光"}, []string{"--like"}},
		{"text too long", "/api/generate", map[string]any{"like": long}, []string{"like", "characters"}},
		{"fixed unknown", "/api/generate", map[string]any{"acrostic": "龘龘龘龘"}, []string{"龘", "vocabulary"}},

		{"walk: no ends", "/api/interpolate", map[string]any{}, []string{`"a" and "b"`}},
		{"walk: one end", "/api/interpolate", map[string]any{"a": jingYeSi}, []string{`"a" and "b"`}},
		{"walk: both kinds", "/api/interpolate", map[string]any{"a": jingYeSi, "za": zeros, "b": dengGuanQ}, []string{"not both"}},
		{"walk: steps 0", "/api/interpolate", map[string]any{"a": jingYeSi, "b": dengGuanQ, "steps": 0}, []string{"--steps must be at least 1"}},
		{"walk: steps over", "/api/interpolate", map[string]any{"a": jingYeSi, "b": dengGuanQ, "steps": maxSteps + 1}, []string{"--steps", "limit"}},
		{"walk: steps × beam", "/api/interpolate", map[string]any{"a": jingYeSi, "b": dengGuanQ, "steps": maxSteps, "beam": maxBeam}, []string{"beams", "at once"}},
		{"walk: malformed", "/api/interpolate", map[string]any{"a": "床前明月光，疑是地上", "b": dengGuanQ}, []string{"poem A"}},
		{"walk: two lines", "/api/interpolate", map[string]any{"a": "床前明月光，疑是地上霜。", "b": dengGuanQ}, []string{"poem A has 2 lines"}},
		{"walk: code size", "/api/interpolate", map[string]any{"za": []float64{1, 2}, "b": dengGuanQ}, []string{"za", "numbers"}},
		{"walk: code type", "/api/interpolate", map[string]any{"za": "far", "b": dengGuanQ}, []string{"za", "latent code"}},
		{"walk: code value", "/api/interpolate", map[string]any{"za": append([]float64{1e9}, zeros[1:]...), "b": dengGuanQ}, []string{"za", "coordinate 1"}},
		{"walk: a not text", "/api/interpolate", map[string]any{"a": 5, "b": dengGuanQ}, []string{"a: want a string"}},

		{"reconstruct: no poem", "/api/reconstruct", map[string]any{}, []string{"needs a poem"}},
		{"reconstruct: malformed", "/api/reconstruct", map[string]any{"poem": "abc"}, []string{"the poem"}},
		{"reconstruct: rhyme", "/api/reconstruct", map[string]any{"poem": jingYeSi, "rhyme-char": "x"}, []string{"--rhyme-char"}},

		{"decode: no codes", "/api/decode", map[string]any{}, []string{"needs codes"}},
		{"decode: empty", "/api/decode", map[string]any{"z": []any{}}, []string{"list of latent codes"}},
		{"decode: too many", "/api/decode", map[string]any{"z": slices.Repeat([][]float64{zeros}, maxCodes+1)}, []string{"limit"}},
		{"decode: size", "/api/decode", map[string]any{"z": [][]float64{{1}}}, []string{"z[0]", "numbers"}},

		{"neighbours: nothing", "/api/neighbors", map[string]any{}, []string{"poem", "z"}},
		{"neighbours: both", "/api/neighbors", map[string]any{"poem": jingYeSi, "z": zeros}, []string{"not both"}},
		{"neighbours: k", "/api/neighbors", map[string]any{"poem": jingYeSi, "k": 0}, []string{"k must be"}},
		{"neighbours: k over", "/api/neighbors", map[string]any{"poem": jingYeSi, "k": maxNeighbours + 1}, []string{"k must be"}},
		{"neighbours: k type", "/api/neighbors", map[string]any{"poem": jingYeSi, "k": "ten"}, []string{"k: want a whole number"}},

		{"direction: by", "/api/direction", map[string]any{"by": "colour", "from": "a", "to": "b"}, []string{`"rhyme"`, `"colour"`}},
		{"direction: group", "/api/direction", map[string]any{"by": "rhyme", "from": "nothing", "to": "ang"}, []string{"from", "no group"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := call(t, h, tt.path, tt.body)
			if code != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %v", code, out)
			}
			msg, _ := out["error"].(string)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, "see poetvae") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line without command-line help", msg)
			}
		})
	}
}

// TestServeHTTP covers what comes before the work: methods, media types,
// body size, unknown calls, the page, and the Host check.
func TestServeHTTP(t *testing.T) {
	s, _ := newTestServer(t)
	s.loopbackOnly = true
	h := s.handler()
	do := func(method, path, ctype, body string, host string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if host != "" {
			req.Host = host
		} else {
			req.Host = "127.0.0.1:8080"
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		name                 string
		method, path, ctype  string
		body, host           string
		status               int
		want, wantType, hdrK string
	}{
		{"GET a POST call", "GET", "/api/generate", "", "", "", http.StatusMethodNotAllowed, "takes POST", "application/json", "Allow"},
		{"PUT", "PUT", "/api/info", "application/json", "{}", "", http.StatusMethodNotAllowed, "takes GET, POST", "application/json", "Allow"},
		{"form post", "POST", "/api/generate", "application/x-www-form-urlencoded", "count=1", "", http.StatusUnsupportedMediaType, "Content-Type: application/json", "application/json", ""},
		{"no media type", "POST", "/api/generate", "", "{}", "", http.StatusUnsupportedMediaType, "application/json", "application/json", ""},
		{"body too large", "POST", "/api/generate", "application/json", `{"like": "` + strings.Repeat("春", maxBody) + `"}`, "", http.StatusBadRequest, "limit of 65536 bytes", "application/json", ""},
		{"unknown call", "POST", "/api/poem", "application/json", "{}", "", http.StatusNotFound, "no such call /api/poem", "application/json", ""},
		{"other host", "GET", "/api/info", "", "", "evil.example:8080", http.StatusMisdirectedRequest, "loopback", "application/json", ""},
		{"localhost", "GET", "/api/info", "", "", "localhost:8080", http.StatusOK, `"latent":8`, "application/json", ""},
		{"IPv6 loopback", "GET", "/api/info", "", "", "[::1]:8080", http.StatusOK, `"latent":8`, "application/json", ""},
		{"info by POST", "POST", "/api/info", "application/json; charset=utf-8", "", "", http.StatusOK, `"limits"`, "application/json", ""},
		{"page", "GET", "/", "", "", "", http.StatusOK, "serve.ckpt", "text/html", ""},
		{"script", "GET", "/static/app.js", "", "", "", http.StatusOK, "/api/generate", "text/javascript", ""},
		{"style", "GET", "/static/style.css", "", "", "", http.StatusOK, ".poem-card", "text/css", ""},
		{"no template", "GET", "/static/index.html", "", "", "", http.StatusNotFound, "", "", ""},
		{"no listing", "GET", "/static/", "", "", "", http.StatusNotFound, "", "", ""},
		{"no index", "GET", "/index.html", "", "", "", http.StatusNotFound, "", "", ""},
		{"no page", "GET", "/nothing", "", "", "", http.StatusNotFound, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(tt.method, tt.path, tt.ctype, tt.body, tt.host)
			if rec.Code != tt.status {
				t.Errorf("%s %s: status %d, want %d: %.200s", tt.method, tt.path, rec.Code, tt.status, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("%s %s: the answer does not hold %q: %.300s", tt.method, tt.path, tt.want, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); tt.wantType != "" && !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("%s %s: Content-Type %q, want %s", tt.method, tt.path, ct, tt.wantType)
			}
			if tt.hdrK != "" && rec.Header().Get(tt.hdrK) == "" {
				t.Errorf("%s %s: no %s header", tt.method, tt.path, tt.hdrK)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); rec.Code != http.StatusMisdirectedRequest && !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("%s %s: Content-Security-Policy %q", tt.method, tt.path, csp)
			}
		})
	}
}

func TestServeInterpolate(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.handler()
	m := serveModel(t)
	inTempDir(t)
	type walkAnswer struct {
		Poems []apiPoem `json:"poems"`
		Ends  []*struct {
			Input        string  `json:"input"`
			Reconstructs bool    `json:"reconstructs"`
			Recovered    float64 `json:"recovered"`
		} `json:"ends"`
	}
	for _, slerp := range []bool{false, true} {
		var got walkAnswer
		callOK(t, h, "/api/interpolate", map[string]any{"a": jingYeSi, "b": dengGuanQ, "steps": 4, "slerp": slerp}, &got)
		args := []string{"interpolate", "--model", m, "--steps", "4"}
		if slerp {
			args = append(args, "--slerp")
		}
		var want []apiPoem
		cliJSON(t, &want, append(args, jingYeSi, dengGuanQ)...)
		if len(got.Poems) != 5 || len(want) != 5 {
			t.Fatalf("slerp %v: %d poems, the command line %d; want 5", slerp, len(got.Poems), len(want))
		}
		distinct := map[string]bool{}
		for i, p := range got.Poems {
			checkPoem(t, fmt.Sprintf("point %d", i), p, 4, s.m.Config.Latent)
			if p.T == nil || *p.T != float64(i)/4 {
				t.Errorf("point %d: t %v, want %g", i, p.T, float64(i)/4)
			}
			if p.Poem != want[i].Poem || !sameCode(p.Z, want[i].Z) {
				t.Errorf("slerp %v, point %d: %s; the command line wrote %s", slerp, i, p.Poem, want[i].Poem)
			}
			distinct[p.Poem] = true
		}
		if len(distinct) < 2 {
			t.Errorf("slerp %v: every point of the walk decodes to %s", slerp, got.Poems[0].Poem)
		}
		for i, end := range got.Ends {
			in := []string{jingYeSi, dengGuanQ}[i]
			p, _ := poetry.Parse(in)
			out, _ := poetry.Parse(got.Poems[4*i].Poem)
			switch {
			case end == nil:
				t.Errorf("end %d: null", i)
			case end.Input != in || end.Reconstructs != (out.Equal(p)) || math.Abs(end.Recovered-recoveredShare(p, out)) > 1e-12:
				t.Errorf("end %d: %+v; want input %s, recovered %g", i, *end, in, recoveredShare(p, out))
			}
		}
	}

	// Codes from generate: the walk starts and ends at them.
	var gen struct {
		Poems []apiPoem `json:"poems"`
	}
	callOK(t, h, "/api/generate", map[string]any{"count": 2, "seed": 9}, &gen)
	var got walkAnswer
	callOK(t, h, "/api/interpolate", map[string]any{"za": gen.Poems[0].Z, "b": dengGuanQ, "steps": 2}, &got)
	if !sameCode(got.Poems[0].Z, gen.Poems[0].Z) || got.Ends[0] != nil || got.Ends[1] == nil {
		t.Errorf("a walk from a code: starts at %v (want %v), ends %v", got.Poems[0].Z, gen.Poems[0].Z, got.Ends)
	}
	callOK(t, h, "/api/interpolate", map[string]any{"za": gen.Poems[0].Z, "zb": gen.Poems[1].Z, "steps": 2}, &got)
	if !sameCode(got.Poems[2].Z, gen.Poems[1].Z) {
		t.Errorf("a walk between codes ends at %v, want %v", got.Poems[2].Z, gen.Poems[1].Z)
	}
}

func recoveredShare(a, b poetry.Poem) float64 {
	ca, cb := a.Chars(), b.Chars()
	same := 0
	for i := range ca {
		if ca[i] == cb[i] {
			same++
		}
	}
	return float64(same) / float64(len(ca))
}

func TestServeReconstructAndDecode(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.handler()
	m := serveModel(t)
	inTempDir(t)
	var got struct {
		Input     string  `json:"input"`
		Recovered float64 `json:"recovered"`
		Result    apiPoem `json:"result"`
	}
	callOK(t, h, "/api/reconstruct", map[string]any{"poem": chunXiao, "tones": "loose"}, &got)
	var want struct {
		Input     string  `json:"input"`
		Poem      string  `json:"poem"`
		Recovered float64 `json:"recovered"`
		Pattern   string  `json:"pattern"`
	}
	cliJSON(t, &want, "reconstruct", "--model", m, "--tones", "loose", chunXiao)
	if got.Input != want.Input || got.Result.Poem != want.Poem || got.Recovered != want.Recovered || got.Result.Pattern != want.Pattern {
		t.Errorf("reconstruct: %s → %s (%g, %s); the command line: %s → %s (%g, %s)", got.Input, got.Result.Poem,
			got.Recovered, got.Result.Pattern, want.Input, want.Poem, want.Recovered, want.Pattern)
	}
	checkPoem(t, "reconstruction", got.Result, 4, s.m.Config.Latent)

	// Decoding the poem's code with the same options gives the same poem.
	var dec struct {
		Poems []apiPoem `json:"poems"`
	}
	callOK(t, h, "/api/decode", map[string]any{"z": [][]float64{got.Result.Z, got.Result.Z}, "tones": "loose"}, &dec)
	if len(dec.Poems) != 2 || dec.Poems[0].Poem != got.Result.Poem || dec.Poems[1].Poem != got.Result.Poem {
		t.Errorf("decode of the reconstruction's code: %v, want %s twice", dec.Poems, got.Result.Poem)
	}
	callOK(t, h, "/api/decode", map[string]any{"z": [][]float64{got.Result.Z}, "beam": 3, "rhyme": "any"}, &dec)
	if len(dec.Poems) != 1 || dec.Poems[0].Rhyme == nil {
		t.Errorf("decode with beam search and rhyme: %+v; want one poem with its rhyme", dec.Poems)
	}
}

// TestServeMap checks the map of a corpus with metadata: every poem of the
// sample corpus a point, coloured by rhyme and by the metadata's dynasty
// and author, and the same answer gzipped.
func TestServeMap(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile(sampleCorpus)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, line := range strings.Split(string(sample), "\n") {
		if p, err := poetry.Parse(line); err == nil {
			texts = append(texts, p.String())
		}
	}
	meta := "author\tdynasty\ttext\n"
	for i, text := range texts {
		dyn := []string{"唐", "宋"}[i%2]
		meta += fmt.Sprintf("poet%d\t%s\t%s\n", i%3, dyn, text)
	}
	metaPath := filepath.Join(dir, "meta.tsv")
	if err := os.WriteFile(metaPath, []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, "--corpus", sampleCorpus, "--meta", metaPath)
	h := s.handler()

	req := httptest.NewRequest(http.MethodGet, "/api/map", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/map: %d %s", rec.Code, rec.Body)
	}
	var got mapAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Count != len(texts) || len(got.Poems) != len(texts) || len(got.X) != len(texts) || len(got.Y) != len(texts) {
		t.Fatalf("map of %d poems (%d texts, %d x, %d y), want %d", got.Count, len(got.Poems), len(got.X), len(got.Y), len(texts))
	}
	if !slices.Equal(got.Poems, texts) {
		t.Errorf("the map's poems are not the corpus's in order")
	}
	var names []string
	for _, col := range got.Colorings {
		names = append(names, col.Name)
		if len(col.Of) != got.Count {
			t.Errorf("colouring %s: %d groups of poems, want %d", col.Name, len(col.Of), got.Count)
		}
		total := 0
		for _, g := range col.Groups {
			total += g.Count
		}
		for _, g := range col.Of {
			if g < -1 || g >= len(col.Groups) {
				t.Errorf("colouring %s: group %d of %d", col.Name, g, len(col.Groups))
			}
		}
		if total > got.Count {
			t.Errorf("colouring %s: groups count %d poems of %d", col.Name, total, got.Count)
		}
	}
	if !slices.Equal(names, []string{"rhyme", "dynasty", "author"}) {
		t.Errorf("colourings %v, want rhyme, dynasty, author", names)
	}
	if dyn := got.Colorings[1]; len(dyn.Groups) != 2 || dyn.Groups[0].Count+dyn.Groups[1].Count != got.Count {
		t.Errorf("dynasty groups %v, want 唐 and 宋 covering every poem", dyn.Groups)
	}
	// The axes are orthonormal, ordered by variance, and the map's
	// coordinates are the codes projected on the first two.
	if len(got.Axes) != s.m.Config.Latent || len(got.Mean) != s.m.Config.Latent {
		t.Fatalf("%d axes, mean of %d; want %d", len(got.Axes), len(got.Mean), s.m.Config.Latent)
	}
	for i, ai := range got.Axes {
		for j, aj := range got.Axes {
			dot := 0.0
			for k := range ai.Vector {
				dot += ai.Vector[k] * aj.Vector[k]
			}
			if want := map[bool]float64{true: 1, false: 0}[i == j]; math.Abs(dot-want) > 1e-9 {
				t.Errorf("axes %d·%d = %g, want %g", i, j, dot, want)
			}
		}
		if i > 0 && ai.SD > got.Axes[i-1].SD+1e-12 {
			t.Errorf("axis %d has a larger spread than axis %d", i+1, i)
		}
	}
	x, y := s.atlas.project(s.atlas.mu[5])
	if math.Abs(float64(got.X[5])-x) > 1e-5*math.Max(1, math.Abs(x)) || math.Abs(float64(got.Y[5])-y) > 1e-5*math.Max(1, math.Abs(y)) {
		t.Errorf("point 6 at (%g, %g), its code projects to (%g, %g)", got.X[5], got.Y[5], x, y)
	}

	req = httptest.NewRequest(http.MethodGet, "/api/map", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec2 := httptest.NewRecorder()
	h.ServeHTTP(rec2, req)
	zr, err := gzip.NewReader(rec2.Body)
	if err != nil || rec2.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("GET /api/map gzipped: %v, Content-Encoding %q", err, rec2.Header().Get("Content-Encoding"))
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, rec.Body.Bytes()) {
		t.Error("the gzipped map differs from the plain one")
	}

	// A direction between the dynasties: a unit vector from one group's
	// mean code to the other's.
	var dir1 struct {
		Vector   []float64 `json:"vector"`
		Length   float64   `json:"length"`
		FromMean []float64 `json:"from_mean"`
		ToMean   []float64 `json:"to_mean"`
	}
	callOK(t, h, "/api/direction", map[string]any{"by": "dynasty", "from": "唐", "to": "宋"}, &dir1)
	norm := 0.0
	for k, v := range dir1.Vector {
		norm += v * v
		if d := dir1.FromMean[k] + dir1.Length*v - dir1.ToMean[k]; math.Abs(d) > 1e-9 {
			t.Errorf("direction: from + length·vector misses to by %g at %d", d, k)
		}
	}
	if math.Abs(norm-1) > 1e-9 || dir1.Length <= 0 {
		t.Errorf("direction: |vector|² = %g, length %g", norm, dir1.Length)
	}
	if code, out := call(t, h, "/api/direction", map[string]any{"by": "dynasty", "from": "唐", "to": "唐"}); code != 400 || !strings.Contains(fmt.Sprint(out["error"]), "same group") {
		t.Errorf("direction to the same group: %d %v", code, out)
	}
}

func TestServeNeighbors(t *testing.T) {
	s, _ := newTestServer(t, "--corpus", sampleCorpus)
	h := s.handler()
	type answer struct {
		Poem      string    `json:"poem"`
		Z         []float64 `json:"z"`
		Neighbors []struct {
			Index    int     `json:"index"`
			Poem     string  `json:"poem"`
			Distance float64 `json:"distance"`
		} `json:"neighbors"`
	}
	var got answer
	callOK(t, h, "/api/neighbors", map[string]any{"poem": jingYeSi, "k": 5}, &got)
	if len(got.Neighbors) != 5 {
		t.Fatalf("%d neighbours, want 5", len(got.Neighbors))
	}
	// 静夜思 is in the corpus: it is its own nearest neighbour.
	if n := got.Neighbors[0]; n.Poem != jingYeSi || n.Distance > 1e-9 || s.atlas.poems[n.Index].String() != jingYeSi {
		t.Errorf("nearest neighbour of 静夜思: %+v", n)
	}
	for i := 1; i < len(got.Neighbors); i++ {
		if got.Neighbors[i].Distance < got.Neighbors[i-1].Distance {
			t.Errorf("neighbours out of order: %v", got.Neighbors)
		}
	}
	// Each distance is the distance between the codes; none nearer is
	// left out.
	for _, n := range got.Neighbors {
		if d := dist(got.Z, s.atlas.mu[n.Index]); math.Abs(d-n.Distance) > 1e-9 {
			t.Errorf("neighbour %d: distance %g, the codes are %g apart", n.Index, n.Distance, d)
		}
	}
	last := got.Neighbors[len(got.Neighbors)-1].Distance
	nearer := 0
	for _, mu := range s.atlas.mu {
		if dist(got.Z, mu) < last {
			nearer++
		}
	}
	if nearer > 4 {
		t.Errorf("%d poems are nearer than the fifth neighbour", nearer)
	}

	// Of a code: the same neighbours as of the poem whose code it is.
	var byCode answer
	callOK(t, h, "/api/neighbors", map[string]any{"z": got.Z, "k": 5}, &byCode)
	for i := range got.Neighbors {
		if byCode.Neighbors[i].Index != got.Neighbors[i].Index {
			t.Errorf("neighbours of the code differ from the poem's at %d", i)
		}
	}

	empty, _ := newTestServer(t, "--map-limit", "0")
	if code, out := call(t, empty.handler(), "/api/neighbors", map[string]any{"poem": jingYeSi}); code != 400 || !strings.Contains(fmt.Sprint(out["error"]), "map") {
		t.Errorf("neighbours on an empty map: %d %v", code, out)
	}
}

func dist(a, b []float64) float64 {
	var d float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(d)
}

// TestServeTrainingPoems: without --corpus, the map shows the training
// poems kept in the model (with its keyword index), and --theme works.
func TestServeTrainingPoems(t *testing.T) {
	needDictionaries(t)
	s, _ := newTestServer(t)
	if s.m.Keywords == nil || len(s.m.Poems) == 0 {
		t.Skip("the serve model was trained without a keyword index")
	}
	if s.atlas.size() != len(s.m.Poems) {
		t.Errorf("the map shows %d poems, the model keeps %d", s.atlas.size(), len(s.m.Poems))
	}
	var got struct {
		Theme *struct {
			Keywords []string `json:"keywords"`
		} `json:"theme"`
		Poems    []apiPoem `json:"poems"`
		Messages []string  `json:"messages"`
	}
	callOK(t, s.handler(), "/api/generate", map[string]any{"theme": "明月", "count": 2, "seed": 1}, &got)
	if got.Theme == nil || len(got.Poems) != 2 || got.Poems[0].Near == "" || !strings.Contains(strings.Join(got.Messages, "\n"), "theme 明月") {
		t.Errorf("generate on a theme: %+v", got)
	}
}

// TestServeBusy: a request that gets no worker slot within the time limit
// is answered 503, and one that does is computed.
func TestServeBusy(t *testing.T) {
	s, _ := newTestServer(t, "--workers", "1")
	s.timeout = 50 * time.Millisecond
	h := s.handler()
	s.work <- struct{}{} // the one slot is taken
	code, out := call(t, h, "/api/generate", map[string]any{"seed": 1})
	if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(out["error"]), "busy") {
		t.Errorf("with every slot taken: %d %v; want 503, busy", code, out)
	}
	<-s.work
	if code, out := call(t, h, "/api/generate", map[string]any{"seed": 1}); code != http.StatusOK {
		t.Errorf("with a slot free: %d %v", code, out)
	}
	if len(s.work) != 0 {
		t.Errorf("%d slots still taken after the request", len(s.work))
	}
}

// TestServeConcurrent sends many requests of every kind at once to one
// server (run it with -race): each answer is the one the same request
// gets alone.
func TestServeConcurrent(t *testing.T) {
	s, _ := newTestServer(t, "--corpus", sampleCorpus, "--workers", "4")
	h := s.handler()
	zeros := make([]float64, s.m.Config.Latent)
	reqs := []struct {
		path string
		body map[string]any
	}{
		{"/api/generate", map[string]any{"count": 3, "seed": 1}},
		{"/api/generate", map[string]any{"count": 2, "seed": 2, "rhyme": "any", "tones": "loose"}},
		{"/api/generate", map[string]any{"seed": 3, "acrostic": "春山白月", "tones": "strict", "beam": 2}},
		{"/api/generate", map[string]any{"seed": 4, "like": "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"}},
		{"/api/interpolate", map[string]any{"a": jingYeSi, "b": dengGuanQ, "steps": 4, "rhyme": "any"}},
		{"/api/reconstruct", map[string]any{"poem": chunXiao}},
		{"/api/decode", map[string]any{"z": [][]float64{zeros}, "tones": "loose"}},
		{"/api/neighbors", map[string]any{"poem": jingYeSi}},
		{"/api/map", nil},
		{"/api/generate", map[string]any{"count": 0}}, // refused
	}
	send := func(i int) (int, string) {
		b, _ := json.Marshal(reqs[i].body)
		req := httptest.NewRequest(http.MethodPost, reqs[i].path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	// All at once first, on the fresh server, so that nothing the first
	// request of a kind does alone hides a race; then each alone.
	const rounds = 4
	type answer struct {
		code int
		body string
	}
	got := make([][]answer, rounds)
	var wg sync.WaitGroup
	for r := range rounds {
		got[r] = make([]answer, len(reqs))
		for i := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := (i + r) % len(reqs)
				code, body := send(j)
				got[r][j] = answer{code, body}
			}()
		}
	}
	wg.Wait()
	want := make([]string, len(reqs))
	status := make([]int, len(reqs))
	for i := range reqs {
		status[i], want[i] = send(i)
		for r := range rounds {
			if a := got[r][i]; a.code != status[i] || a.body != want[i] {
				t.Errorf("%s %v, among others: status %d, %.120s; alone: %d, %.120s", reqs[i].path, reqs[i].body, a.code, a.body, status[i], want[i])
			}
		}
	}
	if status[len(status)-1] != http.StatusBadRequest {
		t.Errorf("count 0: status %d, want 400", status[len(status)-1])
	}
	for i, code := range status[:len(status)-1] {
		if code != http.StatusOK {
			t.Errorf("%s %v: status %d: %s", reqs[i].path, reqs[i].body, code, want[i])
		}
	}
}

// syncBuffer is a buffer that the server writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe runs `poetvae serve ARGS` until the returned stop is called,
// and returns its base URL, and stop, which returns the exit status and
// stderr.
func startServe(t *testing.T, args ...string) (string, func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		app := newApp(&stdout, &stderr)
		err := app.RunContext(ctx, append([]string{"poetvae", "serve"}, args...))
		code := 0
		if err != nil {
			fmt.Fprintf(&stderr, "poetvae: %v\n", err)
			code = 1
		}
		done <- code
	}()
	stop := func() (int, string) {
		cancel()
		select {
		case code := <-done:
			return code, stderr.String()
		case <-time.After(time.Minute):
			t.Fatal("serve did not stop within a minute of its interrupt")
			return 0, ""
		}
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out := stdout.String()
		if _, rest, ok := strings.Cut(out, "http://"); ok {
			if addr, _, ok := strings.Cut(rest, "/ "); ok {
				return "http://" + addr, stop
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve stopped with status %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	t.Fatalf("serve printed no address within a minute: %q", stdout.String())
	return "", nil
}

// TestServeCommand runs the command itself: on the loopback by default,
// with a warning elsewhere, and stopping when interrupted.
func TestServeCommand(t *testing.T) {
	m := serveModel(t)
	inTempDir(t)
	base, stop := startServe(t, "--model", m, "--addr", "127.0.0.1:0")
	res, err := http.Get(base + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"latent":8`) {
		t.Errorf("GET /api/info: %d %s", res.StatusCode, body)
	}
	code, stderr := stop()
	if code != 0 || !strings.Contains(stderr, "stopped") || strings.Contains(stderr, "warning") {
		t.Errorf("serve: status %d, stderr %q; want 0, stopped, no warning", code, stderr)
	}
	if _, err := http.Get(base + "/api/info"); err == nil {
		t.Error("the server still answers after it stopped")
	}

	_, stop = startServe(t, "--model", m, "--addr", "0.0.0.0:0")
	if code, stderr := stop(); code != 0 || !strings.Contains(stderr, "warning: listening on") || !strings.Contains(stderr, "not on the loopback") {
		t.Errorf("serve on every interface: status %d, stderr %q; want a warning", code, stderr)
	}

	for _, f := range serveCommand().Flags {
		if addr, ok := f.(*cli.StringFlag); ok && addr.Name == "addr" && addr.Value != "127.0.0.1:8080" {
			t.Errorf("serve listens on %s by default, not on the loopback", addr.Value)
		}
	}
}

func TestServeUsageErrors(t *testing.T) {
	m := serveModel(t)
	inTempDir(t)
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"serve", "--model", m, "corpus.txt"}, 2, []string{"no arguments", "--corpus"}},
		{[]string{"serve", "--model", m, "--timeout", "0s"}, 2, []string{"--timeout"}},
		{[]string{"serve", "--model", m, "--map-limit", "-1"}, 2, []string{"--map-limit"}},
		{[]string{"serve", "--model", m, "--workers", "-1"}, 2, []string{"--workers"}},
		{[]string{"serve", "--model", m, "--meta", "m.tsv"}, 2, []string{"--meta needs --corpus"}},
		{[]string{"serve", "--model", m, "--addr", "8080"}, 2, []string{"--addr", "HOST:PORT"}},
		{[]string{"serve", "--model", "none.ckpt"}, 1, []string{"no model at none.ckpt"}},
		{[]string{"serve", "--model", m, "--corpus", "none.txt"}, 1, []string{"none.txt"}},
		{[]string{"serve", "--model", m, "--rhyme-table", "none.tsv"}, 1, []string{"none.tsv"}},
	}
	for _, tt := range tests {
		code, stdout, stderr := poetvae(t, tt.args...)
		failed(t, tt.args, code, stdout, stderr, tt.code, tt.want...)
	}
}

// TestServeShutdown: an interrupt lets the requests in flight finish,
// and the server takes no new ones.
func TestServeShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		fmt.Fprint(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, ln, h, &log) }()

	answer := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		answer <- string(b)
	}()
	<-started
	cancel() // Ctrl-C
	for !strings.Contains(log.String(), "stopping") {
		time.Sleep(5 * time.Millisecond)
	}
	// The listener is closed: a new request is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still takes connections after the interrupt")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the server stopped (%v) before its request in flight finished", err)
	default:
	}
	close(release)
	if got := <-answer; got != "finished" {
		t.Errorf("the request in flight got %q, want its answer", got)
	}
	if err := <-done; err != nil {
		t.Errorf("runServer: %v", err)
	}
}

// TestServeWarmUp: after newServer the model's caches are filled, so that
// requests decoding at once with every kind of constraint share it
// without a lock (run it with -race: the model builds its character
// tables on first use, unguarded, and the server must have done that).
func TestServeWarmUp(t *testing.T) {
	s, _ := newTestServer(t, "--map-limit", "0")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			z := [][]float64{make([]float64, s.m.Config.Latent)}
			opt := model.DecodeOptions{Lines: s.m.Config.Lines, Greedy: true, Rhyme: i%2 == 0,
				Tones: []model.ToneRule{model.TonesLoose, model.TonesStrict}[i/2], Prosody: s.prosody}
			if _, err := s.m.DecodeResults(z, opt, nil); err != nil {
				t.Error(err)
			}
			if _, _, err := s.m.Encode([]poetry.Poem{mustParse(t, jingYeSi)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func mustParse(t *testing.T, s string) poetry.Poem {
	t.Helper()
	p, err := poetry.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServePaths: clients see the model and the rhyme table by name, not
// where they lie on the server.
func TestServePaths(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, "table.tsv")
	if err := os.WriteFile(table, []byte("char\ttone\tgroup\n光\t平\t下平聲七陽\n霜\t平\t下平聲七陽\n月\t仄\t入聲六月\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, "--rhyme-table", table)
	h := s.handler()
	code, info := call(t, h, "/api/info", map[string]any{})
	if code != 200 || info["model"] != "serve.ckpt" || info["judged_by"] != "rhyme table table.tsv" {
		t.Errorf("info: %d, model %v, judged by %v; want serve.ckpt, rhyme table table.tsv", code, info["model"], info["judged_by"])
	}
	// The defaults of the fields are the flags' defaults.
	gen, _ := info["defaults"].(map[string]any)["/api/generate"].(map[string]any)
	if gen["count"] != float64(1) || gen["lines"] != float64(4) || gen["greedy"] != false || gen["temperature"] != 0.8 {
		t.Errorf("info: defaults of generate %v", gen)
	}
	if _, ok := gen["seed"]; ok {
		t.Errorf("info: seed has a default, %v; a new one is drawn each time", gen["seed"])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	for _, d := range []string{dir, filepath.Dir(serveModel(t))} {
		if strings.Contains(rec.Body.String(), d) {
			t.Errorf("the page names the folder %s", d)
		}
	}
	var got struct {
		Poems []apiPoem `json:"poems"`
	}
	callOK(t, h, "/api/generate", map[string]any{"seed": 1, "rhyme-char": "光"}, &got)
	if len(got.Poems) != 1 || !slices.Equal(got.Poems[0].Rhyme, []string{"下平聲七陽"}) {
		t.Errorf("a poem rhyming with 光 under the table: %+v", got.Poems)
	}
}

// TestServeMapNotReady: while the map is being encoded, the calls that
// need it are answered 503 with a Retry-After, and the others work.
func TestServeMapNotReady(t *testing.T) {
	s, _ := newTestServer(t, "--corpus", sampleCorpus)
	done := s.atlas
	s.atlas = &atlas{source: done.source, poems: done.poems, colorings: done.colorings, ready: make(chan struct{}), started: time.Now()}
	h := s.handler()
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/api/map", nil},
		{"/api/neighbors", map[string]any{"poem": jingYeSi}},
		{"/api/direction", map[string]any{"by": "rhyme", "from": "a", "to": "b"}},
	} {
		b, _ := json.Marshal(c.body)
		req := httptest.NewRequest(http.MethodPost, c.path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "still being built") {
			t.Errorf("%s while the map is encoded: %d, Retry-After %q, %s", c.path, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	if code, out := call(t, h, "/api/info", map[string]any{}); code != 200 || out["map_ready"] != false || out["map"] != float64(len(done.poems)) {
		t.Errorf("info while the map is encoded: %d %v", code, out)
	}
	if code, out := call(t, h, "/api/generate", map[string]any{"seed": 1}); code != 200 {
		t.Errorf("generate while the map is encoded: %d %v", code, out)
	}

	// Encoding it finishes the map; a cancelled encoding is an error.
	s.atlas.encode(context.Background(), s.m, t.Logf)
	if code, out := call(t, h, "/api/map", map[string]any{}); code != 200 || out["count"] != float64(len(done.poems)) {
		t.Errorf("the map once encoded: %d, %v poems", code, out["count"])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped := &atlas{poems: done.poems, ready: make(chan struct{}), started: time.Now()}
	stopped.encode(ctx, s.m, t.Logf)
	if err := stopped.wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Errorf("encoding with a cancelled context: %v", err)
	}
}

// TestServePanic: a failure inside a call is answered 500, and its worker
// slot is given back.
func TestServePanic(t *testing.T) {
	s, _ := newTestServer(t, "--map-limit", "0")
	ep := endpoint{run: func(*server, context.Context, *request) (any, error) { panic("boom") }}
	req := httptest.NewRequest(http.MethodPost, "/api/boom", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	var log bytes.Buffer
	s.log = &log
	s.serveAPI(rec, req, ep)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "internal error: boom") || !strings.Contains(log.String(), "boom") {
		t.Errorf("a call that panics: %d %s, log %q", rec.Code, rec.Body, log.String())
	}
	for len(s.work) > 0 {
		time.Sleep(time.Millisecond) // the slot is given back as the work ends
	}
}

// TestServeWhileMapEncodes: requests are served while the map's codes are
// computed beside them (run it with -race), and the map comes once they
// are.
func TestServeWhileMapEncodes(t *testing.T) {
	ck, err := model.Load(serveModel(t))
	if err != nil {
		t.Fatal(err)
	}
	// 3,000 different poems of the model's characters: the first two
	// characters count them.
	var text strings.Builder
	m := ck.Model
	V := m.Vocab.Size() - corpus.NumSpecial
	for i := range 3000 {
		chars := make([]rune, 20)
		for j := range chars {
			chars[j] = m.Vocab.Rune(corpus.NumSpecial + (7*j+i)%V)
		}
		chars[0], chars[1] = m.Vocab.Rune(corpus.NumSpecial+i%V), m.Vocab.Rune(corpus.NumSpecial+(i/V)%V)
		p, err := poetry.New(chars)
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(p.String() + "\n")
	}
	corpusPath := filepath.Join(t.TempDir(), "map.txt")
	if err := os.WriteFile(corpusPath, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(rhymeTableEnv, "")
	cmd := serveCommand()
	set := flag.NewFlagSet("serve", flag.ContinueOnError)
	for _, f := range cmd.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse([]string{"--model", serveModel(t), "--corpus", corpusPath}); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	c := cli.NewContext(&cli.App{Name: "poetvae", Writer: io.Discard, ErrWriter: &stderr}, set, nil)
	c.Command = cmd
	s, err := newServer(c) // returns before the map is encoded
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	h := s.handler()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				if code, out := call(t, h, "/api/generate", map[string]any{"seed": 10*i + j, "tones": "loose"}); code != 200 {
					t.Errorf("generate while the map is encoded: %d %v", code, out)
				}
			}
		}()
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, out := call(t, h, "/api/map", map[string]any{})
		if code == 200 {
			if out["count"] != float64(3000) {
				t.Errorf("the map has %v poems, want 3000", out["count"])
			}
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("/api/map: %d %v", code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	if !strings.Contains(stderr.String(), "map: ready") {
		t.Errorf("serve did not say the map is ready: %q", stderr.String())
	}
}
