package corpus

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"poetvae/poetry"
)

func mustParse(t testing.TB, texts ...string) []poetry.Poem {
	t.Helper()
	poems := make([]poetry.Poem, len(texts))
	for i, s := range texts {
		p, err := poetry.Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		poems[i] = p
	}
	return poems
}

func TestBuildVocab(t *testing.T) {
	// 鳥 5 times, 山 4, 水 3, 人 and 月 twice (人 first: U+4EBA < U+6708),
	// 花, 雨, 雲 and 風 once, in code point order.
	poems := mustParse(t,
		"山山山水水，人人月月花。",
		"山水風雲雨，鳥鳥鳥鳥鳥。",
	)
	tests := []struct {
		minCount int
		want     string // runes in id order from NumSpecial
	}{
		{0, "鳥山水人月花雨雲風"},
		{1, "鳥山水人月花雨雲風"},
		{2, "鳥山水人月"},
		{4, "鳥山"},
		{6, ""},
	}
	for _, tt := range tests {
		v := BuildVocab(poems, tt.minCount)
		var got []rune
		for id := NumSpecial; id < v.Size(); id++ {
			got = append(got, v.Rune(id))
		}
		if string(got) != tt.want {
			t.Errorf("minCount %d: vocabulary %q, want %q", tt.minCount, string(got), tt.want)
		}
		if v.Size() != NumSpecial+len([]rune(tt.want)) {
			t.Errorf("minCount %d: Size() = %d", tt.minCount, v.Size())
		}
	}

	v := BuildVocab(poems, 2)
	idTests := []struct {
		r     rune
		id    int
		has   bool
		count int
	}{
		{'鳥', 4, true, 5},
		{'山', 5, true, 4},
		{'水', 6, true, 3},
		{'人', 7, true, 2},
		{'月', 8, true, 2},
		{'花', UNK, false, 0},
		{'x', UNK, false, 0},
	}
	for _, tt := range idTests {
		if got := v.ID(tt.r); got != tt.id {
			t.Errorf("ID(%q) = %d, want %d", tt.r, got, tt.id)
		}
		if got := v.Has(tt.r); got != tt.has {
			t.Errorf("Has(%q) = %v, want %v", tt.r, got, tt.has)
		}
		if tt.has {
			if got := v.Rune(tt.id); got != tt.r {
				t.Errorf("Rune(%d) = %q, want %q", tt.id, got, tt.r)
			}
			if got := v.Count(tt.id); got != tt.count {
				t.Errorf("Count(%d) = %d, want %d", tt.id, got, tt.count)
			}
		}
	}
	for _, id := range []int{PAD, BOS, EOS, UNK, -1, v.Size(), 1 << 40} {
		if r, c := v.Rune(id), v.Count(id); r != 0 || c != 0 {
			t.Errorf("Rune(%d), Count(%d) = %q, %d, want 0, 0", id, id, r, c)
		}
	}

	p := poems[0]
	if got, want := v.Encode(p), []int{5, 5, 5, 6, 6, 7, 7, 8, 8, UNK}; !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	if got := string(v.Unknown(mustParse(t, "花雨花雲山，山花月人雨。")[0])); got != "花雨雲" {
		t.Errorf("Unknown = %q, want 花雨雲", got)
	}
	if got := v.Unknown(p); len(got) != 1 || got[0] != '花' {
		t.Errorf("Unknown(%v) = %q, want [花]", p, got)
	}
}

func TestBuildVocabDeterministic(t *testing.T) {
	poems := mustParse(t, luChai, jingYeSi, chunXiao)
	a, _ := BuildVocab(poems, 1).MarshalBinary()
	for range 10 {
		// Reversed input must give the same ids: ties are broken by code
		// point, not by order of appearance or map order.
		slices.Reverse(poems)
		b, _ := BuildVocab(poems, 1).MarshalBinary()
		if !bytes.Equal(a, b) {
			t.Fatal("BuildVocab gives different ids for the same poems")
		}
	}
}

func TestVocabZero(t *testing.T) {
	var v Vocab
	if v.Size() != NumSpecial || v.ID('山') != UNK || v.Has('山') || v.Rune(NumSpecial) != 0 {
		t.Error("zero Vocab is not empty")
	}
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var w Vocab
	if err := w.UnmarshalBinary(b); err != nil || w.Size() != NumSpecial {
		t.Errorf("round trip of the zero Vocab: size %d, error %v", w.Size(), err)
	}
}

func TestVocabRoundTrip(t *testing.T) {
	poems := mustParse(t, luChai, jingYeSi, chunXiao, "𠀀𠀁𠀂𠀃𠀄，山山山山山。")
	for _, minCount := range []int{1, 2, 3} {
		v := BuildVocab(poems, minCount)
		b, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var w Vocab
		if err := w.UnmarshalBinary(b); err != nil {
			t.Fatalf("minCount %d: %v", minCount, err)
		}
		if w.Size() != v.Size() {
			t.Fatalf("minCount %d: size %d after round trip, want %d", minCount, w.Size(), v.Size())
		}
		for id := range v.Size() {
			if v.Rune(id) != w.Rune(id) || v.Count(id) != w.Count(id) || (id >= NumSpecial && w.ID(v.Rune(id)) != id) {
				t.Errorf("minCount %d: id %d is %q×%d, was %q×%d", minCount, id, w.Rune(id), w.Count(id), v.Rune(id), v.Count(id))
			}
		}
		c, _ := w.MarshalBinary()
		if !bytes.Equal(b, c) {
			t.Errorf("minCount %d: encoding differs after a round trip", minCount)
		}
	}
}

// vocabBytes builds an encoded vocabulary from raw numbers.
func vocabBytes(magic string, nums ...uint64) []byte {
	b := []byte(magic)
	for _, n := range nums {
		b = binary.AppendUvarint(b, n)
	}
	return b
}

func TestVocabUnmarshalErrors(t *testing.T) {
	good := vocabBytes(vocabMagic, 1, 2, '山', 3, '水', 2)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"bad magic", vocabBytes("PVVOCAX", 1, 0), "bad magic"},
		{"index, not vocabulary", vocabBytes(indexMagic, 1, 0), "bad magic"},
		{"version", vocabBytes(vocabMagic, 2, 0), "unsupported version 2"},
		{"no version", []byte(vocabMagic), "truncated reading version"},
		{"truncated entry", good[:len(good)-1], "truncated reading count of id 5"},
		{"truncated in a rune", good[:len(good)-3], "truncated reading character of id 5"},
		{"huge count", vocabBytes(vocabMagic, 1, 1<<40, '山', 1), "truncated: entry count 1099511627776"},
		{"trailing bytes", append(slices.Clone(good), 0), "1 unexpected bytes"},
		{"duplicate rune", vocabBytes(vocabMagic, 1, 2, '山', 3, '山', 2), `'山' has both id 4 and id 5`},
		{"rune 0", vocabBytes(vocabMagic, 1, 1, 0, 3), "reserved for the special ids"},
		{"surrogate", vocabBytes(vocabMagic, 1, 1, 0xD800, 3), "invalid character 0xd800"},
		{"beyond Unicode", vocabBytes(vocabMagic, 1, 1, 0x110000, 3), "invalid character 0x110000"},
		{"overflow", append([]byte(vocabMagic), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := BuildVocab(mustParse(t, luChai), 1)
			size := v.Size()
			err := v.UnmarshalBinary(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			if v.Size() != size {
				t.Error("failed UnmarshalBinary changed the vocabulary")
			}
		})
	}
	var v Vocab
	if err := v.UnmarshalBinary(good); err != nil || v.ID('水') != 5 || v.Count(4) != 3 {
		t.Errorf("good data: error %v, ID(水) %d, Count(4) %d", err, v.ID('水'), v.Count(4))
	}
}

// TestFirstDifference: two vocabularies of the same poems agree on every
// id; one of other poems differs where its first different character is,
// and a longer one where the shorter ends.
func TestFirstDifference(t *testing.T) {
	same := "山山山山水，水水月月花。" // 山 4, 水 3, 月 2, 花 1: ids in that order
	a := BuildVocab(mustParse(t, same), 1)
	if d := a.FirstDifference(BuildVocab(mustParse(t, same), 1)); d != -1 {
		t.Errorf("the same poems: first difference %d, want -1", d)
	}
	b := BuildVocab(mustParse(t, "山山山山水，水水雲雲花。"), 1) // 雲 in 月's place
	if d := a.FirstDifference(b); d != NumSpecial+2 {
		t.Errorf("月 against 雲: first difference %d, want %d", d, NumSpecial+2)
	}
	short := BuildVocab(mustParse(t, same), 2) // 花 left out
	if d, e := a.FirstDifference(short), short.FirstDifference(a); d != NumSpecial+3 || e != NumSpecial+3 {
		t.Errorf("a vocabulary one entry shorter: %d and %d, want %d", d, e, NumSpecial+3)
	}
}
