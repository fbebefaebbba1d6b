package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// Speed of serve, on a model of the default size (embedding 128, encoder
// and decoder 256, latent 32) over 5,000 characters, with fresh weights:
// the time of a request does not depend on what the weights learnt.
//
//	go test -run '^$' -bench Serve ./cmd/poetvae               # latency of each call
//	make load                                                   # the load table of docs/BENCHMARKS.md
//
// POETVAE_BENCH_MODEL names a trained model to use instead.

// benchServer starts serve's handler on a default-sized model with a map
// of 2,000 poems.
func benchServer(b *testing.B) (*server, []string) {
	b.Helper()
	dir := b.TempDir()
	path := os.Getenv("POETVAE_BENCH_MODEL")
	var m *model.Model
	if path == "" {
		v := benchVocab(5000)
		var err error
		if m, err = model.NewModel(model.DefaultConfig(v.Size(), 4), v, 1); err != nil {
			b.Fatal(err)
		}
		path = filepath.Join(dir, "bench.ckpt")
		if err := (&model.Checkpoint{Model: m}).Save(path); err != nil {
			b.Fatal(err)
		}
	} else {
		ck, err := model.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		m = ck.Model
	}
	poems := benchCorpus(m, 2000)
	var text strings.Builder
	for _, p := range poems {
		text.WriteString(p + "\n")
	}
	corpusPath := filepath.Join(dir, "map.txt")
	if err := os.WriteFile(corpusPath, []byte(text.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s, _ := newServerArgs(b, "--model", path, "--corpus", corpusPath)
	return s, poems
}

// benchVocab is a vocabulary of size entries: consecutive Han characters.
func benchVocab(size int) *corpus.Vocab {
	chars := make([]rune, size-corpus.NumSpecial)
	for i := range chars {
		chars[i] = rune(0x4e00 + i)
	}
	var poems []poetry.Poem
	for i := 0; i+20 <= len(chars); i += 20 {
		p, _ := poetry.New(chars[i : i+20])
		poems = append(poems, p)
	}
	return corpus.BuildVocab(poems, 1)
}

// benchCorpus makes n different quatrains of the model's characters.
func benchCorpus(m *model.Model, n int) []string {
	V := m.Vocab.Size() - corpus.NumSpecial
	out := make([]string, n)
	for i := range out {
		chars := make([]rune, 20)
		for j := range chars {
			chars[j] = m.Vocab.Rune(corpus.NumSpecial + (97*i+31*j+i*i)%V)
		}
		p, _ := poetry.New(chars)
		out[i] = p.String()
	}
	return out
}

// benchCalls are the calls timed, as the page makes them.
func benchCalls(poems []string, latent int) []struct {
	name, path string
	body       map[string]any
} {
	return []struct {
		name, path string
		body       map[string]any
	}{
		{"generate", "/api/generate", map[string]any{"seed": 1}},
		{"generate-constrained", "/api/generate", map[string]any{"seed": 1, "acrostic": string([]rune(poems[0])[:1]) + string([]rune(poems[1])[:1]) + string([]rune(poems[2])[:1]) + string([]rune(poems[3])[:1]), "rhyme": "any", "tones": "loose"}},
		{"generate-3-beam-4", "/api/generate", map[string]any{"seed": 1, "count": 3, "beam": 4}},
		{"walk-9", "/api/interpolate", map[string]any{"a": poems[0], "b": poems[1], "steps": 8}},
		{"reconstruct", "/api/reconstruct", map[string]any{"poem": poems[2]}},
		{"neighbors", "/api/neighbors", map[string]any{"poem": poems[3]}},
		{"decode", "/api/decode", map[string]any{"z": [][]float64{make([]float64, latent)}}},
		{"map", "/api/map", nil},
	}
}

// BenchmarkServe times each call through the handler, and reports the
// median and the 99th percentile besides the mean.
func BenchmarkServe(b *testing.B) {
	s, poems := benchServer(b)
	h := s.handler()
	for _, c := range benchCalls(poems, s.m.Config.Latent) {
		body, _ := json.Marshal(c.body)
		b.Run(c.name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, c.path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				times = append(times, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, rec.Code, rec.Body)
				}
			}
			p50, p99 := percentiles(times)
			b.ReportMetric(ms(p50), "ms-p50")
			b.ReportMetric(ms(p99), "ms-p99")
		})
	}
}

func percentiles(times []time.Duration) (p50, p99 time.Duration) {
	if len(times) == 0 {
		return 0, 0
	}
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	return sorted[len(sorted)/2], sorted[min(len(sorted)-1, len(sorted)*99/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadResult is one row of the load table.
type loadResult struct {
	scenario string
	clients  int
	requests int
	errors   int
	seconds  float64
	p50, p99 time.Duration
}

// runLoad sends the calls of pick from clients at once over the loopback
// for d, and measures.
func runLoad(url string, clients int, d time.Duration, pick func(client, i int) (string, []byte)) loadResult {
	var mu sync.Mutex
	var times []time.Duration
	errors := 0
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				path, body := pick(c, i)
				t0 := time.Now()
				res, err := hc.Post(url+path, "application/json", bytes.NewReader(body))
				ok := err == nil && res.StatusCode == http.StatusOK
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				took := time.Since(t0)
				mu.Lock()
				times = append(times, took)
				if !ok {
					errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r := loadResult{clients: clients, requests: len(times), errors: errors, seconds: time.Since(start).Seconds()}
	r.p50, r.p99 = percentiles(times)
	return r
}

// BenchmarkServeLoad runs clients at once against a real server on the
// loopback, for a few seconds a row, and prints the table of
// docs/BENCHMARKS.md (with POETVAE_LOAD_OUT=FILE, writes it there too).
// Errors, including any 503 for a request out of time, must be 0.
func BenchmarkServeLoad(b *testing.B) {
	s, poems := benchServer(b)
	ts := httptest.NewServer(s.handler())
	defer ts.Close()
	per := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("POETVAE_LOAD_TIME")); err == nil {
		per = d
	}
	generate := func(client, i int) (string, []byte) {
		body, _ := json.Marshal(map[string]any{"seed": client*100000 + i})
		return "/api/generate", body
	}
	walk := func(client, i int) (string, []byte) {
		body, _ := json.Marshal(map[string]any{"a": poems[(client+i)%len(poems)], "b": poems[(client+i+7)%len(poems)], "steps": 8})
		return "/api/interpolate", body
	}
	mixed := func(client, i int) (string, []byte) {
		switch i % 10 {
		case 0, 1:
			return walk(client, i)
		case 2:
			body, _ := json.Marshal(map[string]any{"poem": poems[(client+i)%len(poems)]})
			return "/api/neighbors", body
		case 3:
			body, _ := json.Marshal(map[string]any{"seed": i, "acrostic": "一丁七万", "rhyme": "any", "tones": "loose"})
			return "/api/generate", body
		}
		return generate(client, i)
	}
	before := loadAverage()
	var rows []loadResult
	for b.Loop() {
		rows = rows[:0]
		for _, sc := range []struct {
			name string
			pick func(int, int) (string, []byte)
		}{{"generate 1 poem", generate}, {"walk of 9 poems", walk}, {"mixed", mixed}} {
			for _, clients := range []int{1, 4, 16} {
				r := runLoad(ts.URL, clients, per, sc.pick)
				r.scenario = sc.name
				rows = append(rows, r)
			}
		}
	}
	var t strings.Builder
	fmt.Fprintf(&t, "| calls | clients | requests | requests/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&t, "| %s | %d | %d | %.1f | %.1f | %.1f | %d |\n", r.scenario, r.clients, r.requests,
			float64(r.requests)/r.seconds, ms(r.p50), ms(r.p99), r.errors)
	}
	fmt.Fprintf(&t, "\n%d cores (GOMAXPROCS %d)%s, %d worker slots, %s a row; model: %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		before, cap(s.work), per, benchModelName())
	fmt.Print(t.String())
	for _, r := range rows {
		if r.errors > 0 {
			b.Errorf("%s, %d clients: %d errors of %d requests", r.scenario, r.clients, r.errors, r.requests)
		}
	}
	if out := os.Getenv("POETVAE_LOAD_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(t.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func benchModelName() string {
	if p := os.Getenv("POETVAE_BENCH_MODEL"); p != "" {
		return filepath.Base(p)
	}
	return "default sizes (embedding 128, encoder and decoder 256, latent 32), 5,000 characters, fresh weights"
}

// loadAverage says how busy the machine was as the load test began, where
// the system tells.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return ""
	}
	return fmt.Sprintf(", load average %s before the test", fields[0])
}
