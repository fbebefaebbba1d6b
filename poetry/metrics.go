package poetry

import "math"

// Text metrics for judging generated poems against references, against each
// other and against a training corpus. Characters are the tokens: Chinese
// verse is not written with spaces, and a five-character line is too short
// for word segmentation to be reliable.
//
// Every n-gram lies within one line. A line of verse is a unit of sense and
// of prosody, closed by punctuation; the pair made of the last character of
// one line and the first of the next is not a phrase of the poem, and counting
// it would reward copying line order rather than wording. A poem of L lines
// therefore has L·(LineLen−n+1) n-grams of order n, and orders above LineLen
// have none: the maximum order of every function here is limited to LineLen.

// ngramCounts holds the n-grams of one poem by order: counts[n-1] maps each
// n-gram, as a string of its characters, to the number of times it occurs.
type ngramCounts []map[string]int

// countNgrams returns the n-grams of p of orders 1 to maxN, within lines.
func countNgrams(p Poem, maxN int) ngramCounts {
	counts := make(ngramCounts, maxN)
	for n := 1; n <= maxN; n++ {
		m := make(map[string]int, p.NumLines()*(LineLen-n+1))
		for i := 0; i < p.NumLines(); i++ {
			line := p.Line(i)
			for j := 0; j+n <= len(line); j++ {
				m[string(line[j:j+n])]++
			}
		}
		counts[n-1] = m
	}
	return counts
}

// ngramTotal is the number of n-grams of order n in a poem of the given
// number of lines.
func ngramTotal(lines, n int) int {
	return lines * max(0, LineLen-n+1)
}

// closestLength returns, among lengths, the one closest to c, preferring
// the shorter on a tie as the reference BLEU implementations do.
func closestLength(c int, lengths []int) int {
	dist := func(r int) int {
		if r < c {
			return c - r
		}
		return r - c
	}
	best := lengths[0]
	for _, r := range lengths[1:] {
		d, bd := dist(r), dist(best)
		if d < bd || (d == bd && r < best) {
			best = r
		}
	}
	return best
}

// bleuScore combines clipped n-gram matches and candidate n-gram totals of
// orders 1 to len(match) into BLEU: the geometric mean of the precisions
// times the brevity penalty. With smooth, orders above 1 add one to their
// matches and totals (Lin and Och 2004).
func bleuScore(match, total []int, candLen, refLen int, smooth bool) float64 {
	if candLen == 0 || match[0] == 0 {
		return 0
	}
	var logP float64
	for n := range match {
		m, t := float64(match[n]), float64(total[n])
		if n > 0 && smooth {
			m, t = m+1, t+1
		}
		if m == 0 {
			return 0
		}
		logP += math.Log(m / t)
	}
	bleu := math.Exp(logP / float64(len(match)))
	if candLen < refLen {
		bleu *= math.Exp(1 - float64(refLen)/float64(candLen))
	}
	return bleu
}

// validOrder reports whether maxN is an n-gram order that poems have.
func validOrder(maxN int) bool { return maxN >= 1 && maxN <= LineLen }

// BLEU returns the sentence-level BLEU score (Papineni et al. 2002) of
// candidate against references, with characters as tokens and n-grams of
// orders 1 to maxN (usually 4) taken within lines. It is between 0 and 1,
// and 1 when candidate equals a reference. N-grams never span two lines:
// the last character of a line and the first of the next are not a phrase
// of the poem, and [Distinct] counts n-grams the same way.
//
// Each n-gram of the candidate counts as matched at most as many times as it
// occurs in the reference where it occurs most often (clipping). The score is
// the geometric mean of the matched shares of the candidate's n-grams of each
// order, times the brevity penalty exp(1 − r/c) when the candidate's c
// characters are fewer than the r of the reference closest in length.
//
// A single poem of 20 characters often shares no 3-gram or 4-gram with a
// reference even when it is close, which would make unsmoothed BLEU 0 and
// unable to rank such poems. BLEU therefore adds one to the matches and to
// the total of every order above 1 ("smoothing 2" of Lin and Och 2004, as
// compared by Chen and Cherry 2014), which leaves identical texts at 1 and
// makes the missing orders cost a factor of about 1/(total+1) each. Unigrams
// are not smoothed: a candidate without a single character of any reference
// scores 0.
//
// BLEU returns 0 for an empty candidate or no references, and NaN when maxN
// is outside 1 to LineLen.
func BLEU(candidate Poem, references []Poem, maxN int) float64 {
	if !validOrder(maxN) {
		return math.NaN()
	}
	if len(references) == 0 {
		return 0
	}
	cand := countNgrams(candidate, maxN)
	// Clip by the largest count in any single reference, looking up only
	// the candidate's n-grams.
	maxRef := make([]map[string]int, maxN)
	for n := range maxRef {
		maxRef[n] = make(map[string]int, len(cand[n]))
	}
	lengths := make([]int, len(references))
	for i, r := range references {
		lengths[i] = len(r.Chars())
		ref := countNgrams(r, maxN)
		for n, grams := range cand {
			for g := range grams {
				if c := ref[n][g]; c > maxRef[n][g] {
					maxRef[n][g] = c
				}
			}
		}
	}
	match, total := make([]int, maxN), make([]int, maxN)
	for n, grams := range cand {
		for g, c := range grams {
			match[n] += min(c, maxRef[n][g])
		}
		total[n] = ngramTotal(candidate.NumLines(), n+1)
	}
	c := len(candidate.Chars())
	return bleuScore(match, total, c, closestLength(c, lengths), true)
}

// CorpusBLEU returns the corpus-level BLEU score of candidates, each against
// its own references refs[i], with characters as tokens and n-grams of orders
// 1 to maxN within lines, as defined by Papineni et al. (2002): clipped
// matches and n-gram totals are summed over all candidates before the
// precisions are taken, and the brevity penalty compares the total length of
// the candidates with the total length of their closest references.
//
// Pooling makes zero counts unlikely, so, as is standard, no smoothing is
// applied: the score is 0 only if some order has no match in the whole
// corpus. A candidate with no references contributes its n-grams, unmatched,
// and no reference length.
//
// CorpusBLEU returns 0 for no candidates, and NaN when len(refs) differs
// from len(candidates) or maxN is outside 1 to LineLen.
func CorpusBLEU(candidates []Poem, refs [][]Poem, maxN int) float64 {
	if !validOrder(maxN) || len(refs) != len(candidates) {
		return math.NaN()
	}
	match, total := make([]int, maxN), make([]int, maxN)
	var candLen, refLen int
	for i, cand := range candidates {
		counts := countNgrams(cand, maxN)
		c := len(cand.Chars())
		candLen += c
		for n := range total {
			total[n] += ngramTotal(cand.NumLines(), n+1)
		}
		if len(refs[i]) == 0 {
			continue
		}
		lengths := make([]int, len(refs[i]))
		refCounts := make([]ngramCounts, len(refs[i]))
		for j, r := range refs[i] {
			lengths[j] = len(r.Chars())
			refCounts[j] = countNgrams(r, maxN)
		}
		refLen += closestLength(c, lengths)
		for n, grams := range counts {
			for g, k := range grams {
				best := 0
				for _, rc := range refCounts {
					best = max(best, rc[n][g])
				}
				match[n] += min(k, best)
			}
		}
	}
	return bleuScore(match, total, candLen, refLen, false)
}

// gramTop records, for one n-gram, its two largest counts in different
// poems and the poem with the largest, so that the largest count among all
// poems but one can be read off without looking at the others.
type gramTop struct {
	first, second int
	owner         int // the poem with count first
}

// SelfBLEU returns the mean, over poems, of the BLEU score of each poem
// against all the others as references (Zhu et al. 2018, Texygen), with
// the n-gram orders and smoothing of [BLEU]. It measures how much generated
// poems repeat one another: lower is more diverse. A poem with a copy
// elsewhere in the set scores 1.
//
// Comparing every poem with every other costs O(n²) in principle; SelfBLEU
// counts each poem's n-grams once and keeps, for every n-gram, its two
// largest counts in any poem, which gives the clipping count against "all
// the others" of each poem directly, so the cost is linear in the number of
// poems. The result equals averaging [BLEU] over the poems.
//
// SelfBLEU returns 0 for fewer than two poems, and NaN when maxN is outside
// 1 to LineLen.
func SelfBLEU(poems []Poem, maxN int) float64 {
	if !validOrder(maxN) {
		return math.NaN()
	}
	if len(poems) < 2 {
		return 0
	}
	counts := make([]ngramCounts, len(poems))
	tops := make([]map[string]gramTop, maxN)
	for n := range tops {
		tops[n] = map[string]gramTop{}
	}
	lengthCount := map[int]int{}
	for i, p := range poems {
		counts[i] = countNgrams(p, maxN)
		lengthCount[len(p.Chars())]++
		for n, grams := range counts[i] {
			for g, c := range grams {
				t, ok := tops[n][g]
				switch {
				case !ok:
					t = gramTop{first: c, owner: i}
				case c > t.first:
					t = gramTop{first: c, second: t.first, owner: i}
				case c > t.second:
					t.second = c
				}
				tops[n][g] = t
			}
		}
	}
	match, total := make([]int, maxN), make([]int, maxN)
	var sum float64
	for i, p := range poems {
		for n, grams := range counts[i] {
			match[n] = 0
			for g, c := range grams {
				t := tops[n][g]
				ref := t.first
				if t.owner == i {
					ref = t.second
				}
				match[n] += min(c, ref)
			}
			total[n] = ngramTotal(p.NumLines(), n+1)
		}
		c := len(p.Chars())
		// The lengths of the other poems: all lengths, with this poem's
		// own left out when no other poem has it.
		lengths := make([]int, 0, len(lengthCount))
		for l, k := range lengthCount {
			if l != c || k > 1 {
				lengths = append(lengths, l)
			}
		}
		sum += bleuScore(match, total, c, closestLength(c, lengths), true)
	}
	return sum / float64(len(poems))
}

// Distinct returns distinct-n (Li et al. 2016): the number of different
// n-grams among all n-grams of poems, taken within lines, divided by the
// number of n-grams. It is 1 when no n-gram repeats anywhere in the set and
// falls as poems reuse wording, their own or each other's; higher is more
// diverse. Distinct-1 is the share of distinct characters.
//
// Distinct returns 0 for no n-grams, and NaN when n is outside 1 to LineLen.
func Distinct(poems []Poem, n int) float64 {
	if !validOrder(n) {
		return math.NaN()
	}
	seen := map[string]struct{}{}
	total := 0
	for _, p := range poems {
		for i := 0; i < p.NumLines(); i++ {
			line := p.Line(i)
			for j := 0; j+n <= len(line); j++ {
				seen[string(line[j:j+n])] = struct{}{}
				total++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(len(seen)) / float64(total)
}

// Novelty says how much of a set of generated poems is copied verbatim from
// a training corpus. Both shares are between 0 and 1; 0 means that nothing
// was copied.
type Novelty struct {
	Lines float64 `json:"lines"` // share of lines that occur as a line of a training poem
	Poems float64 `json:"poems"` // share of poems that are a training poem, character for character
}

// NoveltyIndex holds the lines and poems of a training corpus, to find
// generated text that was memorised rather than composed. It is not changed
// after it is built and is safe for concurrent use.
type NoveltyIndex struct {
	lines map[string]struct{}
	poems map[string]struct{}
}

// NewNoveltyIndex indexes the lines and the poems of train.
func NewNoveltyIndex(train []Poem) *NoveltyIndex {
	ix := &NoveltyIndex{lines: map[string]struct{}{}, poems: make(map[string]struct{}, len(train))}
	for _, p := range train {
		ix.poems[p.Text()] = struct{}{}
		for i := 0; i < p.NumLines(); i++ {
			ix.lines[string(p.Line(i))] = struct{}{}
		}
	}
	return ix
}

// Copied returns the share of the lines of poems found among the lines of
// the training poems, at any position in any poem, and the share of poems
// identical to a training poem. Punctuation plays no part: poems are
// compared by their characters, so a poem matches only a training poem of
// the same number of lines. A nil index or no poems give zero shares.
func (ix *NoveltyIndex) Copied(poems []Poem) Novelty {
	var nv Novelty
	if ix == nil || len(poems) == 0 {
		return nv
	}
	var lines, copiedLines, copiedPoems int
	for _, p := range poems {
		if _, ok := ix.poems[p.Text()]; ok {
			copiedPoems++
		}
		for i := 0; i < p.NumLines(); i++ {
			lines++
			if _, ok := ix.lines[string(p.Line(i))]; ok {
				copiedLines++
			}
		}
	}
	if lines > 0 {
		nv.Lines = float64(copiedLines) / float64(lines)
	}
	nv.Poems = float64(copiedPoems) / float64(len(poems))
	return nv
}
