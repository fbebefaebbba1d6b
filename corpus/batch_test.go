package corpus

import (
	"fmt"
	"slices"
	"testing"

	"poetvae/poetry"
)

// batchPoems returns n distinct quatrains and m distinct eight-line poems,
// interleaved, built from the characters of the three test poems.
func batchPoems(t *testing.T, n, m int) []poetry.Poem {
	t.Helper()
	base := []rune(string(mustParse(t, luChai)[0].Chars()) + string(mustParse(t, jingYeSi)[0].Chars()) + string(mustParse(t, chunXiao)[0].Chars()))
	var poems []poetry.Poem
	make1 := func(k, size int) poetry.Poem {
		chars := make([]rune, size)
		for j := range chars {
			chars[j] = base[(k*7+j*(k%5+1))%len(base)]
		}
		p, err := poetry.New(chars)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for k := 0; k < max(n, m); k++ {
		if k < n {
			poems = append(poems, make1(k, 20))
		}
		if k < m {
			poems = append(poems, make1(k+1000, 40))
		}
	}
	return poems
}

func TestBatchesShapes(t *testing.T) {
	poems := batchPoems(t, 10, 3) // 10 quatrains, 3 eight-line poems
	v := BuildVocab(poems, 1)
	tests := []struct {
		name     string
		size     int
		seed     int64
		dropLast bool
		rows     map[int][]int // lines -> rows of its batches, in order when not shuffled
	}{
		{"no shuffle, padded", 4, -1, false, map[int][]int{4: {4, 4, 2}, 8: {3}}},
		{"no shuffle, drop last", 4, -1, true, map[int][]int{4: {4, 4}}},
		{"shuffled, padded", 4, 7, false, map[int][]int{4: {4, 4, 2}, 8: {3}}},
		{"shuffled, drop last", 3, 7, true, map[int][]int{4: {3, 3, 3}, 8: {3}}},
		{"one batch each", 20, 1, false, map[int][]int{4: {10}, 8: {3}}},
		{"size 1", 1, -1, true, map[int][]int{4: slices.Repeat([]int{1}, 10), 8: {1, 1, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batches := Batches(poems, v, tt.size, tt.seed, tt.dropLast)
			rows := make(map[int][]int)
			seen := make(map[int]bool)
			for bi, b := range batches {
				rows[b.Lines] = append(rows[b.Lines], b.Rows)
				checkBatch(t, bi, b, poems, v, tt.size)
				for _, i := range b.Index {
					if seen[i] {
						t.Errorf("poem %d in two batches", i)
					}
					seen[i] = true
				}
			}
			for lines, want := range tt.rows {
				got := rows[lines]
				if tt.seed >= 0 {
					// Shuffled: only the multiset of sizes is fixed.
					slices.Sort(got)
					want = slices.Sorted(slices.Values(want))
				}
				if !slices.Equal(got, want) {
					t.Errorf("%d-line batches have rows %v, want %v", lines, got, want)
				}
			}
			if len(rows) != len(tt.rows) {
				t.Errorf("batches of line counts %v, want %v", rows, tt.rows)
			}
		})
	}
}

// checkBatch checks the layout of one batch against the poems.
func checkBatch(t *testing.T, bi int, b Batch, poems []poetry.Poem, v *Vocab, size int) {
	t.Helper()
	enc, dec := 5*b.Lines, 5*b.Lines+1
	if b.Size != size || b.EncSteps != enc || b.DecSteps != dec ||
		len(b.Enc) != size*enc || len(b.DecIn) != size*dec || len(b.Target) != size*dec ||
		len(b.Index) != b.Rows || b.Rows < 1 || b.Rows > size {
		t.Fatalf("batch %d: bad shape: size %d rows %d lines %d steps %d/%d, lengths %d %d %d %d",
			bi, b.Size, b.Rows, b.Lines, b.EncSteps, b.DecSteps, len(b.Enc), len(b.DecIn), len(b.Target), len(b.Index))
	}
	for row := range size {
		e := b.Enc[row*enc : (row+1)*enc]
		in := b.DecIn[row*dec : (row+1)*dec]
		tg := b.Target[row*dec : (row+1)*dec]
		if row >= b.Rows {
			for _, s := range [][]int{e, in, tg} {
				if slices.ContainsFunc(s, func(id int) bool { return id != PAD }) {
					t.Errorf("batch %d: padding row %d is not all PAD: %v", bi, row, s)
				}
			}
			continue
		}
		p := poems[b.Index[row]]
		if p.NumLines() != b.Lines {
			t.Errorf("batch %d row %d: poem of %d lines in a %d-line batch", bi, row, p.NumLines(), b.Lines)
		}
		ids := v.Encode(p)
		if !slices.Equal(e, ids) {
			t.Errorf("batch %d row %d: Enc %v, want %v", bi, row, e, ids)
		}
		if want := append([]int{BOS}, ids...); !slices.Equal(in, want) {
			t.Errorf("batch %d row %d: DecIn %v, want %v", bi, row, in, want)
		}
		if want := append(slices.Clone(ids), EOS); !slices.Equal(tg, want) {
			t.Errorf("batch %d row %d: Target %v, want %v", bi, row, tg, want)
		}
	}
}

func TestBatchesOrder(t *testing.T) {
	poems := batchPoems(t, 10, 3)
	v := BuildVocab(poems, 1)
	order := func(seed int64) string {
		var s string
		for _, b := range Batches(poems, v, 3, seed, false) {
			s += fmt.Sprint(b.Index)
		}
		return s
	}
	// Without shuffling, groups by line count, poems in input order.
	if got, want := order(-1), "[0 2 4][6 7 8][9 10 11][12][1 3 5]"; got != want {
		t.Errorf("unshuffled order %s, want %s", got, want)
	}
	if order(1) != order(1) {
		t.Error("the same seed gives different batches")
	}
	if order(1) == order(2) {
		t.Error("seeds 1 and 2 give the same batches")
	}
	if order(0) == order(-1) {
		t.Error("seed 0 does not shuffle")
	}
}

func TestBatchesEdgeCases(t *testing.T) {
	poems := batchPoems(t, 2, 0)
	v := BuildVocab(poems, 1)
	tests := []struct {
		name  string
		poems []poetry.Poem
		v     *Vocab
		size  int
		drop  bool
		wantN int
	}{
		{"no poems", nil, v, 4, false, 0},
		{"zero size", poems, v, 0, false, 0},
		{"negative size", poems, v, -1, false, 0},
		{"nil vocab", poems, nil, 4, false, 0},
		{"fewer poems than size, dropped", poems, v, 4, true, 0},
		{"fewer poems than size, padded", poems, v, 4, false, 1},
		{"zero poems skipped", append([]poetry.Poem{{}}, poems...), v, 2, true, 1},
	}
	for _, tt := range tests {
		if got := Batches(tt.poems, tt.v, tt.size, 1, tt.drop); len(got) != tt.wantN {
			t.Errorf("%s: %d batches, want %d", tt.name, len(got), tt.wantN)
		}
	}
	// Unknown characters encode as UNK.
	small := BuildVocab(poems[:1], 1)
	b := Batches(poems[1:], small, 1, -1, false)[0]
	for j, r := range poems[1].Chars() {
		want := small.ID(r)
		if b.Enc[j] != want || b.DecIn[j+1] != want || b.Target[j] != want {
			t.Errorf("character %d (%q): ids %d %d %d, want %d", j, r, b.Enc[j], b.DecIn[j+1], b.Target[j], want)
		}
	}
}
