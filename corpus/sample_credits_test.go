package corpus

import "testing"

func TestSampleCredits(t *testing.T) {
	poems, err := Sample()
	if err != nil {
		t.Fatal(err)
	}
	credits := SampleCredits()
	for _, p := range poems {
		if cr, ok := credits[p.Text()]; !ok || cr.Author == "" || cr.Title == "" {
			t.Errorf("%s: credit %+v", p, cr)
		}
	}
	if len(credits) != len(poems) {
		t.Errorf("%d credits for %d poems", len(credits), len(poems))
	}
	for text, want := range map[string]SampleCredit{
		"床前明月光疑是地上霜举头望明月低头思故乡": {"李白", "静夜思", "（通行本）"},
		"君自故乡来应知故乡事来日绮窗前寒梅著花未": {"王维", "杂诗", "其二"},
	} {
		if got := credits[text]; got != want {
			t.Errorf("credit of %s = %+v, want %+v", text, got, want)
		}
	}
}
