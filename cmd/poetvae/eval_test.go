package main

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"poetvae/corpus"
	"poetvae/poetry"
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
	for _, want := range []string{"NLL (IS, K=4)", "mutual information", "active units", "well formed", "100.0%", "self-BLEU", "copied from the training corpus",
		"reconstruction from the posterior mean (greedy; the even lines in the rhyme group the code predicts)\n  characters ",
		"\n  characters from another poem's code ", "% (a control: the language alone)\n",
		"\n  rhyme group of the even lines ", "\n  rhyme group from another poem's code "} {
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
	if c := rep.Test.ShuffledCharsRecovered; c == nil || *c < 0 || *c > 1 {
		t.Errorf("shuffled-code control %v, want a share", c)
	}
	if r := rep.RhymeRecovered; r == nil || *r < 0 || *r > 1 || rep.RhymePoems != 12 {
		t.Errorf("rhyme recovered %v of %d poems, want a share of all 12", r, rep.RhymePoems)
	}
	for _, key := range []string{`"shuffled_chars_recovered": `, `"recon_rhyme_recovered": `, `"recon_rhyme_poems": 12`} {
		if !strings.Contains(out, key) {
			t.Errorf("eval --json lacks %s", key)
		}
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

	// --fit-steps: codes fitted to the test poems explain them better than
	// their means, and the report says how much they rebuild.
	code, out, errs = poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "1", "--fit-steps", "20", "--json", "test.txt")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errs)
	}
	rep = evalReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval --fit-steps --json: %v\n%s", err, out)
	}
	if f := rep.Fitted; f == nil || f.Steps != 20 || !(f.NLLFitted < f.NLLAtMean) || f.CharsRecovered < 0 || f.CharsRecovered > 1 || f.Example == "" {
		t.Errorf("fitted codes %+v: want 20 steps, a lower −log p(x|z) than at the means, a share and an example", f)
	}
	if code, out, errs = poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "1", "--fit-steps", "2", "test.txt"); code != 0 || !strings.Contains(out, "\n  characters from a code fitted to the poem ") {
		t.Errorf("eval --fit-steps 2: status %d, %s\n%s", code, errs, out)
	}
	if code, _, _ := poetvae(t, "eval", "--model", m, "--fit-steps", "10001", "test.txt"); code != 2 {
		t.Errorf("--fit-steps 10001: status %d, want 2", code)
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
	if !reflect.DeepEqual(s.Test, tr.Test) || !reflect.DeepEqual(s.RhymeRecovered, tr.RhymeRecovered) {
		t.Errorf("the traditional poems scored %+v, their simplified forms %+v", tr.Test, s.Test)
	}
}

// One test poem has no other poem's code to decode from: the control is
// n/a, and null in JSON.
func TestEvalOnePoem(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	writeFile(t, "one.txt", jingYeSi+"\n")
	code, out, errs := poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "2", "one.txt")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errs)
	}
	for _, want := range []string{"characters from another poem's code n/a", "rhyme group of the even lines "} {
		if !strings.Contains(out, want) {
			t.Errorf("eval of one poem lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "2", "--json", "one.txt")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errs)
	}
	if !strings.Contains(out, `"shuffled_chars_recovered": null`) {
		t.Errorf("eval --json of one poem: the control is not null:\n%s", out)
	}
}

// rhymeTable is a rhyme table of a few characters: 光, 霜 and 乡 in 七陽,
// 东 and 中 in 一東, and 看 in both 寒 and 翰, with 汉 in 翰.
const rhymeTable = "char\ttone\tgroup\n" +
	"光\t平\t下平聲七陽\n霜\t平\t下平聲七陽\n乡\t平\t下平聲七陽\n" +
	"东\t平\t上平聲一東\n中\t平\t上平聲一東\n" +
	"看\t平\t上平聲十四寒\n看\t仄\t去聲十五翰\n汉\t仄\t去聲十五翰\n"

// endings returns a poem whose lines end in the characters of ends, one a
// line, after the same four characters.
func endings(t *testing.T, ends string) poetry.Poem {
	t.Helper()
	var chars []rune
	for _, r := range ends {
		chars = append(chars, []rune("春风吹绿")...)
		chars = append(chars, r)
	}
	p, err := poetry.New(chars)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRhymeRecovered(t *testing.T) {
	table, err := poetry.ReadRhymeTable(strings.NewReader(rhymeTable), "rhymes.tsv")
	if err != nil {
		t.Fatal(err)
	}
	pros := poetry.NewTableProsody(table)
	tests := []struct {
		name, poem, recon string
		counted, kept     bool
	}{
		{"the same poem", "月光山霜", "月光山霜", true, true},
		{"other characters of the groups", "月光山霜", "山乡月光", true, true},
		{"only the odd lines differ", "东光中霜", "山光月霜", true, true},
		{"line 4 leaves the group", "月光山霜", "月乡山东", true, false},
		{"line 2 leaves the group", "月光山霜", "月东山霜", true, false},
		{"a rhyme of their own, not the poem's", "月光山霜", "月东山中", true, false},
		{"line 4 ends in an unknown character", "月光山霜", "月光山月", true, false},
		{"a character of two groups", "月看山看", "月看山汉", true, true},
		{"the poem's line 4 unknown", "月光山月", "月光山光", false, false},
		{"the poem's line 2 unknown", "月山山霜", "月山山霜", false, false},
		{"eight lines, line 6 leaves the group", "月光山霜月光山霜", "月光山霜月东山霜", true, false},
		{"eight lines, all kept", "月光山霜月光山霜", "东乡中光山霜月乡", true, true},
	}
	for _, tt := range tests {
		share, counted := rhymeRecovered(pros, []poetry.Poem{endings(t, tt.poem)}, []poetry.Poem{endings(t, tt.recon)})
		want, wantCounted := 0.0, 0
		if tt.counted {
			wantCounted = 1
		}
		if tt.kept {
			want = 1
		}
		if share != want || counted != wantCounted {
			t.Errorf("%s: share %g of %d poems, want %g of %d", tt.name, share, counted, want, wantCounted)
		}
	}

	// Together: the share is of the poems counted.
	var poems, recon []poetry.Poem
	for _, tt := range tests[:10] {
		poems, recon = append(poems, endings(t, tt.poem)), append(recon, endings(t, tt.recon))
	}
	if share, counted := rhymeRecovered(pros, poems, recon); share != 4.0/8 || counted != 8 {
		t.Errorf("ten quatrains: share %g of %d poems, want 4 of 8", share, counted)
	}
	if share, counted := rhymeRecovered(pros, nil, nil); share != 0 || counted != 0 {
		t.Errorf("no poems: share %g of %d", share, counted)
	}

	// Without a table, Mandarin finals decide: 光 guāng and 霜 shuāng
	// rhyme on ang, 东 dōng does not.
	mandarin := poetry.NewProsody()
	if share, counted := rhymeRecovered(mandarin, []poetry.Poem{endings(t, "月光山霜"), endings(t, "月光山霜")},
		[]poetry.Poem{endings(t, "月霜山光"), endings(t, "月霜山东")}); share != 0.5 || counted != 2 {
		t.Errorf("Mandarin finals: share %g of %d poems, want 0.5 of 2", share, counted)
	}
}

// TestEvalBaseline: --baseline reports the language model's NLL of the
// same poems, which an LM evaluated on its own gets too, and the
// difference; a baseline that is not a model is an error naming it.
func TestEvalBaseline(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	writeSampleTest(t, 6)
	if code, _, errs := poetvae(t, slices.Concat(tinyTrain, []string{"--lm", "--out", "lm.ckpt"})...); code != 0 {
		t.Fatalf("training the LM: status %d: %s", code, errs)
	}
	code, out, errs := poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "3", "--baseline", "lm.ckpt", "--json", "test.txt")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errs)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	code, out, errs = poetvae(t, "eval", "--model", "lm.ckpt", "--samples", "0", "--is-k", "3", "--json", "test.txt")
	if code != 0 {
		t.Fatalf("status %d: %s", code, errs)
	}
	var lm evalReport
	if err := json.Unmarshal([]byte(out), &lm); err != nil {
		t.Fatal(err)
	}
	b := rep.Baseline
	if b == nil || !b.LM || math.Abs(b.ISNLL-lm.Test.ISNLL) > 1e-9 {
		t.Fatalf("baseline %+v; the LM's own NLL %v", b, lm.Test.ISNLL)
	}
	if d := rep.Test.ISNLL - b.ISNLL; math.Abs(b.Difference-d) > 1e-9 || d == 0 {
		t.Errorf("difference %v, want %v", b.Difference, d)
	}
	code, out, _ = poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "3", "--baseline", "lm.ckpt", "test.txt")
	if code != 0 || !strings.Contains(out, "baseline NLL") || !strings.Contains(out, "language model lm.ckpt") {
		t.Errorf("the report lacks the baseline row:\n%s", out)
	}
	code, stdout, stderr := poetvae(t, "eval", "--model", m, "--baseline", "test.txt", "test.txt")
	failed(t, []string{"eval", "--baseline", "test.txt"}, code, stdout, stderr, 1, "--baseline", "text")
}

// TestEvalTableOnlyJudges: with --rhyme-table, eval's samples are the
// poems it writes without one, as generate writes them: the table judges
// them and does not constrain them.
func TestEvalTableOnlyJudges(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	writeFile(t, "yang.tsv", "char\ttone\tgroup\n光\t平\t下平聲七陽\n霜\t平\t下平聲七陽\n鄉\t平\t下平聲七陽\n"+
		"長\t平\t下平聲七陽\n香\t平\t下平聲七陽\n陽\t平\t下平聲七陽\n月\t仄\t入聲六月\n")
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "test.txt", poems[0].String()+"\n"+poems[1].String()+"\n")
	samples := func(args ...string) []string {
		t.Helper()
		code, out, errs := poetvae(t, append([]string{"eval", "--model", m, "--samples", "30", "--is-k", "1", "--json"}, append(args, "test.txt")...)...)
		if code != 0 {
			t.Fatalf("status %d: %s", code, errs)
		}
		var rep evalReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		return rep.Samples.Examples
	}
	plain, judged := samples(), samples("--rhyme-table", "yang.tsv")
	if !slices.Equal(plain, judged) {
		t.Errorf("the table changed the poems it judges:\n%v\n%v", plain, judged)
	}
}

// TestEvalISScale: eval --is-scale says it widened the proposal, reports
// it in the JSON, and refuses a scale that is no proposal.
func TestEvalISScale(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	writeSampleTest(t, 6)
	code, out, errs := poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "4", "--is-scale", "1.25", "test.txt")
	if code != 0 || !strings.Contains(out, "widened 1.25×") {
		t.Fatalf("status %d, report does not say the proposal was widened:\n%s%s", code, out, errs)
	}
	code, out, errs = poetvae(t, "eval", "--model", m, "--samples", "0", "--is-k", "4", "--is-scale", "1.25", "--json", "test.txt")
	var rep struct {
		Test struct {
			ProposalScale float64 `json:"proposal_scale"`
		} `json:"test"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Test.ProposalScale != 1.25 {
		t.Errorf("--json: status %d, proposal scale %v:\n%s%s", code, rep.Test.ProposalScale, out, errs)
	}
	for _, bad := range []string{"0", "-1", "NaN", "11"} {
		code, _, errs := poetvae(t, "eval", "--model", m, "--is-scale", bad, "test.txt")
		if code != 2 || !strings.Contains(errs, "--is-scale") {
			t.Errorf("--is-scale %s: status %d, %q", bad, code, errs)
		}
	}
}

// writeSampleTest writes the first n poems of the sample corpus to test.txt.
func writeSampleTest(t *testing.T, n int) {
	t.Helper()
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	var test strings.Builder
	for _, p := range poems[:n] {
		test.WriteString(p.String() + "\n")
	}
	writeFile(t, "test.txt", test.String())
}
