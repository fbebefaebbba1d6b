package poetry

import (
	"fmt"
	"slices"
)

// Analysis is the judgement of a poem's form by [Prosody.Analyze].
type Analysis struct {
	// Tones holds the tone class of each character, line by line.
	Tones [][]Tone
	// RhymeLines lists the lines, counting from 1, whose last character
	// rhymes with that of line 2, line 2 included when its last character
	// is known. Lines 4, 6 and 8 must rhyme; line 1 may, and then the
	// poem's pattern is one whose first line rhymes (首句入韵).
	RhymeLines []int
	// Rhymed reports whether the even lines rhyme in one group, as
	// [Prosody.RhymeOK] does.
	Rhymed bool
	// LevelRhyme reports whether they rhyme in one group of the level
	// tone, as [Prosody.LevelRhymeOK] does; regulated verse rhymes on the
	// level tone.
	LevelRhyme bool
	// Pattern names the standard tonal pattern the poem follows best, such
	// as "仄起首句不入韵" or "平起首句入韵"; see [Prosody.Analyze].
	Pattern string
	// Score measures, from 0 to 1, how well the poem keeps its rhyme and
	// Pattern: the weighted share of the checks it passes.
	Score float64
	// Violations lists the rules the poem breaks, in line order.
	Violations []Violation
}

// Violation is a rule of regulated verse that a poem breaks.
type Violation struct {
	// Line and Pos locate the character at fault, counting from 1.
	Line int `json:"line"`
	Pos  int `json:"pos"`
	// Rule names the rule:
	//	"rhyme"  an even line does not rhyme with line 2
	//	"tone"   a character at position 2, 4 or 5 has the tone class
	//	         opposite to the pattern's
	//	"二四不同" the 2nd and 4th characters of a line have one class
	//	"对"     the 2nd characters of a couplet's lines have one class
	//	"粘"     the 2nd character of the first line of a couplet differs
	//	         in class from that of the line before
	Rule string `json:"rule"`
	// Detail explains the violation, naming the characters.
	Detail string `json:"detail"`
}

// lineType is the tone pattern of a five-character line.
type lineType [LineLen]Tone

// The four lines of five-character regulated verse; the others are these
// with the 1st or 3rd character changed, which 一三不论 allows.
var (
	lineA = lineType{Ze, Ze, Ping, Ping, Ze}   // 仄仄平平仄
	lineB = lineType{Ping, Ping, Ze, Ze, Ping} // 平平仄仄平
	lineC = lineType{Ping, Ping, Ping, Ze, Ze} // 平平平仄仄
	lineD = lineType{Ze, Ze, Ze, Ping, Ping}   // 仄仄仄平平
)

// pattern is a standard tonal pattern of a quatrain. Regulated verse of
// eight lines repeats it, with the first line of the second half taken
// from the variant whose first line does not rhyme; a couplet is its first
// two lines.
type pattern struct {
	name  string
	lines [4]lineType
	// rest is the type of the fifth line of eight.
	rest lineType
	// firstRhymes reports whether the first line rhymes.
	firstRhymes bool
}

// patterns lists the eight quatrain patterns, the commonest first, so
// that ties go to them: rhyme on the level tone (平韵) with the first line
// unrhymed or rhymed, then the rarer rhyme on the oblique tone (仄韵).
// 平起 and 仄起 say whether the second character of the first line is level
// or oblique.
var patterns = []pattern{
	{"仄起首句不入韵", [4]lineType{lineA, lineB, lineC, lineD}, lineA, false},
	{"平起首句不入韵", [4]lineType{lineC, lineD, lineA, lineB}, lineC, false},
	{"仄起首句入韵", [4]lineType{lineD, lineB, lineC, lineD}, lineA, true},
	{"平起首句入韵", [4]lineType{lineB, lineD, lineA, lineB}, lineC, true},
	{"仄韵平起首句不入韵", [4]lineType{lineB, lineA, lineD, lineC}, lineB, false},
	{"仄韵仄起首句不入韵", [4]lineType{lineD, lineC, lineB, lineA}, lineD, false},
	{"仄韵平起首句入韵", [4]lineType{lineC, lineA, lineD, lineC}, lineB, true},
	{"仄韵仄起首句入韵", [4]lineType{lineA, lineC, lineB, lineA}, lineD, true},
}

// line returns the type of line i of a poem, counting from 0.
func (pt *pattern) line(i int) *lineType {
	if i == 4 {
		return &pt.rest
	}
	return &pt.lines[i%4]
}

// Weights of the checks that make up a Score. The 2nd and 4th characters
// carry a line's rhythm and the 5th decides its rhyme, so they count fully;
// the 1st and 3rd are free by the rule 一三不论 and count a little, to
// prefer patterns they fit. A missing rhyme is the gravest fault.
const (
	weightStrict  = 1.0
	weightLenient = 0.25
	weightRhyme   = 2.0
)

// positionWeight returns the weight of position pos of a line, from 0.
func positionWeight(pos int) float64 {
	if pos == 0 || pos == 2 {
		return weightLenient
	}
	return weightStrict
}

// Analyze judges the form of a poem: its tones and rhyme, the standard
// pattern of five-character regulated verse it comes closest to, and the
// rules it breaks.
//
// The patterns are made of four line types, A 仄仄平平仄, B 平平仄仄平,
// C 平平平仄仄 and D 仄仄仄平平; the quatrain patterns are ABCD
// (仄起首句不入韵), DBCD (仄起首句入韵), CDAB (平起首句不入韵) and BDAB
// (平起首句入韵), and, rhyming on the oblique tone, BADC, CADC, DCBA and
// ACBA (仄韵平起/仄起首句不入韵/入韵). The pattern chosen is the one the
// characters' tone classes fit best, positions 1 and 3 counting little.
//
// Characters of unknown tone, or of [Either] tone, never break a rule, and
// a character that p cannot place in any rhyme group breaks no rhyme.
// Analyze allocates only the result, never per character.
func (p *Prosody) Analyze(poem Poem) Analysis {
	p = p.orDefault()
	n := poem.NumLines()
	if n == 0 {
		return Analysis{}
	}
	a := Analysis{
		Tones:      make([][]Tone, n),
		RhymeLines: make([]int, 0, n),
		Rhymed:     p.evenLinesRhyme(poem, false),
		LevelRhyme: p.evenLinesRhyme(poem, true),
	}
	tones := make([]Tone, len(poem.chars))
	for i, r := range poem.chars {
		tones[i] = p.info(r).tone
	}
	for i := range n {
		a.Tones[i] = tones[i*LineLen : (i+1)*LineLen : (i+1)*LineLen]
	}

	// Rhyme with line 2.
	var total, passed float64
	end2 := poem.lastChar(1)
	known2 := p.knowsRhyme(end2)
	for i := range n {
		end := poem.lastChar(i)
		if !known2 || !p.knowsRhyme(end) {
			continue
		}
		rhymes := p.Rhymes(end, end2)
		if rhymes {
			a.RhymeLines = append(a.RhymeLines, i+1)
		}
		if i%2 == 1 && i > 1 {
			total += weightRhyme
			if rhymes {
				passed += weightRhyme
			} else {
				a.Violations = append(a.Violations, Violation{
					Line: i + 1, Pos: LineLen, Rule: "rhyme",
					Detail: fmt.Sprintf("%q does not rhyme with %q at the end of line 2", end, end2),
				})
			}
		}
	}

	// The best pattern.
	best, bestCost := &patterns[0], -1.0
	for k := range patterns {
		pt := &patterns[k]
		cost := 0.0
		for i := range n {
			want := pt.line(i)
			for j, t := range a.Tones[i] {
				if t.known() && t != want[j] {
					cost += positionWeight(j)
				}
			}
		}
		if bestCost < 0 || cost < bestCost {
			best, bestCost = pt, cost
		}
	}
	a.Pattern = best.name

	for i := range n {
		line, want := a.Tones[i], best.line(i)
		for j, t := range line {
			if !t.known() {
				continue
			}
			w := positionWeight(j)
			total += w
			if t == want[j] {
				passed += w
				continue
			}
			if w == weightStrict {
				a.Violations = append(a.Violations, Violation{
					Line: i + 1, Pos: j + 1, Rule: "tone",
					Detail: fmt.Sprintf("%q is %v where the pattern %s has %v", poem.chars[i*LineLen+j], t, best.name, want[j]),
				})
			}
		}
		if line[1].known() && line[1] == line[3] {
			a.Violations = append(a.Violations, Violation{
				Line: i + 1, Pos: 4, Rule: "二四不同",
				Detail: fmt.Sprintf("the 2nd and 4th characters, %q and %q, are both %v", poem.chars[i*LineLen+1], poem.chars[i*LineLen+3], line[1]),
			})
		}
		if i == 0 {
			continue
		}
		prev := a.Tones[i-1]
		if !prev[1].known() || !line[1].known() {
			continue
		}
		second, prevSecond := poem.chars[i*LineLen+1], poem.chars[(i-1)*LineLen+1]
		if i%2 == 1 && line[1] == prev[1] {
			a.Violations = append(a.Violations, Violation{
				Line: i + 1, Pos: 2, Rule: "对",
				Detail: fmt.Sprintf("the 2nd character %q is %v like %q in line %d; the lines of a couplet should differ", second, line[1], prevSecond, i),
			})
		}
		if i%2 == 0 && line[1] != prev[1] {
			a.Violations = append(a.Violations, Violation{
				Line: i + 1, Pos: 2, Rule: "粘",
				Detail: fmt.Sprintf("the 2nd character %q is %v but %q in line %d is %v; they should agree", second, line[1], prevSecond, i, prev[1]),
			})
		}
	}
	slices.SortStableFunc(a.Violations, func(x, y Violation) int {
		if x.Line != y.Line {
			return x.Line - y.Line
		}
		return x.Pos - y.Pos
	})
	if total > 0 {
		a.Score = passed / total
	}
	return a
}

// knowsRhyme reports whether p can place r in a rhyme group.
func (p *Prosody) knowsRhyme(r rune) bool {
	info := p.info(r)
	return info.inTable || info.pinyin != 0
}

// lastChar returns the last character of line i, counting from 0.
func (p Poem) lastChar(i int) rune { return p.chars[i*LineLen+LineLen-1] }

// RhymeOK reports whether the last characters of the even lines (2 and 4,
// and 6 and 8 in an eight-line poem) share one rhyme group, the rule every
// regulated poem keeps; [Prosody.Rhymes] says how groups are compared. In
// a couplet the last character of the second line need only be known.
// RhymeOK does not allocate.
func (p *Prosody) RhymeOK(poem Poem) bool { return p.orDefault().evenLinesRhyme(poem, false) }

// LevelRhymeOK reports whether the last characters of the even lines share
// one rhyme group of the level tone, as regulated verse (近体诗) requires.
// It does not allocate.
func (p *Prosody) LevelRhymeOK(poem Poem) bool { return p.orDefault().evenLinesRhyme(poem, true) }

// evenLinesRhyme implements RhymeOK and LevelRhymeOK.
func (p *Prosody) evenLinesRhyme(poem Poem, level bool) bool {
	n := poem.NumLines()
	if n < 2 {
		return false
	}
	// Table groups and Mandarin finals cannot be compared with each
	// other, so the finals decide unless the table has every character.
	inTable := true
	for i := 1; i < n; i += 2 {
		if !p.info(poem.lastChar(i)).inTable {
			inTable = false
			break
		}
	}
	if inTable {
		shared := groupSet{^uint64(0), ^uint64(0)}
		if level {
			shared = p.level
		}
		for i := 1; i < n; i += 2 {
			shared = shared.and(p.info(poem.lastChar(i)).table)
		}
		return !shared.empty()
	}
	shared := ^uint32(0)
	for i := 1; i < n; i += 2 {
		info := p.info(poem.lastChar(i))
		if level {
			shared &= info.pinyinLevel
		} else {
			shared &= info.pinyin
		}
	}
	return shared != 0
}

// ErSiBuTong checks the rule 二四不同, that the second and fourth characters
// of a line differ in tone class. It counts as checked the lines where both
// characters have a single known class ([Ping] or [Ze]), and as ok those of
// them where the classes differ. It does not allocate.
func (p *Prosody) ErSiBuTong(poem Poem) (ok, checked int) {
	p = p.orDefault()
	for i := range poem.NumLines() {
		t2 := p.info(poem.chars[i*LineLen+1]).tone
		t4 := p.info(poem.chars[i*LineLen+3]).tone
		if t2.known() && t4.known() {
			checked++
			if t2 != t4 {
				ok++
			}
		}
	}
	return ok, checked
}
