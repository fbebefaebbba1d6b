package corpus

import (
	"bytes"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"
)

const fixtureA = `[
  {"author": "李白", "title": "靜夜思", "id": "x1", "tags": ["思乡"],
   "paragraphs": ["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"]},
  {"author": "杜甫", "title": "春望",
   "paragraphs": ["國破山河在，城春草木深。", "感時花濺淚，恨別鳥驚心。", "烽火連三月，家書抵萬金。", "白頭搔更短，渾欲不勝簪。"]},
  {"author": "王之渙", "title": "涼州詞",
   "paragraphs": ["黃河遠上白雲間，一片孤城萬仞山。", "羌笛何須怨楊柳，春風不度玉門關。"]},
  {"author": "王之渙", "title": "登鸛雀樓（句）", "paragraphs": ["白日依山盡，黃河入海流。"]},
  {"author": "無名氏", "title": "缺字", "paragraphs": ["空山不見□，但聞人語響。", "返景入深林，復照青苔上。"]},
  {"author": "無名氏", "title": "空", "paragraphs": []}
]`

// fixtureB repeats 靜夜思 with other white space and adds a poem whose
// author and title hold a tab and a line break.
const fixtureB = `[
  {"author": "李白", "title": "靜夜思（又）", "paragraphs": ["床前明月光， 疑是地上霜。\n", "舉頭望明月，\u3000低頭思故鄉。"]},
  {"author": "王\t維", "title": "鹿\n柴", "paragraphs": ["空山不見人，但聞人語響。返景入深林，復照青苔上。"]}
]`

func TestImport(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "poet.tang.0.json", fixtureA)
	b := writeFile(t, dir, "poet.tang.1000.json", fixtureB)
	tests := []struct {
		name    string
		opts    ImportOptions
		files   []string
		out     string
		meta    string
		dups    int
		skipped map[string]int
	}{
		{
			name:  "quatrains",
			files: []string{a, b},
			out:   jingYeSi + "\n" + luChai + "\n",
			meta: "李白\t靜夜思\tpoet.tang.0.json\t" + jingYeSi + "\n" +
				"王 維\t鹿 柴\tpoet.tang.1000.json\t" + luChai + "\n",
			dups:    1,
			skipped: map[string]int{SkipLineCount: 2, "line length": 1, "non-Han character": 1, "empty": 1},
		},
		{
			name:    "regulated verse",
			opts:    ImportOptions{Lines: 8},
			files:   []string{a},
			out:     "國破山河在，城春草木深。感時花濺淚，恨別鳥驚心。烽火連三月，家書抵萬金。白頭搔更短，渾欲不勝簪。\n",
			meta:    "杜甫\t春望\tpoet.tang.0.json\t國破山河在，城春草木深。感時花濺淚，恨別鳥驚心。烽火連三月，家書抵萬金。白頭搔更短，渾欲不勝簪。\n",
			skipped: map[string]int{SkipLineCount: 2, "line length": 1, "non-Han character": 1, "empty": 1},
		},
		{
			name:  "simplified",
			opts:  ImportOptions{Lines: 4, Simplify: true},
			files: []string{b, a},
			out:   "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n空山不见人，但闻人语响。返景入深林，复照青苔上。\n",
			meta: "李白\t静夜思（又）\tpoet.tang.1000.json\t床前明月光，疑是地上霜。举头望明月，低头思故乡。\n" +
				"王 维\t鹿 柴\tpoet.tang.1000.json\t空山不见人，但闻人语响。返景入深林，复照青苔上。\n",
			dups:    1,
			skipped: map[string]int{SkipLineCount: 2, "line length": 1, "non-Han character": 1, "empty": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, meta bytes.Buffer
			stats, err := Import(&out, &meta, tt.opts, tt.files...)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.out {
				t.Errorf("out:\n%s\nwant:\n%s", out.String(), tt.out)
			}
			if meta.String() != tt.meta {
				t.Errorf("meta:\n%q\nwant:\n%q", meta.String(), tt.meta)
			}
			kept := strings.Count(tt.out, "\n")
			if stats.Files != len(tt.files) || stats.Kept != kept || stats.Duplicates != tt.dups || !maps.Equal(stats.Skipped, tt.skipped) {
				t.Errorf("stats %+v, want %d files, %d kept, %d duplicates, skipped %v", stats, len(tt.files), kept, tt.dups, tt.skipped)
			}
			skipped := 0
			for _, n := range stats.Skipped {
				skipped += n
			}
			if stats.Records != stats.Kept+stats.Duplicates+skipped {
				t.Errorf("records %d != kept %d + duplicates %d + skipped %d", stats.Records, stats.Kept, stats.Duplicates, skipped)
			}

			// What Import writes, Read reads without a reject.
			poems, rep, err := ReadFrom(&out, "imported")
			if err != nil || rep.Rejected() != 0 || len(poems) != kept {
				t.Errorf("reading the output: %d poems, %d rejects, error %v", len(poems), rep.Rejected(), err)
			}

			// Without meta the poems are the same.
			var out2 bytes.Buffer
			if _, err := Import(&out2, nil, tt.opts, tt.files...); err != nil || out2.String() != tt.out {
				t.Errorf("with nil meta: error %v, out %q", err, out2.String())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", fixtureA)
	syntax := writeFile(t, dir, "syntax.json", "[\n  {\"author\": \"李白\",\n   \"paragraphs\": [\"床前\" \"x\"]}\n]")
	object := writeFile(t, dir, "object.json", `{"author": "李白"}`)
	badType := writeFile(t, dir, "type.json", "[\n {\"paragraphs\": \"床前明月光\"}]")
	missing := filepath.Join(dir, "missing.json")
	tests := []struct {
		name  string
		out   func() *bytes.Buffer
		opts  ImportOptions
		files []string
		want  []string
	}{
		{"no files", nil, ImportOptions{}, nil, []string{"no JSON file"}},
		{"bad line count", nil, ImportOptions{Lines: 6}, []string{good}, []string{"6 lines"}},
		{"missing file", nil, ImportOptions{}, []string{good, missing}, []string{missing}},
		{"syntax error", nil, ImportOptions{}, []string{syntax}, []string{syntax + ":3:", "invalid character"}},
		{"not an array", nil, ImportOptions{}, []string{object}, []string{object + ":1:"}},
		{"wrong type", nil, ImportOptions{}, []string{badType}, []string{badType + ":2:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Import(&out, nil, tt.opts, tt.files...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Import(failWriter{}, nil, ImportOptions{}, good); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write error: got %v", err)
	}
	var out bytes.Buffer
	if _, err := Import(&out, failWriter{}, ImportOptions{}, good); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("metadata write error: got %v", err)
	}
}
