package poetry

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LineLen is the number of characters in a line of a five-character poem.
const LineLen = 5

// Poem is a five-character poem: 2, 4 or 8 lines of [LineLen] Han
// characters. The zero Poem has no lines; see [Poem.IsZero].
//
// A Poem is a value: it never changes after [Parse] or [New] made it, so it
// may be copied and shared freely, including between goroutines. Compare
// poems with [Poem.Equal].
type Poem struct {
	// chars holds the characters line after line, LineLen*NumLines of them.
	// It is never written after construction; copies of a Poem share it.
	chars []rune
}

// Reasons reported by [ParseError.Reason].
const (
	reasonEmpty      = "empty"
	reasonLineLength = "line length"
	reasonLineCount  = "line count"
	reasonNonHan     = "non-Han character"
	reasonUTF8       = "invalid UTF-8"
)

// ParseError describes why a text is not a poem. [Parse] and [New] return
// errors of this type.
type ParseError struct {
	// Offset is the 0-based offset, in characters (runes), of the problem in
	// the input: the offending character, or the first character of the
	// offending line. It is 0 for problems of the whole poem, such as an
	// empty text or a wrong number of lines. Each byte of invalid UTF-8
	// counts as one character.
	Offset int
	// Line is the 1-based poem line the problem is in, or 0 when the problem
	// is not in one line.
	Line int
	// Problem says what is wrong, e.g. `line 3 has 4 characters (want 5):
	// "举头望月"` or `non-Han character 'a'`; [ParseError.Error] adds the
	// position where the problem is a single character.
	Problem string

	reason string
}

// Error returns the problem, with its position where the problem is a
// single character. Positions in the message count characters from 1, as
// people do: `non-Han character 'a' at position 7 (line 2)` is about Offset 6.
func (e *ParseError) Error() string {
	switch e.reason {
	case reasonNonHan, reasonUTF8:
		if e.Line > 0 {
			return fmt.Sprintf("%s at position %d (line %d)", e.Problem, e.Offset+1, e.Line)
		}
		return fmt.Sprintf("%s at position %d", e.Problem, e.Offset+1)
	}
	return e.Problem
}

// Reason returns a short category of the problem that stays the same across
// inputs, for counting rejections: "empty", "line length", "line count",
// "non-Han character" or "invalid UTF-8".
func (e *ParseError) Reason() string { return e.reason }

// IsHan reports whether r is a Han ideograph: a character of the CJK Unified
// Ideographs block or of its extensions A to I, or a CJK compatibility
// ideograph.
//
// Other characters of the Han script are not ideographs and are not accepted
// in a poem: the iteration mark 々, the numeral 〇, the closing mark 〆, the
// Hangzhou numerals and the Kangxi and supplementary radicals. Code points
// inside the ideograph blocks that Unicode has not yet assigned are accepted,
// so that text written with a newer Unicode version still parses.
func IsHan(r rune) bool {
	// The ranges are written out rather than taken from unicode.Han because
	// unicode.Han also holds the symbols above, and, following the Unicode
	// version of the Go release, may lack the newest extensions.
	switch {
	case r < 0x3400:
		return false
	case r <= 0x4DBF: // Extension A
		return true
	case r < 0x4E00:
		return false
	case r <= 0x9FFF: // CJK Unified Ideographs
		return true
	case r < 0xF900:
		return false
	case r <= 0xFAFF: // CJK Compatibility Ideographs
		return true
	case r < 0x20000:
		return false
	case r <= 0x2A6DF: // Extension B
		return true
	case r < 0x2A700:
		return false
	case r <= 0x2EE5F: // Extensions C, D, E, F and I
		return true
	case r < 0x2F800:
		return false
	case r <= 0x2FA1F: // CJK Compatibility Ideographs Supplement
		return true
	case r < 0x30000:
		return false
	case r <= 0x323AF: // Extensions G and H
		return true
	}
	return false
}

// isSeparator reports whether r may stand between the lines of a poem:
// the punctuation that ends a line in Chinese or ASCII, or white space.
func isSeparator(r rune) bool {
	switch r {
	case '，', '。', '、', '；', '？', '！', '：',
		',', '.', ';', '?', '!', ':':
		return true
	}
	// unicode.IsSpace covers ASCII space, tab, CR and LF as well as the
	// ideographic space U+3000 that Chinese text uses for indentation.
	return unicode.IsSpace(r)
}

// validLineCount reports whether a poem may have n lines.
func validLineCount(n int) bool { return n == 2 || n == 4 || n == 8 }

// Parse reads a poem.
//
// The lines may be separated by any run of Chinese or ASCII punctuation
// (，。、；？！： or ,.;?!:) and white space, including newlines and the
// ideographic space U+3000; punctuation and space before the first and
// after the last line are ignored. A text without separators between its
// characters is cut into lines of five, so it must have 10, 20 or 40 of
// them. Where there are separators, every line between them must have five
// characters.
//
// If s is not a poem, Parse returns a [*ParseError] saying what is wrong
// and where.
func Parse(s string) (Poem, error) {
	if !utf8.ValidString(s) {
		return Poem{}, invalidUTF8(s)
	}

	// A segment is a maximal run of characters other than separators: a
	// line, or the whole poem when it has no punctuation.
	type segment struct {
		first, end int // Han characters han[first:end]
		offset     int // rune offset of its first character in s
	}
	// Room for the longest poem; only text that is no poem needs more.
	han := make([]rune, 0, min(len(s)/3, 8*LineLen))
	var segs []segment
	badOffset, badSeg, badHan := -1, 0, 0
	var badRune rune
	inSegment := false
	offset := 0
	for _, r := range s {
		if isSeparator(r) {
			inSegment = false
			offset++
			continue
		}
		if !inSegment {
			segs = append(segs, segment{first: len(han), end: len(han), offset: offset})
			inSegment = true
		}
		if IsHan(r) {
			han = append(han, r)
			segs[len(segs)-1].end = len(han)
		} else if badOffset < 0 {
			badOffset, badSeg, badHan, badRune = offset, len(segs)-1, len(han), r
		}
		offset++
	}
	if badOffset >= 0 {
		line := badSeg + 1
		if len(segs) == 1 {
			// Without separators the line is known by counting.
			line = badHan/LineLen + 1
		}
		return Poem{}, &ParseError{
			Offset:  badOffset,
			Line:    line,
			Problem: "non-Han character " + quoteRune(badRune),
			reason:  reasonNonHan,
		}
	}
	if len(han) == 0 {
		return Poem{}, &ParseError{Problem: "empty poem", reason: reasonEmpty}
	}

	if len(segs) == 1 {
		n := len(han)
		if n%LineLen != 0 {
			return Poem{}, &ParseError{
				Problem: fmt.Sprintf("%d characters without punctuation (want 10, 20 or 40, to make lines of 5)", n),
				reason:  reasonLineLength,
			}
		}
		if !validLineCount(n / LineLen) {
			return Poem{}, lineCountError(n / LineLen)
		}
		return Poem{chars: han}, nil
	}

	for i, seg := range segs {
		if n := seg.end - seg.first; n != LineLen {
			return Poem{}, &ParseError{
				Offset:  seg.offset,
				Line:    i + 1,
				Problem: fmt.Sprintf("line %d has %d characters (want %d): %q", i+1, n, LineLen, string(han[seg.first:seg.end])),
				reason:  reasonLineLength,
			}
		}
	}
	if !validLineCount(len(segs)) {
		return Poem{}, lineCountError(len(segs))
	}
	return Poem{chars: han}, nil
}

// invalidUTF8 returns the error for the first invalid byte of s.
func invalidUTF8(s string) *ParseError {
	offset := 0
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return &ParseError{
					Offset:  offset,
					Problem: fmt.Sprintf("invalid UTF-8 (byte %#02x)", s[i]),
					reason:  reasonUTF8,
				}
			}
		}
		offset++
	}
	// Not reached for invalid input; kept so that the function is total.
	return &ParseError{Problem: "invalid UTF-8", reason: reasonUTF8}
}

func lineCountError(n int) *ParseError {
	unit := "lines"
	if n == 1 {
		unit = "line"
	}
	return &ParseError{
		Problem: fmt.Sprintf("%d %s (want 2, 4 or 8)", n, unit),
		reason:  reasonLineCount,
	}
}

// quoteRune quotes r for a message, adding its code point when the quoted
// form does not show which character it is.
func quoteRune(r rune) string {
	if r > unicode.MaxASCII {
		return fmt.Sprintf("%q (%U)", r, r)
	}
	return fmt.Sprintf("%q", r)
}

// New returns the poem made of chars, line after line: 10, 20 or 40 Han
// characters for 2, 4 or 8 lines. It copies chars. If chars is not such a
// poem, New returns a [*ParseError] whose offsets index chars.
func New(chars []rune) (Poem, error) {
	for i, r := range chars {
		if !IsHan(r) {
			return Poem{}, &ParseError{
				Offset:  i,
				Line:    i/LineLen + 1,
				Problem: "non-Han character " + quoteRune(r),
				reason:  reasonNonHan,
			}
		}
	}
	n := len(chars)
	switch {
	case n == 0:
		return Poem{}, &ParseError{Problem: "empty poem", reason: reasonEmpty}
	case n%LineLen != 0:
		return Poem{}, &ParseError{
			Problem: fmt.Sprintf("%d characters (want 10, 20 or 40, to make lines of 5)", n),
			reason:  reasonLineLength,
		}
	case !validLineCount(n / LineLen):
		return Poem{}, lineCountError(n / LineLen)
	}
	return Poem{chars: append([]rune(nil), chars...)}, nil
}

// NumLines returns the number of lines: 2, 4 or 8, or 0 for the zero Poem.
func (p Poem) NumLines() int { return len(p.chars) / LineLen }

// Line returns the characters of line i, counting from 0, or nil if there is
// no such line. The result shares the poem's storage: callers must not
// modify it.
func (p Poem) Line(i int) []rune {
	if i < 0 || i >= p.NumLines() {
		return nil
	}
	lo, hi := i*LineLen, (i+1)*LineLen
	// The capacity is cut so that appending to the line cannot overwrite
	// the next one.
	return p.chars[lo:hi:hi]
}

// Halves returns the two halves of a poem of 4 or 8 lines, as poems of
// half as many lines: first holds lines 1 to n/2, second the rest. An
// eight-line poem (律诗) halves into two quatrains, a quatrain into two
// couplets. ok is false, and both halves are zero, for a couplet (its
// halves would be single lines, which are not poems) and for the zero Poem.
// The halves share the poem's storage, as poems may.
func (p Poem) Halves() (first, second Poem, ok bool) {
	n := p.NumLines()
	if n < 4 {
		return Poem{}, Poem{}, false
	}
	mid := n / 2 * LineLen
	return Poem{chars: p.chars[:mid:mid]}, Poem{chars: p.chars[mid:len(p.chars):len(p.chars)]}, true
}

// Chars returns the characters of the poem, line after line. The result
// shares the poem's storage: callers must not modify it.
func (p Poem) Chars() []rune { return p.chars[:len(p.chars):len(p.chars)] }

// Text returns the characters of the poem without punctuation.
func (p Poem) Text() string { return string(p.chars) }

// String returns the poem in the canonical form read by [Parse]: "，" after
// the first line of each couplet and "。" after the second, without spaces,
// as in 床前明月光，疑是地上霜。
func (p Poem) String() string {
	var b strings.Builder
	// Each Han character and each mark takes three bytes.
	b.Grow(3 * (len(p.chars) + p.NumLines()))
	for i := range p.NumLines() {
		for _, r := range p.Line(i) {
			b.WriteRune(r)
		}
		if i%2 == 0 {
			b.WriteRune('，')
		} else {
			b.WriteRune('。')
		}
	}
	return b.String()
}

// IsZero reports whether p is the zero Poem, which has no lines.
func (p Poem) IsZero() bool { return len(p.chars) == 0 }

// Equal reports whether p and q have the same characters. Poems cannot be
// compared with ==, as they hold a slice.
func (p Poem) Equal(q Poem) bool { return slices.Equal(p.chars, q.chars) }
