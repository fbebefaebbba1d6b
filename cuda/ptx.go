//go:build gpu

package cuda

import (
	"embed"
	"fmt"
	"path"
	"strings"
	"sync"
)

// The kernels, compiled by `make ptx` (nvcc -arch=compute_80); the driver
// compiles the PTX for the GPU at hand when the module loads. The emulator
// runs the .cu sources themselves but reads the PTX too, for the kernels'
// parameter lists (the PTX is checked against the sources by make ptx-check).
//
//go:embed ptx/*.ptx
var ptxFiles embed.FS

// ptxModule is one embedded PTX file and the kernels it defines.
type ptxModule struct {
	name    string
	src     string
	kernels map[string]int // kernel → number of parameters
}

// ptxModules parses the embedded PTX files.
func ptxModules() ([]ptxModule, error) {
	files, err := ptxFiles.ReadDir("ptx")
	if err != nil {
		return nil, err
	}
	var mods []ptxModule
	for _, f := range files {
		src, err := ptxFiles.ReadFile(path.Join("ptx", f.Name()))
		if err != nil {
			return nil, err
		}
		mods = append(mods, ptxModule{name: f.Name(), src: string(src), kernels: ptxKernels(string(src))})
	}
	return mods, nil
}

// ptxKernels lists the kernels of a PTX module (its ".entry" lines) with
// the number of ".param" lines in each one's parameter list.
func ptxKernels(ptx string) map[string]int {
	kernels := map[string]int{}
	current := ""
	for _, line := range strings.Split(ptx, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == ".entry" {
				current = strings.TrimRight(f[i+1], "(")
				kernels[current] = 0
			}
		}
		switch {
		case current == "":
		case len(f) > 0 && f[0] == ".param":
			kernels[current]++
		case strings.HasPrefix(strings.TrimSpace(line), ")"):
			current = ""
		}
	}
	return kernels
}

var (
	arityOnce sync.Once
	arities   map[string]int
	arityErr  error
)

// checkArgs reports a launch whose argument count differs from the
// kernel's parameter list: the driver would read past the arguments given.
func checkArgs(kernel string, n int) error {
	arityOnce.Do(func() {
		mods, err := ptxModules()
		arities, arityErr = map[string]int{}, err
		for _, m := range mods {
			for k, a := range m.kernels {
				arities[k] = a
			}
		}
	})
	if arityErr != nil {
		return arityErr
	}
	want, ok := arities[kernel]
	switch {
	case !ok:
		return fmt.Errorf("no kernel %q in the embedded PTX (run make ptx)", kernel)
	case want != n:
		return fmt.Errorf("kernel %s takes %d arguments, given %d (is cuda/ptx stale? run make ptx)", kernel, want, n)
	}
	return nil
}
