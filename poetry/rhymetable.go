package poetry

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/longbridgeapp/opencc"
)

// RhymeTable is a rhyme book: the tone class and rhyme groups of
// characters, such as the 106 groups of the 平水韵. Give it to
// [Prosody.WithRhymeTable]. A RhymeTable is never changed after it is read
// and is safe for concurrent use.
type RhymeTable struct {
	groups []string          // group names, indexed by group id in file order
	level  groupSet          // the groups of the level tone
	chars  map[rune]groupSet // the groups of each character, as written
	// simplified holds the groups of the simplified forms of characters,
	// for those forms the table does not have itself.
	simplified map[rune]groupSet
}

// rhymeTableHeader is the first line of a rhyme table file.
const rhymeTableHeader = "char\ttone\tgroup"

// LoadRhymeTable reads the rhyme table in the named file; see
// [ReadRhymeTable] for the format.
func LoadRhymeTable(path string) (*RhymeTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading rhyme table: %w", err)
	}
	defer f.Close()
	return ReadRhymeTable(f, path)
}

// ReadRhymeTable reads a rhyme table from r; name names the input in
// errors, which give it with the line number, as in "pingshui.tsv:12: …".
//
// The input is UTF-8 text, tab-separated, with the header line
// "char\ttone\tgroup" and then one line for each character and group it
// belongs to: the character, its tone class in that group, 平 or 仄, and the
// name of the group, such as 上平聲一東 or 入聲十三職. A character in more
// than one group has a line for each; a group has one tone class. Blank lines
// are ignored. A table has at most 128 groups.
//
// Rhyme books are written in traditional characters. So that poems in
// simplified characters can be judged too, the table also gives each
// traditional character's groups to its simplified form, as converted by
// OpenCC, unless the table has the simplified form itself: 鄉 gives its
// groups to 乡, but 後 does not override 后, which has its own line.
func ReadRhymeTable(r io.Reader, name string) (*RhymeTable, error) {
	t := &RhymeTable{chars: make(map[rune]groupSet)}
	groupID := make(map[string]int)
	groupLine := make(map[string]int) // where a group's tone was first given

	sc := bufio.NewScanner(r)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("%s:%d: invalid UTF-8", name, lineNo)
		}
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // byte order mark
			if line != rhymeTableHeader {
				return nil, fmt.Errorf("%s:1: header is %q, want %q", name, line, rhymeTableHeader)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: %d tab-separated fields, want 3 (char, tone, group)", name, lineNo, len(fields))
		}
		char, tone, group := fields[0], fields[1], fields[2]
		c, size := utf8.DecodeRuneInString(char)
		if size != len(char) || !IsHan(c) {
			return nil, fmt.Errorf("%s:%d: char %q is not a single Han character", name, lineNo, char)
		}
		if tone != "平" && tone != "仄" {
			return nil, fmt.Errorf("%s:%d: tone %q is neither 平 nor 仄", name, lineNo, tone)
		}
		if group == "" {
			return nil, fmt.Errorf("%s:%d: group is empty", name, lineNo)
		}
		id, ok := groupID[group]
		if !ok {
			id = len(t.groups)
			if id == maxGroups {
				return nil, fmt.Errorf("%s:%d: group %s is one more than the %d a table may have", name, lineNo, group, maxGroups)
			}
			t.groups = append(t.groups, group)
			groupID[group] = id
			groupLine[group] = lineNo
			if tone == "平" {
				t.level.add(id)
			}
		} else if level := t.isLevel(id); level != (tone == "平") {
			return nil, fmt.Errorf("%s:%d: group %s is %s here but %s on line %d", name, lineNo, group, tone, toneName(level), groupLine[group])
		}
		set := t.chars[c]
		set.add(id)
		t.chars[c] = set
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading rhyme table %s: %w", name, err)
	}
	if lineNo == 0 {
		return nil, fmt.Errorf("%s: empty file, want the header %q", name, rhymeTableHeader)
	}
	if len(t.chars) == 0 {
		return nil, fmt.Errorf("%s: no characters after the header", name)
	}
	if err := t.addSimplified(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

func (t *RhymeTable) isLevel(id int) bool {
	var s groupSet
	s.add(id)
	return !s.and(t.level).empty()
}

func toneName(level bool) string {
	if level {
		return "平"
	}
	return "仄"
}

// traditionalToSimplified converts text from traditional to simplified
// characters. The converter is built once, on first use, as it builds its
// dictionaries in memory.
var traditionalToSimplified = sync.OnceValues(func() (*opencc.OpenCC, error) {
	return opencc.New("t2s")
})

// convertMu serialises conversions: the converter does not document that
// it is safe for concurrent use, and tables are loaded seldom enough that
// waiting costs nothing.
var convertMu sync.Mutex

// addSimplified gives the simplified form of each character of t its
// groups, unless t has that form itself. Where several traditional
// characters have one simplified form, as 髮 and 發 have 发, it gets the
// groups of them all.
func (t *RhymeTable) addSimplified() error {
	cc, err := traditionalToSimplified()
	if err != nil {
		return fmt.Errorf("preparing the traditional to simplified conversion: %w", err)
	}
	trad := make([]rune, 0, len(t.chars))
	for c := range t.chars {
		trad = append(trad, c)
	}
	// One call converts all characters: a newline between them keeps the
	// converter's phrase dictionary from treating neighbours as a word.
	var b strings.Builder
	for _, c := range trad {
		b.WriteRune(c)
		b.WriteByte('\n')
	}
	convertMu.Lock()
	out, err := cc.Convert(b.String())
	convertMu.Unlock()
	if err != nil {
		return fmt.Errorf("converting to simplified characters: %w", err)
	}
	simp := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(simp) != len(trad) {
		return errors.New("converting to simplified characters: the converter changed the number of characters")
	}
	t.simplified = make(map[rune]groupSet)
	for i, s := range simp {
		c, size := utf8.DecodeRuneInString(s)
		if size != len(s) || c == trad[i] || !IsHan(c) {
			// Not a single simplified character, or the same one.
			continue
		}
		if _, ok := t.chars[c]; ok {
			continue
		}
		set := t.simplified[c]
		g := t.chars[trad[i]]
		t.simplified[c] = groupSet{set[0] | g[0], set[1] | g[1]}
	}
	return nil
}

// WithRhymeTable returns a Prosody that takes the tone class and rhyme groups
// of every character the table has, in traditional or simplified form, from
// the table, and those of other characters from their Mandarin readings, as
// [NewProsody] does. A character in groups of both tones, such as 看 in
// 上平聲十四寒 and 去聲十五翰, is [Either].
//
// The table replaces any table p had; a nil table gives the Prosody of
// NewProsody.
func (p *Prosody) WithRhymeTable(t *RhymeTable) *Prosody {
	base := pinyinProsody()
	if t == nil {
		return base
	}
	b := copyProsodyBuilder(base)
	for _, m := range []map[rune]groupSet{t.simplified, t.chars} {
		for c, set := range m {
			info := *base.info(c)
			info.inTable = true
			info.table = set
			info.tone = t.tone(set)
			b.set(c, info)
		}
	}
	b.p.groups = t.groups
	b.p.level = t.level
	return b.p
}

// NewTableProsody returns a Prosody that knows the characters of t exactly
// as the table writes them: it knows neither their simplified forms nor,
// from Mandarin readings, the characters t lacks, whose tone is
// [ToneUnknown] and which rhyme with nothing.
//
// It judges a corpus the way the statistics published with a rhyme table
// are computed, so it reproduces them; [Prosody.WithRhymeTable] is the
// better judge of a single poem.
func NewTableProsody(t *RhymeTable) *Prosody {
	b := newProsodyBuilder()
	if t == nil {
		return b.p
	}
	for c, set := range t.chars {
		b.set(c, charInfo{tone: t.tone(set), inTable: true, table: set})
	}
	b.p.groups = t.groups
	b.p.level = t.level
	return b.p
}

// tone returns the tone class of a character in the groups set.
func (t *RhymeTable) tone(set groupSet) Tone {
	level := set.and(t.level)
	return toneOf(!level.empty(), level != set)
}
