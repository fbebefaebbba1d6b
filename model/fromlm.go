package model

import (
	"fmt"
	"strings"
)

// InitFromLM starts a VAE's decoder as a trained language model: the
// embedding, the decoder's LSTM and the output layer take the language
// model's values, and every path from the code into the decoder (dec.Wz.*,
// dec_init.*, out.Wz) starts at zero. The VAE then computes exactly the
// language model's probabilities whatever its code, and training can only
// add what the code says to what the language already gives: the decoder
// no longer has to learn the language before it can learn to read a code.
// The encoder, the posterior heads and the bag keep their own values.
//
// The two models must share the vocabulary (the same characters in the
// same order: the same training poems and --min-count), the embedding and
// the decoder's size.
func InitFromLM(vae, lm *Model) error {
	vc, lc := vae.Config, lm.Config
	switch {
	case vc.LM:
		return fmt.Errorf("the model to start is itself a language model")
	case !lc.LM:
		return fmt.Errorf("not a language model (trained without --lm)")
	case vc.Lines != lc.Lines:
		return fmt.Errorf("a language model of %d-line poems for a VAE of %d-line poems", lc.Lines, vc.Lines)
	case vc.Embed != lc.Embed || vc.DecHidden != lc.DecHidden:
		return fmt.Errorf("a language model of embedding %d and decoder %d for a VAE of embedding %d and decoder %d",
			lc.Embed, lc.DecHidden, vc.Embed, vc.DecHidden)
	}
	if id := vae.Vocab.FirstDifference(lm.Vocab); id >= 0 {
		return fmt.Errorf("the vocabularies differ from id %d on (%d entries against %d): train both on the same poems with the same --min-count",
			id, lm.Vocab.Size(), vae.Vocab.Size())
	}
	// Every value is read before any is written: a failure leaves the
	// VAE as it was.
	p, from := vae.Params, lm.Params
	values := make(map[int][]float64)
	for i, name := range p.Names {
		switch {
		case name == "embed" || name == "out.W" || name == "out.b" ||
			strings.HasPrefix(name, "dec.Wx.") || strings.HasPrefix(name, "dec.Wh.") || strings.HasPrefix(name, "dec.b."):
			j, ok := from.index[name]
			if !ok {
				return fmt.Errorf("the language model has no %s", name)
			}
			values[i] = from.Float64s(j)
		case strings.HasPrefix(name, "dec.Wz.") || strings.HasPrefix(name, "dec_init.") || name == "out.Wz":
			values[i] = make([]float64, p.Values[i].Shape().TotalSize())
		}
	}
	for i, v := range values {
		p.set(i, v)
	}
	vae.Refresh()
	return nil
}
