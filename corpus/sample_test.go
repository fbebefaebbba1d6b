package corpus

import (
	"strings"
	"testing"
)

func TestSample(t *testing.T) {
	poems, rep, err := ReadFrom(strings.NewReader(sampleText), "sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rejects {
		t.Errorf("sample.txt rejects a line: %v", r)
	}
	if rep.Duplicates != 0 {
		t.Errorf("sample.txt has %d duplicate poems", rep.Duplicates)
	}
	if rep.Comments == 0 {
		t.Error("sample.txt has no comment lines naming author and title")
	}
	sample, err := Sample()
	if err != nil {
		t.Fatal(err)
	}
	if len(sample) != len(poems) {
		t.Errorf("Sample() = %d poems, want %d", len(sample), len(poems))
	}
	if len(poems) < 100 {
		t.Errorf("sample.txt has %d poems, want at least 100", len(poems))
	}
}
