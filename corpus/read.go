package corpus

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"poetvae/poetry"
)

// MaxLineBytes is the longest line, in bytes without its line end, that is
// parsed. A quatrain takes well under a hundred bytes, so a longer line is
// junk (or not a corpus file at all); it is rejected with reason
// [ReasonTooLong] instead of being buffered whole.
const MaxLineBytes = 64 << 10

// ReasonTooLong is the [Reject.Reason] of a line longer than [MaxLineBytes].
// Every other reason is the [poetry.ParseError] reason of the line.
const ReasonTooLong = "line too long"

// maxRejectText bounds the text kept of a line that is too long, so that a
// report on a binary file does not hold the whole file.
const maxRejectText = 200

// Reject describes one line of a corpus file that is not a valid poem.
type Reject struct {
	File   string // file name as given to Read or ReadFrom
	Line   int    // 1-based line number
	Text   string // the line, with invalid UTF-8 replaced by U+FFFD so it can be printed
	Reason string // short reason, e.g. "line length"; see ReasonTooLong
	Err    error  // the underlying error, usually a *poetry.ParseError; nil for ReasonTooLong
}

// String formats the reject as "file:line: reason: text".
func (r Reject) String() string {
	return fmt.Sprintf("%s:%d: %s: %q", r.File, r.Line, r.Reason, r.Text)
}

// Report accounts for every line read. Each line is counted exactly once:
// Lines == Accepted + Rejected() + Duplicates + Blank + Comments.
type Report struct {
	Files      []string // files read, in order
	Lines      int      // lines read in all files
	Blank      int      // empty or white-space-only lines
	Comments   int      // lines whose first non-blank character is '#'
	Accepted   int      // poems returned
	Duplicates int      // poems dropped because the same poem came earlier

	// ByReason counts rejected lines by Reject.Reason.
	ByReason map[string]int
	// Rejects lists every rejected line, in the order read.
	Rejects []Reject
}

// Rejected reports the number of lines that are not valid poems.
func (r *Report) Rejected() int { return len(r.Rejects) }

// Read reads the named corpus files as one corpus: a poem that occurs in
// several files, or twice in one, is kept once, at its first occurrence.
//
// A file compressed with gzip is read decompressed. Malformed lines are
// skipped and listed in the report; they are not errors. Read fails when a
// file cannot be read, when it is not UTF-8 text (a [*NotTextError]), or
// when no file holds a single valid poem. Whenever it got as far as
// reading, the report is returned with the error, so that the caller can
// show what was wrong with the lines.
func Read(paths ...string) ([]poetry.Poem, *Report, error) {
	if len(paths) == 0 {
		return nil, nil, errors.New("corpus: no corpus file given")
	}
	c := newCollector()
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, c.rep, fmt.Errorf("corpus: %w", err)
		}
		err = c.read(f, path)
		f.Close() // read-only: a close error cannot lose data
		if err != nil {
			return nil, c.rep, err
		}
	}
	return c.finish()
}

// ReadFrom reads one corpus from rd. The name is used in the report and in
// error messages in place of a file name.
func ReadFrom(rd io.Reader, name string) ([]poetry.Poem, *Report, error) {
	c := newCollector()
	if err := c.read(rd, name); err != nil {
		return nil, c.rep, err
	}
	return c.finish()
}

// ReadFromLines is ReadFrom that also returns the line of rd (1-based)
// that each poem was read from, by which PoemsAt finds it again.
func ReadFromLines(rd io.Reader, name string) (poems []poetry.Poem, lines []int, rep *Report, err error) {
	c := newCollector()
	if err := c.read(rd, name); err != nil {
		return nil, nil, c.rep, err
	}
	poems, rep, err = c.finish()
	if err != nil {
		return nil, nil, rep, err
	}
	return poems, c.lines, rep, nil
}

// PoemsAt returns the poems on the given lines (1-based, in any order) of
// data, the contents of a corpus file, read as ReadFrom reads them: for a
// program that keeps where a file's poems are (ReadFromLines) and has made
// sure that the file is the one read then, so that it need not read every
// poem again to show a few. A line that holds no poem is an error.
func PoemsAt(data []byte, name string, lines []int) ([]poetry.Poem, error) {
	if bytes.HasPrefix(data, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", name, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", name, err)
		}
	}
	order := make([]int, len(lines)) // the places of lines, by line
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(lines[a], lines[b]) })
	poems := make([]poetry.Poem, len(lines))
	n, rest := 1, data // rest starts at line n
	for _, i := range order {
		want := lines[i]
		for n < want && len(rest) > 0 {
			end := bytes.IndexByte(rest, '\n')
			if end < 0 {
				rest = nil
				break
			}
			rest, n = rest[end+1:], n+1
		}
		if n != want || len(rest) == 0 {
			return nil, fmt.Errorf("corpus: %s has no line %d", name, want)
		}
		line := rest
		if end := bytes.IndexByte(line, '\n'); end >= 0 {
			line = line[:end+1]
		}
		line = trimEOL(line)
		if n == 1 {
			line = bytes.TrimPrefix(line, bom)
		}
		p, err := poetry.Parse(string(bytes.TrimSpace(line)))
		if err != nil {
			return nil, fmt.Errorf("corpus: %s:%d: %w", name, n, err)
		}
		poems[i] = p
	}
	return poems, nil
}

// collector accumulates the poems of several files, dropping duplicates
// across all of them.
type collector struct {
	poems []poetry.Poem
	lines []int // the line each poem was read from, in its file
	seen  map[string]struct{}
	rep   *Report
}

func newCollector() *collector {
	return &collector{
		seen: make(map[string]struct{}),
		rep:  &Report{ByReason: make(map[string]int)},
	}
}

var (
	bom       = []byte("\uFEFF")
	gzipMagic = []byte{0x1f, 0x8b}
)

// sniffBytes is how much of a file's start is looked at to tell text from
// a binary file.
const sniffBytes = 8 << 10

// NotTextError reports a corpus file that is not UTF-8 text: a model or an
// archive given by mistake, or text saved as UTF-16. Read stops at it rather
// than rejecting its every "line" one by one.
type NotTextError struct {
	File   string
	Reason string // what the file is, and what to do: "is UTF-16 text (little-endian): save it as UTF-8"
	Head   []byte // up to 64 of the file's first bytes (decompressed), for callers that can name the format
}

func (e *NotTextError) Error() string {
	return fmt.Sprintf("corpus: %s %s (a corpus is UTF-8 text, one poem per line)", e.File, e.Reason)
}

// checkText tells text from what is not, by the start of a file: UTF-16
// by its byte-order mark, a binary file by a NUL byte, which UTF-8 text
// never holds.
func checkText(name string, head []byte) error {
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}):
		return &NotTextError{File: name, Reason: "is UTF-16 text (little-endian): save it as UTF-8", Head: start(head)}
	case bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return &NotTextError{File: name, Reason: "is UTF-16 text (big-endian): save it as UTF-8", Head: start(head)}
	}
	if i := bytes.IndexByte(head, 0); i >= 0 {
		return &NotTextError{File: name, Reason: fmt.Sprintf("is not a text file: a NUL byte at byte %d", i+1), Head: start(head)}
	}
	return nil
}

// start copies the first bytes of head, which belong to a reader's buffer.
func start(head []byte) []byte {
	return bytes.Clone(head[:min(len(head), 64)])
}

// read consumes one file, decompressing it first when it is gzip. Bad
// lines go to the report; I/O errors and a file that is not text are
// returned.
func (c *collector) read(rd io.Reader, name string) error {
	c.rep.Files = append(c.rep.Files, name)
	br := bufio.NewReaderSize(rd, 64<<10)
	head, err := br.Peek(sniffBytes)
	if err != nil && err != io.EOF {
		return fmt.Errorf("corpus: %s: %w", name, err)
	}
	if bytes.HasPrefix(head, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("corpus: %s: %w", name, err)
		}
		defer zr.Close() // a reader: nothing is lost on close
		br = bufio.NewReaderSize(zr, 64<<10)
		if head, err = br.Peek(sniffBytes); err != nil && err != io.EOF {
			return fmt.Errorf("corpus: %s: %w", name, err)
		}
	}
	if err := checkText(name, head); err != nil {
		return err
	}
	lr := lineReader{br: br}
	for n := 1; ; n++ {
		line, tooLong, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("corpus: %s:%d: %w", name, n, err)
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, bom)
		}
		c.line(name, n, line, tooLong)
	}
}

// line classifies one line, without its line end.
func (c *collector) line(name string, n int, line []byte, tooLong bool) {
	rep := c.rep
	rep.Lines++
	if tooLong {
		c.reject(Reject{File: name, Line: n, Text: printable(line, maxRejectText), Reason: ReasonTooLong})
		return
	}
	trimmed := bytes.TrimSpace(line)
	switch {
	case len(trimmed) == 0:
		rep.Blank++
		return
	case trimmed[0] == '#':
		rep.Comments++
		return
	}
	text := string(trimmed)
	p, err := poetry.Parse(text)
	if err != nil {
		c.reject(Reject{File: name, Line: n, Text: printable(trimmed, len(trimmed)), Reason: reason(err), Err: err})
		return
	}
	// Text identifies a poem: lines have a fixed length, so the
	// characters alone fix the line breaks.
	key := p.Text()
	if _, dup := c.seen[key]; dup {
		rep.Duplicates++
		return
	}
	c.seen[key] = struct{}{}
	c.poems = append(c.poems, p)
	c.lines = append(c.lines, n)
	rep.Accepted++
}

func (c *collector) reject(r Reject) {
	c.rep.Rejects = append(c.rep.Rejects, r)
	c.rep.ByReason[r.Reason]++
}

// finish returns the poems, or an error when there are none.
func (c *collector) finish() ([]poetry.Poem, *Report, error) {
	rep := c.rep
	if len(c.poems) > 0 {
		return c.poems, rep, nil
	}
	msg := fmt.Sprintf("corpus: no valid poem in %s (%s: %d blank, %s, %d rejected",
		strings.Join(rep.Files, ", "), plural(rep.Lines, "line"), rep.Blank, plural(rep.Comments, "comment"), rep.Rejected())
	if len(rep.Rejects) > 0 {
		first := rep.Rejects[0]
		msg += fmt.Sprintf("; first: %s:%d: %s", first.File, first.Line, first.Reason)
	}
	return nil, rep, errors.New(msg + ")")
}

// plural formats a count of things, as in "1 line" or "2 lines".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// reason extracts the short reason of a parse error.
func reason(err error) string {
	if pe, ok := errors.AsType[*poetry.ParseError](err); ok {
		return pe.Reason()
	}
	return err.Error()
}

// printable returns at most max bytes of b as a valid UTF-8 string, with a
// trailing ellipsis when it was cut.
func printable(b []byte, max int) string {
	cut := len(b) > max
	if cut {
		b = b[:max]
		// Drop a rune that the cut split, so that the cut itself does not
		// show up as a replacement character.
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if cut {
		s += "…"
	}
	return s
}
