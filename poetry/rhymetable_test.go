package poetry

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testTable is a few lines of the 平水韵, enough for the tests.
const testTable = "char\ttone\tgroup\n" +
	"東\t平\t上平聲一東\n" +
	"同\t平\t上平聲一東\n" +
	"光\t平\t下平聲七陽\n" +
	"霜\t平\t下平聲七陽\n" +
	"床\t平\t下平聲七陽\n" +
	"鄉\t平\t下平聲七陽\n" +
	"鄉\t仄\t去聲二十三漾\n" +
	"看\t平\t上平聲十四寒\n" +
	"看\t仄\t去聲十五翰\n" +
	"流\t平\t下平聲十一尤\n" +
	"樓\t平\t下平聲十一尤\n" +
	"白\t仄\t入聲十一陌\n" +
	"入\t仄\t入聲十四緝\n" +
	"月\t仄\t入聲六月\n" +
	"發\t仄\t入聲六月\n" +
	"髮\t仄\t入聲六月\n" +
	"後\t仄\t去聲二十六宥\n" +
	"后\t仄\t上聲二十五有\n" +
	"曉\t仄\t上聲十七篠\n" +
	"鳥\t仄\t上聲十七篠\n" +
	"少\t仄\t上聲十七篠\n" +
	"少\t仄\t去聲十八嘯\n"

func readTestTable(t testing.TB) *RhymeTable {
	t.Helper()
	table, err := ReadRhymeTable(strings.NewReader(testTable), "test.tsv")
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// dataDir is the shared data directory of the project, beside the
// repository; tests that need it are skipped when it is absent.
var dataDir = filepath.Join("..", "..", "shared", "data")

func loadPingshui(t testing.TB) *RhymeTable {
	t.Helper()
	path := filepath.Join(dataDir, "pingshui.tsv")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no rhyme table: %v", err)
	}
	table, err := LoadRhymeTable(path)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func TestRhymeTableTone(t *testing.T) {
	table := readTestTable(t)
	withTable := NewProsody().WithRhymeTable(table)
	tableOnly := NewTableProsody(table)
	tests := []struct {
		r                            rune
		pinyin, withTable, tableOnly Tone
	}{
		// The entering tone: level in Mandarin, oblique in verse.
		{'白', Ping, Ze, Ze},
		{'入', Ze, Ze, Ze},
		{'月', Ze, Ze, Ze},
		{'看', Either, Either, Either},
		{'鄉', Either, Either, Either},    // xiāng/xiàng
		{'乡', Ping, Either, ToneUnknown}, // simplified form of 鄉
		{'发', Either, Ze, ToneUnknown},   // of 發 and 髮; fā/fà in Mandarin
		{'花', Ping, Ping, ToneUnknown},   // not in the table
		{'a', ToneUnknown, ToneUnknown, ToneUnknown},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			name string
			p    *Prosody
			want Tone
		}{
			{"pinyin", NewProsody(), tt.pinyin},
			{"with table", withTable, tt.withTable},
			{"table only", tableOnly, tt.tableOnly},
		} {
			if got := c.p.Tone(tt.r); got != c.want {
				t.Errorf("%s: Tone(%q) = %v, want %v", c.name, tt.r, got, c.want)
			}
		}
	}
}

func TestRhymeTableRhymes(t *testing.T) {
	p := NewProsody().WithRhymeTable(readTestTable(t))
	tests := []struct {
		a, b rune
		want bool
	}{
		{'光', '霜', true},
		{'霜', '乡', true},  // simplified form
		{'流', '楼', true},  // simplified form
		{'晓', '鸟', true},  // both simplified
		{'少', '鸟', true},  // 少 is in two groups
		{'光', '香', true},  // 香 is not in the table: Mandarin finals decide
		{'東', '霜', false}, // tables keep groups apart
		{'月', '白', false}, // different entering-tone groups
		{'光', 'a', false},
	}
	for _, tt := range tests {
		if got := p.Rhymes(tt.a, tt.b); got != tt.want {
			t.Errorf("Rhymes(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRhymeTableGroups(t *testing.T) {
	p := NewProsody().WithRhymeTable(readTestTable(t))
	tests := []struct {
		r    rune
		want []string
	}{
		{'光', []string{"下平聲七陽"}},
		{'乡', []string{"下平聲七陽", "去聲二十三漾"}},
		{'发', []string{"入聲六月"}},
		{'后', []string{"上聲二十五有"}}, // the table's own line wins over 後
		{'少', []string{"上聲十七篠", "去聲十八嘯"}},
		{'花', []string{"a"}}, // not in the table
		{'a', nil},
	}
	for _, tt := range tests {
		if got := p.RhymeGroups(tt.r); !slices.Equal(got, tt.want) {
			t.Errorf("RhymeGroups(%q) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestReadRhymeTableForms(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"CRLF", "char\ttone\tgroup\r\n東\t平\t上平聲一東\r\n"},
		{"byte order mark", "\uFEFFchar\ttone\tgroup\n東\t平\t上平聲一東\n"},
		{"no final newline", "char\ttone\tgroup\n東\t平\t上平聲一東"},
		{"blank lines", "char\ttone\tgroup\n\n東\t平\t上平聲一東\n\n"},
	}
	for _, tt := range tests {
		table, err := ReadRhymeTable(strings.NewReader(tt.in), "t.tsv")
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := NewTableProsody(table).RhymeGroups('東'); !slices.Equal(got, []string{"上平聲一東"}) {
			t.Errorf("%s: groups of 東 are %q", tt.name, got)
		}
	}
}

func TestReadRhymeTableErrors(t *testing.T) {
	const header = "char\ttone\tgroup\n"
	var manyGroups strings.Builder
	manyGroups.WriteString(header)
	for i := range maxGroups + 1 {
		manyGroups.WriteString("東\t平\tG" + strings.Repeat("x", i) + "\n")
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `t.tsv: empty file, want the header "char\ttone\tgroup"`},
		{"header only", header, "t.tsv: no characters after the header"},
		{"bad header", "字\t聲\t韻\n", `t.tsv:1: header is "字\t聲\t韻", want "char\ttone\tgroup"`},
		{"two fields", header + "東\t平\n", "t.tsv:2: 2 tab-separated fields, want 3 (char, tone, group)"},
		{"spaces", header + "東 平 上平聲一東\n", "t.tsv:2: 1 tab-separated fields, want 3 (char, tone, group)"},
		{"two characters", header + "東同\t平\t上平聲一東\n", `t.tsv:2: char "東同" is not a single Han character`},
		{"not Han", header + "東\t平\t上平聲一東\nx\t平\t上平聲一東\n", `t.tsv:3: char "x" is not a single Han character`},
		{"bad tone", header + "東\t上\t上平聲一東\n", `t.tsv:2: tone "上" is neither 平 nor 仄`},
		{"no group", header + "東\t平\t\n", "t.tsv:2: group is empty"},
		{"group of two tones", header + "東\t平\t上平聲一東\n同\t仄\t上平聲一東\n", "t.tsv:3: group 上平聲一東 is 仄 here but 平 on line 2"},
		{"invalid UTF-8", header + "\xff\t平\t上平聲一東\n", "t.tsv:2: invalid UTF-8"},
		{"too many groups", manyGroups.String(), "t.tsv:130: group G" + strings.Repeat("x", maxGroups) + " is one more than the 128 a table may have"},
	}
	for _, tt := range tests {
		_, err := ReadRhymeTable(strings.NewReader(tt.in), "t.tsv")
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
}

func TestLoadRhymeTableMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.tsv")
	_, err := LoadRhymeTable(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadRhymeTable(%q) = %v, want an error naming the file", path, err)
	}
}

func TestWithNilRhymeTable(t *testing.T) {
	p := NewProsody().WithRhymeTable(readTestTable(t)).WithRhymeTable(nil)
	if got := p.Tone('白'); got != Ping {
		t.Errorf("after WithRhymeTable(nil), Tone(白) = %v, want the Mandarin 平", got)
	}
	if got := NewTableProsody(nil).Tone('白'); got != ToneUnknown {
		t.Errorf("NewTableProsody(nil).Tone(白) = %v, want ?", got)
	}
}

// TestPingshui checks the 平水韵 table of the project's data, where present.
func TestPingshui(t *testing.T) {
	table := loadPingshui(t)
	if n := len(table.chars); n != 8555 {
		t.Errorf("table has %d characters, want 8555", n)
	}
	if n := len(table.groups); n != 106 {
		t.Errorf("table has %d groups, want 106", n)
	}
	p := NewProsody().WithRhymeTable(table)
	for _, r := range "白入月一国十" {
		if got := p.Tone(r); got != Ze {
			t.Errorf("Tone(%q) = %v, want 仄 (entering tone)", r, got)
		}
	}
	for _, r := range "光霜乡鄉" {
		if !slices.Contains(p.RhymeGroups(r), "下平聲七陽") {
			t.Errorf("RhymeGroups(%q) = %q, want 下平聲七陽 among them", r, p.RhymeGroups(r))
		}
	}
}

func TestRhymeTableConcurrent(t *testing.T) {
	poem, err := Parse(jingYeSi)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for range 4 {
		go func() {
			table, err := ReadRhymeTable(strings.NewReader(testTable), "test.tsv")
			if err != nil {
				t.Error(err)
				done <- false
				return
			}
			p := NewProsody().WithRhymeTable(table)
			done <- p.RhymeOK(poem) && p.Analyze(poem).LevelRhyme
		}()
	}
	for range 4 {
		if !<-done {
			t.Errorf("concurrent loading: %s does not rhyme", poem)
		}
	}
}
