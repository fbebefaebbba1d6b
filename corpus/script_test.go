package corpus

import (
	"slices"
	"testing"

	"poetvae/poetry"
)

// knows returns a vocabulary test that accepts the Han characters of text.
func knows(text string) func(rune) bool {
	set := make(map[rune]bool)
	for _, r := range text {
		set[r] = true
	}
	return func(r rune) bool { return set[r] }
}

func TestMatchScript(t *testing.T) {
	const (
		simplified  = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
		traditional = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"
		tangForm    = "牀前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"
	)
	tests := []struct {
		name, poem, known, want string
		rewrites                string // From To pairs
	}{
		{"traditional poem, simplified model", traditional, simplified, simplified, "舉举頭头鄉乡"},
		// s2t writes 床 as 牀, the form of the Tang corpus; a model that
		// knows 床 keeps it, one that knows only 牀 reads 牀.
		{"known characters are kept", simplified, traditional, traditional, "举舉头頭乡鄉"},
		{"simplified poem, traditional model", simplified, tangForm, tangForm, "床牀举舉头頭乡鄉"},
		{"unknown in both scripts", "龘前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。", simplified, "龘" + simplified[len("床"):], "舉举頭头鄉乡"},
		{"all known", simplified, simplified, simplified, ""},
		// A simplified poem for a traditional model is read as traditional
		// throughout: 黄 and 楼, which the model also knows (a traditional
		// corpus holds them a few times), become the 黃 and 樓 it learnt.
		{"the poem's script throughout", "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
			"白日依山盡，黃河入海流。欲窮千里目，更上一層樓。黄楼",
			"白日依山盡，黃河入海流。欲窮千里目，更上一層樓。", "尽盡黄黃穷窮层層楼樓"},
		{"nothing matches", simplified, "月", simplified, ""},
		// 后 is 後 after 然 and stays 后 in 皇后, which the model lacks.
		{"by context", "然后皇后来，白发落花中。山高月小时，水落石出后。",
			"然後皇來，白髮落花中。山高月小時，水落石出後。",
			"然後皇后來，白髮落花中。山高月小時，水落石出後。", "后後来來发髮时時"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := poetry.Parse(tt.poem)
			if err != nil {
				t.Fatal(err)
			}
			chars, rewrites, err := MatchScript(p.Chars(), knows(tt.known))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := poetry.New(chars); err != nil || got.String() != tt.want {
				t.Errorf("MatchScript(%s) = %s (%v), want %s", tt.poem, string(chars), err, tt.want)
			}
			var want []Rewrite
			pairs := []rune(tt.rewrites)
			for i := 0; i < len(pairs); i += 2 {
				want = append(want, Rewrite{pairs[i], pairs[i+1]})
			}
			if !slices.Equal(rewrites, want) {
				t.Errorf("MatchScript(%s) rewrites %q, want %q", tt.poem, rewrites, want)
			}
		})
	}
}

// A template's blanks are left alone, and its fixed characters are read in
// the other script like a poem's.
func TestMatchScriptTemplate(t *testing.T) {
	template := []rune("舉\x00\x00\x00\x00\x00\x00\x00\x00鄉")
	got, rewrites, err := MatchScript(template, knows("举乡"))
	if err != nil {
		t.Fatal(err)
	}
	want := []rune("举\x00\x00\x00\x00\x00\x00\x00\x00乡")
	if !slices.Equal(got, want) || !slices.Equal(rewrites, []Rewrite{{'舉', '举'}, {'鄉', '乡'}}) {
		t.Errorf("MatchScript(%q) = %q, %q; want %q and two rewrites", template, got, rewrites, want)
	}
	if template[0] != '舉' {
		t.Errorf("MatchScript changed its argument: %q", template)
	}
}
