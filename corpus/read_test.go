package corpus

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"poetvae/poetry"
)

const (
	luChai   = "空山不見人，但聞人語響。返景入深林，復照青苔上。"
	jingYeSi = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"
	chunXiao = "春眠不覺曉，處處聞啼鳥。夜來風雨聲，花落知多少。"
)

type wantReject struct {
	line   int
	reason string
}

func TestReadFrom(t *testing.T) {
	// A line of exactly MaxLineBytes is still parsed; spaces around a poem
	// are allowed, so padding a poem makes such a line.
	maxLine := chunXiao + strings.Repeat(" ", MaxLineBytes-len(chunXiao))
	tests := []struct {
		name       string
		in         string
		poems      []string
		lines      int
		blank      int
		comments   int
		duplicates int
		rejects    []wantReject
	}{
		{
			name:  "plain",
			in:    luChai + "\n" + jingYeSi + "\n",
			poems: []string{luChai, jingYeSi},
			lines: 2,
		},
		{
			name:  "no final newline",
			in:    luChai + "\n" + jingYeSi,
			poems: []string{luChai, jingYeSi},
			lines: 2,
		},
		{
			name:     "BOM, CRLF, comments and blank lines",
			in:       "\uFEFF# 王維《鹿柴》\r\n" + luChai + "\r\n\r\n \t\r\n  # indented comment\r\n" + jingYeSi + "\r\n",
			poems:    []string{luChai, jingYeSi},
			lines:    6,
			blank:    2,
			comments: 2,
		},
		{
			name:  "BOM before a poem",
			in:    "\uFEFF" + luChai + "\n",
			poems: []string{luChai},
			lines: 1,
		},
		{
			name:  "other punctuation is normalised",
			in:    "空山不見人, 但聞人語響. 返景入深林, 復照青苔上.\n",
			poems: []string{luChai},
			lines: 1,
		},
		{
			name:       "duplicates, also in other punctuation",
			in:         luChai + "\n" + jingYeSi + "\n" + luChai + "\n空山不見人 但聞人語響 返景入深林 復照青苔上\n",
			poems:      []string{luChai, jingYeSi},
			lines:      4,
			duplicates: 2,
		},
		{
			name: "malformed lines",
			in: strings.Join([]string{
				luChai,
				"床前明月，疑是地上霜。舉頭望明月，低頭思故鄉。", // 4 characters in line 1
				"床前明月光，疑是地上霜。舉頭望明月。",      // 3 lines
				"床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉a。",
				"床前明月光，\xff\xfe疑是地上霜。舉頭望明月，低頭思故鄉。",
				"，。",
				chunXiao,
			}, "\n") + "\n",
			poems: []string{luChai, chunXiao},
			lines: 7,
			rejects: []wantReject{
				{2, "line length"},
				{3, "line count"},
				{4, "non-Han character"},
				{5, "invalid UTF-8"},
				{6, "empty"},
			},
		},
		{
			name:  "line of exactly MaxLineBytes",
			in:    maxLine + "\r\n" + luChai + "\n",
			poems: []string{chunXiao, luChai},
			lines: 2,
		},
		{
			name:    "line too long is skipped, the next is read",
			in:      maxLine + " \n" + luChai + "\n" + strings.Repeat("长", 100000) + "\n" + jingYeSi,
			poems:   []string{luChai, jingYeSi},
			lines:   4,
			rejects: []wantReject{{1, ReasonTooLong}, {3, ReasonTooLong}},
		},
		{
			name:  "couplets and eight-line poems",
			in:    "白日依山盡，黃河入海流。\n" + luChai + jingYeSi + "\n",
			poems: []string{"白日依山盡，黃河入海流。", luChai + jingYeSi},
			lines: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			poems, rep, err := ReadFrom(strings.NewReader(tt.in), "test.txt")
			if err != nil {
				t.Fatalf("ReadFrom: %v", err)
			}
			if got := poemStrings(poems); !slices.Equal(got, tt.poems) {
				t.Errorf("poems = %q, want %q", got, tt.poems)
			}
			if rep.Lines != tt.lines || rep.Blank != tt.blank || rep.Comments != tt.comments ||
				rep.Duplicates != tt.duplicates || rep.Accepted != len(tt.poems) {
				t.Errorf("report: lines %d blank %d comments %d duplicates %d accepted %d, want %d %d %d %d %d",
					rep.Lines, rep.Blank, rep.Comments, rep.Duplicates, rep.Accepted,
					tt.lines, tt.blank, tt.comments, tt.duplicates, len(tt.poems))
			}
			var got []wantReject
			for _, r := range rep.Rejects {
				got = append(got, wantReject{r.Line, r.Reason})
				if r.File != "test.txt" {
					t.Errorf("reject %v: file %q, want test.txt", r, r.File)
				}
			}
			if !slices.Equal(got, tt.rejects) {
				t.Errorf("rejects = %v, want %v", got, tt.rejects)
			}
			checkReport(t, rep)
		})
	}
}

// checkReport checks the invariants of every report.
func checkReport(t *testing.T, rep *Report) {
	t.Helper()
	if sum := rep.Accepted + rep.Rejected() + rep.Duplicates + rep.Blank + rep.Comments; sum != rep.Lines {
		t.Errorf("accepted+rejected+duplicates+blank+comments = %d, want lines %d", sum, rep.Lines)
	}
	n := 0
	for _, c := range rep.ByReason {
		n += c
	}
	if n != rep.Rejected() {
		t.Errorf("ByReason sums to %d, want %d rejects", n, rep.Rejected())
	}
	for _, r := range rep.Rejects {
		if !utf8Valid(r.Text) {
			t.Errorf("reject text %q is not valid UTF-8", r.Text)
		}
		if r.Reason != ReasonTooLong {
			if _, ok := errors.AsType[*poetry.ParseError](r.Err); !ok {
				t.Errorf("reject %v: Err %v is not a *poetry.ParseError", r, r.Err)
			}
		}
		if len(r.Text) > MaxLineBytes+len("…") {
			t.Errorf("reject of line %d keeps %d bytes of text", r.Line, len(r.Text))
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func poemStrings(poems []poetry.Poem) []string {
	var s []string
	for _, p := range poems {
		s = append(s, p.String())
	}
	return s
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.txt", "# a\n"+luChai+"\n"+jingYeSi+"\n")
	b := writeFile(t, dir, "b.txt", jingYeSi+"\nnot a poem\n"+chunXiao+"\n")
	poems, rep, err := Read(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := poemStrings(poems), []string{luChai, jingYeSi, chunXiao}; !slices.Equal(got, want) {
		t.Errorf("poems = %q, want %q", got, want)
	}
	if !slices.Equal(rep.Files, []string{a, b}) {
		t.Errorf("Files = %q, want %q", rep.Files, []string{a, b})
	}
	if rep.Lines != 6 || rep.Duplicates != 1 || rep.Comments != 1 || rep.Rejected() != 1 {
		t.Errorf("report %+v: want 6 lines, 1 duplicate, 1 comment, 1 reject", rep)
	}
	if r := rep.Rejects[0]; r.File != b || r.Line != 2 || r.Reason != "non-Han character" {
		t.Errorf("reject = %v, want %s:2 non-Han character", r, b)
	}
	checkReport(t, rep)
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.txt", "# only junk\n\nhello\n床前明月\n")
	good := writeFile(t, dir, "good.txt", luChai+"\n")
	empty := writeFile(t, dir, "empty.txt", "")
	missing := filepath.Join(dir, "missing.txt")
	tests := []struct {
		name  string
		paths []string
		want  []string // substrings of the error
	}{
		{"no files", nil, []string{"no corpus file"}},
		{"missing file", []string{missing}, []string{missing, "no such file"}},
		{"missing second file", []string{good, missing}, []string{missing}},
		{"no valid poem", []string{bad}, []string{"no valid poem", bad, "2 rejected", bad + ":3: non-Han character"}},
		{"empty file", []string{empty}, []string{"no valid poem", empty, "0 lines"}},
		{"no valid poem in two files", []string{bad, empty}, []string{bad + ", " + empty}},
		{"directory", []string{dir}, []string{dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			poems, _, err := Read(tt.paths...)
			if err == nil {
				t.Fatalf("Read(%q) = %d poems, want error", tt.paths, len(poems))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// gzipped compresses s.
func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A gzip-compressed corpus reads as its text does, line numbers included;
// a damaged one fails naming the file.
func TestReadGzip(t *testing.T) {
	dir := t.TempDir()
	text := "# a\n" + luChai + "\nnot a poem\n" + jingYeSi + "\n"
	plain := writeFile(t, dir, "a.txt", text)
	packed := writeFile(t, dir, "a.txt.gz", gzipped(t, text))
	want, wantRep, err := Read(plain)
	if err != nil {
		t.Fatal(err)
	}
	got, rep, err := Read(packed)
	if err != nil {
		t.Fatalf("Read(%s): %v", packed, err)
	}
	if !slices.Equal(poemStrings(got), poemStrings(want)) {
		t.Errorf("poems of the gzip file %q, of the text %q", poemStrings(got), poemStrings(want))
	}
	if rep.Lines != wantRep.Lines || rep.Comments != 1 || rep.Rejected() != 1 || rep.Rejects[0].Line != 3 || rep.Rejects[0].File != packed {
		t.Errorf("report of the gzip file %+v; want %d lines, 1 comment, %s:3 rejected", rep, wantRep.Lines, packed)
	}
	checkReport(t, rep)

	full := gzipped(t, text)
	cut := writeFile(t, dir, "cut.txt.gz", full[:len(full)-6])
	if _, _, err := Read(cut); err == nil || !strings.Contains(err.Error(), cut) {
		t.Errorf("Read of a truncated gzip file: error %v, want one naming %s", err, cut)
	}
}

// A file that is not text (a binary file, UTF-16) is refused as a whole,
// named, with what it is, where its every line would have been rejected.
func TestReadNotText(t *testing.T) {
	dir := t.TempDir()
	utf16le := func(s string) string {
		var b bytes.Buffer
		b.Write([]byte{0xff, 0xfe})
		for _, u := range utf16.Encode([]rune(s)) {
			binary.Write(&b, binary.LittleEndian, u)
		}
		return b.String()
	}
	tests := []struct {
		name, content string
		want          []string
	}{
		{"binary", "MODEL\n\x02\x00\x00\x00" + luChai + "\n", []string{"not a text file", "NUL byte at byte 8"}},
		{"NUL late in the start", strings.Repeat(luChai+"\n", 50) + "\x00\n", []string{"not a text file", "NUL byte"}},
		{"UTF-16", utf16le(luChai + "\n"), []string{"UTF-16", "little-endian", "save it as UTF-8"}},
		{"gzip of a binary file", gzipped(t, "\x00\x01"), []string{"not a text file", "NUL byte at byte 1"}},
	}
	good := writeFile(t, dir, "good.txt", jingYeSi+"\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, "x", tt.content)
			poems, _, err := Read(good, path)
			var nt *NotTextError
			if !errors.As(err, &nt) || nt.File != path {
				t.Fatalf("Read = %d poems, error %v; want a NotTextError naming %s", len(poems), err, path)
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestReadFromNoPoem(t *testing.T) {
	_, rep, err := ReadFrom(strings.NewReader("# nothing\n"), "stdin")
	if err == nil || !strings.Contains(err.Error(), "no valid poem in stdin") {
		t.Errorf("error = %v, want one naming stdin", err)
	}
	if rep == nil || rep.Comments != 1 {
		t.Errorf("report = %+v, want one with 1 comment", rep)
	}
}

func TestRejectString(t *testing.T) {
	r := Reject{File: "a.txt", Line: 3, Text: "床前", Reason: "line length"}
	if got, want := r.String(), `a.txt:3: line length: "床前"`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 10, "abc"},
		{"a\xffb", 10, "a\uFFFDb"},
		{"床前明月", 6, "床前…"},
		{"床前明月", 7, "床前…"}, // the cut splits 明; it is dropped, not replaced
		{"床前明月", 8, "床前…"},
		{"床前明月", 9, "床前明…"},
	}
	for _, tt := range tests {
		if got := printable([]byte(tt.in), tt.max); got != tt.want {
			t.Errorf("printable(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

// sharedData returns the path of a file of the shared data directory, or
// skips the test when the file is not there.
func sharedData(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "data", name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not available: %v", name, err)
	}
	return path
}

func TestReadTangTrain(t *testing.T) {
	path := sharedData(t, "tang_train.txt")
	poems, rep, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(poems) != 3391 || rep.Rejected() != 0 || rep.Duplicates != 0 {
		t.Errorf("got %d poems, %d rejected, %d duplicates; want 3391, 0, 0 (first rejects: %v)",
			len(poems), rep.Rejected(), rep.Duplicates, rep.Rejects[:min(3, len(rep.Rejects))])
	}
	for i, p := range poems {
		if p.NumLines() != 4 {
			t.Fatalf("poem %d has %d lines", i, p.NumLines())
		}
	}
}

func BenchmarkRead(b *testing.B) {
	paths := []string{sharedData(b, "song_train.txt"), sharedData(b, "tang_train.txt")}
	var size int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		size += fi.Size()
	}
	b.SetBytes(size)
	for b.Loop() {
		poems, _, err := Read(paths...)
		if err != nil {
			b.Fatal(err)
		}
		if len(poems) != 15079 {
			b.Fatalf("read %d poems, want 15079", len(poems))
		}
	}
}
