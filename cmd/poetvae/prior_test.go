package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// writeSample writes the built-in sample corpus to a file and returns its name.
func writeSample(t *testing.T, name string) string {
	t.Helper()
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range poems {
		b.WriteString(p.String() + "\n")
	}
	writeFile(t, name, b.String())
	return name
}

// priorSetup makes a temporary working directory holding a copy of the
// shared model, for prior to write into, and the sample corpus.
func priorSetup(t *testing.T) (modelFile, corpusFile string) {
	t.Helper()
	dir := inTempDir(t)
	data, err := os.ReadFile(sharedModel(t))
	if err != nil {
		t.Fatal(err)
	}
	modelFile = filepath.Join(dir, "m.ckpt")
	writeFile(t, modelFile, string(data))
	return modelFile, writeSample(t, "sample.txt")
}

// TestPrior fits a sampling mixture to a copy of the shared model, checks
// that the file then holds it and generate draws from it, and removes it.
func TestPrior(t *testing.T) {
	path, corpusFile := priorSetup(t)

	// With validation poems it says how their codes score, and keeps the
	// mixture only if it beats the prior (this barely trained model's
	// codes are close to N(0, I): it may not).
	code, _, stderr := poetvae(t, "prior", "--model", path, "--components", "3", "--valid", corpusFile, corpusFile)
	if code != 0 {
		t.Fatalf("prior --valid: status %d: %s", code, stderr)
	}
	mentions(t, []string{"prior", "--valid"}, stderr, "under a mixture of 3 Gaussians", "under N(0, I)")
	code, stdout, stderr := poetvae(t, "prior", "--model", path, "--components", "3", corpusFile)
	if code != 0 {
		t.Fatalf("prior: status %d: %s", code, stderr)
	}
	mentions(t, []string{"prior"}, stdout, "mixture of 3 Gaussians")
	ck, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Model.Sampler == nil || len(ck.Model.Sampler.Weights) != 3 {
		t.Fatalf("the model holds sampler %+v, want 3 components", ck.Model.Sampler)
	}
	// generate's codes come from the mixture: --json shows them.
	code, stdout, _ = poetvae(t, "generate", "--model", path, "--count", "2", "--seed", "4", "--json")
	if code != 0 || !strings.Contains(stdout, `"z"`) {
		t.Fatalf("generate with a sampler: status %d, %s", code, stdout)
	}

	code, stdout, stderr = poetvae(t, "prior", "--model", path, "--none")
	if code != 0 || !strings.Contains(stdout, "N(0, I)") {
		t.Fatalf("prior --none: status %d: %s%s", code, stdout, stderr)
	}
	if ck, err = model.Load(path); err != nil || ck.Model.Sampler != nil {
		t.Fatalf("after --none the model still holds a sampler (%v)", err)
	}
}

func TestPriorErrors(t *testing.T) {
	inTempDir(t)
	m := sharedModel(t)
	corpusFile := writeSample(t, "sample.txt")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"prior", "--model", m}, 2, "corpus files"},
		{[]string{"prior", "--model", m, "--none", corpusFile}, 2, "no corpus"},
		{[]string{"prior", "--model", m, "--components", "0", corpusFile}, 2, "--components"},
		{[]string{"prior", "--model", "missing.ckpt", corpusFile}, 1, "missing.ckpt"},
	} {
		code, stdout, stderr := poetvae(t, tc.args...)
		failed(t, tc.args, code, stdout, stderr, tc.code, tc.want)
	}
}

// A run on a corpus too small for the mixture's components fits fewer,
// and one whose mixture explains held-out codes worse than the prior
// keeps the prior: either way train says which it did.
func TestTrainFitsOrDeclinesASampler(t *testing.T) {
	inTempDir(t)
	args := slices.Concat(slices.DeleteFunc(slices.Clone(tinyTrain), func(a string) bool { return a == "--quiet" }), []string{"--out", "m.ckpt"})
	code, _, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("train: status %d: %s", code, stderr)
	}
	ck, err := model.Load("m.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case ck.Model.Sampler == nil:
		mentions(t, args, stderr, "generate samples from N(0, I)")
	default:
		mentions(t, args, stderr, "Gaussians fitted to the training poems' codes")
	}
}

// TestGenerateRhymesByDefault: generate's poems rhyme and keep the loose
// tonal rules unless told otherwise; --rhyme none --tones off gives the
// model's own choices, which differ.
func TestGenerateRhymesByDefault(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	code, stdout, stderr := poetvae(t, "generate", "--model", m, "--count", "8", "--seed", "3")
	if code != 0 {
		t.Fatalf("generate: status %d: %s", code, stderr)
	}
	pros := poetry.NewProsody() // the tiny model has no rhyme classes
	for _, l := range lines(stdout) {
		p, err := poetry.Parse(l)
		if err != nil {
			t.Fatal(err)
		}
		if !pros.Rhymes(p.Line(1)[4], p.Line(3)[4]) {
			t.Errorf("%s: the even lines do not rhyme", p)
		}
	}
	_, free, _ := poetvae(t, "generate", "--model", m, "--count", "8", "--seed", "3", "--rhyme", "none", "--tones", "off")
	if free == stdout {
		t.Error("--rhyme none --tones off wrote the same poems as the defaults")
	}
}

// A corpus too small to learn rhyme classes from leaves the model rhyming
// by Mandarin finals, and prior --rhymes says so.
func TestPriorRhymesFromTooFewPoems(t *testing.T) {
	path, corpusFile := priorSetup(t)
	code, _, stderr := poetvae(t, "prior", "--rhymes", "--model", path, "--components", "2", corpusFile)
	if code != 0 {
		t.Fatalf("prior --rhymes: status %d: %s", code, stderr)
	}
	mentions(t, []string{"prior", "--rhymes"}, stderr, "too few to learn them from", "Mandarin finals")
}
