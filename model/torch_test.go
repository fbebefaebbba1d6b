package model

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"gorgonia.org/tensor"
)

// The PyTorch model of bench/torch_vae.py is what poetvae's GPU engine is
// timed against, so it has to be the same model. TestTorchModel writes
// poetvae's float64 weights, batches with their noise and dropout masks, and
// the loss and every gradient the Gorgonia graph computes on them; the
// script loads the weights into its PyTorch modules, computes the same, and
// fails where anything differs by more than the tolerance.

// torchEnv is the test's settings, from the environment: the Python that
// has PyTorch (Debian's python3-torch is in the system Python: make
// torch-check), the device the script computes on (cuda on a GPU machine:
// gpu-check), and whether a Python without PyTorch fails the test rather
// than skipping it. Read in the test, not at start-up, so that go test's
// cache sees them.
func torchEnv() (python, device string, require bool) {
	return cmp.Or(os.Getenv("POETVAE_PYTHON"), "python3"),
		cmp.Or(os.Getenv("POETVAE_TORCH_DEVICE"), "cpu"),
		os.Getenv("POETVAE_REQUIRE_TORCH") != ""
}

// torchScript finds bench/torch_vae.py from the model package (go test) or
// from the top of the tree (a test binary run by bench/gpu-check.sh).
func torchScript(t *testing.T) string {
	for _, path := range []string{filepath.Join("..", "bench", "torch_vae.py"), filepath.Join("bench", "torch_vae.py")} {
		// Read, not only found, so that go test's cache knows the script:
		// a changed script reruns the test.
		if _, err := os.ReadFile(path); err == nil {
			abs, err := filepath.Abs(path)
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	t.Fatal("no bench/torch_vae.py here or in the parent folder")
	return ""
}

type torchFixture struct {
	Config    Config       `json:"config"` // its JSON is the checkpoint's
	Tolerance float64      `json:"tolerance"`
	Params    []torchParam `json:"params"`
	Cases     []torchCase  `json:"cases"`
}

type torchParam struct {
	Name   string    `json:"name"`
	Shape  [2]int    `json:"shape"`
	Values []float64 `json:"values"`
}

type torchCase struct {
	Name     string               `json:"name"`
	Batch    int                  `json:"batch"`
	Beta     float64              `json:"beta"`
	FreeBits float64              `json:"free_bits"`
	EncIDs   []int                `json:"enc_ids"`
	DecIDs   []int                `json:"dec_ids"`
	Targets  []int                `json:"targets"`
	Eps      []float64            `json:"eps"`
	EncMask  []float64            `json:"enc_mask"`
	DecMask  []float64            `json:"dec_mask"`
	Loss     float64              `json:"loss"`
	NLL      float64              `json:"nll"`
	KL       float64              `json:"kl"`
	Grads    map[string][]float64 `json:"grads"`
}

func TestTorchModel(t *testing.T) {
	py, device, require := torchEnv()
	if out, err := exec.Command(py, "-c", "import torch").CombinedOutput(); err != nil {
		if require {
			t.Fatalf("%s has no PyTorch (%v): %s", py, err, out)
		}
		t.Skipf("%s has no PyTorch, so bench/torch_vae.py's model is not checked (make torch-check installs it)", py)
	}
	script := torchScript(t)
	fixture := filepath.Join(t.TempDir(), "fixture.json")
	writeTorchFixture(t, fixture)
	out, err := exec.Command(py, script, "--device", device, "--check", fixture).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("bench/torch_vae.py --check %s: %v (its output is above)", device, err)
	}
}

// writeTorchFixture writes the fixture of TestTorchModel to path. Each
// size differs from the others, so that a transposed or misplaced weight
// cannot load, and every weight, biases included, is random.
func writeTorchFixture(t *testing.T, path string) {
	c := Config{Vocab: 37, Lines: 4, Embed: 6, Highway: 2, EncHidden: 5, DecHidden: 7, Latent: 4, Dropout: 0.3}
	p, err := NewParams(c, tensor.Float64, 11)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	fx := torchFixture{
		Config: c,
		// float64 on both sides: only the order of the sums differs.
		Tolerance: 1e-9,
	}
	for i, name := range p.Names {
		v := p.Float64s(i)
		for j := range v {
			v[j] = 1.5 * (2*rng.Float64() - 1)
		}
		p.set(i, v)
		shape := p.Values[i].Shape()
		fx.Params = append(fx.Params, torchParam{Name: name, Shape: [2]int{shape[0], shape[1]}, Values: v})
	}

	const B = 6
	// With dropout masks and no free-bits floor; without masks and with the
	// floor between the dimensions' KLs, so that some are held at it.
	withMasks := randomFeed(c, B, 8, true)
	withMasks.FreeBits = 0
	floored := randomFeed(c, B, 9, false)
	floored.EncMask = make([]float64, c.EncSteps()*B*c.Embed)
	floored.DecMask = make([]float64, c.DecSteps()*B*c.DecHidden)
	fill(floored.EncMask, 1)
	fill(floored.DecMask, 1)
	for _, f := range []*Feed{withMasks, floored} {
		// PyTorch's loss is a plain batch mean: no padding rows.
		for b := range f.Weight {
			f.Weight[b] = 1.0 / B
		}
	}
	kl := batchKL(p, floored)
	slices.Sort(kl)
	floored.FreeBits = (kl[1] + kl[2]) / 2

	gr := testGraph(t, p, B)
	for _, tc := range []struct {
		name string
		f    *Feed
	}{{"dropout masks, no free-bits floor", withMasks}, {"no dropout, half the dimensions at the free-bits floor", floored}} {
		st := runGraph(t, gr, tc.f)
		tcase := torchCase{Name: tc.name, Batch: B, Beta: tc.f.Beta, FreeBits: tc.f.FreeBits,
			EncIDs: tc.f.EncIDs, DecIDs: tc.f.DecIDs, Targets: tc.f.Targets, Eps: tc.f.Eps,
			EncMask: tc.f.EncMask, DecMask: tc.f.DecMask,
			Loss: st.Loss, NLL: st.NLL, KL: st.KL, Grads: map[string][]float64{}}
		for i, name := range p.Names {
			tcase.Grads[name] = toFloat64(gr.Grad(i).Data())
		}
		fx.Cases = append(fx.Cases, tcase)
	}
	data, err := json.Marshal(fx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
