package poetry

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// toneTable gives each tone class a rhyming and a non-rhyming character:
// 東 rhymes on the level tone, 屋 on the oblique; 江 and 去 rhyme with
// neither.
const toneTable = "char\ttone\tgroup\n" +
	"東\t平\t上平聲一東\n" +
	"江\t平\t上平聲三江\n" +
	"屋\t仄\t入聲一屋\n" +
	"去\t仄\t去聲六御\n" +
	"看\t平\t上平聲十四寒\n" +
	"看\t仄\t去聲十五翰\n"

func toneProsody(t testing.TB) *Prosody {
	t.Helper()
	table, err := ReadRhymeTable(strings.NewReader(toneTable), "tones.tsv")
	if err != nil {
		t.Fatal(err)
	}
	return NewTableProsody(table)
}

// patternPoem writes a poem of n lines that follows pt exactly in the
// characters of toneTable.
func patternPoem(pt *pattern, n int) string {
	var b strings.Builder
	for i := range n {
		lt := pt.line(i)
		for j, tone := range lt {
			rhyme := j == LineLen-1 && (i%2 == 1 || i == 0 && pt.firstRhymes)
			switch {
			case tone == Ping && rhyme:
				b.WriteRune('東')
			case tone == Ping:
				b.WriteRune('江')
			case rhyme:
				b.WriteRune('屋')
			default:
				b.WriteRune('去')
			}
		}
		b.WriteRune('，')
	}
	return b.String()
}

func lineTypeString(lt lineType) string {
	var b strings.Builder
	for _, t := range lt {
		b.WriteString(t.String())
	}
	return b.String()
}

// TestPatterns checks the table of patterns against the rhyme books.
func TestPatterns(t *testing.T) {
	want := map[string]string{
		"仄起首句不入韵":   "仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平 仄仄平平仄",
		"仄起首句入韵":    "仄仄仄平平 平平仄仄平 平平平仄仄 仄仄仄平平 仄仄平平仄",
		"平起首句不入韵":   "平平平仄仄 仄仄仄平平 仄仄平平仄 平平仄仄平 平平平仄仄",
		"平起首句入韵":    "平平仄仄平 仄仄仄平平 仄仄平平仄 平平仄仄平 平平平仄仄",
		"仄韵平起首句不入韵": "平平仄仄平 仄仄平平仄 仄仄仄平平 平平平仄仄 平平仄仄平",
		"仄韵平起首句入韵":  "平平平仄仄 仄仄平平仄 仄仄仄平平 平平平仄仄 平平仄仄平",
		"仄韵仄起首句不入韵": "仄仄仄平平 平平平仄仄 平平仄仄平 仄仄平平仄 仄仄仄平平",
		"仄韵仄起首句入韵":  "仄仄平平仄 平平平仄仄 平平仄仄平 仄仄平平仄 仄仄仄平平",
	}
	if len(patterns) != len(want) {
		t.Errorf("%d patterns, want %d", len(patterns), len(want))
	}
	for _, pt := range patterns {
		var lines []string
		for i := range 5 {
			lines = append(lines, lineTypeString(*pt.line(i)))
		}
		if got := strings.Join(lines, " "); got != want[pt.name] {
			t.Errorf("pattern %s is\n%s, want\n%s", pt.name, got, want[pt.name])
		}
		// Each couplet is 对 and each pair of couplets 粘, and the 2nd and
		// 4th characters differ.
		for i := range 8 {
			lt := pt.line(i)
			if lt[1] == lt[3] {
				t.Errorf("pattern %s, line %d breaks 二四不同", pt.name, i+1)
			}
			if i%2 == 1 && lt[1] == pt.line(i - 1)[1] {
				t.Errorf("pattern %s, line %d breaks 对", pt.name, i+1)
			}
			if i%2 == 0 && i > 0 && lt[1] != pt.line(i - 1)[1] {
				t.Errorf("pattern %s, line %d breaks 粘", pt.name, i+1)
			}
		}
	}
}

// TestAnalyzePatterns checks that a poem that follows a pattern exactly is
// found to follow it, in 2, 4 and 8 lines.
func TestAnalyzePatterns(t *testing.T) {
	p := toneProsody(t)
	for k := range patterns {
		pt := &patterns[k]
		for _, n := range []int{2, 4, 8} {
			text := patternPoem(pt, n)
			t.Run(fmt.Sprintf("%s/%d", pt.name, n), func(t *testing.T) {
				poem, err := Parse(text)
				if err != nil {
					t.Fatal(err)
				}
				a := p.Analyze(poem)
				if a.Pattern != pt.name || a.Score != 1 || len(a.Violations) != 0 {
					t.Errorf("Analyze(%s): pattern %s, score %v, violations %v; want %s, 1, none",
						poem, a.Pattern, a.Score, a.Violations, pt.name)
				}
				var rhymeLines []int
				if pt.firstRhymes {
					rhymeLines = append(rhymeLines, 1)
				}
				for i := 2; i <= n; i += 2 {
					rhymeLines = append(rhymeLines, i)
				}
				if !slices.Equal(a.RhymeLines, rhymeLines) {
					t.Errorf("Analyze(%s).RhymeLines = %v, want %v", poem, a.RhymeLines, rhymeLines)
				}
				level := !strings.HasPrefix(pt.name, "仄韵")
				if !a.Rhymed || a.LevelRhyme != level {
					t.Errorf("Analyze(%s): Rhymed %v, LevelRhyme %v; want true, %v", poem, a.Rhymed, a.LevelRhyme, level)
				}
				if len(a.Tones) != n {
					t.Errorf("Analyze(%s) has %d lines of tones", poem, len(a.Tones))
				}
				for i, line := range a.Tones {
					if *pt.line(i) != lineType(line) {
						t.Errorf("Analyze(%s).Tones[%d] = %v, want %v", poem, i, line, *pt.line(i))
					}
				}
			})
		}
	}
}

func TestAnalyzeViolations(t *testing.T) {
	p := toneProsody(t)
	type v struct {
		line, pos int
		rule      string
	}
	// The perfect poem is 去去江江去，江江去去東。江江江去去，去去去江東。
	tests := []struct {
		name, poem string
		want       []v
	}{
		{"perfect", "去去江江去，江江去去東。江江江去去，去去去江東。", nil},
		{"lenient 1st and 3rd", "江去去江去，去江去去東。去江去去去，江去江江東。", nil},
		{"no rhyme", "去去江江去，江江去去東。江江江去去，去去去江江。", []v{{4, 5, "rhyme"}}},
		{"oblique rhyme end", "去去江江去，江江去去東。江江江去去，去去去江屋。", []v{{4, 5, "rhyme"}, {4, 5, "tone"}}},
		{"line 3, 2nd character", "去去江江去，江江去去東。江去江去去，去去去江東。",
			[]v{{3, 2, "tone"}, {3, 2, "粘"}, {3, 4, "二四不同"}, {4, 2, "对"}}},
		{"line 2, 4th character", "去去江江去，江江去江東。江江江去去，去去去江東。",
			[]v{{2, 4, "tone"}, {2, 4, "二四不同"}}},
		{"either tone", "去去江江去，江江去去東。江看江去去，去去去江東。", nil},
		{"unknown characters", "去去江江去，江江去去東。江花江花去，去去去江東。", nil},
		{"unknown rhyme", "去去江江去，江江去去花。江江江去去，去去去江東。", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			poem, err := Parse(tt.poem)
			if err != nil {
				t.Fatal(err)
			}
			a := p.Analyze(poem)
			var got []v
			for _, x := range a.Violations {
				got = append(got, v{x.Line, x.Pos, x.Rule})
				if x.Detail == "" {
					t.Errorf("violation %+v has no detail", x)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Analyze(%s) violations:\n got %v\nwant %v\n%v", poem, got, tt.want, a.Violations)
			}
			if a.Pattern != "仄起首句不入韵" {
				t.Errorf("Analyze(%s).Pattern = %s, want 仄起首句不入韵", poem, a.Pattern)
			}
			if len(tt.want) > 0 && a.Score >= 1 || tt.name == "perfect" && a.Score != 1 {
				t.Errorf("Analyze(%s).Score = %v with %d violations", poem, a.Score, len(tt.want))
			}
		})
	}
}

func TestAnalyzeZero(t *testing.T) {
	a := NewProsody().Analyze(Poem{})
	if a.Tones != nil || a.Pattern != "" || a.Score != 0 || a.Rhymed {
		t.Errorf("Analyze(Poem{}) = %+v, want the zero Analysis", a)
	}
}

// prosodies returns the Prosody of Mandarin readings, the one with the test
// table, and the one with the 平水韵 of the project's data where present.
func prosodies(t *testing.T) map[string]*Prosody {
	ps := map[string]*Prosody{
		"pinyin":     NewProsody(),
		"test table": NewProsody().WithRhymeTable(readTestTable(t)),
	}
	if table := loadPingshuiIfPresent(t); table != nil {
		ps["平水韵"] = NewProsody().WithRhymeTable(table)
	}
	return ps
}

func loadPingshuiIfPresent(t *testing.T) *RhymeTable {
	var table *RhymeTable
	t.Run("load 平水韵", func(t *testing.T) { table = loadPingshui(t) })
	return table
}

func TestAnalyzeKnownPoems(t *testing.T) {
	tests := []struct {
		name        string
		poem        string
		rhymeLines  []int
		levelRhyme  bool
		pattern     string // "" for any; a trailing * matches any ending
		violations  bool
		rhymedChars string
	}{
		{"静夜思", "床前明月光，疑是地上霜。举头望明月，低头思故乡。", []int{1, 2, 4}, true, "", true, "光霜乡"},
		{"春晓", "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。", []int{1, 2, 4}, false, "仄韵*", true, "晓鸟少"},
		{"登鹳雀楼", "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", []int{2, 4}, true, "仄起首句不入韵", false, "流楼"},
		{"登鸛雀樓", "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。", []int{2, 4}, true, "仄起首句不入韵", false, "流樓"},
	}
	for name, p := range prosodies(t) {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				poem, err := Parse(tt.poem)
				if err != nil {
					t.Fatal(err)
				}
				a := p.Analyze(poem)
				if !slices.Equal(a.RhymeLines, tt.rhymeLines) {
					t.Errorf("RhymeLines = %v, want %v", a.RhymeLines, tt.rhymeLines)
				}
				if !a.Rhymed || !p.RhymeOK(poem) {
					t.Errorf("Rhymed %v, RhymeOK %v; want true", a.Rhymed, p.RhymeOK(poem))
				}
				if a.LevelRhyme != tt.levelRhyme || p.LevelRhymeOK(poem) != tt.levelRhyme {
					t.Errorf("LevelRhyme %v, LevelRhymeOK %v; want %v", a.LevelRhyme, p.LevelRhymeOK(poem), tt.levelRhyme)
				}
				if prefix, ok := strings.CutSuffix(tt.pattern, "*"); ok && !strings.HasPrefix(a.Pattern, prefix) ||
					!ok && tt.pattern != "" && a.Pattern != tt.pattern {
					t.Errorf("Pattern = %s, want %s", a.Pattern, tt.pattern)
				}
				if (len(a.Violations) > 0) != tt.violations {
					t.Errorf("violations %v, want some: %v", a.Violations, tt.violations)
				}
				rhymed := []rune(tt.rhymedChars)
				for _, x := range rhymed {
					for _, y := range rhymed {
						if !p.Rhymes(x, y) {
							t.Errorf("%q and %q do not rhyme", x, y)
						}
					}
				}
			})
		}
	}
}

func TestEnteringTone(t *testing.T) {
	poem, err := Parse("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range prosodies(t) {
		a := p.Analyze(poem)
		want := Ze
		if name == "pinyin" {
			want = Ping // bái
		}
		if a.Tones[0][0] != want {
			t.Errorf("%s: 白 is %v, want %v", name, a.Tones[0][0], want)
		}
		if got := p.Tone('入'); got != Ze {
			t.Errorf("%s: 入 is %v, want 仄", name, got)
		}
		if got := p.Tone('月'); got != Ze {
			t.Errorf("%s: 月 is %v, want 仄", name, got)
		}
	}
}

func TestRhymeOK(t *testing.T) {
	p := NewProsody().WithRhymeTable(readTestTable(t))
	tests := []struct {
		poem         string
		rhyme, level bool
	}{
		{"床前明月光，疑是地上霜。举头望明月，低头思故乡。", true, true},
		{"春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。", true, false},
		{"床前明月光，疑是地上霜。举头望明月，低头思故月。", false, false},
		{"床前明月光，疑是地上霜。", true, true},   // a couplet
		{"床前明月光，疑是地上a。", false, false}, // not a poem
		{"床前明月光，疑是地上霜。举头望明月，低头思故乡。" + // 8 lines
			"床前明月光，疑是地上霜。举头望明月，低头思故床。", true, true},
		{"床前明月光，疑是地上霜。举头望明月，低头思故乡。" +
			"床前明月光，疑是地上霜。举头望明月，低头思故东。", false, false},
		// 乡 and 看 share no group, though each shares one with 光.
		{"床前明月光，疑是地上乡。举头望明月，低头思故看。", false, false},
	}
	for _, tt := range tests {
		poem, _ := Parse(tt.poem)
		if got := p.RhymeOK(poem); got != tt.rhyme {
			t.Errorf("RhymeOK(%s) = %v, want %v", tt.poem, got, tt.rhyme)
		}
		if got := p.LevelRhymeOK(poem); got != tt.level {
			t.Errorf("LevelRhymeOK(%s) = %v, want %v", tt.poem, got, tt.level)
		}
	}
}

func TestErSiBuTong(t *testing.T) {
	p := toneProsody(t)
	tests := []struct {
		poem        string
		ok, checked int
	}{
		{"去去江江去，江江去去東。江江江去去，去去去江東。", 4, 4},
		{"去去江去去，江江去去東。江江江去去，去去去江東。", 3, 4},
		{"去看江江去，江江去去東。江江江花去，去去去江東。", 2, 2},
		{"去去江江去，江江去去東。", 2, 2},
		{"", 0, 0},
	}
	for _, tt := range tests {
		poem, _ := Parse(tt.poem)
		ok, checked := p.ErSiBuTong(poem)
		if ok != tt.ok || checked != tt.checked {
			t.Errorf("ErSiBuTong(%s) = %d, %d; want %d, %d", tt.poem, ok, checked, tt.ok, tt.checked)
		}
	}
}

func TestAllocs(t *testing.T) {
	poem, err := Parse("𠀋前明月光，疑是地上霜。举头望明月，低头思故乡。")
	if err != nil {
		t.Fatal(err)
	}
	clean, err := Parse("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range prosodies(t) {
		checks := map[string]func(){
			"RhymeOK":      func() { p.RhymeOK(poem) },
			"LevelRhymeOK": func() { p.LevelRhymeOK(poem) },
			"ErSiBuTong":   func() { p.ErSiBuTong(poem) },
			"Tone":         func() { p.Tone('光'); p.Tone('𠀋') },
			"Rhymes":       func() { p.Rhymes('光', '𠀋') },
		}
		for check, f := range checks {
			if n := testing.AllocsPerRun(100, f); n != 0 {
				t.Errorf("%s: %s allocates %v times", name, check, n)
			}
		}
		// Analyze allocates its result, but not per character: for a poem
		// without violations, the tones and the rhyming lines.
		if n := testing.AllocsPerRun(100, func() { p.Analyze(clean) }); n > 3 {
			t.Errorf("%s: Analyze allocates %v times", name, n)
		}
	}
}

func benchmarkProsody(b *testing.B) *Prosody {
	table, err := ReadRhymeTable(strings.NewReader(testTable), "test.tsv")
	if err != nil {
		b.Fatal(err)
	}
	return NewProsody().WithRhymeTable(table)
}

func BenchmarkAnalyze(b *testing.B) {
	p := benchmarkProsody(b)
	poem, err := Parse("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Analyze(poem)
	}
}

func BenchmarkRhymeOK(b *testing.B) {
	p := benchmarkProsody(b)
	poem, err := Parse("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.RhymeOK(poem)
		p.ErSiBuTong(poem)
	}
}
