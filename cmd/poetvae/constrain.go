package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"poetvae/model"
	"poetvae/poetry"
)

// formFlags are the flags of the constraints on rhyme, tones and repeats,
// and of the search, that generate, interpolate and reconstruct share.
// repeatsOff says whether repeats are forbidden by default.
func formFlags(repeatsOff bool) []cli.Flag {
	repeats := "let a character appear twice in a poem (by default repeats are forbidden when --rhyme, --rhyme-char or --tones asks for form)"
	if repeatsOff {
		repeats = "let a character appear twice in a poem (by default no character repeats)"
	}
	rhyme := &cli.StringFlag{Name: "rhyme", Usage: "make lines 2 and 4 (and 6, 8) rhyme in the group `GROUP`: its name (光韵 among a model's learned rhyme classes, 下平聲七陽 with a rhyme table), or a character naming it (光); \"any\" lets the model choose, \"none\" lets lines end as they will"}
	tones := &cli.StringFlag{Name: "tones", Value: "off", Usage: "tonal `RULE`: strict (one standard pattern at the 2nd, 4th and 5th characters of each line), loose (二四不同, 粘 and 对 at the 2nd and 4th) or off"}
	if repeatsOff {
		// generate's poems rhyme and scan unless told otherwise: a quatrain
		// whose even lines do not rhyme is not one, and the model alone
		// rhymes and keeps the tonal rules in few (docs/RESULTS.md); the
		// loose rule leaves the model most of its choices.
		rhyme.Value, tones.Value = "any", "loose"
	}
	return []cli.Flag{
		rhyme,
		&cli.StringFlag{Name: "rhyme-char", Usage: "make the even lines rhyme in the group of the character `CHAR`, e.g. 光"},
		&cli.BoolFlag{Name: "rhyme-first-line", Usage: "make the first line rhyme too (首句入韵); implies --rhyme any"},
		tones,
		&cli.IntFlag{Name: "beam", Usage: "search with `N` beams for the most likely poem that keeps the constraints (0 or 1: no beam search)"},
		&cli.BoolFlag{Name: "allow-repeats", Usage: repeats},
		rhymeTableFlag(),
	}
}

// formOptions sets the constraints of the form flags in opt. Repeats are
// forbidden when repeatsOff is set or any form is asked for, unless
// --allow-repeats. Bad flag values are usage errors.
func formOptions(c *cli.Context, opt *model.DecodeOptions, repeatsOff bool) error {
	if err := refuseEmpty(c, "tones", "rhyme", "rhyme-char"); err != nil {
		return err
	}
	tones, err := model.ParseToneRule(strings.TrimSpace(c.String("tones")))
	if err != nil {
		return usageError("--tones: unknown tone rule %s (want strict, loose or off)", shortQuote(c.String("tones")))
	}
	opt.Tones = tones
	switch g := strings.TrimSpace(c.String("rhyme")); g {
	case "", "none":
	case "any":
		opt.Rhyme = true
	default:
		// A group's name is a few characters (下平聲七陽 is the longest
		// kind); a longer text is no name, and the model's message would
		// quote all of it.
		if utf8.RuneCountInString(g) > maxRhymeName {
			return usageError("--rhyme %s is no rhyme group: give its name (光韵, 下平聲七陽), a character naming it (光), any or none", shortQuote(g))
		}
		opt.RhymeGroup = g
	}
	if s := c.String("rhyme-char"); s != "" {
		r, size := utf8.DecodeRuneInString(s)
		if size != len(s) || !poetry.IsHan(r) {
			return usageError("--rhyme-char takes one Chinese character, not %s", shortQuote(s))
		}
		opt.RhymeChar = r
	}
	opt.RhymeFirstLine = c.Bool("rhyme-first-line")
	if c.Int("beam") < 0 {
		return usageError("--beam cannot be negative")
	}
	if b := c.Int("beam"); b > maxBeamWidth {
		return usageError("--beam %d is more than the limit of %d: the search's work grows with the square of the width (a beam of %d takes about a second a poem)", b, maxBeamWidth, maxBeamWidth)
	}
	opt.Beam = c.Int("beam")
	form := opt.Rhyme || opt.RhymeGroup != "" || opt.RhymeChar != 0 || opt.RhymeFirstLine || tones != model.TonesOff
	opt.NoRepeat = (repeatsOff || form) && !c.Bool("allow-repeats")
	// Without a rhyme table the model judges by its own prosody (nil here):
	// the rhyme classes learned from its training poems.
	if form && c.String("rhyme-table") != "" {
		if opt.Prosody, _, err = loadProsody(c, false); err != nil {
			return err
		}
	}
	return nil
}

// maxRhymeName is the most characters --rhyme reads as a group's name.
const maxRhymeName = 20

// maxBeamWidth is the widest beam search: each step weighs every character
// after every beam and keeps the best in order, so the work of a poem grows
// with the square of the width, and a wider beam than this finds little
// that a narrower one misses.
const maxBeamWidth = 1000

// decodeError makes a mistake in the decoding options that only the model
// could find (a rhyme group it does not know, a line count it cannot
// write, a fixed character outside its vocabulary) a usage error that
// names the flag; other errors are returned as they are.
func decodeError(c *cli.Context, err error) error {
	oe, ok := errors.AsType[*model.OptionError](err)
	if !ok {
		return err
	}
	flag := map[string]string{"Lines": "--lines", "Beam": "--beam", "Temperature": "--temperature", "TopK": "--top-k",
		"Tones": "--tones", "RhymeGroup": "--rhyme", "RhymeChar": "--rhyme-char"}[oe.Option]
	if oe.Option == "Template" || oe.Option == "Fixed" {
		var given []string
		for _, f := range []string{"template", "acrostic", "first-line"} {
			if hasFlag(c, f) && c.String(f) != "" {
				given = append(given, "--"+f)
			}
		}
		flag = strings.Join(given, ", ")
	}
	if flag == "" { // the rhyme table's: a file's fault, not the command line's
		return err
	}
	return usageError("%s: %v", flag, oe.Err)
}

// fixedFlags are generate's flags that fix characters.
func fixedFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "acrostic", Usage: "begin each line with one of the characters `HEADS` in turn (藏头诗), e.g. 春夏秋冬"},
		&cli.StringFlag{Name: "first-line", Usage: "begin with the five characters `LINE`, e.g. 床前明月光"},
		&cli.StringFlag{Name: "template", Usage: "write to the `TEMPLATE`, a poem with blanks (" + poetry.Blanks + `), e.g. "春□□□□，□□□□□。□□□□□，□□□□□。"`},
	}
}

// maxTemplateLen is the most characters --template reads: eight lines of
// five, their punctuation, and room for spaces.
const maxTemplateLen = 200

// fixedTemplate merges --acrostic, --first-line and --template into one
// template for poems of lines lines, or returns nil when none is given. A
// template also sets the number of lines when --lines is not given.
func fixedTemplate(c *cli.Context, lines int) (tm []rune, n int, err error) {
	if s := c.String("template"); s != "" {
		// The longest template is of eight lines, with punctuation and
		// spaces; a longer text is no template, and reading it out would
		// fill the message.
		if n := utf8.RuneCountInString(s); n > maxTemplateLen {
			return nil, 0, usageError("--template has %d characters, more than a template of eight lines ever needs (%d)", n, maxTemplateLen)
		}
		t, err := poetry.ParseTemplate(s)
		if err != nil {
			return nil, 0, usageError("--template: %v", err)
		}
		if got := len(t) / poetry.LineLen; c.IsSet("lines") && got != lines {
			return nil, 0, usageError("--template has %d lines, --lines %d", got, lines)
		}
		tm, lines = t, len(t)/poetry.LineLen
	}
	if lines != 2 && lines != 4 && lines != 8 {
		what := "--lines"
		if tm != nil && !c.IsSet("lines") {
			what = "--template"
		}
		return nil, 0, usageError("%s: cannot write %d-line poems (want 2, 4 or 8)", what, lines)
	}
	// from records which flag fixed each position, for conflicts.
	from := make([]string, poetry.LineLen*lines)
	for i, r := range tm {
		if r != 0 {
			from[i] = "--template"
		}
	}
	set := func(flag string, pos int, r rune) error {
		if tm == nil {
			tm = make([]rune, len(from))
		}
		if tm[pos] != 0 && tm[pos] != r {
			return usageError("line %d, position %d: %s gives %c, %s %c", pos/5+1, pos%5+1, from[pos], tm[pos], flag, r)
		}
		tm[pos], from[pos] = r, flag
		return nil
	}
	if s := c.String("acrostic"); s != "" {
		heads := []rune(strings.TrimSpace(s))
		if len(heads) != lines {
			return nil, 0, usageError("--acrostic %s has %d characters, but a %d-line poem needs %d, one for each line (--lines sets 2, 4 or 8 lines)", shortText(s), len(heads), lines, lines)
		}
		for i, r := range heads {
			if !poetry.IsHan(r) {
				return nil, 0, usageError("--acrostic: %q is not a Chinese character", r)
			}
			if err := set("--acrostic", i*poetry.LineLen, r); err != nil {
				return nil, 0, err
			}
		}
	}
	if s := c.String("first-line"); s != "" {
		line := []rune(strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }))
		if len(line) != poetry.LineLen {
			return nil, 0, usageError("--first-line %s has %d characters, want %d", shortText(s), len(line), poetry.LineLen)
		}
		for i, r := range line {
			if !poetry.IsHan(r) {
				return nil, 0, usageError("--first-line: %q is not a Chinese character", r)
			}
			if err := set("--first-line", i, r); err != nil {
				return nil, 0, err
			}
		}
	}
	return tm, lines, nil
}

// warnNotes writes the notes of the results to stderr as warnings; name
// names result i for the reader.
func warnNotes(c *cli.Context, results []model.DecodeResult, name func(i int) string) {
	for i, r := range results {
		for _, n := range r.Notes {
			fmt.Fprintf(c.App.ErrWriter, "warning: %s: %s\n", name(i), n)
		}
	}
}
