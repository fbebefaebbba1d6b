package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"poetvae/model"
)

// The default build has no GPU engine: asked for one, it says how to get it
// and touches nothing. A GPU build (-tags gpu, emulated in CI) trains there
// and writes a model the CPU decodes.
func TestDeviceFlag(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.ckpt")
	args := slices.DeleteFunc(slices.Clone(tinyTrain), func(a string) bool { return a == "--quiet" })
	code, _, stderr := poetvae(t, slices.Concat(args, []string{"--out", out, "--device", "cuda:0"})...)
	if !model.HasCUDA {
		if code != 1 || !strings.Contains(stderr, "built without CUDA") || !strings.Contains(stderr, "make cuda") {
			t.Fatalf("status %d, stderr %q: want 1 and how to build with CUDA", code, stderr)
		}
		return
	}
	if code != 0 {
		t.Fatalf("GPU training: status %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "training on ") {
		t.Errorf("no word of the device in %q", stderr)
	}
	code, stdout, stderr := poetvae(t, "generate", "--model", out, "--seed", "3", "-n", "3")
	if code != 0 || strings.Count(stdout, "。") < 6 {
		t.Fatalf("generate from the GPU-trained model: status %d, %q %s", code, stdout, stderr)
	}
	// Decoding on the GPU writes the same poems from the same seed.
	for _, args := range [][]string{
		{"generate", "--model", out, "--seed", "3", "-n", "3"},
		{"reconstruct", "--model", out, "床前明月光，疑是地上霜。举头望明月，低头思故乡。"},
	} {
		_, onCPU, _ := poetvae(t, args...)
		code, onGPU, stderr := poetvae(t, slices.Insert(slices.Clone(args), 1, "--device", "cuda")...)
		if code != 0 || onGPU != onCPU {
			t.Errorf("%s --device cuda: status %d, %q, want %q (%s)", args[0], code, onGPU, onCPU, stderr)
		}
	}
	// eval decodes its importance samples there (its figures are held to
	// the CPU's by model's TestGPUEvaluate).
	test := filepath.Join(t.TempDir(), "test.txt")
	writeFile(t, test, "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n白日依山尽，黄河入海流。欲穷千里目，更上一层楼。\n")
	code, stdout, stderr = poetvae(t, "eval", "--model", out, "--device", "cuda", "--is-k", "5", "--samples", "3", test)
	if code != 0 || !strings.Contains(stdout, "NLL (IS, K=5)") {
		t.Errorf("eval --device cuda: status %d, %q (%s)", code, stdout, stderr)
	}
}

func TestDeviceNames(t *testing.T) {
	for _, cmd := range [][]string{{"train", "--sample"}, {"generate"}, {"reconstruct", "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"}, {"eval", "test.txt"}} {
		for _, bad := range []string{"tpu", "cuda:x", "cuda:-1"} {
			code, _, stderr := poetvae(t, slices.Insert(slices.Clone(cmd), 1, "--device", bad)...)
			if code != 2 || !strings.Contains(stderr, "--device") {
				t.Errorf("%s --device %s: status %d, %q; want a usage error", cmd[0], bad, code, stderr)
			}
		}
	}
	if code, _, stderr := poetvae(t, "train", "--sample", "--tf32"); code != 2 || !strings.Contains(stderr, "--device cuda") {
		t.Errorf("train --tf32 on the CPU: status %d, %q; want a usage error", code, stderr)
	}
	if !model.HasCUDA {
		code, _, stderr := poetvae(t, "generate", "--device", "cuda")
		if code != 1 || !strings.Contains(stderr, "built without CUDA") {
			t.Errorf("generate --device cuda: status %d, %q", code, stderr)
		}
	}
}
