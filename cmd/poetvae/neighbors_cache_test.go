package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"io"
	"math"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/urfave/cli/v2"

	"poetvae/model"
)

// TestNeighborsOldCache: a cache in the format of version 1, whose key was
// a digest of the weights and the poems alone, is seen to be stale, and
// the corpus encoded again and cached in the current format.
func TestNeighborsOldCache(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	poems := sampleCopy(t, "poems.txt")
	cache := ".poems.txt" + codesSuffix
	args := []string{"--model", m, "--corpus", "poems.txt", "--k", "4", jingYeSi}
	_, first, _ := runNeighbors(t, args...)

	// Version 1: magic | 1 | weights digest | poems key | engine | poems |
	// latent | codes | SHA-256.
	const latent = 4
	old := append([]byte(codesMagic), 1, 0, 0, 0)
	old = append(old, make([]byte, sha256.Size)...)
	for _, s := range []string{"0123456789abcdef", "cpu"} {
		old = append(append(old, byte(len(s))), s...)
	}
	old = binary.LittleEndian.AppendUint32(old, uint32(len(poems)))
	old = binary.LittleEndian.AppendUint32(old, latent)
	for range len(poems) * latent {
		old = binary.LittleEndian.AppendUint64(old, math.Float64bits(0.5))
	}
	sum := sha256.Sum256(old)
	writeFile(t, cache, string(append(old, sum[:]...)))

	_, rows, stderr := runNeighbors(t, args...)
	mentions(t, args, stderr, cache, "format version 1, not 2", "encoding poems.txt again", "cached in")
	if !slices.Equal(rows, first) {
		t.Errorf("after an old cache: %v, want %v", rows, first)
	}
	_, rows, stderr = runNeighbors(t, args...)
	if stderr != "" || !slices.Equal(rows, first) {
		t.Errorf("after the old cache was replaced: %v, stderr %q", rows, stderr)
	}
	// A query from the cache runs without the garbage collector, which
	// is on again once it returns, as it was.
	before := debug.SetGCPercent(250)
	runNeighbors(t, args...)
	if after := debug.SetGCPercent(before); after != 250 {
		t.Errorf("a query left the collector at %d%%, it was at 250%%", after)
	}
	if _, err := readCodes(cache); err != nil {
		t.Errorf("the cache that replaced the old one: %v", err)
	}
}

// TestNeighborsCacheReadsNoPoem: with the cache of a corpus file's
// bytes, the corpus is not read before its model is known, and a query of
// that model reads none of its poems but those it shows.
func TestNeighborsCacheReadsNoPoem(t *testing.T) {
	m := sharedModel(t)
	inTempDir(t)
	sampleCopy(t, "poems.txt")
	args := []string{"--model", m, "--corpus", "poems.txt", "--k", "3", jingYeSi}
	runNeighbors(t, args...) // caches the codes

	cmd := neighborsCommand()
	set := flag.NewFlagSet("neighbors", flag.ContinueOnError)
	for _, f := range cmd.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c := cli.NewContext(&cli.App{Name: "poetvae", Writer: io.Discard, ErrWriter: &stderr}, set, nil)
	c.Command = cmd
	sc, err := readSearchCorpus(c)
	if err != nil {
		t.Fatal(err)
	}
	if sc.all != nil || sc.cache == nil {
		t.Fatalf("the corpus was read (%d poems) or the cache was not (%v)", len(sc.all), sc.cacheErr)
	}
	ck, err := loadEncoderCheckpoint(c, "", model.LoadOptions{EncoderOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := corpusCodes(c, ck, sc); err != nil {
		t.Fatal(err)
	}
	if !sc.cached || sc.all != nil {
		t.Errorf("the query of the cache's model read the corpus's poems (cached %v, %d poems)", sc.cached, len(sc.all))
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr %q", stderr.String())
	}
}
