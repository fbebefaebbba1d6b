package poetry

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	quatrain := func(s string) []rune { // □ for 0
		var out []rune
		for _, r := range s {
			if r == '□' {
				r = 0
			}
			out = append(out, r)
		}
		return out
	}
	tests := []struct {
		in   string
		want []rune
	}{
		{"春□□□□，□□□□□。□□□□□，□□□□□。", quatrain("春□□□□□□□□□□□□□□□□□□□")},
		{"春____,_____.秋____,_____.", quatrain("春□□□□□□□□□秋□□□□□□□□□")},
		{"春????，?????？秋????，?????", quatrain("春□□□□□□□□□秋□□□□□□□□□")},
		{"床前明月光\n＿＿＿＿＿\n*****\n低头思故乡", quatrain("床前明月光□□□□□□□□□□低头思故乡")},
		{"床前明月光疑是地上霜", []rune("床前明月光疑是地上霜")},
		{"□□□□□□□□□□", make([]rune, 10)},
	}
	for _, tt := range tests {
		got, err := ParseTemplate(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseTemplate(%q) = %q, %v; want %q", tt.in, templateText(got), err, templateText(tt.want))
		}
	}

	errs := []struct {
		in, reason, want string
	}{
		{"", reasonEmpty, "empty"},
		{"，。", reasonEmpty, "empty"},
		{"春□□□，□□□□□。", reasonLineLength, `line 1 has 4 characters and blanks (want 5): "春□□□"`},
		{"春□□□□□□□□", reasonLineLength, "9 characters and blanks"},
		{"春□□□□，□□□□□，□□□□□。", reasonLineCount, "3 lines"},
		{"春□□□□，□□a□□。", reasonNonHan, "non-Han character 'a' at position 9 (line 2)"},
		{"春□□□□\xff", reasonUTF8, "invalid UTF-8"},
	}
	for _, tt := range errs {
		_, err := ParseTemplate(tt.in)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Reason() != tt.reason || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTemplate(%q) = %v; want a %s error mentioning %q", tt.in, err, tt.reason, tt.want)
		}
	}
}
