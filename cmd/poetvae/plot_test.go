package main

import (
	"fmt"
	"image/png"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/font/gofont/goregular"

	"poetvae/corpus"
)

// metricsLog is a short training log as the trainer writes it, with a step
// logged twice (as after a resume) and a kind the plot does not know.
const metricsLog = `{"kind":"step","step":10,"epoch":1,"loss":150.5,"nll":150.4,"kl":0.1,"beta":0.05,"grad_norm":3.2}
{"kind":"step","step":20,"epoch":1,"loss":140.1,"nll":139.8,"kl":0.3,"beta":0.1,"grad_norm":2.9}
{"kind":"epoch","epoch":1,"step":25,"train_loss":145.0,"train_nll":144.8,"train_kl":0.2,"beta":0.12,"valid":{"nll":142.0,"kl":0.4,"elbo":142.4,"ppl":880.5,"active_units":1,"poems":7},"improved":true,"seconds":1.5}
{"kind":"step","step":30,"epoch":2,"loss":135.2,"nll":134.7,"kl":0.5,"beta":0.15,"grad_norm":2.5}
{"kind":"step","step":30,"epoch":2,"loss":135.0,"nll":134.5,"kl":0.5,"beta":0.15,"grad_norm":2.5}
{"kind":"note","text":"a kind from a newer version"}

{"kind":"step","step":40,"epoch":2,"loss":131.9,"nll":131.2,"kl":0.7,"beta":0.2,"grad_norm":2.2}
{"kind":"epoch","epoch":2,"step":50,"train_loss":133.0,"train_nll":132.4,"train_kl":0.6,"beta":0.25,"valid":{"nll":138.0,"kl":0.8,"elbo":138.8,"ppl":800.1,"active_units":2,"poems":7},"improved":true,"seconds":1.4}
`

// checkPNG fails the test unless name is a PNG image of the given size
// with more than one colour in it.
func checkPNG(t *testing.T, name string, width, height int) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b := img.Bounds()
	if b.Dx() != width || b.Dy() != height {
		t.Errorf("%s is %d×%d pixels, want %d×%d", name, b.Dx(), b.Dy(), width, height)
	}
	r0, g0, b0, _ := img.At(b.Min.X, b.Min.Y).RGBA()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r != r0 || g != g0 || bl != b0 {
				return
			}
		}
	}
	t.Errorf("%s is of one colour", name)
}

func readText(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// svgText returns the text an SVG file shows. Text that mixes Latin and
// Chinese characters comes in several elements, one for each font, each on
// a line of its own.
func svgText(t *testing.T, name string) string {
	t.Helper()
	return regexp.MustCompile(`<[^>]*>\n?`).ReplaceAllString(readText(t, name), "")
}

// skipWithoutCJKFont skips a test that draws Chinese text where no CJK font
// is installed; make deps installs one.
func skipWithoutCJKFont(t *testing.T) {
	t.Helper()
	for _, path := range cjkFontPaths {
		if _, err := loadFont(path, true); err == nil {
			return
		}
	}
	t.Skip("no CJK font installed (make deps installs fonts-droid-fallback)")
}

func TestPlotCurves(t *testing.T) {
	inTempDir(t)
	t.Setenv(fontEnv, "")
	writeFile(t, "run.metrics.jsonl", metricsLog)

	code, stdout, stderr := poetvae(t, "plot", "curves", "-o", "curves.png", "run.metrics.jsonl")
	if code != 0 {
		t.Fatalf("plot curves: status %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "curves.png") {
		t.Errorf("plot curves: stdout %q does not name curves.png", stdout)
	}
	checkPNG(t, "curves.png", 10*plotDPI, 10*plotDPI)
	if fi, err := os.Stat("curves.png"); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o644 {
		t.Errorf("curves.png has mode %v, want 0644", fi.Mode().Perm())
	}

	code, _, stderr = poetvae(t, "plot", "curves", "--smooth", "2", "--output", "curves.svg", "run.metrics.jsonl")
	if code != 0 {
		t.Fatalf("plot curves -o curves.svg: status %d, stderr:\n%s", code, stderr)
	}
	if svg := readText(t, "curves.svg"); !strings.Contains(svg, "<svg") {
		t.Errorf("curves.svg holds no <svg")
	}
	svg := svgText(t, "curves.svg")
	for _, want := range []string{"Training run run.metrics.jsonl", "validation ELBO", "moving average of 2", "step"} {
		if !strings.Contains(svg, want) {
			t.Errorf("curves.svg does not contain %q", want)
		}
	}

	// Training curves have no Chinese text: they are drawn without a CJK
	// font too.
	defer func(paths []string) { cjkFontPaths = paths }(cjkFontPaths)
	cjkFontPaths = nil
	if code, _, stderr := poetvae(t, "plot", "curves", "-o", "latin.png", "run.metrics.jsonl"); code != 0 {
		t.Fatalf("plot curves without a CJK font: status %d, stderr:\n%s", code, stderr)
	}
	checkPNG(t, "latin.png", 10*plotDPI, 10*plotDPI)
}

func TestPlotCurvesErrors(t *testing.T) {
	tests := []struct {
		name    string
		metrics string
		args    []string
		code    int
		want    []string
	}{
		{"malformed line", "{\"kind\":\"step\",\"step\":10}\n{\"kind\":\"step\",\"step\":20}\n{\"kind\":\"step\",\n", nil, 1, []string{"run.jsonl:3:"}},
		{"not an object", "[1, 2]\n", nil, 1, []string{"run.jsonl:1:"}},
		{"a corpus", "\n床前明月光，疑是地上霜。\n", nil, 1, []string{"run.jsonl:2: not a metrics record", "NAME.metrics.jsonl that poetvae train writes"}},
		{"record without kind", "{\"kind\":\"step\",\"step\":10}\n\n{\"step\":20}\n", nil, 1, []string{"run.jsonl:3:", "kind"}},
		{"step record without step", "{\"kind\":\"step\",\"loss\":1}\n", nil, 1, []string{"run.jsonl:1:", "step"}},
		{"no records", "\n", nil, 1, []string{"run.jsonl", "no step or epoch records"}},
		{"missing file", "", []string{"-o", "out.png", "missing.jsonl"}, 1, []string{"missing.jsonl"}},
		{"missing font", metricsLog, []string{"--font", "missing.ttf", "-o", "out.png", "run.jsonl"}, 1, []string{"font", "missing.ttf"}},
		{"not a font", metricsLog, []string{"--font", "run.jsonl", "-o", "out.png", "run.jsonl"}, 1, []string{"font run.jsonl", "not a TrueType"}},
		{"bad extension", metricsLog, []string{"-o", "out.jpg", "run.jsonl"}, 2, []string{"out.jpg", ".png or .svg"}},
		{"no extension", metricsLog, []string{"-o", "out", "run.jsonl"}, 2, []string{".png or .svg"}},
		{"no file", metricsLog, []string{"-o", "out.png"}, 2, []string{"metrics file"}},
		{"two files", metricsLog, []string{"-o", "out.png", "run.jsonl", "run.jsonl"}, 2, []string{"one metrics file"}},
		{"negative smooth", metricsLog, []string{"--smooth", "-1", "-o", "out.png", "run.jsonl"}, 2, []string{"--smooth"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTempDir(t)
			writeFile(t, "run.jsonl", tt.metrics)
			args := tt.args
			if args == nil {
				args = []string{"-o", "out.png", "run.jsonl"}
			}
			args = append([]string{"plot", "curves"}, args...)
			code, stdout, stderr := poetvae(t, args...)
			if l := lines(stderr); len(l) != 1 {
				t.Errorf("poetvae %s: stderr has %d lines, want 1:\n%s", strings.Join(args, " "), len(l), stderr)
			}
			failed(t, args, code, stdout, stderr, tt.code, tt.want...)
			for _, name := range []string{"out.png", "out.jpg", "out"} {
				if _, err := os.Stat(name); err == nil {
					t.Errorf("poetvae %s failed but wrote %s", strings.Join(args, " "), name)
				}
			}
			assertNoTempFiles(t)
		})
	}
}

// writeSampleCorpus writes the first n poems of the built-in sample to name
// and returns them.
func writeSampleCorpus(t *testing.T, name string, n int) []string {
	t.Helper()
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, p := range poems[:n] {
		texts = append(texts, p.String())
	}
	writeFile(t, name, strings.Join(texts, "\n")+"\n")
	return texts
}

func TestPlotLatent(t *testing.T) {
	skipWithoutCJKFont(t)
	model := sharedModel(t)
	inTempDir(t)
	t.Setenv(fontEnv, "")
	texts := writeSampleCorpus(t, "tang_sample.txt", 40)

	args := []string{"plot", "latent", "--model", model, "--max", "30", "-o", "map.png",
		"--path", jingYeSi, "--path", dengGuanQ, "tang_sample.txt"}
	code, stdout, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	if !strings.Contains(stdout, "map of 30 poems written to map.png") {
		t.Errorf("plot latent: stdout %q, want it to report 30 poems and map.png", stdout)
	}
	checkPNG(t, "map.png", 10*plotDPI, 8*plotDPI)

	// The same poems are drawn every time.
	if code, _, stderr := poetvae(t, slices.Concat(args[:len(args)-1], []string{"-o", "again.png", "tang_sample.txt"})...); code != 0 {
		t.Fatalf("plot latent again: status %d, stderr:\n%s", code, stderr)
	}
	if readText(t, "map.png") != readText(t, "again.png") {
		t.Error("plot latent drew different maps of the same corpus and model")
	}

	// Metadata with a header row, matched by text (one poem has no row),
	// gives authors; its source column gives dynasties, and the corpus file
	// name that of the poem without a row.
	var meta strings.Builder
	meta.WriteString("split\tauthor\ttitle\tsource\tid\ttext\ttext_simplified\n")
	for i, text := range texts[:len(texts)-1] {
		fmt.Fprintf(&meta, "train\t诗人%d\t题%d\t全唐诗/poet.%s.0.json\t%d\t%s\t%s\n",
			i%10, i, []string{"tang", "song"}[i%2], i, text, text)
	}
	writeFile(t, "meta.tsv", meta.String())
	for by, wants := range map[string][]string{"author": {"诗人0 (4)", "other ("}, "dynasty": {"唐 (21)", "宋 (19)"}} {
		code, _, stderr := poetvae(t, "plot", "latent", "--model", model, "--meta", "meta.tsv", "--color-by", by,
			"-o", by+".svg", "tang_sample.txt")
		if code != 0 {
			t.Fatalf("plot latent --color-by %s: status %d, stderr:\n%s", by, code, stderr)
		}
		if !strings.Contains(stderr, "1 of 40 poems have no row in meta.tsv") {
			t.Errorf("plot latent --color-by %s: stderr %q does not report the poem without metadata", by, stderr)
		}
		svg := svgText(t, by+".svg")
		for _, want := range wants {
			if !strings.Contains(svg, want) {
				t.Errorf("%s.svg does not contain %q", by, want)
			}
		}
	}

	// Without a header row, metadata is read as corpus import --meta writes
	// it; and the file name tells the dynasty.
	var imported strings.Builder
	for i, text := range texts {
		fmt.Fprintf(&imported, "作者%d\t题\tpoet.tang.0.json\t%s\n", i%3, text)
	}
	writeFile(t, "imported.tsv", imported.String())
	for _, extra := range [][]string{{"--meta", "imported.tsv", "--color-by", "author"}, {"--color-by", "dynasty"}} {
		args := slices.Concat([]string{"plot", "latent", "--model", model, "-o", "m.svg"}, extra, []string{"tang_sample.txt"})
		code, _, stderr := poetvae(t, args...)
		if code != 0 {
			t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
		}
		want := "作者0"
		if extra[1] == "dynasty" {
			want = "唐 (40)"
		}
		if svg := svgText(t, "m.svg"); !strings.Contains(svg, want) {
			t.Errorf("poetvae %s: the map does not contain %q", strings.Join(args, " "), want)
		}
	}
}

// latinFontFile is a font without Chinese characters.
const latinFontFile = "Go-Regular.ttf"

func TestPlotLatentErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"author without meta", []string{"--color-by", "author", "c.txt"}, 2, []string{"--color-by author", "--meta"}},
		{"unknown colouring", []string{"--color-by", "tone", "c.txt"}, 2, []string{`"tone"`, "rhyme, author or dynasty"}},
		{"one path end", []string{"--path", jingYeSi, "c.txt"}, 2, []string{"--path", "twice"}},
		{"three path ends", []string{"--path", jingYeSi, "--path", dengGuanQ, "--path", chunXiao, "c.txt"}, 2, []string{"--path"}},
		{"bad extension", []string{"-o", "map.pdf", "c.txt"}, 2, []string{"map.pdf", ".png or .svg"}},
		{"no corpus", nil, 2, []string{"corpus files"}},
		{"negative max", []string{"--max", "-1", "c.txt"}, 2, []string{"--max"}},
		{"missing font", []string{"--font", "missing.ttf", "c.txt"}, 1, []string{"font", "missing.ttf", "no such file"}},
		{"not a font", []string{"--font", "c.txt", "c.txt"}, 1, []string{"font c.txt", "not a TrueType"}},
		{"font collection", []string{"--font", "fonts.ttc", "c.txt"}, 1, []string{"fonts.ttc", "collection"}},
		{"font without Chinese", []string{"--font", latinFontFile, "c.txt"}, 1, []string{latinFontFile, "no Chinese characters"}},
		{"missing font from the environment", []string{"c.txt"}, 1, []string{"missing-env.ttf"}},
		{"dynasty without any", []string{"--color-by", "dynasty", "c.txt"}, 2, []string{"dynasty", "tang or song"}},
		{"metadata without header", []string{"--meta", "bad.tsv", "--color-by", "author", "c.txt"}, 1, []string{"bad.tsv", "header row"}},
		{"metadata without author", []string{"--meta", "noauthor.tsv", "--color-by", "author", "c.txt"}, 1, []string{"noauthor.tsv", "author column"}},
		{"metadata rows for other poems", []string{"--meta", "rows.tsv", "--color-by", "author", "c.txt"}, 1, []string{"rows.tsv", "2 rows for 3 poems"}},
		{"missing corpus", []string{"missing.txt"}, 1, []string{"missing.txt"}},
		{"no model", []string{"--model", "missing.ckpt", "c.txt"}, 1, []string{"no model at missing.ckpt"}},
	}
	needModel := map[string]bool{"dynasty without any": true, "metadata without header": true,
		"metadata without author": true, "metadata rows for other poems": true, "missing corpus": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if needModel[tt.name] || tt.name == "no model" {
				skipWithoutCJKFont(t)
			}
			var model string
			if needModel[tt.name] {
				model = sharedModel(t)
			}
			inTempDir(t)
			t.Setenv(fontEnv, "")
			if tt.name == "missing font from the environment" {
				t.Setenv(fontEnv, "missing-env.ttf")
			}
			writeFile(t, "c.txt", strings.Join([]string{jingYeSi, dengGuanQ, chunXiao}, "\n")+"\n")
			writeFile(t, "fonts.ttc", "ttcf\x00\x02\x00\x00")
			writeFile(t, latinFontFile, string(goregular.TTF))
			writeFile(t, "bad.tsv", "a\tb\n")
			writeFile(t, "noauthor.tsv", "title\ttext\n静夜思\t"+jingYeSi+"\n")
			writeFile(t, "rows.tsv", "title\tauthor\n静夜思\t李白\n登鹳雀楼\t王之涣\n")
			args := []string{"plot", "latent", "-o", "map.png"}
			if model != "" {
				args = append(args, "--model", model)
			}
			args = append(args, tt.args...)
			code, stdout, stderr := poetvae(t, args...)
			if l := lines(stderr); len(l) != 1 {
				t.Errorf("poetvae %s: stderr has %d lines, want 1:\n%s", strings.Join(args, " "), len(l), stderr)
			}
			failed(t, args, code, stdout, stderr, tt.code, tt.want...)
			if _, err := os.Stat("map.png"); err == nil {
				t.Errorf("poetvae %s failed but wrote map.png", strings.Join(args, " "))
			}
		})
	}
}

func TestPlotLatentNoCJKFont(t *testing.T) {
	inTempDir(t)
	t.Setenv(fontEnv, "")
	defer func(paths []string) { cjkFontPaths = paths }(cjkFontPaths)
	cjkFontPaths = []string{"missing.ttf"}
	writeFile(t, "c.txt", jingYeSi+"\n")
	code, _, stderr := poetvae(t, "plot", "latent", "c.txt")
	if code != 1 || !strings.Contains(stderr, "no CJK font found: install fonts-droid-fallback (make deps) or pass --font FILE") {
		t.Errorf("plot latent without a CJK font: status %d, stderr %q; want 1 and how to install one", code, stderr)
	}
}

func TestMovingAverage(t *testing.T) {
	for _, tt := range []struct {
		ys   []float64
		w    int
		want []float64
	}{
		{[]float64{1, 2, 3}, 1, []float64{1, 2, 3}},
		{[]float64{1, 2, 3, 4, 5}, 3, []float64{1.5, 2, 3, 4, 4.5}},
		{[]float64{2, 4, 6, 8}, 2, []float64{3, 5, 7, 8}},
		{[]float64{1, 2}, 10, []float64{1.5, 1.5}},
		{nil, 3, []float64{}},
	} {
		if got := movingAverage(tt.ys, tt.w); !slices.Equal(got, tt.want) {
			t.Errorf("movingAverage(%v, %d) = %v, want %v", tt.ys, tt.w, got, tt.want)
		}
	}
}
