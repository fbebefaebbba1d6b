package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"poetvae/model"
)

// progress shows a bar with ETA and the live loss on a terminal, and
// nothing when stderr is a file or a pipe (logs get the epoch lines only).
type progress struct {
	w     io.Writer
	on    bool
	bar   *progressbar.ProgressBar
	epoch int
}

func newProgress(w io.Writer, quiet bool) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, on: !quiet && ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) step(s model.StepInfo, epochs int) {
	if !p.on {
		return
	}
	if p.bar == nil || p.epoch != s.Epoch {
		p.clear()
		p.epoch = s.Epoch
		p.bar = progressbar.NewOptions(s.Batches,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(20),
			progressbar.OptionClearOnFinish(),
		)
		p.bar.Set(s.Batch - 1)
	}
	p.bar.Describe(fmt.Sprintf("epoch %d/%d  loss %.2f  KL %.2f  β %.2f", s.Epoch, epochs, s.Loss, s.KL, s.Beta))
	p.bar.Add(1)
}

func (p *progress) clear() {
	if p.bar != nil {
		p.bar.Clear()
		p.bar = nil
	}
}

// countBar returns a progress callback for long work counted in items
// (done of total), drawing a bar with ETA on a terminal, and a function
// that clears the bar when the work is over. Off a terminal the callback
// is nil, which the model's functions take as no progress to tell.
func countBar(w io.Writer, what string) (update func(done, total int), clear func()) {
	p := newProgress(w, false)
	if !p.on {
		return nil, func() {}
	}
	update = func(done, total int) {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(what),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionShowCount(),
				progressbar.OptionSetWidth(20),
				progressbar.OptionClearOnFinish(),
			)
		}
		p.bar.Set(done)
	}
	return update, p.clear
}
