package corpus

import (
	"bufio"
	"os"
	"testing"
)

// TestSimplifyMatchesSharedCopies measures the converter that lets one
// model of traditional characters read and write simplified ones against
// the simplified copies of the shared validation poems (made by their own
// converter, line by line the same poems): the share of characters on
// which the two agree. It decides whether poetvae needs a second model for
// simplified characters (docs/RESULTS.md); it must stay near all.
func TestSimplifyMatchesSharedCopies(t *testing.T) {
	agree, total := 0, 0
	for _, name := range []string{"tang_valid.txt", "song_valid.txt"} {
		trad := readLines(t, sharedData(t, name))
		simp := readLines(t, sharedData(t, "simplified/"+name))
		if len(trad) != len(simp) {
			t.Fatalf("%s: %d lines, its simplified copy %d", name, len(trad), len(simp))
		}
		for i := range trad {
			got, err := simplify(trad[i])
			if err != nil {
				t.Fatal(err)
			}
			g, w := []rune(got), []rune(simp[i])
			if len(g) != len(w) {
				t.Fatalf("%s:%d: %q simplified to %d characters, the copy has %d", name, i+1, trad[i], len(g), len(w))
			}
			for k := range g {
				total++
				if g[k] == w[k] {
					agree++
				} else if testing.Verbose() {
					t.Logf("%s:%d: %c → %c, the copy has %c", name, i+1, []rune(trad[i])[k], g[k], w[k])
				}
			}
		}
	}
	share := float64(agree) / float64(total)
	t.Logf("OpenCC t2s agrees with the simplified copies on %d of %d characters (%.2f%%)", agree, total, 100*share)
	if share < 0.99 {
		t.Errorf("agreement %.2f%%, want at least 99%%", 100*share)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
