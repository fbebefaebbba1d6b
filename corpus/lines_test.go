package corpus

import (
	"slices"
	"strings"
	"testing"
)

// TestPoemsAt: every poem ReadFromLines reads is found again on its line
// by PoemsAt, in any order, through a byte-order mark, CRLF line ends,
// white space, comments, blank lines, malformed and over-long lines,
// repeated poems, a last line without its end, and gzip.
func TestPoemsAt(t *testing.T) {
	text := "\uFEFF床前明月光，疑是地上霜。举头望明月，低头思故乡。\r\n" +
		"# a comment\n" +
		"\n" +
		"not a poem\n" +
		strings.Repeat("长", MaxLineBytes) + "\n" +
		"  白日依山尽，黄河入海流。欲穷千里目，更上一层楼。  \n" +
		"床前明月光，疑是地上霜。举头望明月，低头思故乡。\n" + // a repeat
		"春眠不觉晓，处处闻啼鸟。\r\n" +
		"千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。"
	for _, tc := range []struct{ name, data string }{{"text", text}, {"gzip", gzipped(t, text)}} {
		t.Run(tc.name, func(t *testing.T) {
			poems, lines, _, err := ReadFromLines(strings.NewReader(tc.data), "a.txt")
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{1, 6, 8, 9}; !slices.Equal(lines, want) {
				t.Fatalf("lines %v, want %v", lines, want)
			}
			got, err := PoemsAt([]byte(tc.data), "a.txt", lines)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(poemStrings(got), poemStrings(poems)) {
				t.Errorf("PoemsAt: %v, want %v", poemStrings(got), poemStrings(poems))
			}
			// Out of order and repeated.
			got, err = PoemsAt([]byte(tc.data), "a.txt", []int{9, 1, 9, 6})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{poems[3].String(), poems[0].String(), poems[3].String(), poems[1].String()}
			if !slices.Equal(poemStrings(got), want) {
				t.Errorf("PoemsAt of lines 9, 1, 9, 6: %v, want %v", poemStrings(got), want)
			}
			for _, bad := range []int{2, 4, 5, 10, 0} {
				if _, err := PoemsAt([]byte(tc.data), "a.txt", []int{bad}); err == nil {
					t.Errorf("PoemsAt of line %d, which holds no poem: no error", bad)
				}
			}
		})
	}
}
