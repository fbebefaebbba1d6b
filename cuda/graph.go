//go:build gpu

package cuda

import (
	"errors"
	"fmt"
	"slices"
)

// A training step is some 170 launches at the model's default size, each
// a few microseconds of the host's and the driver's time, and at the batch
// sizes poetvae trains at many kernels are small enough for the GPU to
// finish one before the host has issued the next. A CUDA graph issues
// them all in one call. The step is recorded (node by node, as Device.launch and
// Device.zero would issue it), built into a graph once, and replayed: from
// one step to the next only a few arguments change (the noise key, β, the
// learning rate and Adam's corrections, the real rows of a short batch),
// and those nodes alone are updated in place before the launch.

// node is one recorded operation: a kernel launch, or (kernel "") a
// memset of words 4-byte words at p to zero.
type node struct {
	kernel      string
	grid, block [3]int
	args        []uint64
	p           ptr
	words       int
}

// sameShape reports whether b can replace a in a built graph by updating
// its arguments: the same kernel and launch shape, or the same memset.
func (a node) sameShape(b node) bool {
	return a.kernel == b.kernel && a.grid == b.grid && a.block == b.block && a.p == b.p && a.words == b.words
}

// graphExec is a built graph in a backend.
type graphExec interface {
	set(i int, n node) error // update node i's arguments (same kernel and shape)
	launch() error
	destroy()
}

// errNoGraphs is what a backend's newGraph returns, wrapped with the
// reason, when the driver offers no graphs: the step then launches its
// kernels one by one.
var errNoGraphs = errors.New("CUDA graphs are not available")

// stepGraph is the built graph of a trainer's step and the nodes it was
// last launched with.
type stepGraph struct {
	nodes  []node
	exec   graphExec
	builds int // for the tests: how often the graph was built
}

func (g *stepGraph) destroy() {
	if g.exec != nil {
		g.exec.destroy()
	}
	g.nodes, g.exec = nil, nil
}

// record runs f with launches and memsets recorded rather than issued.
func (d *Device) record(f func()) []node {
	d.recording, d.recorded = true, nil
	defer func() { d.recording = false }()
	f()
	return d.recorded
}

// replay issues the work that f records through g: the graph is updated
// where only arguments changed, rebuilt where the work's shape did (TF32
// switched, say) or the driver refused the update, and launched. Where no
// graph can be built (a driver without graphs, or one that fails to build
// this one) it turns Graphs off, saying why in GraphsOff, and issues the
// nodes one by one: the step still runs, only slower.
func (d *Device) replay(g *stepGraph, f func()) error {
	nodes := d.record(f)
	if d.err != nil {
		return d.sync()
	}
	if g.exec != nil && !(slices.EqualFunc(g.nodes, nodes, node.sameShape) && g.update(nodes) == nil) {
		g.destroy()
	}
	if g.exec == nil {
		exec, err := d.b.newGraph(nodes)
		if err != nil {
			d.Graphs, d.GraphsOff = false, err.Error()
			if !errors.Is(err, errNoGraphs) {
				d.GraphsOff = fmt.Sprintf("building the step's graph of %d nodes failed: %v", len(nodes), err)
			}
			return d.issue(nodes)
		}
		g.exec = exec
		g.builds++
	}
	g.nodes = nodes
	if err := g.exec.launch(); err != nil {
		return fmt.Errorf("launching the step's graph: %w", err)
	}
	return nil
}

// update sets the arguments of the nodes whose arguments changed.
func (g *stepGraph) update(nodes []node) error {
	for i, n := range nodes {
		if !slices.Equal(n.args, g.nodes[i].args) {
			if err := g.exec.set(i, n); err != nil {
				return fmt.Errorf("updating the step's graph at %s: %w", n.kernel, err)
			}
		}
	}
	return nil
}

// issue launches recorded nodes one by one, as they would have been.
func (d *Device) issue(nodes []node) error {
	for _, n := range nodes {
		var err error
		if n.kernel == "" {
			err = d.b.zero(n.p, n.words)
		} else {
			err = d.b.launch(n.kernel, n.grid, n.block, n.args)
		}
		if err != nil {
			return fmt.Errorf("launching %s: %w", n.name(), err)
		}
	}
	return nil
}

func (n node) name() string {
	if n.kernel == "" {
		return "a memset"
	}
	return n.kernel
}
