package poetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// testRhymes are twelve made-up rhyme classes, commonest character first.
// With twelve classes of equal weight, characters of one class rhyme about
// twelve times as often as chance, above the default MinLift.
var testRhymes = []string{
	"光霜鄉香", "人春新身", "風中空紅", "秋流愁樓", "時知詩枝", "年天前邊",
	"來開回臺", "心深林吟", "歸衣飛稀", "花家涯沙", "山間還關", "寒難安殘",
}

// quatrain returns a quatrain whose lines 2 and 4 end in b and d; the other
// characters are the same in every poem and tell LearnRhymes nothing.
func quatrain(t testing.TB, b, d rune) Poem {
	t.Helper()
	p, err := Parse("白日依山盡，黄河入海" + string(b) + "。欲窮千里目，更上一層" + string(d) + "。")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rhymingPoems returns, for each class, a quatrain for every pair of its
// characters, each pair twice (the first character once more as the
// commonest), so that every pair is seen in two poems.
func rhymingPoems(t testing.TB, classes []string) []Poem {
	var poems []Poem
	for _, class := range classes {
		rs := []rune(class)
		for i, a := range rs {
			for _, b := range rs[i+1:] {
				poems = append(poems, quatrain(t, a, b), quatrain(t, b, a))
			}
		}
		poems = append(poems, quatrain(t, rs[0], rs[1]))
	}
	return poems
}

// classesOf returns the classes of c as strings.
func classesOf(c *RhymeClasses) []string {
	var out []string
	for i := range c.Len() {
		out = append(out, string(c.Members(i)))
	}
	return out
}

// sameClass reports whether a and b are both classed, in one class.
func sameClass(c *RhymeClasses, a, b rune) bool {
	i, ok := c.Class(a)
	j, ok2 := c.Class(b)
	return ok && ok2 && i == j
}

func TestLearnRhymes(t *testing.T) {
	base := rhymingPoems(t, testRhymes)
	tests := []struct {
		name  string
		extra func(t *testing.T) []Poem
		opt   LearnOptions
		// together and apart list pairs of characters that must share a
		// class and that must not; unclassed lists characters with none.
		together, apart []string
		unclassed       string
		classes         int // -1: any number
		// linked lists pairs that linking every pair seen in two poems
		// would put in one class.
		linked []string
	}{
		{
			name:     "classes formed",
			together: []string{"光霜", "光香", "人身", "寒殘"},
			apart:    []string{"光人", "風秋", "山寒"},
			classes:  12,
		},
		{
			// Three poems that do not rhyme end in 光 and 人, enough to
			// link them if every pair seen twice were linked, and two
			// more link 霜 and 春.
			name: "a few poems that do not rhyme merge no classes",
			extra: func(t *testing.T) []Poem {
				return []Poem{quatrain(t, '光', '人'), quatrain(t, '人', '光'), quatrain(t, '光', '人'),
					quatrain(t, '霜', '春'), quatrain(t, '春', '霜')}
			},
			apart:   []string{"光人", "霜春", "香新"},
			linked:  []string{"光人", "霜春", "香新"},
			classes: 12,
		},
		{
			// 看 rhymes in 寒 three times and in 山 twice: it joins 寒,
			// and does not bridge the two classes. (Its rhymes are too
			// few and too split for a lift of 8 in a corpus of twelve
			// classes; with 4 it joins.)
			name: "a character of two readings joins one class",
			opt:  LearnOptions{MinLift: 4},
			extra: func(t *testing.T) []Poem {
				return []Poem{quatrain(t, '寒', '看'), quatrain(t, '看', '安'), quatrain(t, '難', '看'),
					quatrain(t, '山', '看'), quatrain(t, '看', '間')}
			},
			together: []string{"看寒"},
			apart:    []string{"看山", "寒山"},
			classes:  12,
		},
		{
			name: "a character seen in one poem stays unclassed",
			extra: func(t *testing.T) []Poem {
				return []Poem{quatrain(t, '光', '簧'), quatrain(t, '鴦', '鴛')}
			},
			unclassed: "簧鴦鴛月",
			classes:   12,
		},
		{
			name: "couplets and one repeated end tell nothing",
			extra: func(t *testing.T) []Poem {
				c1, _ := Parse("白日依山盡，黄河入海簧。")
				c2, _ := Parse("白日依山盡，黄河入海鴦。")
				return []Poem{c1, c2, c1, quatrain(t, '鴛', '鴛'), quatrain(t, '鴛', '鴛')}
			},
			unclassed: "簧鴦鴛",
			classes:   12,
		},
		{
			// Two eight-line poems end their even lines in 西啼蹄雞,
			// three times each: six pairs a poem, each worth a third of a
			// poem, so two poems in all for each pair.
			name: "eight-line poems",
			extra: func(t *testing.T) []Poem {
				p, err := Parse("白日依山盡，黄河入海西。欲窮千里目，更上一層啼。白日依山盡，黄河入海蹄。欲窮千里目，更上一層雞。")
				if err != nil {
					t.Fatal(err)
				}
				q, err := Parse("白日依山盡，黄河入海雞。欲窮千里目，更上一層蹄。白日依山盡，黄河入海啼。欲窮千里目，更上一層西。")
				if err != nil {
					t.Fatal(err)
				}
				return []Poem{p, q, p, q, p, q}
			},
			together: []string{"西啼", "蹄雞", "西雞"},
			apart:    []string{"西光"},
			classes:  13,
		},
		{
			// No pair is seen in four poems.
			name:      "MinPoems",
			opt:       LearnOptions{MinPoems: 4},
			unclassed: "光霜人",
			classes:   0,
		},
		{
			// With a low MinLift, the non-rhyming poems of the second
			// case are enough to merge 光 and 人's classes.
			name: "MinLift",
			extra: func(t *testing.T) []Poem {
				return []Poem{quatrain(t, '光', '人'), quatrain(t, '人', '光'), quatrain(t, '光', '人')}
			},
			opt:      LearnOptions{MinLift: 0.5},
			together: []string{"光人", "霜春"},
			classes:  11,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			poems := slices.Clone(base)
			if tt.extra != nil {
				poems = append(poems, tt.extra(t)...)
			}
			c := LearnRhymes(poems, tt.opt)
			t.Logf("%d classes: %v", c.Len(), classesOf(c))
			if tt.classes >= 0 && c.Len() != tt.classes {
				t.Errorf("%d classes, want %d", c.Len(), tt.classes)
			}
			for _, pair := range tt.together {
				r := []rune(pair)
				if !sameClass(c, r[0], r[1]) {
					t.Errorf("%c and %c are not in one class", r[0], r[1])
				}
			}
			for _, pair := range tt.apart {
				r := []rune(pair)
				if sameClass(c, r[0], r[1]) {
					t.Errorf("%c and %c are in one class", r[0], r[1])
				}
			}
			linked := linkedClasses(poems, 2)
			for _, pair := range tt.linked {
				r := []rune(pair)
				if !sameClass(linked, r[0], r[1]) {
					t.Errorf("linking pairs does not join %c and %c", r[0], r[1])
				}
			}
			for _, r := range tt.unclassed {
				if i, ok := c.Class(r); ok {
					t.Errorf("%c is in class %d (%s), want none", r, i, c.Name(i))
				}
			}
			// The result depends on the poems, not on their order.
			rng := rand.New(rand.NewPCG(1, 2))
			shuffled := slices.Clone(poems)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if got, want := classesOf(LearnRhymes(shuffled, tt.opt)), classesOf(c); !slices.Equal(got, want) {
				t.Errorf("shuffled poems give %v, want %v", got, want)
			}
		})
	}
}

// TestLearnRhymesReference compares LearnRhymes with a plain
// implementation of its method, which recomputes the evidence between all
// groups at every step, on random corpora.
func TestLearnRhymesReference(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		const chars, classes = 40, 5
		var poems []Poem
		for range 150 + rng.IntN(150) {
			a := rng.IntN(chars)
			b := rng.IntN(chars)
			if rng.IntN(10) < 8 { // rhymes: same class
				b = b/classes*classes + a%classes
			}
			lines := 4
			if rng.IntN(4) == 0 {
				lines = 8
			}
			text := make([]rune, 0, lines*LineLen)
			for l := range lines {
				end := rune(0x4E00 + a)
				if l%2 == 1 && l/2%2 == 1 || l == 7 {
					end = rune(0x4E00 + b)
				}
				if l == 5 {
					end = rune(0x4E00 + (a+classes)%chars)
				}
				text = append(text, '山', '水', '花', '月', end)
			}
			p, err := New(text)
			if err != nil {
				t.Fatal(err)
			}
			poems = append(poems, p)
		}
		for _, opt := range []LearnOptions{{}, {MinLift: 2}, {MinPoems: 3, MinLift: 4}} {
			got, want := classesOf(LearnRhymes(poems, opt)), referenceClasses(poems, opt)
			if !slices.Equal(got, want) {
				t.Errorf("seed %d, %+v: classes\n%v\nwant\n%v", seed, opt, got, want)
			}
		}
	}
}

// referenceClasses is LearnRhymes done the slow way.
func referenceClasses(poems []Poem, opt LearnOptions) []string {
	if opt.MinPoems == 0 {
		opt.MinPoems = DefaultMinPoems
	}
	if opt.MinLift == 0 {
		opt.MinLift = DefaultMinLift
	}
	own := map[rune]int64{}
	pair := map[[2]rune]int64{}
	for _, p := range poems {
		var ends []rune
		for i := 1; i < p.NumLines(); i += 2 {
			if r := p.lastChar(i); !slices.Contains(ends, r) {
				ends = append(ends, r)
			}
		}
		if len(ends) < 2 {
			continue
		}
		for i, a := range ends {
			own[a] += pairUnit
			for _, b := range ends[i+1:] {
				pair[[2]rune{min(a, b), max(a, b)}] += int64(pairUnit / (len(ends) - 1))
			}
		}
	}
	var chars []rune
	var total int64
	for r, w := range own {
		chars = append(chars, r)
		total += w
	}
	slices.Sort(chars)
	// groups[i] holds the members of group i, named by its index.
	groups := make([][]rune, len(chars))
	for i, r := range chars {
		groups[i] = []rune{r}
	}
	weight := func(g int) int64 {
		var w int64
		for _, r := range groups[g] {
			w += own[r]
		}
		return w
	}
	evidence := func(g, h int) int64 {
		var w int64
		for _, a := range groups[g] {
			for _, b := range groups[h] {
				w += pair[[2]rune{min(a, b), max(a, b)}]
			}
		}
		return w
	}
	degree := func(g int) int {
		n := 0
		for h := range groups {
			if h != g && groups[h] != nil && evidence(g, h) > 0 {
				n++
			}
		}
		return n
	}
	for {
		bestG, bestH, bestW, bestLift := -1, -1, int64(0), 0.0
		for g := range groups {
			for h := g + 1; h < len(groups); h++ {
				if groups[g] == nil || groups[h] == nil {
					continue
				}
				w := evidence(g, h)
				if w < int64(opt.MinPoems)*pairUnit {
					continue
				}
				lift := float64(w) * float64(total) / (float64(weight(g)) * float64(weight(h)))
				if bestG < 0 || lift > bestLift || lift == bestLift && w > bestW {
					bestG, bestH, bestW, bestLift = g, h, w, lift
				}
			}
		}
		if bestG < 0 || bestLift < opt.MinLift {
			break
		}
		keep, gone := bestG, bestH
		if degree(gone) > degree(keep) {
			keep, gone = gone, keep
		}
		groups[keep] = append(groups[keep], groups[gone]...)
		groups[gone] = nil
	}
	type class struct {
		members []rune
		weight  int64
	}
	var cs []class
	for g, members := range groups {
		if len(members) < 2 {
			continue
		}
		slices.SortFunc(members, func(a, b rune) int {
			if own[a] != own[b] {
				return int(own[b] - own[a])
			}
			return int(a - b)
		})
		cs = append(cs, class{members, weight(g)})
	}
	slices.SortFunc(cs, func(x, y class) int {
		if x.weight != y.weight {
			return int(y.weight - x.weight)
		}
		return int(slices.Min(x.members) - slices.Min(y.members))
	})
	var out []string
	for _, c := range cs[:min(len(cs), MaxRhymeClasses)] {
		out = append(out, string(c.members))
	}
	return out
}

func TestLearnRhymesOrder(t *testing.T) {
	// The class of 光 is the heavier, and 光 its commonest character; 霜
	// and 香 are as common, and listed in code-point order.
	poems := append(rhymingPoems(t, []string{"人春新", "光霜鄉香"}), quatrain(t, '光', '香'))
	c := LearnRhymes(poems, LearnOptions{MinLift: 1})
	if got, want := classesOf(c), []string{"光霜香鄉", "人春新"}; !slices.Equal(got, want) {
		t.Errorf("classes %v, want %v", got, want)
	}
	if got := c.Name(0); got != "光韵" {
		t.Errorf("Name(0) = %q, want 光韵", got)
	}
	for _, i := range []int{-1, 2} {
		if c.Name(i) != "" || c.Members(i) != nil {
			t.Errorf("class %d: name %q, members %q, want none", i, c.Name(i), c.Members(i))
		}
	}
	var none *RhymeClasses
	if _, ok := none.Class('光'); ok || none.Len() != 0 {
		t.Error("nil classes have a class")
	}
	if got := LearnRhymes(nil, LearnOptions{}); got.Len() != 0 {
		t.Errorf("no poems give %d classes", got.Len())
	}
}

func TestLearnRhymesMaxClasses(t *testing.T) {
	// 130 classes of two characters, each pair in two poems: all equally
	// heavy, so the 128 whose characters come first are kept.
	var poems []Poem
	for i := range MaxRhymeClasses + 2 {
		a, b := rune(0x4E00+2*i), rune(0x4E01+2*i)
		poems = append(poems, quatrain(t, a, b), quatrain(t, b, a))
	}
	c := LearnRhymes(poems, LearnOptions{})
	if c.Len() != MaxRhymeClasses {
		t.Fatalf("%d classes, want %d", c.Len(), MaxRhymeClasses)
	}
	if _, ok := c.Class(rune(0x4E00 + 2*MaxRhymeClasses)); ok {
		t.Error("a class beyond the last kept has a class")
	}
	if _, ok := c.Class(0x4E00); !ok {
		t.Error("the first class was not kept")
	}
}

func TestRhymeClassesJSON(t *testing.T) {
	c := LearnRhymes(rhymingPoems(t, []string{"光霜鄉", "人春"}), LearnOptions{MinLift: 1})
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `["光霜鄉","人春"]`; got != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
	var back RhymeClasses
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if got, want := classesOf(&back), classesOf(c); !slices.Equal(got, want) {
		t.Errorf("read back %v, want %v", got, want)
	}
	if i, ok := back.Class('鄉'); !ok || i != 0 {
		t.Errorf("read back, 鄉 is in class %d, %v; want 0", i, ok)
	}

	// As a field of a header, nil and present.
	type header struct {
		Rhymes *RhymeClasses `json:"rhymes,omitempty"`
		Other  int           `json:"other"`
	}
	for _, h := range []header{{}, {Rhymes: c, Other: 1}} {
		data, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var got header
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !slices.Equal(classesOf(got.Rhymes), classesOf(h.Rhymes)) {
			t.Errorf("%s read back as %v", data, classesOf(got.Rhymes))
		}
	}
	var empty RhymeClasses
	if data, err := json.Marshal(empty); err != nil || string(data) != "[]" {
		t.Errorf("empty classes: %s, %v; want []", data, err)
	}
	if err := json.Unmarshal([]byte("null"), &back); err != nil || back.Len() != 2 {
		t.Errorf("null: %v, %d classes; want no error, classes unchanged", err, back.Len())
	}
	if err := json.Unmarshal([]byte("[]"), &back); err != nil || back.Len() != 0 {
		t.Errorf("[]: %v, %d classes; want none", err, back.Len())
	}
}

func TestRhymeClassesJSONMalformed(t *testing.T) {
	tooMany := make([]string, MaxRhymeClasses+1)
	for i := range tooMany {
		tooMany[i] = string(rune(0x4E00 + i))
	}
	tooManyJSON, _ := json.Marshal(tooMany)
	tests := []struct {
		in, want string
	}{
		{`{"光": 1}`, "want an array of strings"},
		{`"光霜"`, "want an array of strings"},
		{`[1, 2]`, "want an array of strings"},
		{`["光霜", null]`, "class 2 is empty"},
		{`["光霜", ""]`, "class 2 is empty"},
		{`["光a霜"]`, `class 1 has 'a', which is not a Han character`},
		{`["光 霜"]`, `class 1 has ' ', which is not a Han character`},
		{"[\"光\xff\"]", `class 1 has '�' (U+FFFD), which is not a Han character`},
		{`["光霜光"]`, "class 1 has 光 twice"},
		{`["光霜", "人光"]`, "光 is in class 1 and in class 2"},
		{string(tooManyJSON), "129 classes, more than the 128 allowed"},
		{`["光霜"`, "unexpected end of JSON input"},
	}
	for _, tt := range tests {
		c := LearnRhymes(rhymingPoems(t, []string{"人春"}), LearnOptions{MinLift: 1})
		err := json.Unmarshal([]byte(tt.in), c)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.40s: error %v, want one containing %q", tt.in, err, tt.want)
			continue
		}
		var syntax *json.SyntaxError
		if !strings.HasPrefix(err.Error(), "rhyme classes: ") && !errors.As(err, &syntax) {
			t.Errorf("%.40s: error %q does not say it is about rhyme classes", tt.in, err)
		}
		// A refused input leaves the classes as they were.
		if got := classesOf(c); !slices.Equal(got, []string{"人春"}) {
			t.Errorf("%.40s: classes %v after the error, want [人春]", tt.in, got)
		}
	}
}

// classTestProsody is the Prosody of two level classes and one oblique
// one.
func classTestProsody(t *testing.T) *Prosody {
	t.Helper()
	var c RhymeClasses
	if err := json.Unmarshal([]byte(`["光霜鄉","人春新","月雪節"]`), &c); err != nil {
		t.Fatal(err)
	}
	return NewProsody().WithRhymeClasses(&c)
}

func TestClassProsodyRhymes(t *testing.T) {
	p := classTestProsody(t)
	tests := []struct {
		a, b rune
		want bool
	}{
		{'光', '霜', true},
		{'霜', '光', true},
		{'光', '光', true},
		{'月', '節', true},
		{'光', '人', false},
		{'光', '月', false},
		// 堂 táng rhymes with 光 in Mandarin, but has no class.
		{'光', '堂', false},
		{'堂', '堂', false},
		{'堂', '糖', false},
		{'光', 'a', false},
	}
	for _, tt := range tests {
		if got := p.Rhymes(tt.a, tt.b); got != tt.want {
			t.Errorf("Rhymes(%c, %c) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClassProsodyGroupsAndTones(t *testing.T) {
	p := classTestProsody(t)
	mandarin := NewProsody()
	tests := []struct {
		r      rune
		groups []string
		tone   Tone
	}{
		{'光', []string{"光韵"}, Either},
		{'霜', []string{"光韵"}, Ping},
		{'新', []string{"人韵"}, Ping},
		{'雪', []string{"月韵"}, Ze},
		// 節 jié reads level in Mandarin, though it was an entering tone:
		// the tones are Mandarin's, unchanged.
		{'節', []string{"月韵"}, Ping},
		{'堂', nil, Ping},
		{'看', nil, Either},
		{'a', nil, ToneUnknown},
	}
	for _, tt := range tests {
		if got := p.RhymeGroups(tt.r); !slices.Equal(got, tt.groups) {
			t.Errorf("RhymeGroups(%c) = %q, want %q", tt.r, got, tt.groups)
		}
		if got := p.Tone(tt.r); got != tt.tone || got != mandarin.Tone(tt.r) {
			t.Errorf("Tone(%c) = %v, want %v, as NewProsody's %v", tt.r, got, tt.tone, mandarin.Tone(tt.r))
		}
	}
	// Nil classes: tones only.
	bare := NewProsody().WithRhymeClasses(nil)
	if bare.RhymeGroups('霜') != nil || bare.Rhymes('霜', '霜') || bare.Tone('霜') != Ping {
		t.Errorf("nil classes: groups %q, 霜 rhymes with itself %v, tone %v; want nil, false, 平",
			bare.RhymeGroups('霜'), bare.Rhymes('霜', '霜'), bare.Tone('霜'))
	}
}

func TestClassProsodyPoems(t *testing.T) {
	p := classTestProsody(t)
	tests := []struct {
		poem              string
		rhyme, levelRhyme bool
		rhymeViolation    bool
	}{
		{"床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。", true, true, false},
		{"床前明月光，疑是地上人。舉頭望明月，低頭思故鄉。", false, false, true},
		{"床前明月光，疑是地上雪。舉頭望明月，低頭思故節。", true, false, false},
		// 堂 has no class: the poem is not judged rhyming, but no rule
		// is broken either.
		{"床前明月光，疑是地上霜。舉頭望明月，低頭思故堂。", false, false, false},
	}
	for _, tt := range tests {
		poem, err := Parse(tt.poem)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.RhymeOK(poem); got != tt.rhyme {
			t.Errorf("RhymeOK(%s) = %v, want %v", tt.poem, got, tt.rhyme)
		}
		if got := p.LevelRhymeOK(poem); got != tt.levelRhyme {
			t.Errorf("LevelRhymeOK(%s) = %v, want %v", tt.poem, got, tt.levelRhyme)
		}
		a := p.Analyze(poem)
		violation := slices.ContainsFunc(a.Violations, func(v Violation) bool { return v.Rule == "rhyme" })
		if violation != tt.rhymeViolation || a.Rhymed != tt.rhyme {
			t.Errorf("Analyze(%s): rhyme violation %v, Rhymed %v; want %v, %v", tt.poem, violation, a.Rhymed, tt.rhymeViolation, tt.rhyme)
		}
	}
}

func ExampleLearnRhymes() {
	var poems []Poem
	for _, ends := range []string{"光霜", "霜鄉", "鄉光", "光霜", "霜鄉", "鄉光", "人春", "春新", "新人", "人春", "春新", "新人", "光人"} {
		e := []rune(ends)
		p, _ := Parse("白日依山盡，黄河入海" + string(e[0]) + "。欲窮千里目，更上一層" + string(e[1]) + "。")
		poems = append(poems, p)
	}
	// A corpus of two rhymes: characters of one rhyme together only twice
	// as often as chance.
	c := LearnRhymes(poems, LearnOptions{MinLift: 1.5})
	data, _ := json.Marshal(c)
	fmt.Println(string(data))
	p := NewProsody().WithRhymeClasses(c)
	fmt.Println(p.Rhymes('光', '鄉'), p.Rhymes('光', '人'), p.RhymeGroups('新'))
	// Output:
	// ["人新春","光鄉霜"]
	// true false [人韵]
}
