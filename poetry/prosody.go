package poetry

import (
	"math/bits"
	"strings"
	"sync"

	"github.com/mozillazg/go-pinyin"
)

// Tone is the tone class of a character in verse: level (平) or oblique
// (仄), the two classes that the tonal patterns of regulated verse are made
// of.
type Tone uint8

// Tone classes.
const (
	// ToneUnknown is the class of a character the Prosody has no reading
	// for.
	ToneUnknown Tone = iota
	// Ping is the level tone (平声): in Middle Chinese the first of the
	// four tones, in Mandarin tones 1 and 2.
	Ping
	// Ze is the oblique tone (仄声): the rising, departing and entering
	// tones (上去入), in Mandarin tones 3 and 4.
	Ze
	// Either is the class of a character with readings in both classes,
	// such as 看 kān and kàn, which a poet may use as either.
	Either
)

// String returns "平", "仄", "中" (either) or "?" (unknown).
func (t Tone) String() string {
	switch t {
	case Ping:
		return "平"
	case Ze:
		return "仄"
	case Either:
		return "中"
	}
	return "?"
}

// known reports whether t is a single known class, Ping or Ze: only such
// tones can break a rule.
func (t Tone) known() bool { return t == Ping || t == Ze }

// toneOf returns the class of a character with readings in the level
// class (ping) and in the oblique class (ze).
func toneOf(ping, ze bool) Tone {
	switch {
	case ping && ze:
		return Either
	case ping:
		return Ping
	case ze:
		return Ze
	}
	return ToneUnknown
}

// groupSet is a set of the rhyme groups of a RhymeTable, a bit for each
// group id. Two words hold the 106 groups of the 平水韵.
type groupSet [2]uint64

// maxGroups is the number of groups a groupSet can hold.
const maxGroups = 128

func (s groupSet) and(t groupSet) groupSet { return groupSet{s[0] & t[0], s[1] & t[1]} }
func (s groupSet) empty() bool             { return s[0]|s[1] == 0 }
func (s *groupSet) add(id int)             { s[id/64] |= 1 << (id % 64) }

// ids returns the group ids in s in increasing order.
func (s groupSet) ids() []int {
	var ids []int
	for w, word := range s {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			ids = append(ids, w*64+b)
			word &^= 1 << b
		}
	}
	return ids
}

// charInfo is what a Prosody knows of one character. It is comparable so
// that identical records can be shared.
type charInfo struct {
	tone Tone
	// inTable reports whether the rhyme table, or the learned rhyme
	// classes, have the character; then table holds its groups (a class
	// is a group with one bit) and, for a table, tone comes from it.
	inTable bool
	table   groupSet
	// pinyin is the set of rhyme finals (bits indexing pinyinFinals) of
	// all Mandarin readings, pinyinLevel that of the level ones. They are
	// kept for table characters too, to compare them with characters the
	// table lacks.
	pinyin, pinyinLevel uint32
}

// The dense part of a Prosody's index covers Extension A and the CJK
// Unified Ideographs block, where nearly all characters of real poems are.
const (
	denseLo = 0x3400
	denseHi = 0xA000
)

// Prosody knows the tone class and the rhyme groups of characters. It is
// made by [NewProsody], [Prosody.WithRhymeTable], [Prosody.WithRhymeClasses]
// or [NewTableProsody], is never changed afterwards, and is safe for
// concurrent use.
//
// A nil *Prosody behaves as the one returned by NewProsody.
type Prosody struct {
	// Every character maps to an index into infos, where infos[0] is the
	// empty record of unknown characters. The index is a slice for the
	// dense range and a map elsewhere, so that a lookup neither allocates
	// nor hashes for the common characters.
	dense  []uint32
	sparse map[rune]uint32
	infos  []charInfo

	groups []string // names of the groups of charInfo.table; nil without a table or classes
	level  groupSet // the level groups among them
}

// pinyinProsody is the Prosody built from Mandarin readings alone. It is
// built once, on first use, as it takes some milliseconds.
var pinyinProsody = sync.OnceValue(buildPinyinProsody)

// NewProsody returns a Prosody that knows the tone class and rhyme of some
// 40,000 characters, simplified and traditional, from their Mandarin
// readings (the Unicode pinyin data embedded in go-pinyin).
//
// A reading in tone 1 or 2 is level (平), one in tone 3 or 4 oblique (仄);
// a character with readings in both classes is [Either], and one with only
// neutral-tone readings [ToneUnknown]. Characters that had the entering
// tone (入声) in Middle Chinese are often wrong: 白 bái, 国 guó or 十 shí
// read as level. Use [Prosody.WithRhymeTable] for classical verse.
//
// Two characters rhyme if readings of each share a rhyme final: the final of
// the syllable without its medial i, u or ü, so that 光 guāng, 霜 shuāng
// and 鄉 xiāng all rhyme on "ang". Finals that rhyme in Mandarin verse
// are merged further: o, uo and e ("e", as 歌 gē, 多 duō, 波 bō); ie and üe
// ("ê"); in and ün with en ("en"); ing with eng ("eng"); iu with ou, ui
// with ei. The i of zhi, chi, shi, ri, zi, ci, si is the apical vowel "-i",
// which does not rhyme with the i of 衣 yī; ü ("ü") does not rhyme with i,
// nor ong with eng, as the rhyme books keep them apart. The names appear in
// [Prosody.RhymeGroups].
func NewProsody() *Prosody { return pinyinProsody() }

// orDefault returns p, or the Mandarin-only Prosody for a nil p.
func (p *Prosody) orDefault() *Prosody {
	if p == nil {
		return pinyinProsody()
	}
	return p
}

// info returns what p knows of r; the record of an unknown character is
// empty.
func (p *Prosody) info(r rune) *charInfo {
	var i uint32
	if r >= denseLo && r < denseHi {
		i = p.dense[r-denseLo]
	} else {
		i = p.sparse[r]
	}
	return &p.infos[i]
}

// Tone returns the tone class of r.
func (p *Prosody) Tone(r rune) Tone {
	return p.orDefault().info(r).tone
}

// Rhymes reports whether a and b rhyme: whether they share a group of the
// rhyme table, or, if the table lacks either of them or there is no table,
// a rhyme final of their Mandarin readings. A known character rhymes with
// itself.
func (p *Prosody) Rhymes(a, b rune) bool {
	p = p.orDefault()
	ia, ib := p.info(a), p.info(b)
	if ia.inTable && ib.inTable {
		return !ia.table.and(ib.table).empty()
	}
	return ia.pinyin&ib.pinyin != 0
}

// RhymeGroups returns the names of the rhyme groups of r: those of the
// rhyme table, such as ["下平聲七陽"] for 光, if the table has r, else the
// rhyme finals of its Mandarin readings, such as ["ang"]. It returns nil for
// a character p does not know.
func (p *Prosody) RhymeGroups(r rune) []string {
	p = p.orDefault()
	info := p.info(r)
	var names []string
	if info.inTable {
		for _, id := range info.table.ids() {
			names = append(names, p.groups[id])
		}
		return names
	}
	for set := info.pinyin; set != 0; set &= set - 1 {
		names = append(names, pinyinFinals[bits.TrailingZeros32(set)])
	}
	return names
}

// prosodyBuilder gathers per-character records, sharing identical ones.
type prosodyBuilder struct {
	p  *Prosody
	id map[charInfo]uint32
}

func newProsodyBuilder() *prosodyBuilder {
	return &prosodyBuilder{
		p: &Prosody{
			dense:  make([]uint32, denseHi-denseLo),
			sparse: make(map[rune]uint32),
			infos:  []charInfo{{}},
		},
		id: map[charInfo]uint32{{}: 0},
	}
}

// copyProsodyBuilder returns a builder that starts from the records of p.
func copyProsodyBuilder(p *Prosody) *prosodyBuilder {
	b := &prosodyBuilder{
		p: &Prosody{
			dense:  append([]uint32(nil), p.dense...),
			sparse: make(map[rune]uint32, len(p.sparse)),
			infos:  append([]charInfo(nil), p.infos...),
		},
		id: make(map[charInfo]uint32, len(p.infos)),
	}
	for r, i := range p.sparse {
		b.p.sparse[r] = i
	}
	for i, info := range p.infos {
		b.id[info] = uint32(i)
	}
	return b
}

func (b *prosodyBuilder) set(r rune, info charInfo) {
	i, ok := b.id[info]
	if !ok {
		i = uint32(len(b.p.infos))
		b.p.infos = append(b.p.infos, info)
		b.id[info] = i
	}
	if r >= denseLo && r < denseHi {
		b.p.dense[r-denseLo] = i
	} else {
		b.p.sparse[r] = i
	}
}

func buildPinyinProsody() *Prosody {
	b := newProsodyBuilder()
	for code, readings := range pinyin.PinyinDict {
		r := rune(code)
		// The data also has readings for symbols such as 〇, which are
		// not characters of a poem.
		if !IsHan(r) {
			continue
		}
		if info := pinyinInfo(readings); info != (charInfo{}) {
			b.set(r, info)
		}
	}
	return b.p
}

// pinyinInfo returns the record for a character with the readings given
// as in pinyin.PinyinDict: tone-marked syllables separated by commas.
func pinyinInfo(readings string) charInfo {
	var info charInfo
	var ping, ze bool
	for syllable := range strings.SplitSeq(readings, ",") {
		plain, tone := splitTone(syllable)
		var final uint32
		if id := finalID(plain); id >= 0 {
			final = 1 << id
		}
		info.pinyin |= final
		switch tone {
		case 1, 2:
			ping = true
			info.pinyinLevel |= final
		case 3, 4:
			ze = true
		}
	}
	info.tone = toneOf(ping, ze)
	return info
}

// toneMarks maps the tone-marked letters of pinyin to the plain letter and
// the tone, 0 for none. ü is written v, as in the usual pinyin keyboard
// spelling. A zero letter marks a combining accent that only gives the tone,
// used in the data on ê and m.
var toneMarks = map[rune]struct {
	letter rune
	tone   int
}{
	'ā': {'a', 1}, 'á': {'a', 2}, 'ǎ': {'a', 3}, 'à': {'a', 4},
	'ē': {'e', 1}, 'é': {'e', 2}, 'ě': {'e', 3}, 'è': {'e', 4},
	'ī': {'i', 1}, 'í': {'i', 2}, 'ǐ': {'i', 3}, 'ì': {'i', 4},
	'ō': {'o', 1}, 'ó': {'o', 2}, 'ǒ': {'o', 3}, 'ò': {'o', 4},
	'ū': {'u', 1}, 'ú': {'u', 2}, 'ǔ': {'u', 3}, 'ù': {'u', 4},
	'ü': {'v', 0}, 'ǖ': {'v', 1}, 'ǘ': {'v', 2}, 'ǚ': {'v', 3}, 'ǜ': {'v', 4},
	'ê': {'ê', 0}, 'ế': {'ê', 2}, 'ề': {'ê', 4},
	'ń': {'n', 2}, 'ň': {'n', 3}, 'ǹ': {'n', 4}, 'ḿ': {'m', 2},
	'\u0304': {0, 1}, '\u0301': {0, 2}, '\u030C': {0, 3}, '\u0300': {0, 4},
}

// splitTone splits a tone-marked syllable such as "guāng" into its plain
// letters, "guang", and its tone, 1; the tone is 0 for the neutral tone.
func splitTone(syllable string) (plain string, tone int) {
	var b strings.Builder
	for _, r := range syllable {
		m, ok := toneMarks[r]
		if !ok {
			b.WriteRune(r)
			continue
		}
		if m.letter != 0 {
			b.WriteRune(m.letter)
		}
		if m.tone != 0 {
			tone = m.tone
		}
	}
	return b.String(), tone
}

// pinyinFinals names the rhyme finals that NewProsody tells apart; a
// character's pinyin bits index this list.
var pinyinFinals = []string{
	"a", "e", "ê", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong",
	"i", "-i", "u", "ü", "er",
}

// finalRhyme maps a final, medial included and ü written v, to the name of
// its rhyme in pinyinFinals.
var finalRhyme = map[string]string{
	"a": "a", "ia": "a", "ua": "a",
	"o": "e", "uo": "e", "io": "e", "e": "e",
	"ê": "ê", "ie": "ê", "ve": "ê",
	"ai": "ai", "uai": "ai", "iai": "ai",
	"ei": "ei", "ui": "ei", "uei": "ei",
	"ao": "ao", "iao": "ao",
	"ou": "ou", "iu": "ou", "iou": "ou",
	"an": "an", "ian": "an", "uan": "an", "van": "an",
	"en": "en", "in": "en", "un": "en", "uen": "en", "vn": "en",
	"ang": "ang", "iang": "ang", "uang": "ang",
	"eng": "eng", "ing": "eng", "ueng": "eng",
	"ong": "ong", "iong": "ong", "uong": "ong",
	"i": "i", "-i": "-i",
	"u": "u", "v": "ü",
	"er": "er",
}

// finalIDs maps a final, as finalRhyme does, to its index in pinyinFinals.
var finalIDs = func() map[string]int {
	index := make(map[string]int, len(pinyinFinals))
	for i, name := range pinyinFinals {
		index[name] = i
	}
	ids := make(map[string]int, len(finalRhyme))
	for final, name := range finalRhyme {
		ids[final] = index[name]
	}
	return ids
}()

// initials lists the initial consonants of Mandarin, two-letter ones first
// so that zh is not taken for z.
var initials = []string{
	"zh", "ch", "sh",
	"b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s",
}

// finalID returns the index in pinyinFinals of the rhyme of a syllable
// without tone marks, or -1 for syllables that have none, such as the
// interjections m, n, ng and hm.
func finalID(syllable string) int {
	initial := ""
	for _, in := range initials {
		if strings.HasPrefix(syllable, in) {
			initial = in
			break
		}
	}
	final := syllable[len(initial):]
	switch initial {
	case "":
		// y and w spell the medials i, u and ü at the start of a syllable.
		switch {
		case strings.HasPrefix(final, "yu"):
			final = "v" + final[2:]
		case strings.HasPrefix(final, "yi"):
			final = final[1:]
		case strings.HasPrefix(final, "y"):
			final = "i" + final[1:]
		case strings.HasPrefix(final, "wu"):
			final = final[1:]
		case strings.HasPrefix(final, "w"):
			final = "u" + final[1:]
		}
	case "j", "q", "x":
		// After j, q and x, u is written for ü.
		if strings.HasPrefix(final, "u") {
			final = "v" + final[1:]
		}
	case "zh", "ch", "sh", "r", "z", "c", "s":
		if final == "i" {
			final = "-i"
		}
	}
	id, ok := finalIDs[final]
	if !ok {
		return -1
	}
	return id
}
