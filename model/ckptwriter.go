package model

import (
	"slices"
	"sync"

	"gorgonia.org/tensor"
)

// checkpointWriter writes checkpoints in the background, one file at a
// time, so that training never waits for the disk. Each file gets the
// latest checkpoint handed over for it: one still waiting when a newer
// one arrives is dropped for it. Training hands over snapshots (see
// snapshot) and goes on; flush waits until everything handed over is on
// disk.
type checkpointWriter struct {
	mu      sync.Mutex
	idle    sync.Cond
	pending map[string]*Checkpoint // by path: the latest not yet being written
	order   []string               // the paths of pending, oldest first
	busy    bool                   // a goroutine is writing
	err     error                  // the first write that failed
	// before, when set, runs before each write: tests hold writes back
	// with it.
	before func()
}

func newCheckpointWriter() *checkpointWriter {
	w := &checkpointWriter{pending: map[string]*Checkpoint{}}
	w.idle.L = &w.mu
	return w
}

// write hands ck over to be written to path, unless a write has failed:
// then it returns that failure, and writes nothing more.
func (w *checkpointWriter) write(path string, ck *Checkpoint) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if _, ok := w.pending[path]; !ok {
		w.order = append(w.order, path)
	}
	w.pending[path] = ck
	if !w.busy {
		w.busy = true
		go w.run()
	}
	return nil
}

func (w *checkpointWriter) run() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.order) > 0 && w.err == nil {
		path := w.order[0]
		ck := w.pending[path]
		w.order = w.order[1:]
		delete(w.pending, path)
		w.mu.Unlock()
		if w.before != nil {
			w.before()
		}
		err := ck.Save(path)
		w.mu.Lock()
		if err != nil {
			w.err = err
		}
	}
	clear(w.pending)
	w.order = nil
	w.busy = false
	w.idle.Broadcast()
}

// failed returns the first write that failed, if any, without waiting.
func (w *checkpointWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// done reports, without waiting, whether every checkpoint handed over has
// been written or a write has failed, and returns the first failure.
func (w *checkpointWriter) done() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.busy, w.err
}

// flush waits until every checkpoint handed over is written, or a write
// has failed, and returns the first failure.
func (w *checkpointWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.busy {
		w.idle.Wait()
	}
	return w.err
}

// snapshot copies what a checkpoint holds of the model's weights and the
// training state, so that it can be written while training changes them.
// The vocabulary and the keyword index do not change in training and are
// shared.
func snapshot(m *Model, st *TrainState) (*Model, *TrainState) {
	mc := &Model{Config: m.Config, Vocab: m.Vocab, Keywords: m.Keywords, Poems: m.Poems, Sampler: m.Sampler, Params: m.Params.clone()}
	mc.SetRhymes(m.Rhymes)
	sc := *st
	sc.adamM, sc.adamV = cloneAll(st.adamM), cloneAll(st.adamV)
	return mc, &sc
}

func cloneAll(vs [][]float64) [][]float64 {
	out := make([][]float64, len(vs))
	for i, v := range vs {
		out[i] = slices.Clone(v)
	}
	return out
}

// clone returns a copy of the parameters.
func (p *Params) clone() *Params {
	q := &Params{Config: p.Config, Names: p.Names, index: p.index}
	for _, v := range p.Values {
		q.Values = append(q.Values, v.Clone().(*tensor.Dense))
	}
	return q
}
