package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"poetvae/poetry"
)

// ImportOptions controls which poems Import keeps and how it writes them.
type ImportOptions struct {
	// Lines is the number of lines a poem must have to be kept: 4 for
	// quatrains (絕句), 8 for regulated verse (律詩). Zero means 4.
	Lines int
	// Simplify converts traditional characters to simplified ones before
	// parsing, with the OpenCC t2s tables. The chinese-poetry Tang and Song
	// collections are stored in traditional characters. Conversion is not
	// the default because it loses distinctions (後/后, 髮/發 → 发) that a
	// model trained on the original text keeps.
	Simplify bool
}

// ImportStats accounts for the records read by Import: Records == Kept +
// Duplicates + the sum of Skipped.
type ImportStats struct {
	Files      int            // files read
	Records    int            // poem records read
	Kept       int            // poems written
	Duplicates int            // poems dropped because the same text was written before
	Skipped    map[string]int // records not kept, by reason
}

// Reasons for skipping a record, besides the reasons of [poetry.ParseError].
const (
	// SkipLineCount counts five-character poems with another number of
	// lines than ImportOptions.Lines.
	SkipLineCount = "other line count"
)

// record is the part of a chinese-poetry record that Import uses. Other
// fields (id, tags, notes) are ignored.
type record struct {
	Author     string   `json:"author"`
	Title      string   `json:"title"`
	Paragraphs []string `json:"paragraphs"`
}

// Import reads poem files in the JSON layout of the chinese-poetry
// collection (github.com/chinese-poetry/chinese-poetry), such as
// 全唐诗/poet.tang.0.json: a JSON array of objects with "author", "title"
// and "paragraphs", the lines of the poem, usually one couplet per element.
//
// For each record the paragraphs are joined, white space is removed, the
// text is simplified if opts.Simplify is set, and the result is parsed with
// [poetry.Parse]. Five-character poems with opts.Lines lines are written to
// out in the corpus format, one poem per line, ready for [Read]; the same
// text is written once, at its first occurrence across all files. Other
// records are counted in ImportStats.Skipped by reason.
//
// When meta is not nil, a tab-separated line
//
//	author	title	source-file	poem
//
// is written to it for every poem written to out, source-file being the
// base name of the JSON file; tabs and line breaks inside author and title
// become spaces.
//
// Import fails on a file that cannot be read or is not such a JSON array,
// naming the file and, for a syntax error, the line; and on a write error.
func Import(out io.Writer, meta io.Writer, opts ImportOptions, files ...string) (ImportStats, error) {
	stats := ImportStats{Skipped: make(map[string]int)}
	lines := opts.Lines
	if lines == 0 {
		lines = 4
	}
	if lines != 4 && lines != 8 {
		return stats, fmt.Errorf("corpus: import: %d lines asked for; quatrains have 4 and regulated verse 8", opts.Lines)
	}
	if len(files) == 0 {
		return stats, errors.New("corpus: import: no JSON file given")
	}

	w := bufio.NewWriter(out)
	var mw *bufio.Writer
	if meta != nil {
		mw = bufio.NewWriter(meta)
	}
	seen := make(map[string]struct{})
	for _, file := range files {
		records, err := readRecords(file)
		if err != nil {
			return stats, err
		}
		stats.Files++
		source := filepath.Base(file)
		for _, rec := range records {
			stats.Records++
			p, reason, err := importRecord(rec, lines, opts.Simplify)
			if err != nil {
				return stats, fmt.Errorf("corpus: import: %s: %w", file, err)
			}
			if reason != "" {
				stats.Skipped[reason]++
				continue
			}
			text := p.String()
			if _, dup := seen[text]; dup {
				stats.Duplicates++
				continue
			}
			seen[text] = struct{}{}
			stats.Kept++
			w.WriteString(text)
			w.WriteByte('\n')
			if mw != nil {
				author, title := rec.Author, rec.Title
				if opts.Simplify {
					if author, err = simplify(author); err == nil {
						title, err = simplify(title)
					}
					if err != nil {
						return stats, fmt.Errorf("corpus: import: %s: %w", file, err)
					}
				}
				fmt.Fprintf(mw, "%s\t%s\t%s\t%s\n", TSVField(author), TSVField(title), TSVField(source), text)
			}
		}
	}
	// A bufio.Writer keeps its first error, so checking at Flush catches
	// every failed write above.
	if err := w.Flush(); err != nil {
		return stats, fmt.Errorf("corpus: import: writing poems: %w", err)
	}
	if mw != nil {
		if err := mw.Flush(); err != nil {
			return stats, fmt.Errorf("corpus: import: writing metadata: %w", err)
		}
	}
	return stats, nil
}

// readRecords reads one JSON file of records.
func readRecords(file string) ([]record, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("corpus: import: %w", err)
	}
	var records []record
	if err := json.Unmarshal(data, &records); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			// The default message names Go types of this package, which
			// mean nothing to someone looking at the JSON file.
			if te.Field == "" {
				return nil, fmt.Errorf("corpus: import: %s: found a JSON %s, want an array of poem records", jsonPos(file, data, err), te.Value)
			}
			return nil, fmt.Errorf("corpus: import: %s: field %q holds a JSON %s, want %s", jsonPos(file, data, err), te.Field, te.Value, jsonWant(te.Field))
		}
		return nil, fmt.Errorf("corpus: import: %s: %w", jsonPos(file, data, err), err)
	}
	return records, nil
}

// jsonWant describes the JSON value expected in a field of a record.
func jsonWant(field string) string {
	if field == "paragraphs" {
		return "an array of strings"
	}
	return "a string"
}

// jsonPos returns "file:line:column" of a JSON decoding error, or just the
// file when the error carries no position.
func jsonPos(file string, data []byte, err error) string {
	var off int64 = -1
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		off = se.Offset
	} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return file
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%s:%d:%d", file, line, col)
}

// importRecord turns one record into a poem. It returns a skip reason when
// the record is not kept, and an error only when conversion fails.
func importRecord(rec record, lines int, simp bool) (poetry.Poem, string, error) {
	text := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, strings.Join(rec.Paragraphs, ""))
	if simp {
		var err error
		if text, err = simplify(text); err != nil {
			return poetry.Poem{}, "", err
		}
	}
	p, err := poetry.Parse(text)
	if err != nil {
		return poetry.Poem{}, reason(err), nil
	}
	if p.NumLines() != lines {
		return poetry.Poem{}, SkipLineCount, nil
	}
	return p, "", nil
}

// TSVField makes s safe as one field of a tab-separated line: tabs and
// line ends become spaces, which read as what they separated (readers such
// as the Embedding Projector unescape nothing).
func TSVField(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return ' '
		}
		return r
	}, s)
}
