package corpus

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"testing"

	"poetvae/poetry"
)

func TestBuildIndex(t *testing.T) {
	s := testSegmenter(t)
	trad := mustParse(t, luChai, jingYeSi, chunXiao, "千山鳥飛絕，萬徑人蹤滅。孤舟蓑笠翁，獨釣寒江雪。")
	simp := mustParse(t,
		"空山不见人，但闻人语响。返景入深林，复照青苔上。",
		"床前明月光，疑是地上霜。举头望明月，低头思故乡。",
		"春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
		"千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。",
	)
	tests := []struct {
		name        string
		poems       []poetry.Poem
		traditional bool
	}{
		{"traditional, converted", trad, true},
		{"simplified", simp, false},
	}
	lookups := []struct {
		words []string
		want  []int
	}{
		{[]string{"明月"}, []int{1}}, // inside 明月光 and 望明月
		{[]string{"故乡"}, []int{1}},
		{[]string{"青苔", "孤舟"}, []int{0, 3}},
		{[]string{"孤舟", "青苔", "孤舟"}, []int{0, 3}},
		{[]string{"风雨"}, []int{2}},
		{[]string{"江南"}, nil},
		{nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := BuildIndex(tt.poems, s, tt.traditional)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range lookups {
				if got := ix.Lookup(l.words...); !slices.Equal(got, l.want) {
					t.Errorf("Lookup(%q) = %v, want %v", l.words, got, l.want)
				}
			}
			for w, list := range ix.Words {
				if !isKeyword(w) {
					t.Errorf("index has word %q", w)
				}
				if !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list) {
					t.Errorf("word %q: poems %v not increasing", w, list)
				}
			}
			if _, ok := ix.Words["不"]; ok {
				t.Error("stop word 不 indexed")
			}
		})
	}
	var nilIndex *Index
	if got := nilIndex.Lookup("明月"); got != nil {
		t.Errorf("nil Index Lookup = %v", got)
	}
}

func TestIndexRoundTrip(t *testing.T) {
	tests := []map[string][]int{
		{},
		{"明月": {1}},
		{"明月": {0, 1, 2, 300, 70000}, "故乡": {1}, "山": {5, 6}, "𠀀": {1 << 30}},
	}
	for _, words := range tests {
		ix := &Index{Words: words}
		b, err := ix.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Index
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%v: %v", words, err)
		}
		if !maps.EqualFunc(got.Words, words, slices.Equal) {
			t.Errorf("round trip of %v gives %v", words, got.Words)
		}
		c, _ := got.MarshalBinary()
		if !bytes.Equal(b, c) {
			t.Errorf("%v: encoding differs after a round trip", words)
		}
	}

	bad := []struct {
		name  string
		words map[string][]int
		want  string
	}{
		{"empty word", map[string][]int{"": {1}}, "not valid text"},
		{"invalid UTF-8", map[string][]int{"\xff": {1}}, "not valid text"},
		{"no poems", map[string][]int{"山": {}}, "no poems"},
		{"unsorted", map[string][]int{"山": {2, 1}}, "not in increasing order"},
		{"repeat", map[string][]int{"山": {1, 1}}, "not in increasing order"},
		{"negative", map[string][]int{"山": {-1}}, "not in increasing order"},
	}
	for _, tt := range bad {
		if _, err := (&Index{Words: tt.words}).MarshalBinary(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: MarshalBinary error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// indexBytes builds an encoded index from raw numbers and strings.
func indexBytes(magic string, items ...any) []byte {
	b := []byte(magic)
	for _, it := range items {
		switch x := it.(type) {
		case int:
			b = binary.AppendUvarint(b, uint64(x))
		case string:
			b = append(b, x...)
		}
	}
	return b
}

func TestIndexUnmarshalErrors(t *testing.T) {
	good := indexBytes(indexMagic, 1, 2, 3, "山", 2, 1, 4, 6, "明月", 1, 1)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"vocabulary, not index", indexBytes(vocabMagic, 1, 0), "bad magic"},
		{"version", indexBytes(indexMagic, 9, 0), "unsupported version 9"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"truncated word", indexBytes(indexMagic, 1, 1, 6, "明", 1, 1), "truncated"},
		{"huge word count", indexBytes(indexMagic, 1, 1<<40), "truncated: word count"},
		{"huge poem count", indexBytes(indexMagic, 1, 1, 3, "山", 1<<40, 1), "truncated: poem count"},
		{"trailing", append(slices.Clone(good), 7), "unexpected bytes"},
		{"duplicate word", indexBytes(indexMagic, 1, 2, 3, "山", 1, 1, 3, "山", 1, 1), `"山" occurs twice`},
		{"unsorted words", indexBytes(indexMagic, 1, 2, 3, "山", 1, 1, 3, "三", 1, 1), "increasing order"},
		{"empty word", indexBytes(indexMagic, 1, 1, 0, 1, 1), "not valid text"},
		{"invalid UTF-8", indexBytes(indexMagic, 1, 1, 1, "\xff", 1, 1), "not valid text"},
		{"no poems", indexBytes(indexMagic, 1, 1, 3, "山", 0), "no poems"},
		{"zero gap", indexBytes(indexMagic, 1, 1, 3, "山", 2, 1, 0), "gap 0"},
		{"index overflow", indexBytes(indexMagic, 1, 1, 3, "山", 2, 1<<31-1, 1<<31-1), "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := Index{Words: map[string][]int{"x": {1}}}
			err := ix.UnmarshalBinary(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			if len(ix.Words) != 1 {
				t.Error("failed UnmarshalBinary changed the index")
			}
		})
	}
	var ix Index
	if err := ix.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	if want := map[string][]int{"山": {0, 4}, "明月": {0}}; !maps.EqualFunc(ix.Words, want, slices.Equal) {
		t.Errorf("decoded %v, want %v", ix.Words, want)
	}
}
