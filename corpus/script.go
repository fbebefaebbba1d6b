package corpus

import (
	"fmt"
	"slices"

	"github.com/longbridgeapp/opencc"

	"poetvae/poetry"
)

// Rewrite is one character read in the other script: From as written, To
// as the model knows it.
type Rewrite struct {
	From, To rune
}

// MatchScript reads the characters that known rejects in the other script
// where known accepts them there: a poem copied in traditional characters
// and read by a model trained on simplified ones (舉頭 as 举头), or the
// reverse (举头 as 舉頭). chars is a poem's characters line after line,
// or a template's, whose blanks (any rune that is not Han) are left alone.
// Once a character known rejects shows the poem to be in the other script,
// the poem is read in that script throughout: a character that known also
// accepts as written is converted too where its form in the model's
// script is known (a simplified 黄 or 楼, which a traditional corpus holds
// a few times, reads as the 黃 and 樓 the model learnt from thousands of
// lines). A poem of characters known as written is kept as it is, and so
// are characters rejected in both scripts. Each line is converted whole,
// so that the one-to-many cases follow their context as OpenCC reads it
// (后 becomes 後 in 然后 and stays 后 in 皇后).
//
// MatchScript returns chars itself and no rewrites when nothing is
// rewritten; otherwise a rewritten copy and each distinct rewrite in order
// of first occurrence.
func MatchScript(chars []rune, known func(rune) bool) ([]rune, []Rewrite, error) {
	unknown := func(r rune) bool { return poetry.IsHan(r) && !known(r) }
	if !slices.ContainsFunc(chars, unknown) {
		return chars, nil, nil
	}
	var converted [][]rune
	for _, table := range []func() (*opencc.OpenCC, error){t2s, s2t} {
		c, err := convertLines(chars, table)
		if err != nil {
			return chars, nil, err
		}
		converted = append(converted, c)
	}

	// Which script the poem is in: the conversion that reads more of the
	// unknown characters as known ones.
	reads := make([]int, len(converted))
	for i, r := range chars {
		if unknown(r) {
			for k, c := range converted {
				if c[i] != r && poetry.IsHan(c[i]) && known(c[i]) {
					reads[k]++
				}
			}
		}
	}
	dir := 0
	if reads[1] > reads[0] {
		dir = 1
	}
	if reads[dir] == 0 {
		return chars, nil, nil
	}
	var out []rune
	var rewrites []Rewrite
	rewrite := func(i int, to rune) {
		if out == nil {
			out = slices.Clone(chars)
		}
		out[i] = to
		if rw := (Rewrite{chars[i], to}); !slices.Contains(rewrites, rw) {
			rewrites = append(rewrites, rw)
		}
	}
	for i, r := range chars {
		if !poetry.IsHan(r) {
			continue
		}
		if c := converted[dir][i]; c != r && poetry.IsHan(c) && known(c) {
			rewrite(i, c)
			continue
		}
		// An unknown character the poem's script leaves alone may still
		// be known in the other (a poem of mixed forms).
		if c := converted[1-dir][i]; unknown(r) && c != r && poetry.IsHan(c) && known(c) {
			rewrite(i, c)
		}
	}
	return out, rewrites, nil
}

// convertLines converts chars with one of the OpenCC tables, line by line
// so that no phrase is matched across the end of a line, and returns the
// result position for position with chars. Should a phrase change length,
// each character of its line is converted on its own.
func convertLines(chars []rune, table func() (*opencc.OpenCC, error)) ([]rune, error) {
	cc, err := table()
	if err != nil {
		return nil, fmt.Errorf("corpus: loading the script conversion tables: %w", err)
	}
	convert := func(s string) ([]rune, error) {
		text, err := cc.Convert(s)
		if err != nil {
			return nil, fmt.Errorf("corpus: converting %q: %w", s, err)
		}
		return []rune(text), nil
	}
	out := make([]rune, 0, len(chars))
	for line := range slices.Chunk(chars, poetry.LineLen) {
		c, err := convert(string(line))
		if err != nil {
			return nil, err
		}
		if len(c) != len(line) {
			c = slices.Clone(line)
			for i, r := range line {
				one, err := convert(string(r))
				if err != nil {
					return nil, err
				}
				if len(one) == 1 {
					c[i] = one[0]
				}
			}
		}
		out = append(out, c...)
	}
	return out, nil
}
