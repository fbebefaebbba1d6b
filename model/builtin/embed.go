//go:build !nobuiltin

package builtin

import _ "embed"

// Checkpoint is the model file's bytes.
//
//go:embed poetvae.ckpt
var Checkpoint []byte
