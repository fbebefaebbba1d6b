package poetry

import (
	"slices"
	"strings"
	"testing"

	"github.com/mozillazg/go-pinyin"
)

func TestToneString(t *testing.T) {
	tests := []struct {
		t    Tone
		want string
	}{
		{ToneUnknown, "?"},
		{Ping, "平"},
		{Ze, "仄"},
		{Either, "中"},
		{Tone(99), "?"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("Tone(%d).String() = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestSplitTone(t *testing.T) {
	tests := []struct {
		in    string
		plain string
		tone  int
	}{
		{"guāng", "guang", 1},
		{"bái", "bai", 2},
		{"xiǎo", "xiao", 3},
		{"yuè", "yue", 4},
		{"de", "de", 0},
		{"lǜ", "lv", 4},
		{"nüe", "nve", 0},
		{"ń", "n", 2},
		{"ḿ", "m", 2},
		{"m̀", "m", 4},
		{"ê̄", "ê", 1},
		{"ế", "ê", 2},
	}
	for _, tt := range tests {
		plain, tone := splitTone(tt.in)
		if plain != tt.plain || tone != tt.tone {
			t.Errorf("splitTone(%q) = %q, %d; want %q, %d", tt.in, plain, tone, tt.plain, tt.tone)
		}
	}
}

func TestFinalID(t *testing.T) {
	tests := []struct {
		syllable, want string // want "" for none
	}{
		{"guang", "ang"}, {"shuang", "ang"}, {"xiang", "ang"}, {"yang", "ang"}, {"wang", "ang"},
		{"xiao", "ao"}, {"niao", "ao"}, {"shao", "ao"}, {"yao", "ao"},
		{"liu", "ou"}, {"lou", "ou"}, {"you", "ou"},
		{"ge", "e"}, {"duo", "e"}, {"bo", "e"}, {"wo", "e"},
		{"xie", "ê"}, {"yue", "ê"}, {"jue", "ê"}, {"lve", "ê"},
		{"shi", "-i"}, {"zi", "-i"}, {"ri", "-i"}, {"chi", "-i"},
		{"yi", "i"}, {"qi", "i"}, {"li", "i"},
		{"ju", "ü"}, {"yu", "ü"}, {"lv", "ü"}, {"nv", "ü"},
		{"lu", "u"}, {"wu", "u"}, {"zhu", "u"},
		{"jun", "en"}, {"yun", "en"}, {"xin", "en"}, {"wen", "en"}, {"lun", "en"}, {"chen", "en"},
		{"ying", "eng"}, {"weng", "eng"}, {"feng", "eng"},
		{"dong", "ong"}, {"xiong", "ong"}, {"yong", "ong"},
		{"hui", "ei"}, {"wei", "ei"}, {"fei", "ei"},
		{"yuan", "an"}, {"juan", "an"}, {"tian", "an"}, {"guan", "an"}, {"yan", "an"},
		{"hua", "a"}, {"jia", "a"}, {"ya", "a"},
		{"kuai", "ai"}, {"lai", "ai"},
		{"er", "er"},
		{"m", ""}, {"n", ""}, {"ng", ""}, {"hm", ""}, {"hng", ""},
	}
	for _, tt := range tests {
		got := ""
		if id := finalID(tt.syllable); id >= 0 {
			got = pinyinFinals[id]
		}
		if got != tt.want {
			t.Errorf("finalID(%q) is %q, want %q", tt.syllable, got, tt.want)
		}
	}
}

// TestFinalIDCoversData checks that every syllable of the pinyin data has a
// rhyme final, but for the interjections that have none.
func TestFinalIDCoversData(t *testing.T) {
	none := map[string]bool{"m": true, "n": true, "ng": true, "hm": true, "hng": true}
	seen := make(map[string]bool)
	for _, readings := range pinyin.PinyinDict {
		for syllable := range strings.SplitSeq(readings, ",") {
			plain, _ := splitTone(syllable)
			if seen[plain] {
				continue
			}
			seen[plain] = true
			if (finalID(plain) < 0) != none[plain] {
				t.Errorf("finalID(%q) = %d", plain, finalID(plain))
			}
		}
	}
}

func TestPinyinTone(t *testing.T) {
	p := NewProsody()
	tests := []struct {
		r    rune
		want Tone
	}{
		{'花', Ping}, {'山', Ping}, {'人', Ping}, {'流', Ping}, {'楼', Ping}, {'樓', Ping},
		{'鸟', Ze}, {'晓', Ze}, {'入', Ze}, {'月', Ze}, {'海', Ze},
		{'白', Ping},                  // bái: the entering tone is lost in Mandarin
		{'看', Either}, {'为', Either}, // kān/kàn, wéi/wèi
		{'思', Ping}, // sī and sāi: the oblique sì of verse is not in the data
		{'a', ToneUnknown}, {'，', ToneUnknown}, {'〇', ToneUnknown},
	}
	for _, tt := range tests {
		if got := p.Tone(tt.r); got != tt.want {
			t.Errorf("NewProsody().Tone(%q) = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestPinyinRhymes(t *testing.T) {
	p := NewProsody()
	tests := []struct {
		a, b rune
		want bool
	}{
		{'光', '霜', true}, {'霜', '乡', true}, {'光', '鄉', true},
		{'晓', '鸟', true}, {'鸟', '少', true},
		{'流', '楼', true}, {'流', '樓', true},
		{'歌', '多', true}, // e and uo
		{'光', '流', false},
		{'东', '庚', false}, // ong and eng
		{'衣', '诗', false}, // i and -i
		{'光', 'a', false},
		{'a', 'a', false},
		{'光', '光', true},
	}
	for _, tt := range tests {
		if got := p.Rhymes(tt.a, tt.b); got != tt.want {
			t.Errorf("NewProsody().Rhymes(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := p.Rhymes(tt.b, tt.a); got != tt.want {
			t.Errorf("NewProsody().Rhymes(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestPinyinRhymeGroups(t *testing.T) {
	p := NewProsody()
	tests := []struct {
		r    rune
		want []string
	}{
		{'光', []string{"ang"}},
		{'乡', []string{"ang"}},
		{'看', []string{"an"}},
		{'少', []string{"ao"}},
		{'觉', []string{"ê", "ao"}}, // jué, jiào
		{'a', nil},
	}
	for _, tt := range tests {
		got := p.RhymeGroups(tt.r)
		if !slices.Equal(sorted(got), sorted(tt.want)) {
			t.Errorf("NewProsody().RhymeGroups(%q) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestNilProsody(t *testing.T) {
	var p *Prosody
	if got := p.Tone('花'); got != Ping {
		t.Errorf("nil Prosody: Tone(花) = %v, want 平", got)
	}
	if !p.Rhymes('光', '霜') {
		t.Errorf("nil Prosody: 光 and 霜 do not rhyme")
	}
	poem, err := Parse(jingYeSi)
	if err != nil {
		t.Fatal(err)
	}
	if !p.RhymeOK(poem) {
		t.Errorf("nil Prosody: RhymeOK(%s) = false", poem)
	}
	if a := p.Analyze(poem); len(a.Tones) != 4 {
		t.Errorf("nil Prosody: Analyze(%s) has %d lines of tones", poem, len(a.Tones))
	}
}
