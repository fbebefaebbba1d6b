package corpus

import (
	"strings"

	"poetvae/poetry"
)

// SampleCredit is the author and title of a poem of the built-in sample
// corpus.
type SampleCredit struct {
	Author string
	Title  string // without its 《》
	Note   string // what follows the title, if anything: 其二, （通行本）
}

// SampleCredits returns the author and title of each poem of the built-in
// sample corpus, by the poem's Text, read from the comment line before it,
// which says 作者《题目》 (such as 王维《杂诗》其二). A poem without such a
// line has no entry.
func SampleCredits() map[string]SampleCredit {
	credits := map[string]SampleCredit{}
	var last string // the comment just before the current line, if any
	for line := range strings.SplitSeq(sampleText, "\n") {
		line = strings.TrimSpace(line)
		if comment, ok := strings.CutPrefix(line, "#"); ok {
			last = strings.TrimSpace(comment)
			continue
		}
		p, err := poetry.Parse(line)
		if err == nil && last != "" {
			if cr, ok := parseCredit(last); ok {
				credits[p.Text()] = cr
			}
		}
		last = ""
	}
	return credits
}

// parseCredit reads 作者《题目》 and the note after it, if any.
func parseCredit(s string) (SampleCredit, bool) {
	author, rest, ok := strings.Cut(s, "《")
	if !ok {
		return SampleCredit{}, false
	}
	title, note, ok := strings.Cut(rest, "》")
	if !ok || strings.TrimSpace(author) == "" || title == "" {
		return SampleCredit{}, false
	}
	return SampleCredit{Author: strings.TrimSpace(author), Title: title, Note: strings.TrimSpace(note)}, true
}
