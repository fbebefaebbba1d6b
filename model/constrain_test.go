package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"poetvae/corpus"
	"poetvae/poetry"
)

// constraintModel is an untrained model with the vocabulary of the sample
// corpus (some 900 characters): the constraints, not the model, decide
// what these tests check.
func constraintModel(t testing.TB) *Model {
	t.Helper()
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	return evalModel(t, poems, false)
}

// template reads a template or fails the test.
func template(t testing.TB, s string) []rune {
	t.Helper()
	tm, err := poetry.ParseTemplate(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// referenceDecode is Decode as it was before constraints (the same
// sampler, no plan): the poems it writes for a seed are the ones Decode
// must still write without them.
func referenceDecode(m *Model, z [][]float64, opt DecodeOptions, rng *rand.Rand) []string {
	B, V := len(z), m.Config.Vocab
	var flat []float64
	for _, row := range z {
		flat = append(flat, row...)
	}
	d := m.Forward().NewDecoder(flat, B)
	prev := make([]int, B)
	for b := range prev {
		prev[b] = corpus.BOS
	}
	chars := make([][]rune, B)
	probs := make([]float64, V)
	for s := 0; s < 5*opt.Lines; s++ {
		logits := d.Step(prev)
		for b := 0; b < B; b++ {
			row := logits[b*V : (b+1)*V]
			for id := 0; id < corpus.NumSpecial; id++ {
				row[id] = math.Inf(-1)
			}
			var id int
			if opt.Greedy {
				id = argmax(row)
			} else {
				id = sample(row, probs, make([]float64, 0, V), opt.Temperature, opt.TopK, rng)
			}
			prev[b] = id
			chars[b] = append(chars[b], m.Vocab.Rune(id))
		}
	}
	out := make([]string, B)
	for b, cs := range chars {
		p, _ := poetry.New(cs)
		out[b] = p.String()
	}
	return out
}

// logProb returns log p(chars | z) by teacher forcing, over characters
// only, as DecodeResult.LogProb defines it.
func logProb(m *Model, z []float64, chars []rune) float64 {
	d := m.Forward().NewDecoder(z, 1)
	prev, lp := corpus.BOS, 0.0
	for _, r := range chars {
		row := d.Step([]int{prev})[corpus.NumSpecial:]
		id := m.Vocab.ID(r)
		lp += row[id-corpus.NumSpecial] - logSumExp(row)
		prev = id
	}
	return lp
}

// TestDecodeUnconstrainedUnchanged: without constraints, Decode and
// DecodeResults write, for a seed, the poems Decode wrote before there
// were constraints.
func TestDecodeUnconstrainedUnchanged(t *testing.T) {
	m := constraintModel(t)
	for _, opt := range []DecodeOptions{
		{Lines: 4, Greedy: true},
		{Lines: 4, Temperature: 0.8},
		{Lines: 4, Temperature: 1.5, TopK: 10},
		{Lines: 2, Temperature: 1},
		{Lines: 4, Temperature: 1, Tones: TonesOff, Prosody: poetry.NewProsody()},
	} {
		z := m.SamplePrior(20, rand.New(rand.NewPCG(3, 3)))
		want := referenceDecode(m, z, opt, rand.New(rand.NewPCG(9, 9)))
		got, err := m.Decode(z, opt, rand.New(rand.NewPCG(9, 9)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.DecodeResults(z, opt, rand.New(rand.NewPCG(9, 9)))
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i].String() != want[i] || res[i].Poem.String() != want[i] {
				t.Errorf("%+v: poem %d = %s (Decode), %s (DecodeResults); before constraints %s", opt, i, got[i], res[i].Poem, want[i])
			}
			if res[i].Notes != nil || res[i].Pattern != "" || res[i].Rhyme != nil {
				t.Errorf("%+v: poem %d has notes %v, pattern %q, rhyme %v without constraints", opt, i, res[i].Notes, res[i].Pattern, res[i].Rhyme)
			}
			if lp := logProb(m, z[i], res[i].Poem.Chars()); !close(res[i].LogProb, lp, 1e-9) {
				t.Errorf("%+v: poem %d has LogProb %g, teacher forcing gives %g", opt, i, res[i].LogProb, lp)
			}
		}
	}
}

// kept checks that a decoded poem keeps every constraint of opt, except
// where a note says it was relaxed, and never the fixed characters or the
// form. It returns the problems found.
func kept(opt DecodeOptions, res DecodeResult) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	pros := opt.Prosody
	noted := map[string]bool{}
	for _, n := range res.Notes {
		noted[fmt.Sprintf("%d %d %s", n.Line, n.Pos, n.Constraint)] = true
	}
	excused := func(pos int, constraint string) bool {
		return noted[fmt.Sprintf("%d %d %s", pos/5+1, pos%5+1, constraint)]
	}

	if p, err := poetry.Parse(res.Poem.String()); err != nil || p.NumLines() != opt.Lines {
		bad("malformed: %v", err)
		return problems
	}
	chars := res.Poem.Chars()
	fixed := slices.Clone(opt.Template)
	if fixed == nil {
		fixed = make([]rune, len(chars))
	}
	for pos, r := range opt.Fixed {
		fixed[pos] = r
	}
	for pos, r := range fixed {
		if r != 0 && chars[pos] != r {
			bad("position %d is %c, fixed to %c", pos, chars[pos], r)
		}
	}
	if opt.NoRepeat {
		for pos, r := range chars {
			if slices.Contains(chars[:pos], r) && !excused(pos, ConstraintNoRepeat) {
				bad("%c repeated at line %d, position %d", r, pos/5+1, pos%5+1)
			}
		}
	}
	if opt.Rhyme || opt.RhymeGroup != "" || opt.RhymeChar != 0 || opt.RhymeFirstLine {
		if len(res.Rhyme) == 0 {
			bad("no rhyme group reported")
			return problems
		}
		relaxed := false
		for i := range opt.Lines {
			pos := i*5 + 4
			if i%2 == 0 && !(i == 0 && opt.RhymeFirstLine) {
				continue
			}
			if excused(pos, ConstraintRhyme) {
				relaxed = true
				continue
			}
			if !slices.Contains(pros.RhymeGroups(chars[pos]), res.Rhyme[0]) {
				bad("line %d ends in %c, not in the rhyme group %s", i+1, chars[pos], res.Rhyme[0])
			}
		}
		if !relaxed && !pros.RhymeOK(res.Poem) {
			bad("RhymeOK is false")
		}
		if opt.RhymeGroup != "" && (len(res.Rhyme) != 1 || !strings.HasSuffix(res.Rhyme[0], opt.RhymeGroup)) {
			bad("rhyme %v, asked for %s", res.Rhyme, opt.RhymeGroup)
		}
		if opt.RhymeChar != 0 && !slices.Contains(pros.RhymeGroups(opt.RhymeChar), res.Rhyme[0]) {
			bad("rhyme %v, not a group of %c", res.Rhyme, opt.RhymeChar)
		}
	}
	if opt.Tones == TonesStrict || opt.Tones == TonesLoose {
		want, positions := patternByName(res.Pattern)
		if opt.Tones == TonesLoose {
			positions = []int{1, 3}
		}
		if want == nil {
			bad("unknown pattern %q", res.Pattern)
			return problems
		}
		for i := range opt.Lines {
			for _, j := range positions {
				pos := i*5 + j
				tone := pros.Tone(chars[pos])
				if (tone == poetry.Ping || tone == poetry.Ze) && tone != want.Lines[i][j] && !excused(pos, ConstraintTones) {
					bad("%c at line %d, position %d is %v; the pattern %s wants %v", chars[pos], i+1, j+1, tone, res.Pattern, want.Lines[i][j])
				}
			}
		}
	}
	return problems
}

// patternByName returns the standard pattern of a name, with the positions
// TonesStrict holds to it; 平起 and 仄起 are the loose patterns.
func patternByName(name string) (*poetry.TonePattern, []int) {
	for _, tp := range poetry.TonePatterns() {
		if tp.Name == name || (name == "仄起" && tp.Name == "仄起首句不入韵") || (name == "平起" && tp.Name == "平起首句不入韵") {
			return &tp, []int{1, 3, 4}
		}
	}
	return nil, nil
}

// yangTable is a rhyme table of one group of the 平水韵, 下平聲七陽, and
// one other, for characters of the sample corpus.
const yangTable = "char\ttone\tgroup\n" +
	"光\t平\t下平聲七陽\n霜\t平\t下平聲七陽\n鄉\t平\t下平聲七陽\n長\t平\t下平聲七陽\n" +
	"香\t平\t下平聲七陽\n陽\t平\t下平聲七陽\n涼\t平\t下平聲七陽\n堂\t平\t下平聲七陽\n" +
	"月\t仄\t入聲六月\n雪\t仄\t入聲九屑\n"

// TestDecodeConstraints writes 1,000 poems under each set of constraints
// and checks that every poem keeps them. The constraints can all be kept
// in this vocabulary, so relaxations must be rare.
func TestDecodeConstraints(t *testing.T) {
	m := constraintModel(t)
	pros := poetry.NewProsody()
	acrostic := make([]rune, 20)
	for i, r := range []rune("春江花月") {
		acrostic[i*5] = r
	}
	table, err := poetry.ReadRhymeTable(strings.NewReader(yangTable), "yang.tsv")
	if err != nil {
		t.Fatal(err)
	}
	withTable := poetry.NewProsody().WithRhymeTable(table)
	tests := []struct {
		name string
		opt  DecodeOptions
	}{
		{"acrostic", DecodeOptions{Template: acrostic}},
		{"acrostic no repeat", DecodeOptions{Template: acrostic, NoRepeat: true}},
		{"first line", DecodeOptions{Template: template(t, "床前明月光，□□□□□。□□□□□，□□□□□。")}},
		{"template", DecodeOptions{Template: template(t, "春□□□□，□□□□□。秋□□□□，□□□□□。"), NoRepeat: true}},
		{"fixed", DecodeOptions{Fixed: map[int]rune{9: '光', 12: '山'}}},
		{"rhyme chosen", DecodeOptions{Rhyme: true, NoRepeat: true}},
		{"rhyme group", DecodeOptions{RhymeGroup: "ang"}},
		{"rhyme char and first line", DecodeOptions{RhymeChar: '光', RhymeFirstLine: true, NoRepeat: true}},
		{"strict", DecodeOptions{Tones: TonesStrict, NoRepeat: true}},
		{"loose", DecodeOptions{Tones: TonesLoose}},
		{"strict rhyme first line", DecodeOptions{Tones: TonesStrict, RhymeFirstLine: true}},
		{"all", DecodeOptions{Template: acrostic, Rhyme: true, Tones: TonesStrict, NoRepeat: true}},
		{"all greedy", DecodeOptions{Template: acrostic, Rhyme: true, Tones: TonesStrict, NoRepeat: true, Greedy: true}},
		{"all top-k", DecodeOptions{Template: acrostic, RhymeChar: '光', Tones: TonesLoose, NoRepeat: true, TopK: 5}},
		{"all beam", DecodeOptions{Template: acrostic, Rhyme: true, Tones: TonesStrict, NoRepeat: true, Beam: 3}},
		{"couplet", DecodeOptions{Lines: 2, Rhyme: true, Tones: TonesStrict, NoRepeat: true}},
		{"rhyme table", DecodeOptions{RhymeGroup: "七陽", Tones: TonesStrict, NoRepeat: true, Prosody: withTable}},
		{"rhyme table chosen", DecodeOptions{Rhyme: true, RhymeFirstLine: true, NoRepeat: true, Prosody: withTable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := tt.opt
			if opt.Lines == 0 {
				opt.Lines = 4
			}
			opt.Temperature = 1
			if opt.Prosody == nil {
				opt.Prosody = pros
			}
			rng := rand.New(rand.NewPCG(1, 1))
			n := 1000
			if testing.Short() {
				n = 100
			}
			if opt.Beam > 1 {
				n /= 5 // each poem costs a beam's worth of rows
			}
			res, err := m.DecodeResults(m.SamplePrior(n, rng), opt, rng)
			if err != nil {
				t.Fatal(err)
			}
			notes, distinct := 0, map[string]bool{}
			for i, r := range res {
				notes += len(r.Notes)
				distinct[r.Poem.String()] = true
				if problems := kept(opt, r); len(problems) > 0 {
					t.Fatalf("poem %d %s (notes %v): %s", i, r.Poem, r.Notes, strings.Join(problems, "; "))
				}
			}
			t.Logf("%d poems, %d distinct, %d notes", len(res), len(distinct), notes)
			if notes > len(res)/100 {
				t.Errorf("%d notes in %d poems: constraints that can be kept were relaxed; first: %v", notes, len(res), firstNotes(res))
			}
		})
	}
}

func firstNotes(res []DecodeResult) []Note {
	for _, r := range res {
		if len(r.Notes) > 0 {
			return r.Notes
		}
	}
	return nil
}

// TestDecodeImpossible asks for constraints that cannot all be kept: the
// decoder must keep the fixed characters and the form, keep the rest
// wherever it can, and say where it could not.
func TestDecodeImpossible(t *testing.T) {
	m := constraintModel(t)
	pros := poetry.NewProsody()
	tests := []struct {
		name string
		opt  DecodeOptions
		// want lists the notes every poem has, as "line pos constraint".
		want []string
	}{
		{"template repeats a character", DecodeOptions{
			Template: template(t, "明月□□□，□□□□□。□明月□□，□□□□□。"), NoRepeat: true},
			[]string{"3 2 no-repeat", "3 3 no-repeat"}},
		{"fixed line ends that do not rhyme", DecodeOptions{
			Template: template(t, "□□□□□，□□□□光。□□□□□，□□□□月。"), Rhyme: true, NoRepeat: true},
			[]string{"4 5 rhyme"}},
		{"fixed characters break every pattern", DecodeOptions{
			Template: template(t, "□山□花□，□□□□□。□□□□□，□□□□□。"), Tones: TonesStrict},
			[]string{"1 4 tones"}},
		// The group er has two characters here; three rhyming lines need a
		// repeat, the weakest constraint, rather than a line that does not
		// rhyme.
		{"group too small", DecodeOptions{RhymeGroup: "er", RhymeFirstLine: true, NoRepeat: true},
			[]string{"4 5 no-repeat"}},
		{"everything at once", DecodeOptions{
			Template: template(t, "明月□□□，明□□□光。□□□□□，□□□□月。"), Rhyme: true, Tones: TonesStrict, NoRepeat: true, Beam: 2},
			[]string{"2 1 no-repeat", "4 5 rhyme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := tt.opt
			opt.Lines, opt.Temperature, opt.Prosody = 4, 1, pros
			rng := rand.New(rand.NewPCG(2, 2))
			res, err := m.DecodeResults(m.SamplePrior(200, rng), opt, rng)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if problems := kept(opt, r); len(problems) > 0 {
					t.Fatalf("poem %d %s (notes %v): %s", i, r.Poem, r.Notes, strings.Join(problems, "; "))
				}
				var got []string
				for _, n := range r.Notes {
					got = append(got, fmt.Sprintf("%d %d %s", n.Line, n.Pos, n.Constraint))
					if n.Detail == "" || !strings.Contains(n.String(), "relaxed") {
						t.Errorf("note %+v explains nothing", n)
					}
				}
				for _, w := range tt.want {
					if !slices.Contains(got, w) {
						t.Fatalf("poem %d %s: notes %v lack %q", i, r.Poem, r.Notes, w)
					}
				}
			}
		})
	}
}

// TestRelaxation checks the order in which constraints give way: the
// weakest set that lets a character through, no-repeat before tones
// before rhyme.
func TestRelaxation(t *testing.T) {
	set := func(vs ...uint8) uint8 {
		var s uint8
		for _, v := range vs {
			s |= 1 << v
		}
		return s
	}
	tests := []struct {
		present, want uint8
	}{
		{set(0, breaksTones), 0},
		{set(breaksRepeat, breaksTones), breaksRepeat},
		{set(breaksTones, breaksRhyme), breaksTones},
		{set(breaksTones|breaksRepeat, breaksRhyme), breaksTones | breaksRepeat},
		{set(breaksRhyme, breaksRhyme|breaksRepeat), breaksRhyme},
		{set(breaksRhyme|breaksRepeat, breaksRhyme|breaksTones), breaksRhyme | breaksRepeat},
		{set(breaksRhyme | breaksTones | breaksRepeat), breaksRhyme | breaksTones | breaksRepeat},
	}
	for _, tt := range tests {
		if got := relaxation(tt.present); got != tt.want {
			t.Errorf("relaxation(%08b) = %03b, want %03b", tt.present, got, tt.want)
		}
	}
}

// TestBeamSearchExact compares beam search with the best poem found by
// enumerating every poem a template with two blanks allows: with as many
// beams as characters, beam search is exhaustive there.
func TestBeamSearchExact(t *testing.T) {
	poems, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	m := evalModel(t, poems[:2], false) // some 40 characters
	setParamValues(m, rand.New(rand.NewPCG(4, 4)).NormFloat64, "out.W")
	pros := poetry.NewProsody()
	first := poems[0].Chars()[:10]
	blanks := []int{2, 9} // line 1, position 3; line 2, position 5 (a rhyme)
	tm := slices.Clone(first)
	for _, pos := range blanks {
		tm[pos] = 0
	}
	V := m.Config.Vocab
	for _, opt := range []DecodeOptions{
		{Lines: 2, Template: tm},
		{Lines: 2, Template: tm, NoRepeat: true, Rhyme: true, Prosody: pros},
		{Lines: 2, Template: tm, NoRepeat: true, RhymeChar: first[9], Prosody: pros},
	} {
		allowed := func(chars []rune) bool {
			for _, pos := range blanks { // the template itself may repeat
				if opt.NoRepeat && slices.Contains(slices.Delete(slices.Clone(chars), pos, pos+1), chars[pos]) {
					return false
				}
			}
			end := pros.RhymeGroups(chars[9])
			switch {
			case opt.RhymeChar != 0:
				return slices.ContainsFunc(end, func(g string) bool { return slices.Contains(pros.RhymeGroups(opt.RhymeChar), g) })
			case opt.Rhyme:
				return len(end) > 0
			}
			return true
		}
		for seed := range uint64(3) {
			z := m.SamplePrior(1, rand.New(rand.NewPCG(seed, 7)))
			var best []rune
			bestLP := math.Inf(-1)
			chars := slices.Clone(tm)
			for a := corpus.NumSpecial; a < V; a++ {
				for b := corpus.NumSpecial; b < V; b++ {
					chars[blanks[0]], chars[blanks[1]] = m.Vocab.Rune(a), m.Vocab.Rune(b)
					if !allowed(chars) {
						continue
					}
					if lp := logProb(m, z[0], chars); lp > bestLP {
						best, bestLP = slices.Clone(chars), lp
					}
				}
			}
			opt.Beam = V
			res, err := m.DecodeResults(z, opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := res[0]; string(got.Poem.Chars()) != string(best) || !close(got.LogProb, bestLP, 1e-9) {
				t.Errorf("NoRepeat %v, rhyme %v %q, seed %d: beam search wrote %s (log p %.6f), the best is %s (log p %.6f)",
					opt.NoRepeat, opt.Rhyme, opt.RhymeChar, seed, got.Poem, got.LogProb, string(best), bestLP)
			}
			// Greedy decoding, which is beam search with one beam, and a
			// narrow beam find no better poem.
			for _, narrow := range []DecodeOptions{{Greedy: true}, {Beam: 1, Greedy: true}, {Beam: 2}} {
				narrow.Lines, narrow.Template, narrow.Prosody = 2, tm, pros
				narrow.NoRepeat, narrow.Rhyme, narrow.RhymeChar = opt.NoRepeat, opt.Rhyme, opt.RhymeChar
				got, err := m.DecodeResults(z, narrow, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !allowed(got[0].Poem.Chars()) || got[0].LogProb > bestLP+1e-9 {
					t.Errorf("beam %d: %s (log p %.6f) beats the best allowed poem (log p %.6f)", narrow.Beam, got[0].Poem, got[0].LogProb, bestLP)
				}
			}
		}
	}
}

func TestDecodeOptionErrors(t *testing.T) {
	m := constraintModel(t)
	z := m.SamplePrior(1, rand.New(rand.NewPCG(1, 1)))
	tests := []struct {
		opt  DecodeOptions
		want string
	}{
		{DecodeOptions{Template: make([]rune, 10)}, "template has 10 positions; a 4-line poem has 20"},
		{DecodeOptions{Template: template(t, "龘□□□□，□□□□□。□□□□□，□□□□鼎。")}, "fixed characters '龘' (line 1, position 1), '鼎' (line 4, position 5) are not in the model's vocabulary"},
		{DecodeOptions{Fixed: map[int]rune{3: '龘'}}, "fixed character '龘' (line 1, position 4) is not in the model's vocabulary"},
		{DecodeOptions{Fixed: map[int]rune{20: '春'}}, "outside a 4-line poem"},
		{DecodeOptions{Template: template(t, "春□□□□，□□□□□。□□□□□，□□□□□。"), Fixed: map[int]rune{0: '秋'}}, "fixed twice"},
		{DecodeOptions{Tones: "tight"}, `unknown tone rule "tight"`},
		{DecodeOptions{RhymeGroup: "xyz"}, `no rhyme group "xyz" among the model's characters; the groups are ou, u,`},
		{DecodeOptions{RhymeGroup: "n"}, `rhyme group "n" is ambiguous`},
		{DecodeOptions{RhymeGroup: "ang", RhymeChar: '月'}, "'月' is not in the rhyme group ang"},
		{DecodeOptions{Beam: -1}, "beam width"},
	}
	for _, tt := range tests {
		opt := tt.opt
		opt.Lines, opt.Temperature = 4, 1
		_, err := m.DecodeResults(z, opt, rand.New(rand.NewPCG(1, 1)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one containing %q", tt.opt, err, tt.want)
		}
	}
	// A single character that names no group stands for its own group.
	res, err := m.DecodeResults(z, DecodeOptions{Lines: 4, Temperature: 1, RhymeGroup: "阳"}, rand.New(rand.NewPCG(1, 1)))
	if err != nil || !slices.Equal(res[0].Rhyme, []string{"ang"}) {
		t.Errorf("RhymeGroup 阳: rhyme %v, %v; want [ang]", res[0].Rhyme, err)
	}
}

func TestSampleAround(t *testing.T) {
	m := constraintModel(t)
	rng := rand.New(rand.NewPCG(1, 1))
	mu, logvar := []float64{1, -2, 0, 3}, []float64{0, math.Log(4), -10, 0}
	if z := m.SampleAround(mu, logvar, 3, 0, rng); !slices.Equal(z[2], mu) {
		t.Errorf("spread 0 gave %v, want mu %v", z[2], mu)
	}
	const n = 4000
	z := m.SampleAround(mu, logvar, n, 0.5, rng)
	for d := range mu {
		var sum, sq float64
		for _, row := range z {
			sum += row[d]
			sq += row[d] * row[d]
		}
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		want := 0.5 * math.Exp(logvar[d]/2)
		if math.Abs(mean-mu[d]) > 4*want/math.Sqrt(n)+1e-12 || math.Abs(sd-want) > 0.1*want+1e-12 {
			t.Errorf("dimension %d: mean %g, sd %g; want %g, %g", d, mean, sd, mu[d], want)
		}
	}
}
