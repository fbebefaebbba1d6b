package corpus

import (
	"cmp"
	"math/rand/v2"
	"slices"

	"poetvae/poetry"
)

// A Batch is a fixed-shape block of poems encoded as ids, laid out for the
// VAE: every matrix is row-major, one poem per row, and all poems of a
// batch have the same number of lines, so that one batch is one tensor shape.
//
// A batch always has Size rows. When fewer poems were left, the rows from
// Rows on are padding: every id in them is PAD, and they must be given
// weight 0 in the loss.
type Batch struct {
	Size     int // rows of each matrix
	Rows     int // rows that hold a poem: 0..Rows-1
	Lines    int // lines of each poem
	EncSteps int // columns of Enc: the characters of a poem, 5*Lines
	DecSteps int // columns of DecIn and Target: EncSteps+1

	// Enc holds the character ids of each poem, Size × EncSteps.
	Enc []int
	// DecIn holds BOS followed by the character ids, Size × DecSteps: the
	// decoder input under teacher forcing.
	DecIn []int
	// Target holds the character ids followed by EOS, Size × DecSteps:
	// what the decoder must predict at each step of DecIn.
	Target []int
	// Index holds, for each of the Rows real rows, the index of its poem
	// in the slice given to Batches.
	Index []int
}

// shuffleStream is the PCG stream used with the caller's seed; any fixed
// value works, and keeping it fixed keeps batches of a seed reproducible
// across releases.
const shuffleStream = 0x706f657476616531

// Batches encodes poems with v and cuts them into batches of size rows.
//
// Poems are grouped by shape (line count and characters), so a batch never
// mixes quatrains with eight-line poems. With shuffleSeed >= 0 the poems of
// each group and then the batches of all groups are shuffled by a generator
// seeded from shuffleSeed: the same seed always gives the same batches, a
// different seed a different order. With shuffleSeed < 0 nothing is shuffled:
// groups come by increasing line count and poems keep their order, as
// wanted for validation.
//
// The last batch of each group may have fewer than size poems. With dropLast
// it is left out, which keeps every training step the same size; otherwise
// it is padded with PAD rows, so that every poem is seen, as validation
// needs. Batches returns nil when size < 1 or v is nil.
func Batches(poems []poetry.Poem, v *Vocab, size int, shuffleSeed int64, dropLast bool) []Batch {
	if size < 1 || v == nil {
		return nil
	}
	type shape struct{ lines, chars int }
	groups := make(map[shape][]int)
	var shapes []shape
	for i, p := range poems {
		s := shape{p.NumLines(), len(p.Chars())}
		if s.chars == 0 {
			continue // the zero Poem; nothing to learn from
		}
		if _, ok := groups[s]; !ok {
			shapes = append(shapes, s)
		}
		groups[s] = append(groups[s], i)
	}
	slices.SortFunc(shapes, func(a, b shape) int {
		if c := cmp.Compare(a.lines, b.lines); c != 0 {
			return c
		}
		return cmp.Compare(a.chars, b.chars)
	})

	var rng *rand.Rand
	if shuffleSeed >= 0 {
		rng = rand.New(rand.NewPCG(uint64(shuffleSeed), shuffleStream))
	}
	var out []Batch
	for _, s := range shapes {
		idx := groups[s]
		if rng != nil {
			rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		}
		for start := 0; start < len(idx); start += size {
			end := min(start+size, len(idx))
			if dropLast && end-start < size {
				break
			}
			out = append(out, newBatch(poems, idx[start:end], v, size, s.lines, s.chars))
		}
	}
	if rng != nil {
		// Interleave the groups, so that training does not see all
		// quatrains and then all eight-line poems.
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

// newBatch encodes the poems poems[idx[i]] into rows 0..len(idx)-1 of a
// batch of size rows, leaving the other rows PAD.
func newBatch(poems []poetry.Poem, idx []int, v *Vocab, size, lines, chars int) Batch {
	enc, dec := chars, chars+1
	b := Batch{
		Size:     size,
		Rows:     len(idx),
		Lines:    lines,
		EncSteps: enc,
		DecSteps: dec,
		Enc:      make([]int, size*enc),
		DecIn:    make([]int, size*dec),
		Target:   make([]int, size*dec),
		Index:    slices.Clone(idx),
	}
	for row, i := range idx {
		e := b.Enc[row*enc : (row+1)*enc]
		in := b.DecIn[row*dec : (row+1)*dec]
		tg := b.Target[row*dec : (row+1)*dec]
		for j, r := range poems[i].Chars() {
			id := v.ID(r)
			e[j] = id
			in[j+1] = id
			tg[j] = id
		}
		in[0] = BOS
		tg[enc] = EOS
	}
	return b
}
