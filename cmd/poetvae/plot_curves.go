package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"poetvae/model"
)

// Training curves.

// metricsRecord is one line of the metrics log (see model.Trainer). Step
// and Epoch are pointers to tell a missing field from 0.
type metricsRecord struct {
	Kind      string            `json:"kind"`
	Step      *int              `json:"step"`
	Epoch     *int              `json:"epoch"`
	Loss      float64           `json:"loss"`
	KL        float64           `json:"kl"`
	Beta      float64           `json:"beta"`
	TrainLoss float64           `json:"train_loss"`
	TrainKL   float64           `json:"train_kl"`
	Valid     *model.ValidStats `json:"valid"`
}

// trainPoint is the training figures at a step: those of the step, or the
// averages over an epoch.
type trainPoint struct {
	step           int
	loss, kl, beta float64
}

type validPoint struct {
	step  int
	stats model.ValidStats
}

// runCurves are the series of a training run, in step order.
type runCurves struct {
	steps  []trainPoint // from step records
	epochs []trainPoint // from epoch records
	valid  []validPoint // of epochs that had validation poems
}

// readRunCurves reads a metrics log. A step or epoch logged twice, as after
// resuming from a checkpoint older than the log, counts at its last record.
func readRunCurves(path string) (*runCurves, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	steps, epochs := map[int]trainPoint{}, map[int]trainPoint{}
	valid := map[int]validPoint{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec metricsRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			err = fmt.Errorf("%s:%d: not a metrics record: %v", path, n, err)
			if len(steps)+len(epochs) == 0 {
				// Likely not a log at all: a corpus or a model given instead.
				err = fmt.Errorf("%w (plot curves reads the NAME.metrics.jsonl that poetvae train writes)", err)
			}
			return nil, err
		}
		switch rec.Kind {
		case "step":
			if rec.Step == nil {
				return nil, fmt.Errorf("%s:%d: step record without \"step\"", path, n)
			}
			steps[*rec.Step] = trainPoint{*rec.Step, rec.Loss, rec.KL, rec.Beta}
		case "epoch":
			if rec.Step == nil || rec.Epoch == nil {
				return nil, fmt.Errorf("%s:%d: epoch record without \"step\" or \"epoch\"", path, n)
			}
			epochs[*rec.Epoch] = trainPoint{*rec.Step, rec.TrainLoss, rec.TrainKL, rec.Beta}
			if rec.Valid != nil && rec.Valid.Poems > 0 {
				valid[*rec.Epoch] = validPoint{*rec.Step, *rec.Valid}
			} else {
				delete(valid, *rec.Epoch)
			}
		case "":
			return nil, fmt.Errorf("%s:%d: record without \"kind\"", path, n)
		default:
			// Kinds this version does not draw are skipped, so that the
			// logs of newer versions still plot.
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(steps) == 0 && len(epochs) == 0 {
		return nil, fmt.Errorf("%s holds no step or epoch records: want the NAME.metrics.jsonl that poetvae train writes", path)
	}
	// Steps, and epochs with them, only grow.
	r := &runCurves{}
	for _, k := range sortedKeys(steps) {
		r.steps = append(r.steps, steps[k])
	}
	for _, k := range sortedKeys(epochs) {
		r.epochs = append(r.epochs, epochs[k])
	}
	for _, k := range sortedKeys(valid) {
		r.valid = append(r.valid, valid[k])
	}
	return r, nil
}

// movingAverage smooths ys over centred windows of w values, narrower at
// the ends, so that the curve does not lag behind the steps.
func movingAverage(ys []float64, w int) []float64 {
	sum := make([]float64, len(ys)+1)
	for i, y := range ys {
		sum[i+1] = sum[i] + y
	}
	out := make([]float64, len(ys))
	for i := range ys {
		lo, hi := max(0, i-(w-1)/2), min(len(ys), i+w/2+1)
		out[i] = (sum[hi] - sum[lo]) / float64(hi-lo)
	}
	return out
}

func plotCurves(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("plot curves needs one metrics file, the NAME.metrics.jsonl that poetvae train writes")
	}
	out := c.String("output")
	if err := checkPlotOutput(out); err != nil {
		return err
	}
	if err := refuseDirectory("--output", out); err != nil {
		return err
	}
	if c.Int("smooth") < 0 {
		return usageError("--smooth cannot be negative")
	}
	tf, err := loadTypeface(c, false)
	if err != nil {
		return err
	}
	path := c.Args().First()
	r, err := readRunCurves(path)
	if err != nil {
		return err
	}
	panels := r.panels(tf, c.Int("smooth"))
	err = saveFigure(out, 10*vg.Inch, 10*vg.Inch, func(dc draw.Canvas) {
		dc = tf.heading(dc, "Training run "+filepath.Base(path))
		// One legend column for all panels keeps their step axes aligned.
		width := vg.Length(0)
		grid := make([][]*plot.Plot, len(panels))
		for i, p := range panels {
			grid[i] = []*plot.Plot{p.plot}
			width = max(width, p.legend.width())
		}
		tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(16),
			PadLeft: vg.Points(8), PadRight: vg.Points(8), PadBottom: vg.Points(8)}
		canvases := plot.Align(grid, tiles, draw.Crop(dc, 0, -width, 0, 0))
		for i, p := range panels {
			p.plot.Draw(canvases[i][0])
			p.legend.draw(dc, p.plot.DataCanvas(canvases[i][0]), width)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "curves of %s written to %s\n", path, out)
	return nil
}

// curvesPanel is a plot of the curves with its legend.
type curvesPanel struct {
	plot   *plot.Plot
	legend *sideLegend
}

// panels returns the four panels of the curves, on one step axis.
func (r *runCurves) panels(tf typeface, smooth int) []curvesPanel {
	// Runs shorter than a few logging intervals have too few step records
	// to draw lines; the epoch averages stand in for them.
	train, what := r.steps, "logged step"
	if len(train) < 2 && len(r.epochs) > len(train) {
		train, what = r.epochs, "epoch"
	}
	if smooth == 0 {
		// Windows of a few points smooth little and hide a short run's
		// ups and downs.
		if smooth = len(train) / 20; smooth < 3 {
			smooth = 1
		}
	}
	series := func(ys func(trainPoint) float64) plotter.XYs {
		xy := make(plotter.XYs, len(train))
		for i, p := range train {
			xy[i] = plotter.XY{X: float64(p.step), Y: ys(p)}
		}
		return xy
	}
	validSeries := func(ys func(model.ValidStats) float64) plotter.XYs {
		xy := make(plotter.XYs, len(r.valid))
		for i, v := range r.valid {
			xy[i] = plotter.XY{X: float64(v.step), Y: ys(v.stats)}
		}
		return xy
	}
	lastStep := 0.0
	if len(train) > 0 {
		lastStep = float64(train[len(train)-1].step)
	}
	if len(r.valid) > 0 {
		lastStep = max(lastStep, float64(r.valid[len(r.valid)-1].step))
	}

	// line draws xy in a panel with a legend entry; a line through one
	// point would not show, so that point gets a dot.
	line := func(p curvesPanel, name string, xy plotter.XYs, c color.Color, width vg.Length) {
		l, _ := plotter.NewLine(xy)
		l.Color, l.Width = c, width
		p.plot.Add(l)
		if len(xy) > 1 {
			p.legend.add(name, l)
			return
		}
		dot, _ := plotter.NewScatter(xy)
		dot.Color, dot.Shape, dot.Radius = c, draw.CircleGlyph{}, vg.Points(2.5)
		p.plot.Add(dot)
		p.legend.add(name, l, dot)
	}
	// addTrain draws a training series faintly and its moving average over it.
	addTrain := func(p curvesPanel, name string, xy plotter.XYs) {
		if len(xy) == 0 {
			return
		}
		if smooth <= 1 || len(xy) == 1 {
			line(p, name+" (per "+what+")", xy, trainColor, vg.Points(1.2))
			return
		}
		ys := make([]float64, len(xy))
		for i := range xy {
			ys[i] = xy[i].Y
		}
		sm := make(plotter.XYs, len(xy))
		for i, y := range movingAverage(ys, smooth) {
			sm[i] = plotter.XY{X: xy[i].X, Y: y}
		}
		line(p, name+" (per "+what+")", xy, trainRawColor, vg.Points(0.6))
		line(p, fmt.Sprintf("%s, moving average of %d", name, smooth), sm, trainColor, vg.Points(1.5))
	}
	addValid := func(p curvesPanel, name string, xy plotter.XYs) {
		if len(xy) == 0 {
			return
		}
		l, s, _ := plotter.NewLinePoints(xy)
		l.Color, l.Width = validColor, vg.Points(1.2)
		s.Color, s.Shape, s.Radius = validColor, draw.CircleGlyph{}, vg.Points(2.5)
		p.plot.Add(l, s)
		p.legend.add(name, l, s)
	}

	panel := func(title string) curvesPanel {
		return curvesPanel{tf.newPlot(title), tf.newLegend("")}
	}
	loss := panel("Loss (nats per poem)")
	addTrain(loss, "training loss", series(func(p trainPoint) float64 { return p.loss }))
	addValid(loss, "validation ELBO (NLL + KL)", validSeries(func(v model.ValidStats) float64 { return v.ELBO }))

	kl := panel("KL divergence (nats per poem)")
	addTrain(kl, "training KL", series(func(p trainPoint) float64 { return p.kl }))
	addValid(kl, "validation KL", validSeries(func(v model.ValidStats) float64 { return v.KL }))

	beta := panel("β, the weight of the KL term")
	if xy := series(func(p trainPoint) float64 { return p.beta }); len(xy) > 0 {
		line(beta, "β (per "+what+")", xy, trainColor, vg.Points(1.5))
	}
	beta.plot.Y.Min, beta.plot.Y.Max = 0, max(1, beta.plot.Y.Max)

	ppl := panel("Validation perplexity (per token)")
	if len(r.valid) == 0 {
		ppl.plot.Title.Text += ": no validation records"
	}
	addValid(ppl, "validation ELBO perplexity", validSeries(func(v model.ValidStats) float64 { return v.PPL }))

	panels := []curvesPanel{loss, kl, beta, ppl}
	for _, p := range panels {
		p.plot.X.Min, p.plot.X.Max = 0, lastStep
		p.plot.X.Tick.Marker = plainTicks{whole: true}
		p.plot.Add(plotter.NewGrid())
	}
	ppl.plot.X.Label.Text = "step"
	return panels
}
