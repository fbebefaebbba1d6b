package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"poetvae/poetry"
)

// TestGenerateConstrained runs generate with each way of constraining it
// and checks every poem against the constraint.
func TestGenerateConstrained(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	writeFile(t, "yang.tsv", "char\ttone\tgroup\n光\t平\t下平聲七陽\n霜\t平\t下平聲七陽\n鄉\t平\t下平聲七陽\n"+
		"長\t平\t下平聲七陽\n香\t平\t下平聲七陽\n陽\t平\t下平聲七陽\n月\t仄\t入聲六月\n")
	pros := poetry.NewProsody()
	rhymesWith := func(a rune) func(rune) bool {
		return func(b rune) bool { return pros.Rhymes(a, b) }
	}
	tests := []struct {
		name  string
		args  []string
		check func(p poetry.Poem) string // what is wrong, or ""
	}{
		{"acrostic", []string{"--acrostic", "春江花月"}, func(p poetry.Poem) string {
			for i, head := range []rune("春江花月") {
				if p.Line(i)[0] != head {
					return "line does not begin with " + string(head)
				}
			}
			return ""
		}},
		{"acrostic beam", []string{"--acrostic", "春江花月", "--beam", "3"}, func(p poetry.Poem) string {
			if string(p.Chars()[0]) != "春" || string(p.Line(3)[0]) != "月" {
				return "heads not kept"
			}
			return ""
		}},
		{"first line", []string{"--first-line", "床前明月光"}, func(p poetry.Poem) string {
			if string(p.Line(0)) != "床前明月光" {
				return "first line not kept"
			}
			return ""
		}},
		{"template", []string{"--template", "春□□□□，□□□□□。秋____，□□□□□。"}, func(p poetry.Poem) string {
			if p.Line(0)[0] != '春' || p.Line(2)[0] != '秋' {
				return "template not kept"
			}
			return ""
		}},
		{"rhyme char", []string{"--rhyme-char", "光"}, func(p poetry.Poem) string {
			if !rhymesWith('光')(p.Line(1)[4]) || !rhymesWith('光')(p.Line(3)[4]) || !pros.RhymeOK(p) {
				return "even lines do not rhyme with 光"
			}
			return ""
		}},
		{"rhyme group and first line", []string{"--rhyme", "ang", "--rhyme-first-line"}, func(p poetry.Poem) string {
			for _, i := range []int{0, 1, 3} {
				if !slices.Contains(pros.RhymeGroups(p.Line(i)[4]), "ang") {
					return "a rhyming line does not end in ang"
				}
			}
			return ""
		}},
		{"strict tones", []string{"--tones", "strict", "--rhyme", "any"}, func(p poetry.Poem) string {
			a := pros.Analyze(p)
			if !a.Rhymed {
				return "not rhymed"
			}
			for _, v := range a.Violations {
				if v.Rule == "二四不同" || v.Rule == "粘" || v.Rule == "对" {
					return v.Detail
				}
			}
			return ""
		}},
		{"rhyme table", []string{"--rhyme-table", "yang.tsv", "--rhyme", "七陽"}, func(p poetry.Poem) string {
			for _, i := range []int{1, 3} {
				if !strings.ContainsRune("光霜乡长香阳", p.Line(i)[4]) {
					return "an even line does not end in 下平聲七陽"
				}
			}
			return ""
		}},
		{"like", []string{"--like", jingYeSi, "--spread", "0.5"}, func(p poetry.Poem) string { return "" }},
		{"all", []string{"--acrostic", "春江花月", "--rhyme-char", "光", "--tones", "loose", "--beam", "2",
			"--like", chunXiao}, func(p poetry.Poem) string {
			if p.Line(0)[0] != '春' || !pros.RhymeOK(p) {
				return "heads or rhyme not kept"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"generate", "--model", model, "-n", "4", "--seed", "3", "--json"}, tt.args...)
			code, stdout, stderr := poetvae(t, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
			}
			var g struct {
				Poems []struct {
					Poem    string `json:"poem"`
					Pattern string `json:"pattern"`
				} `json:"poems"`
			}
			if err := json.Unmarshal([]byte(stdout), &g); err != nil || len(g.Poems) != 4 {
				t.Fatalf("poetvae %s: %d poems, %v:\n%s", strings.Join(args, " "), len(g.Poems), err, stdout)
			}
			for _, j := range g.Poems {
				p, err := poetry.Parse(j.Poem)
				if err != nil || p.NumLines() != 4 {
					t.Fatalf("%q is not a quatrain (%v)", j.Poem, err)
				}
				if msg := tt.check(p); msg != "" {
					t.Errorf("%s: %s", p, msg)
				}
				for i, r := range p.Chars() {
					if slices.Contains(p.Chars()[:i], r) {
						t.Errorf("%s repeats %c without --allow-repeats", p, r)
					}
				}
			}
		})
	}
}

// TestGenerateLike: --like with --spread 0 decodes the poem's posterior
// mean, which is what reconstruct decodes.
func TestGenerateLike(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	_, gen, _ := poetvae(t, "generate", "--model", model, "--like", dengGuanQ, "--spread", "0", "--greedy", "--allow-repeats", "--rhyme", "none", "--tones", "off")
	_, rec, _ := poetvae(t, "reconstruct", "--model", model, dengGuanQ)
	if l := lines(rec); len(l) == 0 || strings.TrimSpace(gen) != l[0] {
		t.Errorf("generate --like --spread 0 --greedy wrote %q; reconstruct %q", gen, rec)
	}
}

// TestConstraintNotes: constraints that cannot all be kept give a poem
// anyway, with warnings on stderr and notes in the JSON.
func TestConstraintNotes(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	args := []string{"generate", "--model", model, "--seed", "1", "--rhyme", "any", "--tones", "off", "--template", "□□□□□，□□□□光。□□□□□，□□□□月。"}
	code, stdout, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("status %d: %s", code, stderr)
	}
	if p, err := poetry.Parse(strings.TrimSpace(stdout)); err != nil || p.Line(1)[4] != '光' || p.Line(3)[4] != '月' {
		t.Errorf("poem %q (%v): want one ending lines 2 and 4 in 光 and 月", stdout, err)
	}
	if !strings.Contains(stderr, "warning: poem 1: line 4, position 5: rhyme relaxed") || !strings.Contains(stderr, "月") {
		t.Errorf("stderr %q lacks a warning that the rhyme was relaxed at 月", stderr)
	}
	_, stdout, _ = poetvae(t, append(args, "--json")...)
	var g struct {
		Poems []struct {
			Notes []struct {
				Line, Pos  int
				Constraint string
			} `json:"notes"`
		} `json:"poems"`
	}
	if err := json.Unmarshal([]byte(stdout), &g); err != nil || len(g.Poems) != 1 || len(g.Poems[0].Notes) != 1 ||
		g.Poems[0].Notes[0].Line != 4 || g.Poems[0].Notes[0].Constraint != "rhyme" {
		t.Errorf("generate --json: notes %+v (%v), want one at line 4 for the rhyme:\n%s", g, err, stdout)
	}
}

func TestInterpolateReconstructConstrained(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	pros := poetry.NewProsody()
	code, stdout, stderr := poetvae(t, "interpolate", "--model", model, "--steps", "2", "--rhyme-char", "光", "--tones", "loose", "--beam", "2", jingYeSi, dengGuanQ)
	if code != 0 {
		t.Fatalf("interpolate: status %d: %s", code, stderr)
	}
	for _, l := range lines(stdout)[:3] {
		f := strings.Fields(l)
		p, err := poetry.Parse(f[len(f)-1])
		if err != nil || !pros.Rhymes(p.Line(1)[4], '光') || !pros.Rhymes(p.Line(3)[4], '光') {
			t.Errorf("interpolate --rhyme-char 光: %q does not rhyme with 光 (%v)", l, err)
		}
	}
	code, stdout, stderr = poetvae(t, "reconstruct", "--model", model, "--rhyme", "any", "--tones", "strict", "--json", jingYeSi)
	var r struct {
		Poem    string   `json:"poem"`
		Pattern string   `json:"pattern"`
		Rhyme   []string `json:"rhyme"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil {
		t.Fatalf("reconstruct: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if p, err := poetry.Parse(r.Poem); err != nil || !pros.RhymeOK(p) || r.Pattern == "" || len(r.Rhyme) == 0 {
		t.Errorf("reconstruct --rhyme any --tones strict = %+v (%v): want a rhymed poem with its pattern and rhyme", r, err)
	}
}

func TestConstraintErrors(t *testing.T) {
	model := sharedModel(t)
	inTempDir(t)
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"generate", "--acrostic", "春夏秋"}, 2, []string{"--acrostic 春夏秋 has 3 characters", "4-line poem needs 4"}},
		{[]string{"generate", "--acrostic", "春江花月春江花月"}, 2, []string{"8 characters", "--lines"}},
		{[]string{"generate", "--template", "春□□□，□□□□□。"}, 2, []string{"--template", "line 1 has 4 characters and blanks"}},
		{[]string{"generate", "--template", "春□□□□，□□□□□。", "--lines", "4"}, 2, []string{"--template has 2 lines, --lines 4"}},
		{[]string{"generate", "--template", "龘□□□□，□□□□□。□□□□□，□□□□□。"}, 2, []string{"龘", "not in the model's vocabulary"}},
		{[]string{"generate", "--acrostic", "春江花月", "--template", "秋□□□□，□□□□□。□□□□□，□□□□□。"}, 2, []string{"line 1, position 1", "--template gives 秋", "--acrostic 春"}},
		{[]string{"generate", "--first-line", "床前明月"}, 2, []string{"--first-line", "4 characters"}},
		{[]string{"generate", "--tones", "medium"}, 2, []string{"--tones", `unknown tone rule "medium"`, "strict, loose or off"}},
		{[]string{"generate", "--rhyme-char", "光明"}, 2, []string{"--rhyme-char", "one Chinese character"}},
		{[]string{"generate", "--rhyme", "xyz"}, 2, []string{`no rhyme group "xyz"`}},
		{[]string{"generate", "--beam", "-1"}, 2, []string{"--beam"}},
		{[]string{"generate", "--spread", "2"}, 2, []string{"--spread needs --like"}},
		{[]string{"generate", "--like", "床前明月光，疑是地上霜。"}, 2, []string{"--like", "2 lines"}},
		{[]string{"interpolate", "--tones", "tight", jingYeSi, dengGuanQ}, 2, []string{"unknown tone rule"}},
		{[]string{"reconstruct", "--beam", "-2", jingYeSi}, 2, []string{"--beam"}},
	}
	for _, tt := range tests {
		args := append([]string{tt.args[0], "--model", model}, tt.args[1:]...)
		code, stdout, stderr := poetvae(t, args...)
		if code != tt.code || stdout != "" || len(lines(stderr)) != 1 {
			t.Errorf("poetvae %s: status %d, stdout %q, stderr %q; want status %d and one line on stderr",
				strings.Join(args, " "), code, stdout, stderr, tt.code)
		}
		mentions(t, args, stderr, tt.want...)
	}
}
