//go:build nobuiltin

package builtin

// Checkpoint is empty in a build without the model (-tags nobuiltin): the
// binaries built to travel to a GPU machine, which are given their models,
// leave its 11 MB out.
var Checkpoint []byte
