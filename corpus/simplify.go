package corpus

import (
	"fmt"
	"sync"

	"github.com/longbridgeapp/opencc"

	"poetvae/poetry"
)

// The conversion from traditional to simplified characters uses
// github.com/longbridgeapp/opencc, a maintained pure-Go port of OpenCC, the
// converter that most Chinese text tools rely on. It converts phrase by
// phrase, not character by character, which matters for the one-to-many
// cases of classical text (乾坤 stays, 乾燥 becomes 干燥). Its dictionaries
// are embedded in the package, so the conversion needs neither cgo nor data
// files next to the binary, unlike the C++ OpenCC and its Go bindings.
//
// The tables take a few milliseconds to build, so they are built once, on
// first use; the converter only reads them afterwards and is safe for
// concurrent use.
var t2s = sync.OnceValues(func() (*opencc.OpenCC, error) {
	return opencc.New("t2s")
})

// s2t goes the other way, for a poem typed in simplified characters and read
// by a model of traditional ones (see MatchScript). It is one-to-many (后 is
// 後 in 然后 and stays 后 in 皇后), which the phrase tables settle by context.
var s2t = sync.OnceValues(func() (*opencc.OpenCC, error) {
	return opencc.New("s2t")
})

// simplify converts traditional characters in s to simplified ones and
// leaves everything else as it is.
func simplify(s string) (string, error) {
	cc, err := t2s()
	if err != nil {
		return "", fmt.Errorf("corpus: loading the traditional-to-simplified tables: %w", err)
	}
	out, err := cc.Convert(s)
	if err != nil {
		return "", fmt.Errorf("corpus: converting %q to simplified characters: %w", s, err)
	}
	return out, nil
}

// Simplify converts traditional characters in s to simplified ones and
// leaves everything else as it is (OpenCC's t2s, phrase by phrase).
func Simplify(s string) (string, error) { return simplify(s) }

// traditionalShare is the share of character tokens that must change under
// t2s for a corpus to count as traditional. The Tang corpus in traditional
// characters changes about 27% of its tokens, the same poems in simplified
// characters well under 0.1% (乾 and the like, which t2s maps even when they
// are already simplified), so any threshold between works; 5% leaves room
// for mixed text.
const traditionalShare = 0.05

// LooksTraditional reports whether poems appear to be written in
// traditional characters: whether converting each distinct character to
// simplified changes at least 5% of all character tokens.
func LooksTraditional(poems []poetry.Poem) bool {
	counts := make(map[rune]int)
	total := 0
	for _, p := range poems {
		for _, r := range p.Chars() {
			counts[r]++
			total++
		}
	}
	if total == 0 {
		return false
	}
	changed := 0
	for r, n := range counts {
		s, err := simplify(string(r))
		if err != nil {
			return false // cannot tell; the tables are embedded, so this does not happen
		}
		if s != string(r) {
			changed += n
		}
	}
	return float64(changed) >= traditionalShare*float64(total)
}
