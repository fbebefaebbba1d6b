package poetry

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	jingYeSi     = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
	jingYeSiText = "床前明月光疑是地上霜举头望明月低头思故乡"
	// A regulated verse of eight lines: 杜甫《春望》.
	chunWang     = "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。"
	chunWangText = "国破山河在城春草木深感时花溅泪恨别鸟惊心烽火连三月家书抵万金白头搔更短浑欲不胜簪"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, text string
	}{
		{"canonical", jingYeSi, jingYeSiText},
		{"ASCII punctuation", "床前明月光,疑是地上霜.举头望明月,低头思故乡.", jingYeSiText},
		{"other marks", "床前明月光、疑是地上霜；举头望明月？低头思故乡！", jingYeSiText},
		{"colon", "床前明月光：疑是地上霜:举头望明月;低头思故乡?", jingYeSiText},
		{"ASCII exclamation", "床前明月光!疑是地上霜!举头望明月!低头思故乡!", jingYeSiText},
		{"spaces", "床前明月光 疑是地上霜 举头望明月 低头思故乡", jingYeSiText},
		{"ideographic spaces", "床前明月光\u3000疑是地上霜\u3000举头望明月\u3000低头思故乡", jingYeSiText},
		{"tabs", "床前明月光\t疑是地上霜\t举头望明月\t低头思故乡", jingYeSiText},
		{"newlines", "床前明月光\n疑是地上霜\n举头望明月\n低头思故乡\n", jingYeSiText},
		{"CRLF", "床前明月光\r\n疑是地上霜\r\n举头望明月\r\n低头思故乡\r\n", jingYeSiText},
		{"punctuation and newlines", "床前明月光，\n疑是地上霜。\n\n举头望明月，\n低头思故乡。\n", jingYeSiText},
		{"space after marks", "床前明月光， 疑是地上霜。 举头望明月， 低头思故乡。", jingYeSiText},
		{"leading and trailing", "  \n。床前明月光，疑是地上霜。举头望明月，低头思故乡。。\n\t ", jingYeSiText},
		{"no punctuation", jingYeSiText, jingYeSiText},
		{"no punctuation, trailing mark", jingYeSiText + "。\n", jingYeSiText},
		{"no punctuation, 40 characters", chunWangText, chunWangText},
		{"no punctuation, 10 characters", "床前明月光疑是地上霜", "床前明月光疑是地上霜"},
		{"couplet", "床前明月光，疑是地上霜。", "床前明月光疑是地上霜"},
		{"eight lines", chunWang, chunWangText},
		{"traditional", "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。", "白日依山盡黃河入海流欲窮千里目更上一層樓"},
		{"extension B", "𠀋前明月光，疑是地上霜。举头望明月，低头思故乡。", "𠀋前明月光疑是地上霜举头望明月低头思故乡"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := p.Text(); got != tt.text {
				t.Errorf("Parse(%q).Text() = %q, want %q", tt.in, got, tt.text)
			}
		})
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason string
		offset int
		line   int
		msg    string
	}{
		{"empty", "", "empty", 0, 0, "empty poem"},
		{"only space", " \n\t\u3000", "empty", 0, 0, "empty poem"},
		{"only punctuation", "，。,.", "empty", 0, 0, "empty poem"},
		{"one line", "床前明月光", "line count", 0, 0, "1 line (want 2, 4 or 8)"},
		{"three lines", "床前明月光，疑是地上霜。举头望明月，", "line count", 0, 0, "3 lines (want 2, 4 or 8)"},
		{"five lines", jingYeSi + "床前明月光。", "line count", 0, 0, "5 lines (want 2, 4 or 8)"},
		{"15 characters", "床前明月光疑是地上霜举头望明月", "line count", 0, 0, "3 lines (want 2, 4 or 8)"},
		{"line of 4", "床前明月光，疑是地上霜。举头望月，低头思故乡。", "line length", 12, 3,
			`line 3 has 4 characters (want 5): "举头望月"`},
		{"line of 6", "床前明月光，疑是地上霜。举头望明月，低头思故乡乡。", "line length", 18, 4,
			`line 4 has 6 characters (want 5): "低头思故乡乡"`},
		{"missing separator", "床前明月光疑是地上霜，举头望明月，低头思故乡。", "line length", 0, 1,
			`line 1 has 10 characters (want 5): "床前明月光疑是地上霜"`},
		{"19 characters", "床前明月光疑是地上霜举头望明月低头思故", "line length", 0, 0,
			"19 characters without punctuation (want 10, 20 or 40, to make lines of 5)"},
		{"Latin letter", "床前明月光，a疑是地上霜。举头望明月，低头思故乡。", "non-Han character", 6, 2,
			"non-Han character 'a' at position 7 (line 2)"},
		{"digit", "床前明月光，疑是地上霜。举头望明月，低头思故1。", "non-Han character", 22, 4,
			"non-Han character '1' at position 23 (line 4)"},
		{"emoji", "床前明月光🌙，疑是地上霜。举头望明月，低头思故乡。", "non-Han character", 5, 1,
			"non-Han character '🌙' (U+1F319) at position 6 (line 1)"},
		{"emoji without punctuation", "床前明月光疑是地上霜🌙举头望明月低头思故乡", "non-Han character", 10, 3,
			"non-Han character '🌙' (U+1F319) at position 11 (line 3)"},
		{"iteration mark", "床前明月光，疑是地々霜。举头望明月，低头思故乡。", "non-Han character", 9, 2,
			"non-Han character '々' (U+3005) at position 10 (line 2)"},
		{"ideographic zero", "床前明月光，疑是地〇霜。举头望明月，低头思故乡。", "non-Han character", 9, 2,
			"non-Han character '〇' (U+3007) at position 10 (line 2)"},
		{"quotation mark", "「床前明月光，疑是地上霜。举头望明月，低头思故乡。」", "non-Han character", 0, 1,
			"non-Han character '「' (U+300C) at position 1 (line 1)"},
		{"invalid UTF-8", "床前明月光，\xff疑是地上霜。举头望明月，低头思故乡。", "invalid UTF-8", 6, 0,
			"invalid UTF-8 (byte 0xff) at position 7"},
		{"truncated UTF-8", "床前明月光，疑是地上霜。举头望明月，低头思故\xe4\xb9", "invalid UTF-8", 22, 0,
			"invalid UTF-8 (byte 0xe4) at position 23"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.in, p)
			}
			if !p.IsZero() {
				t.Errorf("Parse(%q) returned a poem with its error", tt.in)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T, want *ParseError", tt.in, err)
			}
			if pe.Reason() != tt.reason || pe.Offset != tt.offset || pe.Line != tt.line {
				t.Errorf("Parse(%q): reason %q, offset %d, line %d; want %q, %d, %d",
					tt.in, pe.Reason(), pe.Offset, pe.Line, tt.reason, tt.offset, tt.line)
			}
			if err.Error() != tt.msg {
				t.Errorf("Parse(%q) error:\n got %s\nwant %s", tt.in, err, tt.msg)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		chars  string
		reason string // "" for success
		offset int
	}{
		{"quatrain", jingYeSiText, "", 0},
		{"couplet", "床前明月光疑是地上霜", "", 0},
		{"eight lines", chunWangText, "", 0},
		{"empty", "", "empty", 0},
		{"one line", "床前明月光", "line count", 0},
		{"six lines", jingYeSiText + "床前明月光疑是地上霜", "line count", 0},
		{"21 characters", jingYeSiText + "床", "line length", 0},
		{"letter", "床前明月光疑是x上霜", "non-Han character", 7},
		{"comma", "床前明月光，疑是地上霜", "non-Han character", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chars := []rune(tt.chars)
			p, err := New(chars)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("New(%q): %v", tt.chars, err)
				}
				if p.Text() != tt.chars {
					t.Errorf("New(%q).Text() = %q", tt.chars, p.Text())
				}
				chars[0] = '月'
				if p.Text() != tt.chars {
					t.Errorf("New(%q) did not copy its argument", tt.chars)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("New(%q) = %v, %v; want a *ParseError", tt.chars, p, err)
			}
			if pe.Reason() != tt.reason || pe.Offset != tt.offset {
				t.Errorf("New(%q): %v: reason %q, offset %d; want %q, %d", tt.chars, err, pe.Reason(), pe.Offset, tt.reason, tt.offset)
			}
		})
	}
}

func TestPoemAccessors(t *testing.T) {
	tests := []struct {
		in    string
		lines []string
		str   string
	}{
		{jingYeSiText, []string{"床前明月光", "疑是地上霜", "举头望明月", "低头思故乡"}, jingYeSi},
		{"床前明月光\n疑是地上霜", []string{"床前明月光", "疑是地上霜"}, "床前明月光，疑是地上霜。"},
		{chunWangText, []string{"国破山河在", "城春草木深", "感时花溅泪", "恨别鸟惊心", "烽火连三月", "家书抵万金", "白头搔更短", "浑欲不胜簪"}, chunWang},
	}
	for _, tt := range tests {
		p, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if p.IsZero() {
			t.Errorf("Parse(%q).IsZero() = true", tt.in)
		}
		if got := p.NumLines(); got != len(tt.lines) {
			t.Errorf("Parse(%q).NumLines() = %d, want %d", tt.in, got, len(tt.lines))
		}
		for i, want := range tt.lines {
			if got := string(p.Line(i)); got != want {
				t.Errorf("Parse(%q).Line(%d) = %q, want %q", tt.in, i, got, want)
			}
		}
		for _, i := range []int{-1, len(tt.lines)} {
			if got := p.Line(i); got != nil {
				t.Errorf("Parse(%q).Line(%d) = %q, want nil", tt.in, i, string(got))
			}
		}
		if got := string(p.Chars()); got != strings.Join(tt.lines, "") {
			t.Errorf("Parse(%q).Chars() = %q", tt.in, got)
		}
		if got := p.String(); got != tt.str {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.str)
		}
		// Appending to a line must not change the next one.
		_ = append(p.Line(0), 'x')
		if got := string(p.Line(1)); got != tt.lines[1] {
			t.Errorf("appending to line 1 changed line 2 to %q", got)
		}
	}

	var zero Poem
	if !zero.IsZero() || zero.NumLines() != 0 || zero.String() != "" || zero.Text() != "" || zero.Line(0) != nil || len(zero.Chars()) != 0 {
		t.Errorf("zero Poem: IsZero %v, NumLines %d, String %q, Text %q", zero.IsZero(), zero.NumLines(), zero.String(), zero.Text())
	}
}

func TestPoemHalves(t *testing.T) {
	tests := []struct {
		name          string
		in            Poem
		first, second string // "" where ok is false
	}{
		{"eight lines", mustParse(t, chunWang), "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。", "烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。"},
		{"quatrain", mustParse(t, jingYeSi), "床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"},
		{"couplet", mustParse(t, "床前明月光，疑是地上霜。"), "", ""},
		{"zero", Poem{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, second, ok := tt.in.Halves()
			if wantOK := tt.first != ""; ok != wantOK {
				t.Fatalf("%q.Halves(): ok = %v, want %v", tt.in, ok, wantOK)
			}
			if !ok {
				if !first.IsZero() || !second.IsZero() {
					t.Errorf("%q.Halves() = %q, %q, false; want zero poems", tt.in, first, second)
				}
				return
			}
			if first.String() != tt.first || second.String() != tt.second {
				t.Errorf("%q.Halves() = %q, %q; want %q, %q", tt.in, first, second, tt.first, tt.second)
			}
			if n := tt.in.NumLines() / 2; first.NumLines() != n || second.NumLines() != n {
				t.Errorf("%q.Halves(): %d and %d lines, want %d each", tt.in, first.NumLines(), second.NumLines(), n)
			}
			// The halves share the poem's storage: appending to the first
			// must not write over the second.
			_ = append(first.Chars(), 'x')
			if second.String() != tt.second || tt.in.Text() != first.Text()+second.Text() {
				t.Errorf("appending to the first half changed the poem to %q", tt.in)
			}
		})
	}
}

func mustParse(t *testing.T, s string) Poem {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return p
}

func TestPoemEqual(t *testing.T) {
	a, _ := Parse(jingYeSi)
	b, _ := Parse(jingYeSiText)
	c, _ := Parse(chunWang)
	d, _ := Parse("床前明月光，疑是地上霜。")
	tests := []struct {
		p, q Poem
		want bool
	}{
		{a, b, true},
		{a, a, true},
		{a, c, false},
		{a, d, false},
		{a, Poem{}, false},
		{Poem{}, Poem{}, true},
	}
	for _, tt := range tests {
		if got := tt.p.Equal(tt.q); got != tt.want {
			t.Errorf("%q.Equal(%q) = %v, want %v", tt.p, tt.q, got, tt.want)
		}
	}
}

func TestIsHan(t *testing.T) {
	tests := []struct {
		r    rune
		want bool
	}{
		{'一', true},
		{'鿿', true},      // U+9FFF, last of the main block
		{'\u3400', true}, // Extension A
		{'\u4DBF', true}, // Extension A, last
		{'\uF900', true}, // compatibility ideograph
		{'\uFA0E', true}, // unified ideograph in the compatibility block
		{0x20000, true},  // Extension B
		{0x2A700, true},  // Extension C
		{0x2B740, true},  // Extension D
		{0x2B820, true},  // Extension E
		{0x2CEB0, true},  // Extension F
		{0x2EBF0, true},  // Extension I
		{0x2F800, true},  // compatibility supplement
		{0x30000, true},  // Extension G
		{0x31350, true},  // Extension H
		{'々', false},     // iteration mark
		{'〆', false},     // closing mark
		{'〇', false},     // ideographic zero
		{'〡', false},     // Hangzhou numeral
		{'⺀', false},     // radical supplement
		{'⼀', false},     // Kangxi radical
		{'，', false},
		{'a', false},
		{'1', false},
		{'あ', false},
		{'한', false},
		{0x1F319, false}, // emoji
		{0x2A6E0, false}, // between Extensions B and C
		{0x323B0, false}, // after Extension H
		{utf8.RuneError, false},
		{-1, false},
	}
	for _, tt := range tests {
		if got := IsHan(tt.r); got != tt.want {
			t.Errorf("IsHan(%U) = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		jingYeSi, jingYeSiText, chunWang, chunWangText,
		"白日依山盡，黃河入海流。欲窮千里目，更上一層樓。",
		"春眠不觉晓\r\n处处闻啼鸟\r\n夜来风雨声\r\n花落知多少\r\n",
		"床前明月光,疑是地上霜.举头望明月,低头思故乡.",
		"床前明月光，疑是地上霜。",
		"", " ", "，。", "\xff", "床\xe4\xb9", "a", "〇", "🌙",
		"床前明月光，疑是地上霜。举头望月，低头思故乡。",
		"床前明月光疑是地上霜举头望明月低头思故",
		"𠀋𠀋𠀋𠀋𠀋𠀋𠀋𠀋𠀋𠀋",
	} {
		f.Add(s)
	}
	reasons := []string{"empty", "line length", "line count", "non-Han character", "invalid UTF-8"}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T, want *ParseError", s, err)
			}
			if !slices.Contains(reasons, pe.Reason()) {
				t.Errorf("Parse(%q): unknown reason %q", s, pe.Reason())
			}
			if pe.Offset < 0 || pe.Offset > len(s) || pe.Line < 0 || pe.Line > len(s) || err.Error() == "" {
				t.Errorf("Parse(%q): %v: offset %d, line %d", s, err, pe.Offset, pe.Line)
			}
			return
		}
		if !validLineCount(p.NumLines()) || len(p.Chars()) != LineLen*p.NumLines() {
			t.Fatalf("Parse(%q) made %d characters in %d lines", s, len(p.Chars()), p.NumLines())
		}
		for _, form := range []string{p.String(), p.Text()} {
			q, err := Parse(form)
			if err != nil {
				t.Fatalf("Parse(%q) = %q, but reading that back: %v", s, form, err)
			}
			if !p.Equal(q) {
				t.Fatalf("Parse(%q) = %q, read back as %q", s, p, q)
			}
		}
	})
}
