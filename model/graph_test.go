package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// tinyConfig is small enough for finite differences over every weight.
func tinyConfig() Config {
	return Config{Vocab: 11, Lines: 2, Embed: 4, Highway: 1, EncHidden: 3, DecHidden: 3, Latent: 2, Dropout: 0.25}
}

// randomFeed makes a batch of B rows (the last one padding) with every
// input random, dropout masks included.
func randomFeed(c Config, B int, seed uint64, masks bool) *Feed {
	rng := rand.New(rand.NewPCG(seed, 1))
	T, Td := c.EncSteps(), c.DecSteps()
	f := &Feed{B: B, Beta: 0.7, FreeBits: 0.05}
	f.EncIDs = make([]int, T*B)
	f.DecIDs = make([]int, Td*B)
	f.Targets = make([]int, Td*B)
	for i := range f.EncIDs {
		f.EncIDs[i] = 4 + rng.IntN(c.Vocab-4)
	}
	for i := range f.DecIDs {
		f.DecIDs[i] = 1 + rng.IntN(c.Vocab-1)
		f.Targets[i] = 2 + rng.IntN(c.Vocab-2)
	}
	f.Weight = make([]float64, B)
	for b := 0; b < B-1; b++ {
		f.Weight[b] = 1 / float64(B-1)
	}
	f.Eps = make([]float64, B*c.Latent)
	for i := range f.Eps {
		f.Eps[i] = rng.NormFloat64()
	}
	if masks {
		mask := func(n int) []float64 {
			m := make([]float64, n)
			for i := range m {
				if rng.Float64() >= c.Dropout {
					m[i] = 1 / (1 - c.Dropout)
				}
			}
			return m
		}
		f.EncMask = mask(T * B * c.Embed)
		f.DecMask = mask(Td * B * c.DecHidden)
	}
	return f
}

// TestGraphMatchesNet holds the Gorgonia graph and the plain forward pass to
// the same loss on the same batch and noise, in both float types and at the
// default width (a Gorgonia kernel once went wrong only on wide matrices).
func TestGraphMatchesNet(t *testing.T) {
	wide := DefaultConfig(300, 4)
	skip := tinyConfig()
	skip.CodeToOutput = true
	wideSkip := wide
	wideSkip.CodeToOutput = true
	for _, tc := range []struct {
		c   Config
		dt  tensor.Dtype
		tol float64
	}{
		{tinyConfig(), tensor.Float64, 1e-10},
		{wide, tensor.Float64, 1e-10},
		{wide, tensor.Float32, 1e-5},
		{skip, tensor.Float64, 1e-10},
		{wideSkip, tensor.Float32, 1e-5},
	} {
		for _, B := range []int{4, 64} {
			c := tc.c
			p, err := NewParams(c, tc.dt, 7)
			if err != nil {
				t.Fatal(err)
			}
			randomCodeToOutput(p, 7)
			for i := range p.Values { // larger weights: saturated gates, large KL
				v := p.Float64s(i)
				for j := range v {
					v[j] *= 3
				}
				p.set(i, v)
			}
			f := randomFeed(c, B, 3, false)
			f.FreeBits = 0
			st := runGraph(t, testGraph(t, p, B), f)

			net := NewNet(p)
			T, Td, Z := c.EncSteps(), c.DecSteps(), c.Latent
			enc := make([]int, B*T)
			decIn := make([]int, B*Td)
			tgt := make([]int, B*Td)
			for b := 0; b < B; b++ {
				for t := 0; t < T; t++ {
					enc[b*T+t] = f.EncIDs[t*B+b]
				}
				for t := 0; t < Td; t++ {
					decIn[b*Td+t] = f.DecIDs[t*B+b]
					tgt[b*Td+t] = f.Targets[t*B+b]
				}
			}
			mu, logvar := net.Encode(enc, B)
			z := make([]float64, B*Z)
			for i := range z {
				z[i] = mu[i] + math.Exp(0.5*logvar[i])*f.Eps[i]
			}
			nll := net.NLL(z, decIn, tgt, B)
			kl := KL(mu, logvar)
			var wantNLL, wantKL float64
			for b := 0; b < B; b++ {
				wantNLL += f.Weight[b] * nll[b]
				for d := 0; d < Z; d++ {
					wantKL += f.Weight[b] * kl[b*Z+d]
				}
			}
			if !close(st.NLL, wantNLL, tc.tol) || !close(st.KL, wantKL, tc.tol) {
				t.Errorf("%v hidden %d: graph NLL %.12g KL %.12g, forward pass NLL %.12g KL %.12g", tc.dt, c.EncHidden, st.NLL, st.KL, wantNLL, wantKL)
			}
			if want := wantNLL + f.Beta*wantKL; !close(st.Loss, want, tc.tol) {
				t.Errorf("%v hidden %d: loss %.12g, want %.12g", tc.dt, c.EncHidden, st.Loss, want)
			}
		}
	}
}

func close(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestGradientCheck compares Gorgonia's gradient of every parameter tensor
// with central finite differences, in float64, with dropout masks, padding,
// the free-bits floor and β all in play.
func TestGradientCheck(t *testing.T) { checkGradients(t, tinyConfig()) }

// TestGradientCheckBagOfChars: the same with the bag-of-characters loss,
// whose weights must get gradients too and whose value is that of the
// plain formula −Σₜ log softmax(z·W + b)[xₜ] on the batch's z.
func TestGradientCheckBagOfChars(t *testing.T) {
	c := tinyConfig()
	c.BagOfChars = true
	checkGradients(t, c)
	checkBagLoss(t, c, c.EncSteps())
}

// TestGradientCheckCodeToOutput: the same with z fed to the output
// layer, with the rhyme loss as the default recipe has it.
func TestGradientCheckCodeToOutput(t *testing.T) {
	c := tinyConfig()
	c.CodeToOutput, c.RhymeChars = true, true
	checkGradients(t, c)
}

// randomCodeToOutput gives out.Wz, which a new model starts at zero,
// random values, so that checks see the code's path to the logits.
func randomCodeToOutput(p *Params, seed uint64) {
	i, ok := p.index["out.Wz"]
	if !ok {
		return
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	v := make([]float64, p.Values[i].Shape().TotalSize())
	for j := range v {
		v[j] = rng.NormFloat64() * 0.5
	}
	p.set(i, v)
}

// TestGradientCheckRhymeChars: the same with the rhyme loss, the bag's
// formula over the last characters of the even lines alone.
func TestGradientCheckRhymeChars(t *testing.T) {
	c := tinyConfig()
	c.RhymeChars = true
	for lines, want := range map[int]string{2: "[9]", 4: "[9 19]", 8: "[9 19 29 39]"} {
		c := c
		c.Lines = lines
		if got := fmt.Sprint(c.BagSteps()); got != want {
			t.Fatalf("the rhyme loss predicts steps %s of a poem of %d lines, want %s", got, lines, want)
		}
	}
	checkGradients(t, c)
	checkBagLoss(t, c, c.Lines/2)
}

// checkBagLoss compares the graph's bag loss with the plain formula over
// the config's BagSteps, of which there must be steps.
func checkBagLoss(t *testing.T, c Config, steps int) {
	t.Helper()
	p, err := NewParams(c, tensor.Float64, 11)
	if err != nil {
		t.Fatal(err)
	}
	const B = 3
	f := randomFeed(c, B, 5, false)
	st := runGraph(t, testGraph(t, p, B), f)
	T, Z, V := c.EncSteps(), c.Latent, c.Vocab
	enc := make([]int, B*T)
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			enc[b*T+t] = f.EncIDs[t*B+b]
		}
	}
	mu, logvar := NewNet(p).Encode(enc, B)
	W, bias := p.Get("bow.W").Float64s(), p.Get("bow.b").Float64s()
	if len(c.BagSteps()) != steps {
		t.Fatalf("the bag predicts %d steps, want %d", len(c.BagSteps()), steps)
	}
	var want float64
	for b := 0; b < B; b++ {
		logits := make([]float64, V)
		for v := range logits {
			logits[v] = bias[v]
			for d := 0; d < Z; d++ {
				z := mu[b*Z+d] + math.Exp(0.5*logvar[b*Z+d])*f.Eps[b*Z+d]
				logits[v] += z * W[d*V+v]
			}
		}
		lse := logSumExp(logits)
		for _, t := range c.BagSteps() {
			want += f.Weight[b] * (lse - logits[enc[b*T+t]])
		}
	}
	if !close(st.Bag, want, 1e-10) {
		t.Errorf("bag loss %.12g, want %.12g", st.Bag, want)
	}
	if !(want > 0) {
		t.Errorf("the loss is %v: the check compares nothing", want)
	}
}

func checkGradients(t *testing.T, c Config) {
	p, err := NewParams(c, tensor.Float64, 11)
	if err != nil {
		t.Fatal(err)
	}
	randomCodeToOutput(p, 11)
	const B = 3
	f := randomFeed(c, B, 5, true)
	gr := testGraph(t, p, B)
	// The free-bits floor must bind on one dimension and not on the other,
	// or half of its code goes unchecked: put it between the two.
	klDim := batchKL(p, f)
	f.FreeBits = (klDim[0] + klDim[1]) / 2
	t.Logf("KL per dimension %v, floor %g", klDim, f.FreeBits)
	analytic, loss := gradients(t, gr, f)
	// h balances truncation error (∝ h²) against round-off (∝ 1/h). Where
	// a ReLU of the highway layer switches within ±h the loss has a kink and
	// no finite difference is its derivative: such elements show one-sided
	// slopes that disagree and are left out (they must stay rare).
	const h = 1e-5
	f0 := loss()
	skipped, total := 0, 0
	for i, name := range p.Names {
		data := p.Values[i].Float64s()
		a := slices.Clone(analytic[i])
		numeric := make([]float64, len(data))
		for j := range data {
			orig := data[j]
			data[j] = orig + h
			up := loss()
			data[j] = orig - h
			down := loss()
			data[j] = orig
			numeric[j] = (up - down) / (2 * h)
			total++
			if kink(up, f0, down, h) {
				numeric[j], a[j] = 0, 0
				skipped++
			}
		}
		analytic[i] = a
		if e := relErr(analytic[i], numeric); e > 1e-4 || math.IsNaN(e) {
			t.Errorf("%s: relative error %.3g between Gorgonia's gradient and finite differences", name, e)
		} else {
			t.Logf("%-16s relative error %.2g", name, e)
		}
		if norm(analytic[i]) == 0 && name != "out.b" {
			t.Errorf("%s: gradient is zero", name)
		}
	}
	if skipped*100 > total {
		t.Errorf("%d of %d elements sit on a kink: the check is not checking", skipped, total)
	}
	t.Logf("%d of %d elements skipped at kinks", skipped, total)
}

// batchKL is the weighted batch KL of each latent dimension, from the
// forward pass.
func batchKL(p *Params, f *Feed) []float64 {
	c := p.Config
	T, B, Z := c.EncSteps(), f.B, c.Latent
	enc := make([]int, B*T)
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			enc[b*T+t] = f.EncIDs[t*B+b]
		}
	}
	mu, logvar := NewNet(p).Encode(enc, B)
	kl := KL(mu, logvar)
	out := make([]float64, Z)
	for b := 0; b < B; b++ {
		for d := 0; d < Z; d++ {
			out[d] += f.Weight[b] * kl[b*Z+d]
		}
	}
	return out
}

func relErr(a, b []float64) float64 {
	var diff, na, nb float64
	for i := range a {
		diff += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	den := math.Max(math.Sqrt(na), math.Sqrt(nb))
	if den == 0 {
		return 0
	}
	return math.Sqrt(diff) / den
}

func norm(a []float64) float64 {
	var s float64
	for _, v := range a {
		s += v * v
	}
	return math.Sqrt(s)
}

// TestLanguageModelGraph: the LM baseline's graph agrees with the forward
// pass and its gradients with finite differences.
func TestLanguageModelGraph(t *testing.T) {
	c := tinyConfig()
	c.LM = true
	p, err := NewParams(c, tensor.Float64, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.Names {
		if strings.HasPrefix(n, "enc") || strings.HasPrefix(n, "mu") || strings.Contains(n, "Wz") {
			t.Errorf("language model has encoder parameter %s", n)
		}
	}
	const B = 3
	f := randomFeed(c, B, 9, true)
	gr := testGraph(t, p, B)
	st := runGraph(t, gr, f)
	if st.KL != 0 || st.Loss != st.NLL {
		t.Errorf("language model loss %g, NLL %g, KL %g: want loss = NLL, no KL", st.Loss, st.NLL, st.KL)
	}
	analytic := toFloat64(gr.Grad(0).Data())
	data := p.Values[0].Float64s()
	const h = 1e-5
	numeric := make([]float64, len(data))
	for j := range data {
		orig := data[j]
		data[j] = orig + h
		up, _ := gr.Run(f)
		data[j] = orig - h
		down, _ := gr.Run(f)
		data[j] = orig
		numeric[j] = (up.Loss - down.Loss) / (2 * h)
	}
	if e := relErr(analytic, numeric); e > 1e-4 {
		t.Errorf("embedding gradient: relative error %.3g", e)
	}
	f.DecMask = nil
	st, _ = gr.Run(f)
	Td := c.DecSteps()
	decIn, tgt := make([]int, B*Td), make([]int, B*Td)
	for b := 0; b < B; b++ {
		for s := 0; s < Td; s++ {
			decIn[b*Td+s], tgt[b*Td+s] = f.DecIDs[s*B+b], f.Targets[s*B+b]
		}
	}
	nll := NewNet(p).NLL(make([]float64, B*c.Latent), decIn, tgt, B)
	var want float64
	for b := range nll {
		want += f.Weight[b] * nll[b]
	}
	if !close(st.NLL, want, 1e-10) {
		t.Errorf("graph NLL %.12g, forward pass %.12g", st.NLL, want)
	}
}

// testGraph builds the graph of p for batches of B, closed when the test ends.
func testGraph(t testing.TB, p *Params, B int) *Graph {
	t.Helper()
	gr, err := NewGraph(p, B)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := gr.Close(); err != nil {
			t.Error(err)
		}
	})
	return gr
}

// runGraph runs a graph on a batch, failing the test on an error.
func runGraph(t testing.TB, gr *Graph, f *Feed) Stats {
	t.Helper()
	st, err := gr.Run(f)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// gradients runs the graph on a batch and returns every parameter's
// gradient, and the loss as a function of the parameters' current values,
// for finite differences.
func gradients(t *testing.T, gr *Graph, f *Feed) (analytic [][]float64, loss func() float64) {
	t.Helper()
	if _, err := gr.Run(f); err != nil {
		t.Fatal(err)
	}
	for i := range gr.params {
		analytic = append(analytic, toFloat64(gr.Grad(i).Data()))
	}
	return analytic, func() float64 {
		s, err := gr.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		return s.Loss
	}
}

// TestGraphIsFreed builds, runs and drops graphs one after another and
// checks that the heap stays level: a graph holds some 150 MB after a run
// at this size, and once every graph ever built stayed in memory (G.Read
// pointed into Graph, closing a cycle through Gorgonia's tape machine,
// whose finalizer kept the cycle alive).
func TestGraphIsFreed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds five full-size graphs")
	}
	c := DefaultConfig(5000, 4)
	heap := func() uint64 {
		// Two collections: the first runs the tape machine's finalizer,
		// the second frees what it held.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var after []uint64
	for i := range 5 {
		func() {
			p, err := NewParams(c, tensor.Float32, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			gr, err := NewGraph(p, 64)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := gr.Run(randomFeed(c, 64, 1, true)); err != nil {
				t.Fatal(err)
			}
			// Dropped without Close: an unclosed graph must be freed too.
		}()
		after = append(after, heap())
	}
	const oneGraph = 100 << 20
	if grew := int64(after[4]) - int64(after[1]); grew > oneGraph/2 {
		t.Errorf("the heap grew by %d MB over three graphs built and dropped (after each: %v bytes)", grew>>20, after)
	}
}
