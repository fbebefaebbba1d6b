package poetry

import (
	"fmt"
	"unicode/utf8"
)

// Blanks lists the characters that mark a free position in a template; see
// [ParseTemplate].
const Blanks = "□_?＿*"

// isBlank reports whether r marks a free position in a template.
func isBlank(r rune) bool {
	switch r {
	case '□', '_', '?', '＿', '*':
		return true
	}
	return false
}

// ParseTemplate reads a poem with blanks: the shape of a poem to write, in
// which some characters are given and the others left free, such as
// 春□□□□，□□□□□。□□□□□，□□□□□。 for a quatrain that starts with 春.
//
// A blank is any of □, _, ?, ＿ or *. Otherwise the text is read as by
// [Parse], with the same punctuation and the same rules for lines, except
// that the ASCII question mark is a blank here, not punctuation; the
// full-width ？ still separates lines.
//
// The result holds the characters line after line, 0 at each blank: 10, 20
// or 40 of them. If s is not such a template, ParseTemplate returns a
// [*ParseError] saying what is wrong and where.
func ParseTemplate(s string) ([]rune, error) {
	if !utf8.ValidString(s) {
		return nil, invalidUTF8(s)
	}
	type segment struct {
		first, end int // positions chars[first:end]
		offset     int // rune offset of its first character in s
	}
	chars := make([]rune, 0, min(len(s), 8*LineLen))
	var segs []segment
	inSegment := false
	offset := -1
	for _, r := range s {
		offset++
		if r != '?' && isSeparator(r) {
			inSegment = false
			continue
		}
		if !inSegment {
			segs = append(segs, segment{first: len(chars), end: len(chars), offset: offset})
			inSegment = true
		}
		switch {
		case isBlank(r):
			chars = append(chars, 0)
		case IsHan(r):
			chars = append(chars, r)
		default:
			line := len(segs)
			if len(segs) == 1 {
				line = len(chars)/LineLen + 1
			}
			return nil, &ParseError{
				Offset:  offset,
				Line:    line,
				Problem: "non-Han character " + quoteRune(r),
				reason:  reasonNonHan,
			}
		}
		segs[len(segs)-1].end = len(chars)
	}
	if len(chars) == 0 {
		return nil, &ParseError{Problem: "empty template", reason: reasonEmpty}
	}
	if len(segs) == 1 {
		n := len(chars)
		if n%LineLen != 0 {
			return nil, &ParseError{
				Problem: fmt.Sprintf("%d characters and blanks without punctuation (want 10, 20 or 40, to make lines of 5)", n),
				reason:  reasonLineLength,
			}
		}
		if !validLineCount(n / LineLen) {
			return nil, lineCountError(n / LineLen)
		}
		return chars, nil
	}
	for i, seg := range segs {
		if n := seg.end - seg.first; n != LineLen {
			return nil, &ParseError{
				Offset:  seg.offset,
				Line:    i + 1,
				Problem: fmt.Sprintf("line %d has %d characters and blanks (want %d): %q", i+1, n, LineLen, templateText(chars[seg.first:seg.end])),
				reason:  reasonLineLength,
			}
		}
	}
	if !validLineCount(len(segs)) {
		return nil, lineCountError(len(segs))
	}
	return chars, nil
}

// templateText writes template characters with □ for the blanks.
func templateText(chars []rune) string {
	out := make([]rune, len(chars))
	for i, r := range chars {
		out[i] = r
		if r == 0 {
			out[i] = '□'
		}
	}
	return string(out)
}
