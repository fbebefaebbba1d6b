package model

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"poetvae/corpus"
	"poetvae/model/noise"
)

// engine computes training steps: the Gorgonia graph on the CPU, or the
// CUDA kernels on a GPU (engine_cuda.go, built with -tags cuda).
type engine interface {
	// step trains on one batch at the state's step (before it is counted)
	// and returns the batch's figures and the gradient norm.
	step(b *corpus.Batch, st *TrainState, beta float64) (Stats, float64, error)
	// pull copies the parameters and the optimiser's moments back into the
	// model and the state, for validation and checkpoints.
	pull(m *Model, st *TrainState) error
	// inference, when not nil, encodes and decodes on the engine's device
	// for validation; the engine closes the device.
	inference() gpuInference
	name() string
	close()
}

// ErrNoCUDA is returned for a GPU device by a poetvae built without CUDA.
var ErrNoCUDA = errors.New("this poetvae was built without CUDA; build one with `make cuda` " +
	"(go build -tags gpu ./cmd/poetvae), which needs the CUDA toolkit to build and a GPU to run")

// ParseDevice reads a device name: "cpu", "cuda" (GPU 0) or "cuda:N".
// index is −1 for the CPU.
func ParseDevice(s string) (index int, err error) {
	switch {
	case s == "" || s == "cpu":
		return -1, nil
	case s == "cuda" || s == "gpu":
		return 0, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "cuda:"))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("device %q: want cuda:N with N a GPU number from 0", s)
		}
		return n, nil
	}
	return 0, fmt.Errorf("unknown device %q: want cpu, cuda or cuda:N", s)
}

// openEngine opens the engine for a device name.
func openEngine(device string, tf32 bool, m *Model, st *TrainState) (engine, error) {
	gpu, err := ParseDevice(device)
	if err != nil {
		return nil, err
	}
	if gpu >= 0 {
		return openGPU(gpu, tf32, m, st)
	}
	g, err := NewGraph(m.Params, st.Config.BatchSize)
	if err != nil {
		return nil, err
	}
	return &cpuEngine{graph: g, m: m}, nil
}

// cpuEngine is the reference engine: Gorgonia's graph for the gradients,
// Adam in plain Go, the moments in float64.
type cpuEngine struct {
	graph *Graph
	m     *Model
}

func (e *cpuEngine) step(b *corpus.Batch, st *TrainState, beta float64) (Stats, float64, error) {
	cfg := st.Config
	// Every random number of a step is a hash of the run's seed and the
	// step number, so a resumed run draws what the uninterrupted one would
	// have, and the GPU engine draws the same numbers.
	f := NewFeed(e.m.Config, b, noise.New(cfg.Seed, st.Step), e.m.Config.Dropout, cfg.WordDropout)
	f.Beta, f.FreeBits = beta, cfg.FreeBits
	stats, err := e.graph.Run(f)
	if err != nil {
		return Stats{}, 0, err
	}
	if math.IsNaN(stats.Loss) || math.IsInf(stats.Loss, 0) {
		return Stats{}, 0, fmt.Errorf("loss became %v at step %d; try a lower --lr", stats.Loss, st.Step+1)
	}
	var sq float64
	for i := range e.m.Params.Values {
		switch g := e.graph.Grad(i).Data().(type) {
		case []float32:
			sq += sumSquares(g)
		case []float64:
			sq += sumSquares(g)
		}
	}
	norm := math.Sqrt(sq)
	scale := 1.0
	if cfg.Clip > 0 && norm > cfg.Clip {
		scale = cfg.Clip / norm
	}
	step := st.AdamStep()
	for i, p := range e.m.Params.Values {
		switch w := p.Data().(type) {
		case []float32:
			adamStep(w, e.graph.Grad(i).Float32s(), st.adamM[i], st.adamV[i], scale, st.LR(), step)
		case []float64:
			adamStep(w, e.graph.Grad(i).Float64s(), st.adamM[i], st.adamV[i], scale, st.LR(), step)
		}
	}
	return stats, norm, nil
}

// pull has nothing to do: the graph trains the model's own parameters.
func (e *cpuEngine) pull(*Model, *TrainState) error { return nil }

func (e *cpuEngine) inference() gpuInference { return nil }

func (e *cpuEngine) close() { e.graph.Close() }

func (e *cpuEngine) name() string { return "the CPU (Gorgonia, " + BLAS() + ")" }
