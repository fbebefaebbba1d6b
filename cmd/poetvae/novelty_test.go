package main

import (
	"strings"
	"testing"
)

// TestGenerateCheck: --check counts the poems and lines found in the corpus
// given: all of them when the corpus is the poems themselves, none against
// poems they do not share a line with, and a quatrain that is half of an
// eight-line poem of the corpus is caught.
func TestGenerateCheck(t *testing.T) {
	inTempDir(t)
	args := []string{"generate", "--model", sharedModel(t), "--count", "3", "--seed", "7"}
	code, poems, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("generate: status %d: %s", code, stderr)
	}
	writeFile(t, "same.txt", poems)
	writeFile(t, "other.txt", jingYeSi+"\n"+dengGuanQ+"\n")
	first := strings.SplitN(poems, "\n", 2)[0]
	writeFile(t, "lvshi.txt", strings.TrimSuffix(first, "\n")+chunXiao+"\n") // the first poem as half of an eight-line one
	for _, tt := range []struct {
		file, want string
	}{
		{"same.txt", "checked against the 3 poems of same.txt: 3 of 3 poems and 12 of 12 lines are copied from them\n"},
		{"other.txt", "checked against the 2 poems of other.txt: 0 of 3 poems and 0 of 12 lines are copied from them\n"},
		{"lvshi.txt", "checked against the 1 poem of lvshi.txt: 1 of 3 poems and 4 of 12 lines are copied from them\n"},
	} {
		code, out, stderr := poetvae(t, append(args, "--check", tt.file)...)
		if code != 0 || out != poems {
			t.Fatalf("--check %s: status %d, poems %q, want %q: %s", tt.file, code, out, poems, stderr)
		}
		if !strings.Contains(stderr, tt.want) {
			t.Errorf("--check %s: stderr %q, want %q", tt.file, stderr, tt.want)
		}
	}
	if code, _, stderr := poetvae(t, append(args, "--check", "missing.txt")...); code == 0 || !strings.Contains(stderr, "missing.txt") {
		t.Errorf("--check missing.txt: status %d, stderr %q", code, stderr)
	}
}
