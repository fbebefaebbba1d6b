package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"gorgonia.org/tensor"

	"poetvae/corpus"
	"poetvae/model/noise"
	"poetvae/poetry"
)

// TrainConfig holds the settings of a training run.
type TrainConfig struct {
	Epochs      int     `json:"epochs"`
	BatchSize   int     `json:"batch_size"`
	LR          float64 `json:"lr"`
	Clip        float64 `json:"clip"` // maximum global gradient norm; 0 turns clipping off
	Seed        uint64  `json:"seed"`
	Anneal      string  `json:"kl_anneal"`
	AnnealSteps int     `json:"kl_anneal_steps"` // length of the ramp (of each cycle, for cyclical)
	FreeBits    float64 `json:"free_bits"`       // nats per latent dimension, batch-averaged
	WordDropout float64 `json:"word_dropout"`    // share of decoder inputs replaced by UNK
	Patience    int     `json:"patience"`        // epochs without a better validation ELBO before stopping; 0 never stops early
	LogEvery    int     `json:"log_every"`       // steps between metrics lines
	// LRDecay multiplies the learning rate after each epoch whose
	// validation ELBO is no better than the best: a schedule that slows
	// down where the run stops improving. 0 or 1 keeps the rate constant.
	LRDecay float64 `json:"lr_decay,omitempty"`
	// PretrainEpochs are epochs of plain autoencoding (β = 0) before the
	// VAE, after which the decoder is reset to its initial weights and the
	// optimiser starts afresh (Li et al. 2019): the encoder learns codes
	// that say something about the poem before the KL term pulls them in,
	// and the new decoder learns to read them rather than to ignore them.
	PretrainEpochs int `json:"pretrain_epochs,omitempty"`
	// MinGain is the least gain on the best validation ELBO, in nats per
	// poem, that starts patience over. An epoch that gains less is kept
	// as the best but counts toward patience, so that a run whose last
	// epochs gain hundredths of a nat ends; the learning rate is halved
	// only after an epoch without gain, so the epochs a run trains are
	// the same with or without it, up to where it stops. 0: any gain.
	MinGain float64 `json:"min_gain,omitempty"`
	// FromLM names the language model whose weights the decoder started
	// from (InitFromLM), when it did: a record of how the run began.
	FromLM string `json:"from_lm,omitempty"`
}

// DefaultTrainConfig returns the settings measured on the shared Tang and
// Song corpus (docs/RESULTS.md): a free-bits floor of 0.5 nats a dimension
// keeps 15 nats in the code (0.15 kept 4.7, all of it at the floor); the
// run goes on until two epochs in a row fail to improve the validation
// ELBO, halving the learning rate after each (at 10 epochs the validation
// perplexity was still falling by 30 an epoch), and keeps the best epoch.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Epochs:      40,
		BatchSize:   64,
		LR:          2e-3,
		Clip:        5,
		Seed:        1,
		Anneal:      AnnealLinear,
		AnnealSteps: 1000,
		FreeBits:    0.5,
		WordDropout: 0.2,
		Patience:    2,
		LRDecay:     0.5,
		LogEvery:    10,
	}
}

// Validate reports the first setting that cannot train.
func (c TrainConfig) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs must be at least 1, not %d", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("batch size must be at least 1, not %d", c.BatchSize)
	case !(c.LR > 0):
		return fmt.Errorf("learning rate must be positive, not %g", c.LR)
	case c.Clip < 0 || c.FreeBits < 0:
		return errors.New("clip and free bits cannot be negative")
	case c.WordDropout < 0 || c.WordDropout >= 1:
		return fmt.Errorf("word dropout %g outside [0, 1)", c.WordDropout)
	case c.Patience < 0:
		return errors.New("patience cannot be negative")
	case c.LRDecay < 0 || c.LRDecay > 1 || math.IsNaN(c.LRDecay):
		return fmt.Errorf("learning-rate decay %g outside [0, 1]", c.LRDecay)
	case !(c.MinGain >= 0) || math.IsInf(c.MinGain, 1):
		return fmt.Errorf("least gain %g is not a finite number of nats, 0 or more", c.MinGain)
	case c.PretrainEpochs < 0:
		return errors.New("pretraining epochs cannot be negative")
	case c.PretrainEpochs >= c.Epochs:
		return fmt.Errorf("%d pretraining epochs leave none of the %d for the VAE", c.PretrainEpochs, c.Epochs)
	}
	_, err := Beta(c.Anneal, c.AnnealSteps, 0)
	return err
}

// TrainState is where a training run stands; saved in checkpoints so that
// resuming continues exactly: same batches, same noise, same optimiser.
type TrainState struct {
	Config    TrainConfig `json:"config"`
	Corpus    string      `json:"corpus"`     // fingerprint of the training poems
	Step      int         `json:"step"`       // optimiser steps taken
	Epoch     int         `json:"epoch"`      // current epoch, from 0
	Pos       int         `json:"pos"`        // batches of the current epoch done
	BestELBO  float64     `json:"best_elbo"`  // validation ELBO of the best epoch so far
	BestEpoch int         `json:"best_epoch"` // 0 until an epoch has been validated
	BadEpochs int         `json:"bad_epochs"` // epochs since one gained at least MinGain
	Done      bool        `json:"done"`
	// LRScale is what LRDecay has made of the learning rate so far, as a
	// factor of Config.LR; 0 (a state saved before the schedule) means 1.
	LRScale float64 `json:"lr_scale,omitempty"`
	// PhaseStart is the step the VAE began at: 0, or the end of the
	// autoencoder pretraining. β's ramp and Adam's bias correction count
	// from it.
	PhaseStart int `json:"phase_start,omitempty"`
	// Sums are the figures of the current epoch's steps so far, so that
	// an epoch resumed in its middle (or after all its steps, before its
	// validation) reports the mean of all its steps, not of those after
	// the stop.
	Sums EpochSums `json:"epoch_sums,omitzero"`

	adamM, adamV [][]float64
}

// EpochSums add up the figures of an epoch's steps.
type EpochSums struct {
	Steps int     `json:"steps"`
	Loss  float64 `json:"loss"`
	NLL   float64 `json:"nll"`
	KL    float64 `json:"kl"`
	Beta  float64 `json:"beta"` // the last step's
}

// LR is the learning rate of the next step.
func (st *TrainState) LR() float64 { return st.Config.LR * st.lrScale() }

// lrScale is LRScale, 1 for a state saved before the schedule.
func (st *TrainState) lrScale() float64 {
	if st.LRScale == 0 {
		return 1
	}
	return st.LRScale
}

// AdamStep is the next step's number for Adam's bias correction: it counts
// from the start of the phase, whose moments started at zero.
func (st *TrainState) AdamStep() int { return st.Step + 1 - st.PhaseStart }

// losePatience counts an epoch that did not gain enough, and ends the run
// when patience has run out.
func (st *TrainState) losePatience() {
	st.BadEpochs++
	if st.Config.Patience > 0 && st.BadEpochs >= st.Config.Patience {
		st.Done = true
	}
}

// Pretraining reports whether the current epoch autoencodes (β = 0).
func (st *TrainState) Pretraining() bool { return st.Epoch < st.Config.PretrainEpochs }

// Beta is the weight of the KL term at the next step.
func (st *TrainState) Beta() float64 {
	if st.Pretraining() {
		return 0
	}
	b, _ := Beta(st.Config.Anneal, st.Config.AnnealSteps, st.Step-st.PhaseStart)
	return b
}

// Fingerprint identifies a list of poems, to check that a resumed run
// trains on what it started on.
func Fingerprint(poems []poetry.Poem) string {
	h := sha256.New()
	for _, p := range poems {
		io.WriteString(h, p.Text())
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// StepInfo is what the trainer reports after each step.
type StepInfo struct {
	Step, Epoch, Batch, Batches int
	Loss, NLL, KL, Beta         float64 // per poem
	Bag                         float64 // the bag-of-characters loss, per poem (0 without one)
	GradNorm                    float64
}

// ValidStats are the validation figures, per poem.
type ValidStats struct {
	NLL         float64 `json:"nll"`
	KL          float64 `json:"kl"`
	ELBO        float64 `json:"elbo"` // NLL + KL: the negative evidence lower bound
	PPL         float64 `json:"ppl"`  // exp(ELBO / tokens), tokens = characters + EOS
	ActiveUnits int     `json:"active_units"`
	Poems       int     `json:"poems"`
}

// EpochInfo is what the trainer reports after each epoch.
type EpochInfo struct {
	Epoch     int
	Step      int
	TrainLoss float64
	TrainNLL  float64
	TrainKL   float64
	Beta      float64
	Valid     ValidStats
	Improved  bool
	// Slight marks an improvement by less than MinGain: the epoch is kept
	// as the best but counts toward patience.
	Slight bool
	// Pretraining marks an epoch of autoencoder pretraining.
	Pretraining bool
	// LR is the learning rate the next epoch trains at.
	LR      float64
	Elapsed time.Duration
}

// ErrInterrupted is returned by Run when its context is cancelled; the
// state was saved to the resume checkpoint first.
var ErrInterrupted = errors.New("training interrupted")

// Trainer runs the training loop.
type Trainer struct {
	Model *Model
	State *TrainState
	Train []poetry.Poem
	Valid []poetry.Poem

	BestPath string    // the best model by validation ELBO is written here
	LastPath string    // the latest state, for --resume, is written here
	Metrics  io.Writer // JSON lines of steps and epochs; may be nil

	OnStep func(StepInfo)
	// OnEpoch learns the figures of each epoch as soon as it ends, while
	// its checkpoints are still being written (OnSaved says when they are
	// on disk): the model holds that epoch's weights until it returns.
	OnEpoch func(EpochInfo)
	// OnSaved learns that the checkpoints of an epoch (its model, when it
	// was the best so far, and the state to resume from) are on disk, or,
	// with err, that writing them failed, which ends the run with that
	// error. It is called after that epoch's OnEpoch, on the goroutine
	// that called Run, between steps or before Run returns.
	OnSaved func(epoch int, err error)

	// Device is where training runs: "cpu" (or empty), "cuda" or "cuda:N".
	Device string
	// TF32 lets a GPU run the large matrix products on its tensor cores
	// in TF32 (see cuda.Device.TF32); the CPU ignores it.
	TF32 bool
	// OnEngine, when set, learns the name of the device training runs on.
	OnEngine func(name string)

	engine engine
	// engineInference is set while the model encodes and decodes on the
	// engine's device (m.gpu), which goes when the engine closes.
	engineInference bool
	writer          *checkpointWriter // the epochs' checkpoints, written in the background
	// saving is the epoch whose checkpoints the writer has been handed
	// and OnSaved has not yet been told of; 0 when none.
	saving int
	// beforeWrite, when set, runs before each checkpoint the writer
	// writes: tests hold writes back with it.
	beforeWrite func()
	// beforeValidate, when set, runs before each validation, where the
	// validation runs: tests stand in for a slow one with it.
	beforeValidate func()
}

// NewModel makes an untrained model for the vocabulary. The output bias
// starts at the log frequency of each token in the training poems, so the
// first prediction is the unigram distribution: otherwise Adam, whose steps
// are about the learning rate in size, spends thousands of steps just moving
// 6,000 biases from uniform to unigram before context can help.
func NewModel(c Config, v *corpus.Vocab, seed uint64) (*Model, error) {
	p, err := NewParams(c, tensor.Float32, seed)
	if err != nil {
		return nil, err
	}
	if v.Size() != c.Vocab {
		return nil, fmt.Errorf("vocabulary of %d entries for a model of %d", v.Size(), c.Vocab)
	}
	p.set(p.index["out.b"], unigramBias(c, v))
	if c.HasBag() { // the bag's first guess is the unigram distribution too
		p.set(p.index["bow.b"], unigramBias(c, v))
	}
	return &Model{Config: c, Vocab: v, Params: p}, nil
}

// unigramBias is the output bias that makes the first prediction the
// unigram distribution of the training poems' tokens (see NewModel).
func unigramBias(c Config, v *corpus.Vocab) []float64 {
	bias := make([]float64, c.Vocab)
	var chars float64
	for id := corpus.NumSpecial; id < c.Vocab; id++ {
		chars += float64(v.Count(id))
	}
	poems := chars / float64(c.EncSteps()) // one EOS a poem
	total := chars + poems + float64(c.Vocab)
	for id := range bias {
		n := float64(v.Count(id))
		if id == corpus.EOS {
			n = poems
		}
		bias[id] = math.Log((n + 1) / total) // add-one: unseen ids stay finite
	}
	return bias
}

// decoderParam reports whether a parameter belongs to the decoder alone:
// what ResetDecoder resets. The embedding is shared with the encoder.
func decoderParam(name string) bool {
	return strings.HasPrefix(name, "dec.") || strings.HasPrefix(name, "dec_init.") || strings.HasPrefix(name, "out.")
}

// ResetDecoder gives the decoder's parameters (its LSTM, the map from z
// to its first state, the output layer) the initial values a new model of
// the same seed has, the output bias the unigram log-frequencies; the
// encoder, the embedding and the posterior heads are left as they are.
func ResetDecoder(m *Model, seed uint64) error {
	fresh, err := NewParams(m.Config, tensor.Float64, seed)
	if err != nil {
		return err
	}
	p := m.Params
	for i, name := range p.Names {
		if !decoderParam(name) {
			continue
		}
		if name == "out.b" {
			p.set(i, unigramBias(m.Config, m.Vocab))
			continue
		}
		p.set(i, fresh.Float64s(i))
	}
	return nil
}

// NewTrainState starts a run.
func NewTrainState(c TrainConfig, m *Model, train []poetry.Poem) (*TrainState, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	st := &TrainState{Config: c, Corpus: Fingerprint(train)}
	for _, v := range m.Params.Values {
		n := v.Shape().TotalSize()
		st.adamM = append(st.adamM, make([]float64, n))
		st.adamV = append(st.adamV, make([]float64, n))
	}
	return st, nil
}

// Run trains until the configured epochs are done, early stopping triggers,
// or ctx is cancelled (then the state is saved to LastPath and
// ErrInterrupted returned).
func (t *Trainer) Run(ctx context.Context) (err error) {
	st, m := t.State, t.Model
	// The epochs' checkpoints are written while training goes on; the run
	// is over when they are on disk.
	t.writer = newCheckpointWriter()
	t.writer.before = t.beforeWrite
	t.saving = 0
	defer func() {
		if werr := t.flushSaved(); werr != nil && err == nil {
			err = werr
		}
	}()
	if st.Corpus != Fingerprint(t.Train) {
		return errors.New("the training poems differ from those the run started with; resume with the same corpus files and split")
	}
	if len(t.Train) == 0 {
		return errors.New("no training poems")
	}
	if t.engine == nil {
		e, err := openEngine(t.Device, t.TF32, m, st)
		if err != nil {
			return err
		}
		t.engine = e
		defer func() {
			if t.engine != nil { // nil when reopening it after pretraining failed
				t.engine.close()
				t.engine = nil
			}
		}()
		if t.OnEngine != nil {
			t.OnEngine(e.name())
		}
	}
	// Validation runs where training does: on a GPU, an epoch of steps can
	// take less time than validating on the CPU would.
	if g := t.engine.inference(); g != nil && m.gpu == nil {
		m.gpu, t.engineInference = g, true
		defer func() { m.gpu.close(); m.gpu, t.engineInference = nil, false }()
	}
	for ; st.Epoch < st.Config.Epochs && !st.Done; st.Epoch++ {
		start := time.Now()
		batches := corpus.Batches(t.Train, m.Vocab, st.Config.BatchSize, int64((st.Config.Seed*1_000_003+uint64(st.Epoch))&math.MaxInt64), false)
		sum := &st.Sums
		for ; st.Pos < len(batches); st.Pos++ {
			if ctx.Err() != nil {
				return t.interrupt()
			}
			if err := t.pollSaved(); err != nil {
				return err
			}
			info, err := t.step(&batches[st.Pos])
			if err != nil {
				return err
			}
			info.Batches = len(batches)
			sum.Loss += info.Loss
			sum.NLL += info.NLL
			sum.KL += info.KL
			sum.Beta = info.Beta
			sum.Steps++
			if t.OnStep != nil {
				t.OnStep(info)
			}
			if st.Config.LogEvery > 0 && st.Step%st.Config.LogEvery == 0 {
				t.log(map[string]any{"kind": "step", "step": st.Step, "epoch": st.Epoch + 1,
					"loss": info.Loss, "nll": info.NLL, "kl": info.KL, "bag": info.Bag, "beta": info.Beta, "grad_norm": info.GradNorm})
			}
		}
		if err := t.engine.pull(m, st); err != nil {
			return err
		}
		m.Refresh()
		// Pos stays at the end of the epoch until it is validated: a state
		// saved by an interruption of the validation resumes with it.
		valid, err := t.validate(ctx)
		if ctx.Err() != nil && err == ctx.Err() {
			return t.interrupt()
		}
		if err != nil {
			return err
		}
		st.Pos = 0
		ep := EpochInfo{Epoch: st.Epoch + 1, Step: st.Step, Beta: sum.Beta, Valid: valid, Elapsed: time.Since(start)}
		if n := float64(sum.Steps); n > 0 {
			ep.TrainLoss, ep.TrainNLL, ep.TrainKL = sum.Loss/n, sum.NLL/n, sum.KL/n
		}
		st.Sums = EpochSums{}
		switch {
		case st.Pretraining():
			// An autoencoder's ELBO is no measure of the VAE to come: no
			// epoch of it is kept as the best, none counts against patience.
		case valid.Poems == 0 || st.BestEpoch == 0 || valid.ELBO < st.BestELBO:
			ep.Improved = true
			ep.Slight = valid.Poems > 0 && st.BestEpoch > 0 && st.BestELBO-valid.ELBO < st.Config.MinGain
			st.BestELBO, st.BestEpoch = valid.ELBO, st.Epoch+1
			if ep.Slight {
				st.losePatience()
			} else {
				st.BadEpochs = 0
			}
		default:
			st.losePatience()
			if d := st.Config.LRDecay; d > 0 && d < 1 {
				st.LRScale = st.lrScale() * d
			}
		}
		ep.Pretraining, ep.LR = st.Pretraining(), st.LR()
		if st.Epoch+1 == st.Config.PretrainEpochs {
			if err := t.endPretraining(); err != nil {
				return err
			}
		}
		t.log(map[string]any{"kind": "epoch", "epoch": ep.Epoch, "step": ep.Step, "train_loss": ep.TrainLoss,
			"train_nll": ep.TrainNLL, "train_kl": ep.TrainKL, "beta": ep.Beta, "valid": valid,
			"improved": ep.Improved, "pretraining": ep.Pretraining, "lr": ep.LR, "seconds": ep.Elapsed.Seconds()})
		// The saved state is that of the next epoch, so a resume starts there.
		// An epoch is not reported when its files, or an earlier epoch's,
		// could not be handed over for writing.
		st.Epoch++
		if err := t.saveEpoch(ep.Improved); err != nil {
			return err
		}
		st.Epoch--
		if t.OnEpoch != nil {
			t.OnEpoch(ep)
		}
	}
	return nil
}

// endPretraining turns the autoencoder into the VAE's starting point: the
// decoder's weights go back to a fresh initialisation, every moment of
// Adam to zero and its step count to the start of the new phase, and the
// engine is opened again on the new weights (a GPU holds them and the
// moments on the device). The encoder and the shared embedding keep what
// they learnt.
func (t *Trainer) endPretraining() error {
	m, st := t.Model, t.State
	if err := t.engine.pull(m, st); err != nil {
		return err
	}
	if err := ResetDecoder(m, st.Config.Seed); err != nil {
		return err
	}
	for i := range st.adamM {
		clear(st.adamM[i])
		clear(st.adamV[i])
	}
	st.PhaseStart = st.Step
	if t.engineInference {
		m.gpu.close()
	}
	m.Refresh()
	t.engine.close()
	e, err := openEngine(t.Device, t.TF32, m, st)
	if err != nil {
		t.engine = nil
		return err
	}
	t.engine = e
	if t.engineInference {
		m.gpu = e.inference()
	}
	return nil
}

// interrupt ends a run whose context was cancelled: it waits for the
// epochs' checkpoints being written, then saves the state to resume from
// over them, and returns ErrInterrupted (with the failure, if saving
// failed).
func (t *Trainer) interrupt() error {
	werr := t.flushSaved()
	serr := t.engine.pull(t.Model, t.State)
	if serr == nil {
		serr = t.save(t.LastPath)
	}
	if err := errors.Join(werr, serr); err != nil {
		return fmt.Errorf("%w; and saving the state failed: %v", ErrInterrupted, err)
	}
	return ErrInterrupted
}

// validate runs Validate on the validation poems. On the CPU it runs in
// its own goroutine and is given up as soon as ctx is cancelled, returning
// ctx.Err(): validating thousands of poems takes seconds there, which a
// Ctrl-C should not wait for. The goroutine left behind only reads the
// model, which nothing changes once the run is interrupted. A GPU's
// validation is waited for: it takes a fraction of that, and its device
// closes when Run returns.
func (t *Trainer) validate(ctx context.Context) (ValidStats, error) {
	m, seed := t.Model, t.State.Config.Seed
	if t.engineInference {
		if t.beforeValidate != nil {
			t.beforeValidate()
		}
		return Validate(m, t.Valid, seed)
	}
	type result struct {
		stats    ValidStats
		err      error
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		// A panic is raised again on Run's goroutine, as if the
		// validation had run there, where a caller can recover it.
		defer func() {
			if r := recover(); r != nil {
				done <- result{panicked: r}
			}
		}()
		if t.beforeValidate != nil {
			t.beforeValidate()
		}
		v, err := Validate(m, t.Valid, seed)
		done <- result{stats: v, err: err}
	}()
	select {
	case r := <-done:
		if r.panicked != nil {
			panic(r.panicked)
		}
		return r.stats, r.err
	case <-ctx.Done():
		return ValidStats{}, ctx.Err()
	}
}

// save writes the state to resume from: the model and the optimiser.
func (t *Trainer) save(path string) error {
	if path == "" {
		return nil
	}
	return (&Checkpoint{Model: t.Model, Train: t.State}).Save(path)
}

// saveEpoch hands the epoch's checkpoints to the writer: the model alone
// when the epoch improved (the best epoch's file is for decoding, and
// without Adam's two float64 moments a parameter it is a fifth of the
// size), and the state to resume from, both from one snapshot of the
// weights, so that the next epoch trains while they are written. It first
// waits for the previous epoch's (on disk long since: an epoch takes far
// longer than a write), so that no epoch is saved after an earlier one
// failed to, and returns that failure. The epoch handed over is told of
// by OnSaved when its files are written (see pollSaved).
func (t *Trainer) saveEpoch(improved bool) error {
	if err := t.flushSaved(); err != nil {
		return err
	}
	m, st := snapshot(t.Model, t.State)
	// The state is saved as that of the next epoch; this is the one ended.
	epoch := st.Epoch
	if improved && t.BestPath != "" {
		if err := t.writer.write(t.BestPath, &Checkpoint{Model: m}); err != nil {
			return notSaved(epoch, err)
		}
	}
	if t.LastPath != "" {
		if err := t.writer.write(t.LastPath, &Checkpoint{Model: m, Train: st}); err != nil {
			return notSaved(epoch, err)
		}
	}
	t.saving = epoch
	return nil
}

// notSaved is the error of an epoch whose files were not written.
func notSaved(epoch int, err error) error {
	return fmt.Errorf("epoch %d was not saved: %w", epoch, err)
}

// pollSaved tells OnSaved of the epoch whose checkpoints were being
// written, if the writer has finished them, without waiting; it returns
// the writer's failure, if any.
func (t *Trainer) pollSaved() error {
	done, err := t.writer.done()
	if !done {
		return nil
	}
	return t.reportSaved(err)
}

// flushSaved waits for the checkpoints handed to the writer and tells
// OnSaved how writing them went; it returns the writer's failure, if any.
func (t *Trainer) flushSaved() error {
	return t.reportSaved(t.writer.flush())
}

// reportSaved tells OnSaved, once, that the checkpoints of the epoch being
// saved are on disk, or that writing them failed (err), and returns err
// naming the epoch. A failure of the writer with no epoch left to tell of
// was told already, and is returned as it is.
func (t *Trainer) reportSaved(err error) error {
	epoch := t.saving
	if epoch == 0 {
		return err
	}
	t.saving = 0
	if err != nil {
		err = notSaved(epoch, err)
	}
	if t.OnSaved != nil {
		t.OnSaved(epoch, err)
	}
	return err
}

func (t *Trainer) log(rec map[string]any) {
	if t.Metrics == nil {
		return
	}
	rec["time"] = time.Now().UTC().Format(time.RFC3339)
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	t.Metrics.Write(append(b, '\n'))
}

// step trains on one batch and counts the step.
func (t *Trainer) step(b *corpus.Batch) (StepInfo, error) {
	st := t.State
	beta := st.Beta()
	stats, norm, err := t.engine.step(b, st, beta)
	if err != nil {
		return StepInfo{}, err
	}
	st.Step++
	return StepInfo{Step: st.Step, Epoch: st.Epoch + 1, Batch: st.Pos + 1,
		Loss: stats.Loss, NLL: stats.NLL, KL: stats.KL, Bag: stats.Bag, Beta: beta, GradNorm: norm}, nil
}

// NewFeed lays a batch out for the graph, taking the noise ε, the dropout
// masks and the word dropout from the step's noise source.
func NewFeed(c Config, b *corpus.Batch, src noise.Source, dropout, wordDropout float64) *Feed {
	B, T, Td, Z := b.Size, c.EncSteps(), c.DecSteps(), c.Latent
	f := &Feed{B: B, EncIDs: make([]int, T*B), DecIDs: make([]int, Td*B), Targets: make([]int, Td*B)}
	wordThreshold := noise.Threshold(wordDropout)
	for r := 0; r < B; r++ {
		for s := 0; s < T; s++ {
			f.EncIDs[s*B+r] = b.Enc[r*T+s]
		}
		for s := 0; s < Td; s++ {
			id := b.DecIn[r*Td+s]
			if s > 0 && src.Dropped(noise.WordDropout, s*B+r, wordThreshold) {
				id = corpus.UNK
			}
			f.DecIDs[s*B+r] = id
			f.Targets[s*B+r] = b.Target[r*Td+s]
		}
	}
	f.Weight = make([]float64, B)
	for r := 0; r < b.Rows; r++ {
		f.Weight[r] = 1 / float64(b.Rows)
	}
	f.Eps = make([]float64, B*Z)
	for i := range f.Eps {
		f.Eps[i] = src.Normal(noise.Eps, i)
	}
	if dropout > 0 {
		f.EncMask = dropoutMask(src, noise.EncDropout, T*B*c.Embed, dropout)
		f.DecMask = dropoutMask(src, noise.DecDropout, Td*B*c.DecHidden, dropout)
	}
	return f
}

// dropoutMask is an inverted-dropout mask: 0 with probability p, else
// 1/(1−p), so activations keep their expectation and inference needs no
// rescaling.
func dropoutMask(src noise.Source, stream, n int, p float64) []float64 {
	m := make([]float64, n)
	keep, threshold := 1/(1-p), noise.Threshold(p)
	for i := range m {
		if !src.Dropped(stream, i, threshold) {
			m[i] = keep
		}
	}
	return m
}

// Validate measures the model on poems: reconstruction NLL and KL per poem
// with one z drawn from q(z|x) (seeded), the ELBO perplexity per token, and
// the active units: latent dimensions whose posterior mean varies across
// poems by at least 0.01 (Burda et al. 2016).
func Validate(m *Model, poems []poetry.Poem, seed uint64) (ValidStats, error) {
	vs := ValidStats{Poems: len(poems)}
	if len(poems) == 0 {
		return vs, nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x76616c6964)) // fixed noise: epochs compare like with like
	nll, kl, means, err := elboTerms(m, poems, rng)
	if err != nil {
		return vs, fmt.Errorf("validation: %w", err)
	}
	for i := range poems {
		vs.NLL += nll[i] / float64(len(poems))
		vs.KL += kl[i] / float64(len(poems))
	}
	vs.ELBO = vs.NLL + vs.KL
	vs.PPL = math.Exp(vs.ELBO / float64(m.Config.DecSteps()))
	vs.ActiveUnits = ActiveUnits(means, activeThreshold)
	return vs, nil
}

// ActiveUnits counts the dimensions whose values vary across rows with a
// variance of at least threshold.
func ActiveUnits(rows [][]float64, threshold float64) int {
	if len(rows) < 2 {
		return 0
	}
	Z := len(rows[0])
	active := 0
	for d := 0; d < Z; d++ {
		var s, sq float64
		for _, r := range rows {
			s += r[d]
			sq += r[d] * r[d]
		}
		n := float64(len(rows))
		if sq/n-(s/n)*(s/n) >= threshold {
			active++
		}
	}
	return active
}
