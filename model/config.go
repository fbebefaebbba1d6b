// Package model is poetvae's variational autoencoder (Bowman et al. 2016):
// a shared character embedding, highway layers and a bidirectional LSTM
// encoder that give the posterior q(z|x) = N(mu, σ²), and an LSTM decoder that
// sees z at every step. Training runs on Gorgonia's expression graph (the
// reference engine); encoding and decoding for generation run on a plain
// forward pass over the same parameters, checked against the graph in tests.
package model

import (
	"errors"
	"fmt"

	"poetvae/poetry"
)

// Config fixes the shape of a model. It is stored in every checkpoint.
type Config struct {
	Vocab     int     `json:"vocab"`      // characters plus the four special tokens
	Lines     int     `json:"lines"`      // lines per poem the model was trained on (4 or 8)
	Embed     int     `json:"embed"`      // character embedding size
	Highway   int     `json:"highway"`    // highway layers after the embedding (encoder side)
	EncHidden int     `json:"enc_hidden"` // encoder LSTM size, per direction
	DecHidden int     `json:"dec_hidden"` // decoder LSTM size
	Latent    int     `json:"latent"`     // size of z
	Dropout   float64 `json:"dropout"`    // on the encoder input and the decoder output, training only
	// LM makes the model a plain LSTM language model: no encoder, z fixed
	// at 0, no KL; the baseline a VAE is compared with (Bowman et al.).
	LM bool `json:"lm,omitempty"`
	// BagOfChars adds a training loss that predicts, from z alone, every
	// character of the poem regardless of place (Zhao et al. 2017): it
	// rewards codes that say which characters a poem holds, which the
	// decoder can then read. Its weights (bow.W, bow.b) serve training
	// only.
	BagOfChars bool `json:"bag_of_chars,omitempty"`
	// RhymeChars adds the same loss over the characters that end the even
	// lines alone: the code is trained to say how the poem rhymes, which
	// the decoder can read and DecodeOptions.RhymeFromCode can keep. Its
	// weights are the bag's (bow.W, bow.b); they also serve decoding.
	RhymeChars bool `json:"rhyme_chars,omitempty"`
	// CodeToOutput also feeds z to the output layer: every step's logits
	// gain z·out.Wz, a path from the code to each character that the LSTM
	// cannot wash out (the skip connections of Dieng et al. 2019, which
	// keep a decoder from ignoring its code).
	CodeToOutput bool `json:"code_to_output,omitempty"`
}

// DefaultConfig returns the sizes measured to train well on a few thousand
// to a few tens of thousands of quatrains on a CPU (see docs/RESULTS.md).
func DefaultConfig(vocab, lines int) Config {
	return Config{
		Vocab:     vocab,
		Lines:     lines,
		Embed:     128,
		Highway:   1,
		EncHidden: 256,
		DecHidden: 256,
		Latent:    32,
		Dropout:   0.3,
	}
}

// Validate reports the first setting that cannot make a model.
func (c Config) Validate() error {
	switch {
	case c.Vocab < 5:
		return fmt.Errorf("vocabulary of %d entries is too small", c.Vocab)
	case c.Lines != 2 && c.Lines != 4 && c.Lines != 8:
		return fmt.Errorf("poems of %d lines: want 4 or 8", c.Lines)
	case c.Embed < 1 || c.EncHidden < 1 || c.DecHidden < 1 || c.Latent < 1:
		return errors.New("embedding, hidden and latent sizes must be positive")
	case c.Highway < 0:
		return errors.New("highway layers cannot be negative")
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("dropout %g outside [0, 1)", c.Dropout)
	case c.BagOfChars && c.LM:
		return errors.New("a language model has no code for the bag-of-characters loss to predict from")
	case c.RhymeChars && c.LM:
		return errors.New("a language model has no code for the rhyme loss to predict from")
	case c.CodeToOutput && c.LM:
		return errors.New("a language model has no code to feed its output layer")
	case c.RhymeChars && c.BagOfChars:
		return errors.New("the bag-of-characters and rhyme losses share their weights: choose one")
	}
	return nil
}

// HasBag reports whether the model predicts characters from z (the bag of
// characters or the rhyme loss), with the weights bow.W and bow.b.
func (c Config) HasBag() bool { return c.BagOfChars || c.RhymeChars }

// BagSteps are the encoder steps whose characters the bag predicts from z:
// every step for the bag of characters, the last of each even line for
// the rhyme loss, none without either.
func (c Config) BagSteps() []int {
	var steps []int
	for t := range c.EncSteps() {
		if c.BagOfChars || (c.RhymeChars && (t+1)%(2*poetry.LineLen) == 0) {
			steps = append(steps, t)
		}
	}
	return steps
}

// EncSteps is the number of characters in a poem: the encoder's steps.
func (c Config) EncSteps() int { return 5 * c.Lines }

// DecSteps is the number of decoder steps: the characters and EOS.
func (c Config) DecSteps() int { return 5*c.Lines + 1 }
