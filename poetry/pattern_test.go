package poetry

import (
	"slices"
	"testing"
)

// TestTonePatterns checks that the exported patterns are those Analyze
// judges by: a poem written to each is analysed as following it.
func TestTonePatterns(t *testing.T) {
	pros := toneProsody(t)
	got := TonePatterns()
	if len(got) != len(patterns) {
		t.Fatalf("%d patterns, want %d", len(got), len(patterns))
	}
	for k, tp := range got {
		for i := range tp.Lines {
			if tp.Lines[i] != *patterns[k].line(i) {
				t.Errorf("%s: line %d is %s, want %s", tp.Name, i+1, lineTypeString(tp.Lines[i]), lineTypeString(*patterns[k].line(i)))
			}
		}
		if want := tp.Lines[1][LineLen-1] == Ping; tp.LevelRhyme != want {
			t.Errorf("%s: LevelRhyme %v, but line 2 ends in %v", tp.Name, tp.LevelRhyme, tp.Lines[1][LineLen-1])
		}
		for _, n := range []int{4, 8} {
			poem, err := Parse(patternPoem(&patterns[k], n))
			if err != nil {
				t.Fatal(err)
			}
			a := pros.Analyze(poem)
			if a.Pattern != tp.Name || tp.FirstLineRhymes != slices.Contains(a.RhymeLines, 1) {
				t.Errorf("%d-line poem written to %s: analysed as %s with rhyme lines %v", n, tp.Name, a.Pattern, a.RhymeLines)
			}
		}
	}
	// The result is the caller's to change.
	got[0].Name = "changed"
	if TonePatterns()[0].Name == "changed" {
		t.Error("TonePatterns returned shared storage")
	}
}
