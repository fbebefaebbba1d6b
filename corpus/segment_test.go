package corpus

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/yanyiwu/gojieba"

	"poetvae/poetry"
)

// sharedSegmenter is loaded once for the tests that only segment, since
// loading the dictionaries takes half a second.
var sharedSegmenter = sync.OnceValue(func() *Segmenter { return NewSegmenter("") })

// testSegmenter returns a segmenter on the default dictionaries, or skips
// the test when they are not where DictDir looks.
func testSegmenter(t *testing.T) *Segmenter {
	t.Helper()
	if _, err := DictDir(""); err != nil {
		t.Skipf("no jieba dictionaries: %v", err)
	}
	return sharedSegmenter()
}

func TestDictDir(t *testing.T) {
	empty := t.TempDir()
	partial := t.TempDir()
	writeFile(t, partial, "jieba.dict.utf8", "")
	writeFile(t, partial, "idf.utf8", "")
	if err := os.Mkdir(filepath.Join(partial, "stop_words.utf8"), 0o755); err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	for _, f := range dictFiles {
		writeFile(t, full, f, "")
	}
	missing := filepath.Join(empty, "nowhere")
	tests := []struct {
		name string
		flag string
		env  string
		dir  string   // result, when no error is wanted
		want []string // substrings of the error
	}{
		{"empty dir", empty, "", "", []string{empty, "holds none of the dictionary files", "jieba.dict.utf8", "stop_words.utf8", DictEnv}},
		{"missing dir", missing, "", "", []string{missing, "does not exist", DictEnv}},
		{"partial dir", partial, "", "", []string{"lacks hmm_model.utf8, user.dict.utf8, stop_words.utf8;"}},
		{"full dir", full, "", full, nil},
		{"flag beats environment", full, empty, full, nil},
		{"environment", "", full, full, nil},
		{"bad environment", "", empty, "", []string{empty, "from $" + DictEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(DictEnv, tt.env)
			dir, err := DictDir(tt.flag)
			if tt.want == nil {
				if err != nil || dir != tt.dir {
					t.Errorf("DictDir(%q) = %q, %v, want %q", tt.flag, dir, err, tt.dir)
				}
				return
			}
			if err == nil {
				t.Fatalf("DictDir(%q) = %q, want error", tt.flag, dir)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("default", func(t *testing.T) {
		t.Setenv(DictEnv, "")
		dir, err := DictDir("")
		if _, serr := os.Stat(gojieba.DICT_PATH); serr != nil {
			if err == nil {
				t.Errorf("DictDir found %q although gojieba's files are missing", dir)
			}
			return
		}
		if err != nil || dir != gojieba.DICT_DIR {
			t.Errorf("DictDir(\"\") = %q, %v, want %q", dir, err, gojieba.DICT_DIR)
		}
	})
}

func TestSegmenterBadDir(t *testing.T) {
	s := NewSegmenter(t.TempDir())
	defer s.Close()
	for range 2 { // the error is kept, not retried into a panic
		if _, err := s.Cut("江南春雨"); err == nil || !strings.Contains(err.Error(), "holds none") {
			t.Errorf("Cut with an empty dictionary directory: error %v", err)
		}
	}
	if _, err := s.Extract("江南春雨", 3); err == nil {
		t.Error("Extract with an empty dictionary directory: no error")
	}
	if _, err := BuildIndex(mustParse(t, luChai), s, true); err == nil {
		t.Error("BuildIndex with an empty dictionary directory: no error")
	}
	var nilSeg *Segmenter
	if _, err := nilSeg.Cut("江南"); err == nil {
		t.Error("Cut on a nil Segmenter: no error")
	}
	nilSeg.Close()
}

func TestSegmenterCut(t *testing.T) {
	s := testSegmenter(t)
	tests := []struct {
		text string
		want []string
	}{
		{"江南春雨", []string{"江南", "春雨"}},
		{"", nil},
		{"空山不见人，但闻人语响。", []string{"空山", "不见", "人", "，", "但", "闻人", "语响", "。"}},
	}
	for _, tt := range tests {
		got, err := s.Cut(tt.text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Cut(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestSegmenterExtract(t *testing.T) {
	s := testSegmenter(t)
	tests := []struct {
		theme string
		topK  int
		want  []string // as a set
	}{
		{"江南春雨", 5, []string{"江南", "春雨"}},
		{"江南春雨", 1, nil}, // one of them; checked by length below
		{"思念故乡的明月", 5, []string{"思念", "故乡", "明月"}},
		{"月", 3, []string{"月"}},
		{"山 水", 3, []string{"山", "水"}},
		{"hello, 123", 3, []string{}},
		{"之 也 矣", 3, []string{}},
	}
	for _, tt := range tests {
		got, err := s.Extract(tt.theme, tt.topK)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > tt.topK {
			t.Errorf("Extract(%q, %d) = %q: too many", tt.theme, tt.topK, got)
		}
		for _, w := range got {
			if !isKeyword(w) {
				t.Errorf("Extract(%q) returned %q", tt.theme, w)
			}
		}
		if tt.want == nil {
			if len(got) != tt.topK {
				t.Errorf("Extract(%q, %d) = %q", tt.theme, tt.topK, got)
			}
			continue
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.want))
		if !slices.Equal(got, want) {
			t.Errorf("Extract(%q, %d) = %q, want %q", tt.theme, tt.topK, got, want)
		}
	}
	// A traditional theme gives the simplified words.
	got, err := s.Extract("江南春雨，故鄉", 5)
	if err != nil || !slices.Contains(got, "故乡") {
		t.Errorf("Extract of a traditional theme = %q, %v; want 故乡 among them", got, err)
	}
	if _, err := s.Extract("江南", 0); err == nil {
		t.Error("Extract with topK 0: no error")
	}
}

func TestSegmenterClose(t *testing.T) {
	testSegmenter(t) // skips without dictionaries
	s := NewSegmenter("")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.Cut("春眠不觉晓，处处闻啼鸟。"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s.Close()
	s.Close()
	if _, err := s.Cut("江南"); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("Cut after Close: error %v", err)
	}
	// Closing a segmenter that never loaded anything is fine too.
	NewSegmenter("").Close()
}

func TestLooksTraditional(t *testing.T) {
	sample, err := Sample()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		poems []poetry.Poem
		want  bool
	}{
		{"traditional", mustParse(t, luChai, jingYeSi, chunXiao), true},
		{"simplified", mustParse(t, "空山不见人，但闻人语响。返景入深林，复照青苔上。"), false},
		{"sample", sample, false},
		{"none", nil, false},
		{"zero poem", []poetry.Poem{{}}, false},
	}
	for _, tt := range tests {
		if got := LooksTraditional(tt.poems); got != tt.want {
			t.Errorf("%s: LooksTraditional = %v, want %v", tt.name, got, tt.want)
		}
	}
	if path := filepath.Join("..", "..", "shared", "data", "tang_train.txt"); fileExists(path) {
		poems, _, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if !LooksTraditional(poems) {
			t.Error("tang_train.txt does not look traditional")
		}
	}
	if path := filepath.Join("..", "..", "shared", "data", "simplified", "tang_train.txt"); fileExists(path) {
		poems, _, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if LooksTraditional(poems) {
			t.Error("simplified/tang_train.txt looks traditional")
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
