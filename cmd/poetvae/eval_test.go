package main

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"poetvae/corpus"
)

// TestEval runs eval on the tiny model: the table, the JSON report and its
// invariants, and the language-model baseline, which gets likelihood only.
func TestEval(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	var test, train strings.Builder
	for i, p := range poems {
		if i < 12 {
			test.WriteString(p.String() + "\n")
		} else {
			train.WriteString(p.String() + "\n")
		}
	}
	writeFile(t, "test.txt", test.String())
	writeFile(t, "train.txt", train.String())

	code, out, errs := poetvae(t, "eval", "--model", m, "--samples", "40", "--is-k", "4", "--train", "train.txt", "test.txt")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errs)
	}
	for _, want := range []string{"NLL (IS, K=4)", "mutual information", "active units", "well formed", "100.0%", "self-BLEU", "copied from the training corpus"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}

	// The likelihood rows' numbers end in one column, whatever K's digits.
	ends := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		for _, label := range []string{"NLL (IS, K=4)", "−ELBO", "mutual information"} {
			if rest, ok := strings.CutPrefix(line, "  "+label); ok {
				value := strings.Fields(rest)[0]
				ends[label] = utf8.RuneCountInString(line) - utf8.RuneCountInString(rest) +
					strings.Index(rest, value) + len(value)
			}
		}
	}
	if len(ends) != 3 || ends["NLL (IS, K=4)"] != ends["−ELBO"] || ends["−ELBO"] != ends["mutual information"] {
		t.Errorf("the likelihood rows' numbers end in columns %v, want one column:\n%s", ends, out)
	}

	code, out, errs = poetvae(t, "eval", "--model", m, "--samples", "40", "--is-k", "4", "--json", "test.txt")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errs)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, out)
	}
	if rep.Test.Poems != 12 || rep.Samples == nil || rep.Samples.Count != 40 || rep.Samples.Form.WellFormed != 1 {
		t.Errorf("report %+v: want 12 test poems, 40 samples, all well formed", rep)
	}
	if rep.Test.ISNLL <= 0 || rep.Test.ISNLL > rep.Test.ELBO+5 {
		t.Errorf("IS-NLL %g against −ELBO %g: the bound should hold within noise", rep.Test.ISNLL, rep.Test.ELBO)
	}
	_, again, _ := poetvae(t, "eval", "--model", m, "--samples", "40", "--is-k", "4", "--json", "test.txt")
	if again != out {
		t.Error("same seed, different report")
	}

	if code, _, errs := poetvae(t, append(tinyTrain, "--lm", "--out", "lm.ckpt")...); code != 0 {
		t.Fatalf("training the language model: %s", errs)
	}
	code, out, errs = poetvae(t, "eval", "--model", "lm.ckpt", "--samples", "10", "--is-k", "2", "test.txt")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errs)
	}
	if !strings.Contains(out, "language model") || strings.Contains(out, "mutual information") {
		t.Errorf("language-model report should show likelihood only:\n%s", out)
	}
	if code, _, errs := poetvae(t, "interpolate", "--model", "lm.ckpt", poems[0].String(), poems[1].String()); code != 1 || !strings.Contains(errs, "language model") {
		t.Errorf("interpolating with a language model: status %d, %s", code, errs)
	}
	if code, _, _ := poetvae(t, "eval", "--model", m, "--is-k", "0", "test.txt"); code != 2 {
		t.Errorf("--is-k 0: status %d, want 2", code)
	}
}

// Test poems in traditional characters are scored as their simplified
// forms by a model of simplified ones, with the rewritten characters
// counted.
func TestEvalOtherScript(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	writeFile(t, "simplified.txt", jingYeSi+"\n"+dengGuanQ+"\n")
	writeFile(t, "traditional.txt", "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。\n白日依山盡，黃河入海流。欲窮千里目，更上一層樓。\n")

	reports := map[string]evalReport{}
	for _, file := range []string{"simplified.txt", "traditional.txt"} {
		code, out, errs := poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "3", "--json", file)
		if code != 0 {
			t.Fatalf("eval %s: status %d: %s", file, code, errs)
		}
		var rep evalReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("eval --json %s: %v\n%s", file, err, out)
		}
		reports[file] = rep
		if file == "traditional.txt" {
			mentions(t, []string{"eval", file}, errs, "note: 9 characters of the test poems", "舉→举, 頭→头, 鄉→乡, 盡→尽, 黃→黄")
		}
	}
	s, tr := reports["simplified.txt"], reports["traditional.txt"]
	if s.Rewritten != 0 || tr.Rewritten != 9 || s.Unknown != 0 || tr.Unknown != 0 {
		t.Errorf("characters read in the model's script %d and %d, unknown %d and %d; want 0 and 9, none unknown",
			s.Rewritten, tr.Rewritten, s.Unknown, tr.Unknown)
	}
	if s.Test != tr.Test {
		t.Errorf("the traditional poems scored %+v, their simplified forms %+v", tr.Test, s.Test)
	}
}
