package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"poetvae/corpus"
	"poetvae/model"
	"poetvae/poetry"
)

// Eight-line poems (律诗) for the --halves tests.
const (
	chunWang    = "国破山河在，城春草木深。感时花溅泪，恨别鸟惊心。烽火连三月，家书抵万金。白头搔更短，浑欲不胜簪。"
	shanJuQiuMi = "空山新雨后，天气晚来秋。明月松间照，清泉石上流。竹喧归浣女，莲动下渔舟。随意春芳歇，王孙自可留。"
	songYouRen  = "青山横北郭，白水绕东城。此地一为别，孤蓬万里征。浮云游子意，落日故人情。挥手自兹去，萧萧班马鸣。"
)

// tinyHalves trains one epoch of a model small enough for the tests.
var tinyHalves = []string{"train", "--epochs", "1", "--batch", "4", "--embed", "8", "--enc-hidden", "8",
	"--dec-hidden", "8", "--latent", "2", "--no-keywords"}

// TestTrainHalves: with --halves, a quatrain file and an eight-line file
// train one quatrain model, the run says how it read the eight-line poems,
// and --resume goes on with the same quatrains (and refuses without
// --halves, as the poems then differ).
func TestTrainHalves(t *testing.T) {
	inTempDir(t)
	writeFile(t, "quatrains.txt", jingYeSi+"\n"+dengGuanQ+"\n"+chunXiao+"\n")
	writeFile(t, "lvshi.txt", chunWang+"\n"+shanJuQiuMi+"\n"+songYouRen+"\n")

	args := slices.Concat(tinyHalves, []string{"--halves", "--valid-split", "0.3", "--out", "m.ckpt", "quatrains.txt", "lvshi.txt"})
	code, _, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	mentions(t, args, stderr, "read 3 eight-line poems as 6 quatrains (--halves)\n")
	if strings.Contains(stderr, "left out") {
		t.Errorf("poetvae %s left poems out:\n%s", strings.Join(args, " "), stderr)
	}
	// 6 poems, 2 of them held out: 9 quatrains in all, split by whole poems.
	m := regexp.MustCompile(`training on (\d+) poems from quatrains.txt, lvshi.txt, validating on (\d+);`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("poetvae %s: stderr does not say what it trains on:\n%s", strings.Join(args, " "), stderr)
	}
	var nTrain, nValid int
	fmt.Sscan(m[1], &nTrain)
	fmt.Sscan(m[2], &nValid)
	if nTrain+nValid != 9 || nValid < 2 {
		t.Errorf("poetvae %s: training on %d, validating on %d; want 9 quatrains in all, 2 poems' worth held out", strings.Join(args, " "), nTrain, nValid)
	}
	ck, err := model.Load("m.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if ck.Model.Config.Lines != 4 {
		t.Errorf("train --halves wrote a model of %d lines, want 4", ck.Model.Config.Lines)
	}

	resume := func(flags ...string) []string {
		return slices.Concat(tinyHalves, flags, []string{"--resume", "--epochs", "2", "--valid-split", "0.3", "--out", "m.ckpt", "quatrains.txt", "lvshi.txt"})
	}
	args = resume()
	code, stdout, stderr := poetvae(t, args...)
	failed(t, args, code, stdout, stderr, 1, "training poems differ")

	args = resume("--halves")
	if code, stdout, stderr = poetvae(t, args...); code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	if !strings.Contains(stdout, "of 2") {
		t.Errorf("poetvae %s: stdout %q does not report epoch 2", strings.Join(args, " "), stdout)
	}

	// Validation files are halved too, and say so.
	writeFile(t, "valid.txt", chunWang+"\n")
	args = slices.Concat(tinyHalves, []string{"--halves", "--valid", "valid.txt", "--out", "v.ckpt", "quatrains.txt", "lvshi.txt"})
	if code, _, stderr = poetvae(t, args...); code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	mentions(t, args, stderr, "validation: read 1 eight-line poem as 2 quatrains (--halves)",
		"training on 9 poems from quatrains.txt, lvshi.txt, validating on 2;")
}

// TestTrainLeftOutNamesHalves: without --halves, a corpus of quatrains and
// eight-line poems keeps the more numerous form, and the message on the
// others names --halves; poems of other lengths alone do not.
func TestTrainLeftOutNamesHalves(t *testing.T) {
	inTempDir(t)
	writeFile(t, "quatrains.txt", jingYeSi+"\n")
	writeFile(t, "lvshi.txt", chunWang+"\n"+shanJuQiuMi+"\n")
	writeFile(t, "mixed.txt", jingYeSi+"\n"+dengGuanQ+"\n"+"千山鸟飞绝，万径人踪灭。\n")
	for _, tt := range []struct {
		files []string
		want  string
		hint  bool
	}{
		{[]string{"quatrains.txt", "lvshi.txt"}, "training on the 2 poems of 8 lines; 1 poem of other lengths left out", true},
		{[]string{"lvshi.txt", "mixed.txt"}, "training on the 2 poems of 4 lines; 3 poems of other lengths left out", true},
		{[]string{"mixed.txt"}, "training on the 2 poems of 4 lines; 1 poem of other lengths left out", false},
	} {
		args := slices.Concat(tinyHalves, []string{"--force", "--out", "m.ckpt"}, tt.files)
		code, _, stderr := poetvae(t, args...)
		if code != 0 {
			t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
		}
		mentions(t, args, stderr, tt.want)
		if got := strings.Contains(stderr, "--halves"); got != tt.hint {
			t.Errorf("poetvae %s: stderr names --halves: %v, want %v:\n%s", strings.Join(args, " "), got, tt.hint, stderr)
		}
	}
}

// syntheticPoem makes a poem of n lines of characters no other k uses.
func syntheticPoem(t *testing.T, k, n int) poetry.Poem {
	t.Helper()
	chars := make([]rune, n*poetry.LineLen)
	for i := range chars {
		chars[i] = rune(0x4E00 + 40*k + i)
	}
	p, err := poetry.New(chars)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHoldOutHalves: the validation share is held out of whole poems, so
// the two halves of an eight-line poem are on one side of the split; no
// quatrain is on both sides, repeats are left out, and the split follows
// the seed alone.
func TestHoldOutHalves(t *testing.T) {
	var poems []poetry.Poem
	for k := range 60 {
		n := 8
		if k%3 == 0 {
			n = 4
		}
		poems = append(poems, syntheticPoem(t, k, n))
	}
	// An eight-line poem whose first half is the quatrain poems[0].
	repeat, err := poetry.New(slices.Concat(poems[0].Chars(), syntheticPoem(t, 100, 4).Chars()))
	if err != nil {
		t.Fatal(err)
	}
	poems = append(poems, repeat)
	whole := len(poems) + countLines(poems, 8) // quatrains before repeats are left out

	for _, seed := range []uint64{1, 2, 3, 42} {
		for _, share := range []float64{0.05, 0.3, 0.5} {
			train, valid, repeats := holdOutHalves(poems, share, seed)
			if repeats != 1 {
				t.Errorf("seed %d, share %g: %d repeats, want 1", seed, share, repeats)
			}
			if len(train)+len(valid)+repeats != whole {
				t.Errorf("seed %d, share %g: %d train + %d valid + %d repeats, want %d", seed, share, len(train), len(valid), repeats, whole)
			}
			if len(valid) == 0 {
				t.Errorf("seed %d, share %g: nothing held out", seed, share)
			}
			side := map[string]string{}
			for name, set := range map[string][]poetry.Poem{"train": train, "valid": valid} {
				for _, p := range set {
					if p.NumLines() != 4 {
						t.Errorf("seed %d, share %g: a %d-line poem in %s", seed, share, p.NumLines(), name)
					}
					if other, ok := side[p.Text()]; ok {
						t.Errorf("seed %d, share %g: %q in %s and in %s", seed, share, p, other, name)
					}
					side[p.Text()] = name
				}
			}
			for _, p := range poems[:len(poems)-1] {
				if first, second, ok := p.Halves(); ok && p.NumLines() == 8 && side[first.Text()] != side[second.Text()] {
					t.Errorf("seed %d, share %g: the halves of poem %q are split: %s and %s",
						seed, share, p, side[first.Text()], side[second.Text()])
				}
			}
			again, againValid, _ := holdOutHalves(poems, share, seed)
			if model.Fingerprint(again) != model.Fingerprint(train) || model.Fingerprint(againValid) != model.Fingerprint(valid) {
				t.Errorf("seed %d, share %g: a second split differs from the first", seed, share)
			}
		}
	}
	// No share, no hold-out: every quatrain trains, in the order read.
	train, valid, _ := holdOutHalves(poems[:3], 0, 1)
	want := []poetry.Poem{poems[0]}
	for _, p := range poems[1:3] {
		first, second, _ := p.Halves()
		want = append(want, first, second)
	}
	if len(valid) != 0 || !slices.EqualFunc(train, want, poetry.Poem.Equal) {
		t.Errorf("holdOutHalves(share 0) = %q, %q; want %q, none", train, valid, want)
	}
}

// TestSplitForHalves: --halves counts an eight-line poem as two quatrains
// when it chooses the line count, and keeps the eight-line poems whole.
func TestSplitForHalves(t *testing.T) {
	couplet, quatrain, octave := syntheticPoem(t, 0, 2), syntheticPoem(t, 1, 4), syntheticPoem(t, 2, 8)
	tests := []struct {
		poems       []poetry.Poem
		lines, kept int
		dropped     int
	}{
		{[]poetry.Poem{octave, quatrain, couplet}, 4, 2, 1},
		{[]poetry.Poem{octave, couplet, couplet}, 4, 1, 2},          // 2 quatrains, 2 couplets: the tie goes to quatrains
		{[]poetry.Poem{octave, couplet, couplet, couplet}, 2, 3, 2}, // the eight-line poem's two halves left out
	}
	for _, tt := range tests {
		kept, lines, dropped := splitForHalves(tt.poems)
		if lines != tt.lines || len(kept) != tt.kept || dropped != tt.dropped {
			t.Errorf("splitForHalves(%q) = %d poems of %d lines, %d dropped; want %d of %d, %d dropped",
				tt.poems, len(kept), lines, dropped, tt.kept, tt.lines, tt.dropped)
		}
	}
}

// TestResumeArgsHalves: the command printed to go on after an interrupt
// carries --halves, without which the training poems would differ.
func TestResumeArgsHalves(t *testing.T) {
	cmd := trainCommand()
	var got string
	cmd.Action = func(c *cli.Context) error { got = resumeArgs(c); return nil }
	app := &cli.App{Commands: []*cli.Command{cmd}}
	if err := app.Run([]string{"poetvae", "train", "--halves", "q.txt", "l.txt"}); err != nil {
		t.Fatal(err)
	}
	if want := "--halves q.txt l.txt"; got != want {
		t.Errorf("resume arguments %q, want %q", got, want)
	}
}

// TestHalvesSharedData: every eight-line poem of the shared corpus halves
// into two quatrains, and the hold-out keeps each poem's halves together.
// It runs where the shared data is present.
func TestHalvesSharedData(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "data", "tang_lvshi_train.txt")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no shared data: %v", err)
	}
	poems, _, err := corpus.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	kept, lines, dropped := splitForHalves(poems)
	if lines != 4 || dropped != 0 || len(kept) != len(poems) {
		t.Fatalf("splitForHalves: %d of %d poems kept as %d-line ones, %d dropped; want all as quatrains", len(kept), len(poems), lines, dropped)
	}
	halved, _ := halve(poems, nil)
	if len(halved) != 2*len(poems) || countLines(halved, 4) != len(halved) {
		t.Errorf("halve: %d poems, %d of 4 lines, from %d eight-line poems", len(halved), countLines(halved, 4), len(poems))
	}
	train, valid, repeats := holdOutHalves(poems, 0.05, 1)
	inTrain := map[string]bool{}
	for _, p := range train {
		inTrain[p.Text()] = true
	}
	for _, p := range valid {
		if inTrain[p.Text()] {
			t.Fatalf("%q is in training and validation", p)
		}
	}
	if len(train)+len(valid)+repeats != 2*len(poems) {
		t.Errorf("%d train + %d valid + %d repeats, want %d", len(train), len(valid), repeats, 2*len(poems))
	}
}

// TestPriorHalvesMatchesTrain: prior --halves fits the very mixture that
// train --halves fits at its end (the mixture of a run stopped before it),
// and prior without --halves, which leaves the eight-line poems out, does
// not.
func TestPriorHalvesMatchesTrain(t *testing.T) {
	inTempDir(t)
	sample, err := corpus.Sample()
	if err != nil {
		t.Fatal(err)
	}
	// 40 quatrains, and 48 eight-line poems made of two quatrains each:
	// 136 poems with --halves, 40 without.
	var quatrains, octaves strings.Builder
	for _, p := range sample[:40] {
		quatrains.WriteString(p.String() + "\n")
	}
	for i := 40; i+1 < len(sample); i += 2 {
		octaves.WriteString(sample[i].String() + sample[i+1].String() + "\n")
	}
	writeFile(t, "quatrains.txt", quatrains.String())
	writeFile(t, "lvshi.txt", octaves.String())
	writeFile(t, "valid.txt", chunWang+"\n"+shanJuQiuMi+"\n"+songYouRen+"\n")

	args := slices.Concat(tinyHalves, []string{"--halves", "--valid-split", "0", "--sampler", "2", "--out", "m.ckpt", "quatrains.txt", "lvshi.txt"})
	if code, _, stderr := poetvae(t, args...); code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	trained, err := model.Load("m.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if trained.Model.Sampler == nil {
		t.Fatal("train fitted no sampling mixture")
	}
	refit := func(flags ...string) *model.Mixture {
		t.Helper()
		data, err := os.ReadFile("m.ckpt")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, "p.ckpt", string(data))
		for _, args := range [][]string{{"prior", "--model", "p.ckpt", "--none"},
			slices.Concat([]string{"prior", "--model", "p.ckpt", "--components", "2"}, flags, []string{"quatrains.txt", "lvshi.txt"})} {
			if code, _, stderr := poetvae(t, args...); code != 0 {
				t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
			}
		}
		ck, err := model.Load("p.ckpt")
		if err != nil {
			t.Fatal(err)
		}
		if ck.Model.Sampler == nil {
			t.Fatalf("prior %v fitted no mixture", flags)
		}
		return ck.Model.Sampler
	}
	if got := refit("--halves"); !reflect.DeepEqual(got, trained.Model.Sampler) {
		t.Errorf("prior --halves fitted\n%+v\nwhere train --halves fitted\n%+v", got, trained.Model.Sampler)
	}
	if got := refit(); reflect.DeepEqual(got, trained.Model.Sampler) {
		t.Error("prior without --halves fitted the same mixture as train --halves: the eight-line poems made no difference")
	}

	// Validation files are halved too.
	args = []string{"prior", "--model", "p.ckpt", "--halves", "--components", "2", "--valid", "valid.txt", "quatrains.txt", "lvshi.txt"}
	code, _, stderr := poetvae(t, args...)
	if code != 0 {
		t.Fatalf("poetvae %s: status %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	mentions(t, args, stderr, "codes of the 6 validation poems")
}
