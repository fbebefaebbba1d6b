package model

import (
	"runtime"
	"sync"
)

// inParallel runs f over [0, n) split into one contiguous range per core,
// none shorter than minChunk. Gorgonia's tape machine runs one op at a
// time on one core, so the ops that spend long in their own loops (the
// softmax cross-entropy, the LSTM gates, Adam) spread them themselves.
// Each index belongs to exactly one range and the loops are element-wise,
// so results are the same bit for bit however the work is split.
func inParallel(n, minChunk int, f func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), n/max(minChunk, 1))
	if parts <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		lo, hi := n*p/parts, n*(p+1)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
