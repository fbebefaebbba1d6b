package model

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"

	"poetvae/corpus"
	"poetvae/poetry"
)

// ToneRule says how closely decoding keeps the tonal rules of regulated
// verse (近体诗); see [DecodeOptions].
type ToneRule string

// Tone rules. The zero ToneRule is TonesOff.
const (
	// TonesOff leaves tones to the model.
	TonesOff ToneRule = "off"
	// TonesLoose keeps the rules of the second and fourth characters of
	// each line, which carry its rhythm: 二四不同 (they differ in tone
	// class), 对 (the second characters of a couplet's lines differ) and
	// 粘 (the second character of a couplet's first line agrees with that
	// of the line before).
	TonesLoose ToneRule = "loose"
	// TonesStrict follows one standard pattern (see
	// [poetry.TonePatterns]) at the second, fourth and fifth character of
	// every line. The first and third stay free, by the rule 一三不论, which
	// is also how [poetry.Prosody.Analyze] weighs them.
	TonesStrict ToneRule = "strict"
)

// ParseToneRule returns the rule named s: "off" (or ""), "loose" or
// "strict".
func ParseToneRule(s string) (ToneRule, error) {
	switch ToneRule(s) {
	case "", TonesOff:
		return TonesOff, nil
	case TonesLoose, TonesStrict:
		return ToneRule(s), nil
	}
	return "", fmt.Errorf("unknown tone rule %q (want strict, loose or off)", s)
}

// Names of the constraints that decoding relaxes, weakest first, as they
// appear in [Note.Constraint].
const (
	ConstraintNoRepeat = "no-repeat"
	ConstraintTones    = "tones"
	ConstraintRhyme    = "rhyme"
)

// Note records a place where a decoded poem does not keep one of the
// constraints it was asked to keep: where no character kept all of them
// and the weakest had to give way, or where the fixed characters break one
// themselves. Fixed characters and the form of the poem are never given up.
type Note struct {
	// Line and Pos locate the character, counting from 1.
	Line int `json:"line"`
	Pos  int `json:"pos"`
	// Constraint is the one not kept: ConstraintNoRepeat, ConstraintTones
	// or ConstraintRhyme.
	Constraint string `json:"constraint"`
	// Detail says what happened, naming the characters.
	Detail string `json:"detail"`
}

// String returns the note as one line for people, such as
// "line 4, position 5: rhyme relaxed: 月 does not rhyme in ang".
func (n Note) String() string {
	return fmt.Sprintf("line %d, position %d: %s relaxed: %s", n.Line, n.Pos, n.Constraint, n.Detail)
}

// DecodeResult is one decoded poem with what the constraints made of it.
type DecodeResult struct {
	Poem poetry.Poem
	// LogProb is the log-probability of the poem's characters under the
	// model, given z: the sum over the steps of log p(character | the
	// characters before, z) at temperature 1, over characters only. Beam
	// search maximises it among the poems the constraints allow.
	LogProb float64
	// Pattern names the tonal pattern the poem was written to: a name of
	// [poetry.TonePatterns] under TonesStrict, "平起" or "仄起" (the class
	// of the second character of the first line) under TonesLoose, and ""
	// without a tone rule.
	Pattern string
	// Rhyme lists the rhyme groups, as the Prosody names them, that the
	// rhyming line ends share; nil without a rhyme constraint.
	Rhyme []string
	// Notes lists the constraints not kept, in poem order.
	Notes []Note
}

// Violation bits: the constraints a character would break at a step. Their
// order is the order of relaxation, weakest first: a relaxation is a set of
// these bits, and the sets are tried in increasing numeric order, so that
// a stronger constraint is given up only when no combination of weaker ones
// suffices.
const (
	breaksRepeat uint8 = 1 << iota
	breaksTones
	breaksRhyme
)

var constraintNames = [...]string{ConstraintNoRepeat, ConstraintTones, ConstraintRhyme}

// maxRhymeGroups bounds the rhyme groups of one Prosody over a
// vocabulary: the at most 128 groups of a rhyme table and the Mandarin
// finals of the characters it lacks.
const maxRhymeGroups = 192

// groupBits is a set of rhyme group ids of a charTables.
type groupBits [maxRhymeGroups / 64]uint64

func (s groupBits) and(t groupBits) groupBits {
	for i := range s {
		s[i] &= t[i]
	}
	return s
}

func (s groupBits) empty() bool { return s == groupBits{} }

func (s *groupBits) add(g int) { s[g/64] |= 1 << (g % 64) }

func (s groupBits) ids() []int {
	var ids []int
	for w, word := range s {
		for ; word != 0; word &= word - 1 {
			ids = append(ids, w*64+bits.TrailingZeros64(word))
		}
	}
	return ids
}

// charTables holds what a Prosody says of each id of a model's vocabulary,
// so that masking a step costs a table lookup per character rather than a
// Prosody query. It is built once per model and Prosody.
type charTables struct {
	prosody *poetry.Prosody
	tone    []poetry.Tone // by id; ToneUnknown for the special ids
	groups  []groupBits   // by id
	names   []string      // group names by group id, in order of first use in the vocabulary
	ids     map[string]int
	size    []int // characters of the vocabulary in each group
}

// tables returns the character tables of m under p (nil for NewProsody),
// building them on first use.
func (m *Model) tables(p *poetry.Prosody) (*charTables, error) {
	if p == nil {
		p = m.Prosody()
	}
	if t := m.tabs; t != nil && t.prosody == p {
		return t, nil
	}
	V := m.Config.Vocab
	t := &charTables{prosody: p, tone: make([]poetry.Tone, V), groups: make([]groupBits, V), ids: map[string]int{}}
	for id := corpus.NumSpecial; id < V; id++ {
		r := m.Vocab.Rune(id)
		t.tone[id] = p.Tone(r)
		for _, name := range p.RhymeGroups(r) {
			g, ok := t.ids[name]
			if !ok {
				if len(t.names) == maxRhymeGroups {
					return nil, fmt.Errorf("the prosody has more than %d rhyme groups over the model's characters", maxRhymeGroups)
				}
				g = len(t.names)
				t.ids[name] = g
				t.names = append(t.names, name)
				t.size = append(t.size, 0)
			}
			t.groups[id].add(g)
			t.size[g]++
		}
	}
	m.tabs = t
	return t, nil
}

// charGroups returns the groups of r among those of the vocabulary.
func (t *charTables) charGroups(r rune) groupBits {
	var s groupBits
	for _, name := range t.prosody.RhymeGroups(r) {
		if g, ok := t.ids[name]; ok {
			s.add(g)
		}
	}
	return s
}

// group returns the rhyme group called name: a group name as the Prosody
// writes it ("ang", "下平聲七陽"), the unique one that ends in name ("七陽"),
// or, for a single character that names no group, the groups of that
// character (阳 for 下平聲七陽, as 阳 is in it).
func (t *charTables) group(name string) (groupBits, error) {
	var s groupBits
	if g, ok := t.ids[name]; ok {
		s.add(g)
		return s, nil
	}
	var matches []string
	for g, n := range t.names {
		if name != "" && strings.HasSuffix(n, name) {
			s.add(g)
			matches = append(matches, n)
		}
	}
	switch {
	case len(matches) == 1:
		return s, nil
	case len(matches) > 1:
		return groupBits{}, fmt.Errorf("rhyme group %q is ambiguous: %s", name, strings.Join(matches, ", "))
	}
	if r, size := utf8.DecodeRuneInString(name); size == len(name) && poetry.IsHan(r) {
		if s := t.charGroups(r); !s.empty() {
			return s, nil
		}
	}
	const shown = 30
	list := strings.Join(t.names[:min(shown, len(t.names))], ", ")
	if len(t.names) > shown {
		list += fmt.Sprintf(" and %d more", len(t.names)-shown)
	}
	if list == "" {
		return groupBits{}, fmt.Errorf("no rhyme group %q: the prosody knows the rhyme of none of the model's characters", name)
	}
	return groupBits{}, fmt.Errorf("no rhyme group %q among the model's characters; the groups are %s", name, list)
}

func (t *charTables) groupNames(s groupBits) []string {
	var names []string
	for _, g := range s.ids() {
		names = append(names, t.names[g])
	}
	return names
}

// tonePattern is a tonal pattern as decoding enforces it: the class wanted
// at each position, ToneUnknown where the position is free.
type tonePattern struct {
	name  string
	lines [8][poetry.LineLen]poetry.Tone
}

// tonePatterns returns the candidate patterns of a rule, the commonest
// first. Loose patterns keep only the second and fourth characters of the
// standard ones, which makes two of them: 仄起 and 平起.
func tonePatterns(rule ToneRule, firstLineRhymes bool) []tonePattern {
	var out []tonePattern
	for _, tp := range poetry.TonePatterns() {
		pt := tonePattern{name: tp.Name, lines: tp.Lines}
		for i := range pt.lines {
			pt.lines[i][0], pt.lines[i][2] = poetry.ToneUnknown, poetry.ToneUnknown
			if rule == TonesLoose {
				pt.lines[i][4] = poetry.ToneUnknown
			}
		}
		if rule == TonesLoose {
			pt.name = "平起"
			if pt.lines[0][1] == poetry.Ze {
				pt.name = "仄起"
			}
			if !slices.ContainsFunc(out, func(o tonePattern) bool { return o.lines == pt.lines }) {
				out = append(out, pt)
			}
			continue
		}
		if firstLineRhymes && !tp.FirstLineRhymes {
			continue
		}
		out = append(out, pt)
	}
	return out
}

// plan is the compiled form of the constraints of one Decode call, shared
// by all its poems; the state of each poem is a hyp.
type plan struct {
	vocab    *corpus.Vocab
	tab      *charTables // nil without tone or rhyme constraints
	lines    int
	active   bool  // some constraint applies
	fixed    []int // the id fixed at each position, 0 (PAD, never a character) where free
	reserved []int // the fixed ids, which no free position may take under no-repeat
	noRepeat bool

	tones    ToneRule
	patterns []tonePattern
	// compat[i][j][t] is the set of patterns (bits indexing patterns)
	// that allow tone class t at line i, position j.
	compat   [8][poetry.LineLen][4]uint16
	initPats uint16

	rhymeAt   [8]bool // lines, from 0, whose last character rhymes
	initRhyme groupBits

	notes []Note // about the fixed characters, for every poem
}

// hyp is the state of one poem being decoded, or of one beam.
type hyp struct {
	ids   []int     // the characters so far
	pats  uint16    // the tonal patterns still possible
	rhyme groupBits // the rhyme groups still possible
	notes []Note
	logp  float64
}

func (p *plan) start() hyp {
	return hyp{ids: make([]int, 0, 5*p.lines), pats: p.initPats, rhyme: p.initRhyme, notes: slices.Clone(p.notes)}
}

func (h *hyp) clone() hyp {
	c := *h
	c.ids = append(make([]int, 0, cap(h.ids)), h.ids...)
	c.notes = slices.Clip(h.notes) // appending copies
	return c
}

// newPlan checks and compiles the constraints of opt.
func (m *Model) newPlan(opt DecodeOptions) (*plan, error) {
	N := 5 * opt.Lines
	p := &plan{vocab: m.Vocab, lines: opt.Lines, noRepeat: opt.NoRepeat, fixed: make([]int, N)}
	tones, err := ParseToneRule(string(opt.Tones))
	if err != nil {
		return nil, optionErr("Tones", err)
	}
	p.tones = tones
	rhyme := opt.Rhyme || opt.RhymeGroup != "" || opt.RhymeChar != 0 || opt.RhymeFirstLine

	// Fixed characters.
	if opt.Template != nil && len(opt.Template) != N {
		return nil, optionErr("Template", fmt.Errorf("the template has %d positions; a %d-line poem has %d", len(opt.Template), opt.Lines, N))
	}
	fixedRune := make([]rune, N)
	copy(fixedRune, opt.Template)
	for _, pos := range slices.Sorted(maps.Keys(opt.Fixed)) {
		r := opt.Fixed[pos]
		if pos < 0 || pos >= N {
			return nil, optionErr("Fixed", fmt.Errorf("fixed character %q at position %d, outside a %d-line poem (positions 0 to %d)", r, pos, opt.Lines, N-1))
		}
		if old := fixedRune[pos]; old != 0 && old != r && r != 0 {
			return nil, optionErr("Fixed", fmt.Errorf("line %d, position %d is fixed twice: to %q by the template and to %q", pos/5+1, pos%5+1, old, r))
		}
		if r != 0 {
			fixedRune[pos] = r
		}
	}
	var unknown []string
	for pos, r := range fixedRune {
		if r == 0 {
			continue
		}
		if !m.Vocab.Has(r) {
			unknown = append(unknown, fmt.Sprintf("%q (line %d, position %d)", r, pos/5+1, pos%5+1))
			continue
		}
		id := m.Vocab.ID(r)
		p.fixed[pos] = id
		if p.noRepeat {
			if first := slices.Index(p.fixed[:pos], id); first >= 0 {
				p.notes = append(p.notes, Note{Line: pos/5 + 1, Pos: pos%5 + 1, Constraint: ConstraintNoRepeat,
					Detail: fmt.Sprintf("the fixed characters repeat %c (also at line %d, position %d)", r, first/5+1, first%5+1)})
			}
		}
		p.reserved = append(p.reserved, id)
	}
	// The fixed characters come from Template, or from Fixed where it
	// gives any.
	fixedBy := "Template"
	if len(opt.Fixed) > 0 {
		fixedBy = "Fixed"
	}
	if len(unknown) == 1 {
		return nil, optionErr(fixedBy, fmt.Errorf("fixed character %s is not in the model's vocabulary", unknown[0]))
	}
	if len(unknown) > 1 {
		return nil, optionErr(fixedBy, fmt.Errorf("fixed characters %s are not in the model's vocabulary", strings.Join(unknown, ", ")))
	}
	if !p.noRepeat {
		p.reserved = nil
	}
	p.active = p.noRepeat || len(p.reserved) > 0 || rhyme || tones != TonesOff ||
		slices.ContainsFunc(p.fixed, func(id int) bool { return id != 0 })
	if !rhyme && tones == TonesOff {
		return p, nil
	}
	if p.tab, err = m.tables(opt.Prosody); err != nil {
		return nil, optionErr("Prosody", err)
	}

	// Rhyme: the groups allowed from the start.
	given := false
	if rhyme {
		for i := range opt.Lines {
			p.rhymeAt[i] = i%2 == 1 || (i == 0 && opt.RhymeFirstLine)
		}
		if given, err = p.planRhyme(opt); err != nil {
			return nil, err
		}
	}
	if tones != TonesOff {
		p.planTones(opt, rhyme && given)
	}
	return p, nil
}

// planRhyme sets the rhyme groups allowed from the start: those asked for,
// narrowed by the fixed characters at rhyming positions. given reports
// whether that fixes the groups before decoding.
func (p *plan) planRhyme(opt DecodeOptions) (given bool, err error) {
	t := p.tab
	all := groupBits{}
	for g := range t.names {
		all.add(g)
	}
	s := all
	if opt.RhymeGroup != "" {
		g, err := t.group(opt.RhymeGroup)
		if err != nil {
			return false, optionErr("RhymeGroup", err)
		}
		s, given = g, true
	}
	if opt.RhymeChar != 0 {
		g := t.charGroups(opt.RhymeChar)
		if g.empty() {
			return false, optionErr("RhymeChar", fmt.Errorf("no character of the model's vocabulary rhymes with %q under the prosody", opt.RhymeChar))
		}
		if s.and(g).empty() {
			return false, optionErr("RhymeChar", fmt.Errorf("%q is not in the rhyme group %s", opt.RhymeChar, opt.RhymeGroup))
		}
		s, given = s.and(g), true
	}
	for pos, id := range p.fixed {
		if id == 0 || !p.rhymeAt[pos/5] || pos%5 != 4 {
			continue
		}
		// A fixed line end that cannot join the groups so far is noted
		// when it is written; the others narrow the groups.
		if g := s.and(t.groups[id]); !g.empty() {
			s, given = g, true
		}
	}
	if !given {
		// Left to the model, the rhyme is the group of the first rhyming
		// character written. Groups too small to give each rhyming line a
		// character of its own would end in a relaxed rhyme, so they are
		// not offered.
		need := 0
		for _, r := range p.rhymeAt {
			if r {
				need++
			}
		}
		var viable groupBits
		for g, n := range t.size {
			if n >= need {
				viable.add(g)
			}
		}
		if !viable.empty() {
			s = viable
		}
	}
	p.initRhyme = s
	return given, nil
}

// planTones chooses the tonal patterns possible from the start: those that
// break the fewest fixed characters, and, when the rhyme groups are known,
// that rhyme on a tone those groups have.
func (p *plan) planTones(opt DecodeOptions, rhymeKnown bool) {
	t := p.tab
	p.patterns = tonePatterns(p.tones, opt.RhymeFirstLine)
	for k, pt := range p.patterns {
		for i := range p.lines {
			for j, want := range pt.lines[i] {
				for _, tone := range []poetry.Tone{poetry.Ping, poetry.Ze} {
					if want == poetry.ToneUnknown || want == tone {
						p.compat[i][j][tone] |= 1 << k
					}
				}
			}
		}
	}
	cands := uint16(1)<<len(p.patterns) - 1
	if rhymeKnown && p.tones == TonesStrict {
		var has [4]bool
		for id, g := range t.groups {
			if !g.and(p.initRhyme).empty() {
				has[t.tone[id]] = true
			}
		}
		var fit uint16
		for k, pt := range p.patterns {
			want := pt.lines[1][4]
			if has[want] || has[poetry.Either] || has[poetry.ToneUnknown] {
				fit |= 1 << k
			}
		}
		if fit != 0 {
			cands = fit
		}
	}
	best, bestCost := uint16(0), -1
	for k, pt := range p.patterns {
		if cands&(1<<k) == 0 {
			continue
		}
		cost := 0
		for pos, id := range p.fixed {
			tone := t.tone[id]
			if id != 0 && (tone == poetry.Ping || tone == poetry.Ze) && pt.lines[pos/5][pos%5] != poetry.ToneUnknown && pt.lines[pos/5][pos%5] != tone {
				cost++
			}
		}
		switch {
		case bestCost < 0 || cost < bestCost:
			best, bestCost = 1<<k, cost
		case cost == bestCost:
			best |= 1 << k
		}
	}
	p.initPats = best
}

// toneBad returns, for the tone classes Ping and Ze, whether h may not
// take them at position s; ok is false where no tone rule applies.
func (p *plan) toneBad(h *hyp, s int) (bad [4]bool, ok bool) {
	if p.tones == TonesOff {
		return bad, false
	}
	i, j := s/5, s%5
	for _, tone := range []poetry.Tone{poetry.Ping, poetry.Ze} {
		bad[tone] = p.compat[i][j][tone]&h.pats == 0
		ok = ok || bad[tone]
	}
	return bad, ok
}

func (p *plan) rhymesAt(s int) bool { return p.tab != nil && s%5 == 4 && p.rhymeAt[s/5] }

// breaks returns the constraints (tones and rhyme; repeats are the
// caller's) that character id would break at position s of h.
func (p *plan) breaks(h *hyp, s, id int) uint8 {
	var b uint8
	if bad, ok := p.toneBad(h, s); ok && bad[p.tab.tone[id]] {
		b |= breaksTones
	}
	if p.rhymesAt(s) && p.tab.groups[id].and(h.rhyme).empty() {
		b |= breaksRhyme
	}
	return b
}

// fill writes into v, for every id, the constraints it would break at
// position s of h, and returns the set of the values written (bit b for
// value b), or 0 when no constraint applies at s and v was left alone.
func (p *plan) fill(h *hyp, s int, v []uint8) (present uint8) {
	bad, toneOn := p.toneBad(h, s)
	rhymeOn := p.rhymesAt(s)
	if !toneOn && !rhymeOn && !p.noRepeat {
		return 0
	}
	if !toneOn && !rhymeOn {
		clear(v)
	} else {
		tone, groups, allowed := p.tab.tone, p.tab.groups, h.rhyme
		for id := corpus.NumSpecial; id < len(v); id++ {
			var b uint8
			if toneOn && bad[tone[id]] {
				b = breaksTones
			}
			if rhymeOn && groups[id].and(allowed).empty() {
				b |= breaksRhyme
			}
			v[id] = b
		}
	}
	if p.noRepeat {
		for _, id := range h.ids {
			v[id] |= breaksRepeat
		}
		for _, id := range p.reserved {
			v[id] |= breaksRepeat
		}
	}
	for _, b := range v[corpus.NumSpecial:] {
		present |= 1 << b
	}
	return present
}

// relaxation returns the weakest set of constraints to give up so that
// some character with a violation set in present (as fill reports it)
// keeps the rest.
func relaxation(present uint8) uint8 {
	for r := uint8(0); r < 8; r++ {
		for b := uint8(0); b < 8; b++ {
			if present&(1<<b) != 0 && b&^r == 0 {
				return r
			}
		}
	}
	return 7
}

// note records in h that id, at position s, breaks the constraints in b.
func (p *plan) note(h *hyp, s, id int, b uint8, fixed bool) {
	r := p.vocab.Rune(id)
	what := string(r)
	why := "no character keeps every constraint here"
	if fixed {
		what, why = "the fixed character "+what, "the template asks for it"
	}
	for bit, name := range constraintNames {
		if b&(1<<bit) == 0 {
			continue
		}
		var detail string
		switch uint8(1) << bit {
		case breaksRepeat:
			detail = fmt.Sprintf("%s repeats a character of the poem (%s)", what, why)
		case breaksTones:
			bad, _ := p.toneBad(h, s)
			want := poetry.Ping
			if bad[poetry.Ping] {
				want = poetry.Ze
			}
			detail = fmt.Sprintf("%s is %v where the pattern wants %v (%s)", what, p.tab.tone[id], want, why)
		case breaksRhyme:
			names := strings.Join(p.tab.groupNames(h.rhyme), ", ")
			if len(names) > 60 {
				names = "any group"
			}
			if p.tab.groups[id].empty() {
				detail = fmt.Sprintf("%s has no known rhyme (%s)", what, why)
			} else {
				detail = fmt.Sprintf("%s does not rhyme in %s (%s)", what, names, why)
			}
		}
		h.notes = append(h.notes, Note{Line: s/5 + 1, Pos: s%5 + 1, Constraint: name, Detail: detail})
	}
}

// advance appends id to h at position s and narrows h's patterns and
// rhyme groups to those id keeps.
func (p *plan) advance(h *hyp, s, id int) {
	h.ids = append(h.ids, id)
	if p.tab == nil {
		return
	}
	if p.tones != TonesOff {
		if tone := p.tab.tone[id]; tone == poetry.Ping || tone == poetry.Ze {
			if pats := h.pats & p.compat[s/5][s%5][tone]; pats != 0 {
				h.pats = pats
			}
		}
		if p.tones == TonesStrict && s == 4 {
			// The first line chooses the pattern: the commonest of those
			// it fits. Later lines are held to it.
			h.pats &= -h.pats
		}
	}
	if p.rhymesAt(s) {
		if g := p.tab.groups[id].and(h.rhyme); !g.empty() {
			h.rhyme = g
		}
	}
}

// result turns a finished hyp into a DecodeResult.
func (p *plan) result(h *hyp) (DecodeResult, error) {
	chars := make([]rune, len(h.ids))
	for i, id := range h.ids {
		chars[i] = p.vocab.Rune(id)
	}
	poem, err := poetry.New(chars)
	if err != nil { // the vocabulary holds only Han characters, so this means a damaged model
		return DecodeResult{}, fmt.Errorf("decoding produced a malformed poem: %w", err)
	}
	res := DecodeResult{Poem: poem, LogProb: h.logp, Notes: h.notes}
	slices.SortStableFunc(res.Notes, func(a, b Note) int { return (a.Line*8 + a.Pos) - (b.Line*8 + b.Pos) })
	if p.tab != nil && p.tones != TonesOff {
		res.Pattern = p.patterns[bits.TrailingZeros16(h.pats)].name
	}
	if p.tab != nil && slices.Contains(p.rhymeAt[:], true) {
		res.Rhyme = p.tab.groupNames(h.rhyme)
	}
	return res, nil
}
