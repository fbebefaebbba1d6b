package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// needDictionaries skips a test that segments text when the jieba
// dictionaries cannot be found.
func needDictionaries(t *testing.T) {
	t.Helper()
	if _, err := corpus.DictDir(""); err != nil {
		t.Skipf("no jieba dictionaries: %v", err)
	}
}

type themeOutput struct {
	Seed  uint64 `json:"seed"`
	Theme *struct {
		Text     string         `json:"text"`
		Keywords []string       `json:"keywords"`
		Support  map[string]int `json:"support"`
		Poems    int            `json:"poems"`
		Used     int            `json:"used"`
	} `json:"theme"`
	Poems []struct {
		Poem  string    `json:"poem"`
		Lines []string  `json:"lines"`
		Z     []float64 `json:"z"`
		Near  string    `json:"near"`
	} `json:"poems"`
}

// generateTheme runs generate with args, wants status 0 and returns its
// parsed --json output and stderr.
func generateTheme(t *testing.T, args ...string) (themeOutput, string) {
	t.Helper()
	args = append(append([]string{"generate"}, args...), "--json")
	code, stdout, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	var out themeOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("poetvae %s: %v:\n%s", strings.Join(args, " "), err, stdout)
	}
	return out, stderr
}

func TestGenerateTheme(t *testing.T) {
	needDictionaries(t)
	m := sharedModel(t)
	inTempDir(t)

	out, stderr := generateTheme(t, "--model", m, "--theme", "明月", "--count", "5", "--seed", "1")
	th := out.Theme
	if th == nil {
		t.Fatal("generate --theme --json has no theme")
	}
	kw := slices.IndexFunc(th.Keywords, func(w string) bool { return w == "明月" || w == "月" })
	if kw < 0 {
		t.Fatalf("theme 明月: keywords %v, want 明月 or 月 among them", th.Keywords)
	}
	word := th.Keywords[kw]
	if th.Support[word] == 0 || th.Poems < th.Support[word] || th.Used < 1 || th.Used > th.Poems {
		t.Errorf("theme 明月: support %v, %d poems, %d used; want %s in some poems", th.Support, th.Poems, th.Used, word)
	}
	if !strings.Contains(stderr, "theme 明月: ") || !strings.Contains(stderr, word+" (") {
		t.Errorf("theme 明月: stderr %q does not report the keywords and their poems", stderr)
	}
	if len(out.Poems) != 5 {
		t.Fatalf("theme 明月: %d poems, want 5", len(out.Poems))
	}
	for i, p := range out.Poems {
		if q, err := poetry.Parse(p.Poem); err != nil || q.NumLines() != 4 {
			t.Errorf("theme 明月: poem %d %q is not a quatrain (%v)", i, p.Poem, err)
		}
		// Every sample starts near a training poem of the theme.
		if !strings.Contains(p.Near, word) {
			t.Errorf("theme 明月: poem %d drawn near %q, which lacks %s", i, p.Near, word)
		}
	}

	// The same seed writes the same poems, in text as in JSON.
	again, _ := generateTheme(t, "--model", m, "--theme", "明月", "--count", "5", "--seed", "1")
	for i := range out.Poems {
		if out.Poems[i].Poem != again.Poems[i].Poem || out.Poems[i].Near != again.Poems[i].Near {
			t.Errorf("theme 明月 --seed 1 twice: poem %d differs", i)
		}
	}
	code, stdout, _ := poetvae(t, "generate", "--model", m, "--theme", "明月", "--count", "5", "--seed", "1")
	if text := lines(stdout); code != 0 || len(text) != 5 || text[0] != out.Poems[0].Poem {
		t.Errorf("generate --theme without --json: status %d, stdout %q; want the 5 poems of --json", code, stdout)
	}

	// With no spread, samples near the same poem are its posterior mean.
	out, _ = generateTheme(t, "--model", m, "--theme", "明月", "--count", "12", "--seed", "1", "--theme-spread", "0")
	byNear := map[string][]float64{}
	for _, p := range out.Poems {
		if z, ok := byNear[p.Near]; ok && !slices.Equal(z, p.Z) {
			t.Errorf("--theme-spread 0: two samples near %s have z %v and %v", p.Near, z, p.Z)
		}
		byNear[p.Near] = p.Z
	}

	// The theme combines with the constraints.
	out, _ = generateTheme(t, "--model", m, "--theme", "明月", "--count", "2", "--seed", "3",
		"--acrostic", "春秋山月", "--rhyme", "any", "--tones", "loose", "--beam", "2")
	for i, p := range out.Poems {
		if len(p.Lines) != 4 {
			t.Fatalf("theme with constraints: poem %d has %d lines", i, len(p.Lines))
		}
		for l, head := range []rune("春秋山月") {
			if []rune(p.Lines[l])[0] != head {
				t.Errorf("theme with --acrostic 春秋山月: poem %d line %d is %s", i, l+1, p.Lines[l])
			}
		}
	}
}

func TestGenerateThemeWithoutSupport(t *testing.T) {
	needDictionaries(t)
	m := sharedModel(t)
	inTempDir(t)
	out, stderr := generateTheme(t, "--model", m, "--theme", "电脑", "--count", "2", "--seed", "1")
	if !strings.Contains(stderr, "no poem of the training corpus contains 电脑") || !strings.Contains(stderr, "prior") {
		t.Errorf("theme 电脑: stderr %q does not say that no poem contains it and the prior is used", stderr)
	}
	if out.Theme == nil || out.Theme.Poems != 0 || out.Theme.Support["电脑"] != 0 || !slices.Contains(out.Theme.Keywords, "电脑") {
		t.Errorf("theme 电脑: theme %+v, want keyword 电脑 with no poems", out.Theme)
	}
	if len(out.Poems) != 2 {
		t.Fatalf("theme 电脑: %d poems, want 2", len(out.Poems))
	}
	for i, p := range out.Poems {
		if _, err := poetry.Parse(p.Poem); err != nil || p.Near != "" {
			t.Errorf("theme 电脑: poem %d %q (near %q): %v", i, p.Poem, p.Near, err)
		}
	}
	// The prior fallback draws what generate without a theme draws.
	plain, _ := generateTheme(t, "--model", m, "--count", "2", "--seed", "1")
	if plain.Poems[0].Poem != out.Poems[0].Poem {
		t.Errorf("theme 电脑 wrote %s, generate without a theme %s with the same seed", out.Poems[0].Poem, plain.Poems[0].Poem)
	}
}

// TestThemeNeedsDictionaries: only --theme loads the dictionaries, and
// without them it fails clearly.
func TestThemeNeedsDictionaries(t *testing.T) {
	needDictionaries(t)
	m := sharedModel(t) // trained with the dictionaries, before they go
	inTempDir(t)
	t.Setenv(corpus.DictEnv, filepath.Join(t.TempDir(), "missing"))
	if code, stdout, stderr := poetvae(t, "generate", "--model", m, "--seed", "1"); code != 0 || len(lines(stdout)) != 1 {
		t.Errorf("generate without --theme and without dictionaries: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr := poetvae(t, "generate", "--model", m, "--theme", "明月")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "--theme") || !strings.Contains(stderr, corpus.DictEnv) {
		t.Errorf("generate --theme without dictionaries: status %d, stdout %q, stderr %q; want status 1 and how to point at them", code, stdout, stderr)
	}
}

// TestTrainKeywords covers the index at training: built and announced with
// the dictionaries, a warning without them, nothing with --no-keywords,
// and generate --theme's error on a model without one.
func TestTrainKeywords(t *testing.T) {
	tiny := slices.DeleteFunc(slices.Clone(tinyTrain), func(a string) bool { return a == "--quiet" })
	t.Run("indexed", func(t *testing.T) {
		needDictionaries(t)
		inTempDir(t)
		code, _, stderr := poetvae(t, slices.Concat(tiny, []string{"--epochs", "1", "--out", "m.ckpt"})...)
		if code != 0 || !strings.Contains(stderr, "indexed ") || strings.Contains(stderr, "warning") {
			t.Errorf("train: status %d, stderr:\n%s\nwant the number of words indexed and no warning", code, stderr)
		}
		ck, err := model.Load("m.ckpt")
		if err != nil {
			t.Fatal(err)
		}
		if ck.Model.Keywords == nil || len(ck.Model.Keywords.Lookup("明月")) == 0 || len(ck.Model.Poems) == 0 {
			t.Errorf("trained model has index %v and %d poems; want 明月 indexed", ck.Model.Keywords != nil, len(ck.Model.Poems))
		}
	})

	noIndex := func(t *testing.T, path string) {
		t.Helper()
		code, stdout, stderr := poetvae(t, "generate", "--model", path, "--theme", "明月")
		if code != 1 || stdout != "" || !strings.Contains(stderr, "without a keyword index") || !strings.Contains(stderr, "--jieba-dict") {
			t.Errorf("generate --theme with a model without an index: status %d, stdout %q, stderr %q; want status 1 and how to get an index", code, stdout, stderr)
		}
		if code, _, stderr := poetvae(t, "generate", "--model", path, "--seed", "1"); code != 0 {
			t.Errorf("generate without --theme with a model without an index: status %d, stderr %q", code, stderr)
		}
	}
	t.Run("no dictionaries", func(t *testing.T) {
		inTempDir(t)
		t.Setenv(corpus.DictEnv, filepath.Join(t.TempDir(), "missing"))
		code, _, stderr := poetvae(t, slices.Concat(tinyTrain, []string{"--epochs", "1", "--out", "m.ckpt"})...)
		if code != 0 || strings.Count(stderr, "warning:") != 1 || !strings.Contains(stderr, "generate --theme") || !strings.Contains(stderr, "--no-keywords") {
			t.Errorf("train without dictionaries: status %d, stderr:\n%s\nwant one warning about --theme", code, stderr)
		}
		noIndex(t, "m.ckpt")
	})
	t.Run("no-keywords", func(t *testing.T) {
		inTempDir(t)
		t.Setenv(corpus.DictEnv, filepath.Join(t.TempDir(), "missing"))
		code, _, stderr := poetvae(t, slices.Concat(tinyTrain, []string{"--epochs", "1", "--no-keywords", "--out", "m.ckpt"})...)
		if code != 0 || stderr != "" {
			t.Errorf("train --no-keywords --quiet: status %d, stderr:\n%s\nwant nothing", code, stderr)
		}
		noIndex(t, "m.ckpt")
	})
	t.Run("language model", func(t *testing.T) {
		inTempDir(t)
		code, _, stderr := poetvae(t, slices.Concat(tinyTrain, []string{"--epochs", "1", "--lm", "--out", "m.ckpt"})...)
		if code != 0 || stderr != "" {
			t.Fatalf("train --lm --quiet: status %d, stderr:\n%s", code, stderr)
		}
		code, _, stderr = poetvae(t, "generate", "--model", "m.ckpt", "--theme", "明月")
		if code != 1 || !strings.Contains(stderr, "language model") {
			t.Errorf("generate --theme with a language model: status %d, stderr %q; want status 1", code, stderr)
		}
	})
}

func TestOrList(t *testing.T) {
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{nil, ""}, {[]string{"江南"}, "江南"}, {[]string{"江南", "春雨"}, "江南 or 春雨"},
		{[]string{"江南", "春雨", "杏花"}, "江南, 春雨 or 杏花"},
	} {
		if got := orList(tt.words); got != tt.want {
			t.Errorf("orList(%q) = %q, want %q", tt.words, got, tt.want)
		}
	}
}
