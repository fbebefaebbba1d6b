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
// Characters that known accepts are kept as written, even where the other
// script writes them differently, and so are those it rejects in both
// scripts. Each line is converted whole, so that the one-to-many cases
// follow their context as OpenCC reads it (后 becomes 後 in 然后 and stays
// 后 in 皇后).
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

	var out []rune
	var rewrites []Rewrite
	for i, r := range chars {
		if !unknown(r) {
			continue
		}
		for _, c := range converted {
			if c[i] != r && poetry.IsHan(c[i]) && known(c[i]) {
				if out == nil {
					out = slices.Clone(chars)
				}
				out[i] = c[i]
				if rw := (Rewrite{r, c[i]}); !slices.Contains(rewrites, rw) {
					rewrites = append(rewrites, rw)
				}
				break
			}
		}
	}
	if out == nil {
		return chars, nil, nil
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
