package poetry

import (
	"math"
	"testing"
)

// Fixture poems. The couplets share their first line with 静夜思, so that
// matches can be counted by hand.
const (
	coupletFrost = "床前明月光，疑是地上霜。" // 静夜思, first couplet
	coupletMoon  = "床前明月光，举头望明月。" // first and third lines of 静夜思
	coupletRev   = "光月明前床，霜上地是疑。" // coupletFrost with each line reversed
	coupletRepet = "明月明月明，明月明月明。"
	coupletMixed = "国破山河在，明月来相照。"
	coupletOther = "红豆生南国，春来发几枝。"
	quatrainRed  = "红豆生南国，春来发几枝。愿君多采撷，此物最相思。"
)

func metricPoems(t *testing.T, texts ...string) []Poem {
	t.Helper()
	poems := make([]Poem, len(texts))
	for i, s := range texts {
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("fixture %q: %v", s, err)
		}
		poems[i] = p
	}
	return poems
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

func TestBLEU(t *testing.T) {
	tests := []struct {
		name string
		cand string
		refs []string
		maxN int
		want float64
	}{
		{"itself", jingYeSi, []string{jingYeSi}, 4, 1},
		{"itself, order 5", chunWang, []string{chunWang}, 5, 1},
		// p1 = 5/10 (床前明月光); bigrams 床前 前明 明月 月光 of 8 match,
		// smoothed to 5/9.
		{"half", coupletFrost, []string{coupletMoon}, 2, math.Sqrt(0.5 * 5.0 / 9)},
		{"unigrams only", coupletFrost, []string{coupletMoon}, 1, 0.5},
		// 明 occurs 6 times and 月 4 times in the candidate, twice each in
		// the reference: 4 of 10 unigrams; of the bigrams 明月×4 and 月明×4
		// only two 明月 count: (2+1)/(8+1).
		{"clipped", coupletRepet, []string{coupletMoon}, 2, math.Sqrt(0.4 * 3.0 / 9)},
		// Every character matches, no n-gram above order 1 does: smoothing
		// gives 1/9, 1/7 and 1/5 for 8 bigrams, 6 trigrams and 4 4-grams.
		{"same characters", coupletFrost, []string{coupletRev}, 4, math.Pow(1.0/9/7/5, 0.25)},
		{"disjoint", coupletFrost, []string{coupletOther}, 4, 0},
		// A couplet within a quatrain: every n-gram matches, but it is half
		// as long as its only reference.
		{"brevity", coupletFrost, []string{jingYeSi}, 4, math.Exp(-1)},
		// A reference of the candidate's length lifts the penalty; clipping
		// counts the reference with the most of each n-gram.
		{"closest length", coupletFrost, []string{jingYeSi, coupletOther}, 4, 1},
		{"no references", coupletFrost, nil, 4, 0},
	}
	for _, tt := range tests {
		cand := metricPoems(t, tt.cand)[0]
		refs := metricPoems(t, tt.refs...)
		if got := BLEU(cand, refs, tt.maxN); !near(got, tt.want) {
			t.Errorf("%s: BLEU = %.15g, want %.15g", tt.name, got, tt.want)
		}
	}
	p := metricPoems(t, jingYeSi)
	for _, n := range []int{0, -1, LineLen + 1} {
		if got := BLEU(p[0], p, n); !math.IsNaN(got) {
			t.Errorf("BLEU with maxN %d = %g, want NaN", n, got)
		}
	}
	if got := BLEU(Poem{}, p, 4); got != 0 {
		t.Errorf("BLEU of the zero poem = %g", got)
	}
}

func TestCorpusBLEU(t *testing.T) {
	tests := []struct {
		name  string
		cands []string
		refs  [][]string
		maxN  int
		want  float64
	}{
		// Pooled: unigrams (5+20)/(10+20), bigrams (4+16)/(8+16), both 5/6;
		// no smoothing.
		{"pooled", []string{coupletFrost, jingYeSi}, [][]string{{coupletMoon}, {jingYeSi}}, 2, 5.0 / 6},
		{"unsmoothed", []string{coupletFrost}, [][]string{{coupletMoon}}, 2, 0.5},
		{"brevity", []string{coupletFrost}, [][]string{{jingYeSi}}, 4, math.Exp(-1)},
		{"no 4-gram matches", []string{coupletFrost}, [][]string{{coupletRev}}, 4, 0},
		{"empty", nil, nil, 4, 0},
	}
	for _, tt := range tests {
		cands := metricPoems(t, tt.cands...)
		refs := make([][]Poem, len(tt.refs))
		for i, r := range tt.refs {
			refs[i] = metricPoems(t, r...)
		}
		if got := CorpusBLEU(cands, refs, tt.maxN); !near(got, tt.want) {
			t.Errorf("%s: CorpusBLEU = %.15g, want %.15g", tt.name, got, tt.want)
		}
	}
	p := metricPoems(t, jingYeSi)
	if got := CorpusBLEU(p, nil, 4); !math.IsNaN(got) {
		t.Errorf("CorpusBLEU with missing references = %g, want NaN", got)
	}
	if got := CorpusBLEU(p, [][]Poem{p}, 0); !math.IsNaN(got) {
		t.Errorf("CorpusBLEU with maxN 0 = %g, want NaN", got)
	}
}

// naiveSelfBLEU is the definition SelfBLEU must agree with.
func naiveSelfBLEU(poems []Poem, maxN int) float64 {
	var sum float64
	for i := range poems {
		others := make([]Poem, 0, len(poems)-1)
		others = append(others, poems[:i]...)
		others = append(others, poems[i+1:]...)
		sum += BLEU(poems[i], others, maxN)
	}
	return sum / float64(len(poems))
}

func TestSelfBLEU(t *testing.T) {
	sets := [][]string{
		{coupletFrost, coupletMoon},
		{coupletFrost, coupletMoon, coupletRepet, coupletRev, coupletMixed},
		// Repeated poems and repeated counts test the clipping by the
		// others only; mixed lengths test the brevity penalty.
		{coupletRepet, coupletRepet, coupletMoon, jingYeSi, jingYeSi, chunWang, quatrainRed, coupletOther},
		{jingYeSi, coupletFrost, chunWang},
	}
	for _, set := range sets {
		poems := metricPoems(t, set...)
		for _, n := range []int{1, 2, 4, 5} {
			got, want := SelfBLEU(poems, n), naiveSelfBLEU(poems, n)
			if math.Abs(got-want) > 1e-12 {
				t.Errorf("SelfBLEU(%v, %d) = %.15g, mean BLEU = %.15g", set, n, got, want)
			}
		}
	}
	same := metricPoems(t, jingYeSi, jingYeSi, jingYeSi)
	if got := SelfBLEU(same, 4); !near(got, 1) {
		t.Errorf("SelfBLEU of copies = %g, want 1", got)
	}
	if got := SelfBLEU(metricPoems(t, coupletFrost, coupletOther), 4); got != 0 {
		t.Errorf("SelfBLEU of disjoint poems = %g, want 0", got)
	}
	if got := SelfBLEU(same[:1], 4); got != 0 {
		t.Errorf("SelfBLEU of one poem = %g, want 0", got)
	}
	if got := SelfBLEU(same, 6); !math.IsNaN(got) {
		t.Errorf("SelfBLEU with maxN 6 = %g, want NaN", got)
	}
}

func TestDistinct(t *testing.T) {
	two := []string{coupletMoon, coupletFrost}
	tests := []struct {
		poems []string
		n     int
		want  float64
	}{
		// 床前明月光举头望: 8 characters of 10; 明月 twice among 8 bigrams
		// (光举 spans lines and is not one).
		{[]string{coupletMoon}, 1, 8.0 / 10},
		{[]string{coupletMoon}, 2, 7.0 / 8},
		// 床前明月光举头望疑是地上霜: 13 of 20; bigrams 11 of 16; lines 3 of 4.
		{two, 1, 13.0 / 20},
		{two, 2, 11.0 / 16},
		{two, 5, 3.0 / 4},
		{[]string{coupletRepet}, 2, 2.0 / 8},
		{[]string{quatrainRed}, 3, 1},
		{nil, 2, 0},
	}
	for _, tt := range tests {
		if got := Distinct(metricPoems(t, tt.poems...), tt.n); !near(got, tt.want) {
			t.Errorf("Distinct(%v, %d) = %g, want %g", tt.poems, tt.n, got, tt.want)
		}
	}
	if got := Distinct(metricPoems(t, jingYeSi), 0); !math.IsNaN(got) {
		t.Errorf("Distinct-0 = %g, want NaN", got)
	}
}

func TestNovelty(t *testing.T) {
	ix := NewNoveltyIndex(metricPoems(t, jingYeSi, chunWang))
	tests := []struct {
		name  string
		poems []string
		want  Novelty
	}{
		{"copied poem", []string{jingYeSi}, Novelty{Lines: 1, Poems: 1}},
		// Both lines are lines of 静夜思, but a couplet is not the quatrain.
		{"copied lines", []string{coupletFrost}, Novelty{Lines: 1}},
		// 国破山河在 opens 春望; 明月来相照 is 王维's.
		{"one line", []string{coupletMixed}, Novelty{Lines: 0.5}},
		{"new", []string{quatrainRed}, Novelty{}},
		{"mixed", []string{jingYeSi, coupletFrost, coupletMixed, quatrainRed}, Novelty{Lines: 7.0 / 12, Poems: 1.0 / 4}},
		// Lines of the quatrain in a new order: every line, no poem.
		{"reordered", []string{"举头望明月，低头思故乡。床前明月光，疑是地上霜。"}, Novelty{Lines: 1}},
		{"none", nil, Novelty{}},
	}
	for _, tt := range tests {
		got := ix.Copied(metricPoems(t, tt.poems...))
		if !near(got.Lines, tt.want.Lines) || !near(got.Poems, tt.want.Poems) {
			t.Errorf("%s: Copied = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	var nilIndex *NoveltyIndex
	if got := nilIndex.Copied(metricPoems(t, jingYeSi)); got != (Novelty{}) {
		t.Errorf("nil index: Copied = %+v", got)
	}
}

// BenchmarkSelfBLEU measures the cost on a thousand poems, the size of a
// typical generated sample.
func BenchmarkSelfBLEU(b *testing.B) {
	base := []rune("床前明月光疑是地上霜举头望明月低头思故乡国破山河在城春草木深红豆生南国春来发几枝")
	poems := make([]Poem, 1000)
	for i := range poems {
		chars := make([]rune, 20)
		for j := range chars {
			chars[j] = base[(i*7+j*j*3+i*j)%len(base)]
		}
		p, err := New(chars)
		if err != nil {
			b.Fatal(err)
		}
		poems[i] = p
	}
	for b.Loop() {
		SelfBLEU(poems, 4)
	}
}
