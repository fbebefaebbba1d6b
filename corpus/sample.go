package corpus

import (
	_ "embed"
	"strings"

	"poetvae/poetry"
)

// SampleName is the name under which the built-in sample corpus can be
// chosen wherever a corpus file is expected.
const SampleName = "sample"

// sampleText is a small corpus built into the binary, so that the tools can
// be tried, and the tests run, without any data files.
//
//go:embed sample.txt
var sampleText string

// Sample returns the poems of the built-in sample corpus. Its comment lines
// name the author and title of each poem.
func Sample() ([]poetry.Poem, error) {
	poems, _, err := ReadFrom(strings.NewReader(sampleText), "sample.txt")
	return poems, err
}
