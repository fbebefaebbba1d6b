package poetry

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// corpusRates holds the share of a corpus's poems whose even lines rhyme in
// one group and in one level group, and the share of lines keeping 二四不同
// among those where both characters have a single known tone, in percent.
type corpusRates struct {
	rhyme, levelRhyme, erSi float64
}

func (r corpusRates) String() string {
	return fmt.Sprintf("%.1f%% / %.1f%% / %.1f%%", r.rhyme, r.levelRhyme, r.erSi)
}

// rates computes the rates of the poems in the named file, one a line.
func rates(t *testing.T, p *Prosody, path string) corpusRates {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var poems, rhymed, level, ok, checked int
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		poem, err := Parse(sc.Text())
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		poems++
		if p.RhymeOK(poem) {
			rhymed++
		}
		if p.LevelRhymeOK(poem) {
			level++
		}
		o, c := p.ErSiBuTong(poem)
		ok += o
		checked += c
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if poems == 0 || checked == 0 {
		t.Fatalf("%s: no poems", path)
	}
	return corpusRates{
		rhyme:      100 * float64(rhymed) / float64(poems),
		levelRhyme: 100 * float64(level) / float64(poems),
		erSi:       100 * float64(ok) / float64(checked),
	}
}

// TestCorpusFigures reproduces the figures that the data's README gives for
// the 平水韵 table: the share of poems whose lines 2 and 4 end in one group,
// in one level-tone group, and of lines keeping 二四不同 where both
// characters have one tone. The README counts the characters the table lacks
// as unknown, as NewTableProsody does; the figures of the Prosody with
// Mandarin readings for those characters are logged beside them.
func TestCorpusFigures(t *testing.T) {
	table := loadPingshui(t)
	tableOnly := NewTableProsody(table)
	withPinyin := NewProsody().WithRhymeTable(table)
	tests := []struct {
		file string
		want string
	}{
		{"tang_train.txt", "86.9% / 74.1% / 84.1%"},
		{"song_train.txt", "81.0% / 63.6% / 79.5%"},
		{"tang_valid.txt", "89.7% / 76.1% / 85.0%"},
	}
	for _, tt := range tests {
		path := filepath.Join(dataDir, tt.file)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if got := rates(t, tableOnly, path).String(); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.file, got, tt.want)
		}
		t.Logf("%s: table only %s; with Mandarin readings for the rest %s", tt.file, rates(t, tableOnly, path), rates(t, withPinyin, path))
		// The simplified copy is judged through the simplified forms the
		// table gains on loading.
		simplified := filepath.Join(dataDir, "simplified", tt.file)
		if _, err := os.Stat(simplified); err == nil {
			t.Logf("simplified/%s: with Mandarin readings for the rest %s", tt.file, rates(t, withPinyin, simplified))
		}
	}
}
