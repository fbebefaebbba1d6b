#!/usr/bin/env bash
# Runs every GPU proof of the CUDA engine, then the GPU benchmark, on a
# machine with an NVIDIA GPU, from the binaries `make gpu-bin` built
# elsewhere: no Go toolchain or CUDA toolkit is needed here, only the
# driver (and PyTorch for the comparison). Everything it prints also goes
# to DIR/check.txt; the benchmark table goes to DIR/bench-gpu.txt.
#
#   bench/gpu-check.sh [--bench-only | --proofs-only] [DIR]    (DIR defaults to gpu)
#
# POETVAE_DATA is the folder of the shared corpora (default ../shared/data);
# POETVAE_GPU picks the GPU (default 0).
set -uo pipefail

proofs=1 bench=1
case "${1:-}" in
--bench-only) proofs=0; shift ;;
--proofs-only) bench=0; shift ;;
esac
dir=${1:-gpu}
data=${POETVAE_DATA:-../shared/data}
report=$dir/check.txt
for f in poetvae poetvae-cpu cuda.test model.test; do
	[ -x "$dir/$f" ] || { echo "gpu-check: $dir/$f is missing: build it with make gpu-bin" >&2; exit 2; }
done
: > "$report"
failed=()

say() { echo "== $*" | tee -a "$report"; }
check() { # check NAME COMMAND...: runs a proof, records a failure
	local name=$1; shift
	say "$name"
	"$@" 2>&1 | tee -a "$report"
	local rc=${PIPESTATUS[0]}
	if [ "$rc" != 0 ]; then echo "FAILED: $name (status $rc)" | tee -a "$report"; failed+=("$name"); fi
}

say "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$report"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sed -n "$((${POETVAE_GPU:-0} + 1))p")

corpus=$dir/train.txt
if [ -f "$data/simplified/tang_train.txt" ]; then
	cat "$data/simplified/tang_train.txt" "$data/simplified/song_train.txt" > "$corpus"
else
	echo "gpu-check: no corpora in $data (set POETVAE_DATA)" >&2; exit 2
fi

if [ "$proofs" = 1 ]; then
	check "kernels against float64 references (poisoned outputs)" \
		"$dir/cuda.test" -test.count=1 -test.v
	check "whole training steps against the Gorgonia step (1e-4)" \
		"$dir/model.test" -test.count=1 -test.v -test.run 'TestGPUStepMatchesGorgonia'
	check "300 steps on the shared corpus on both engines (loss curves within 1%)" \
		env POETVAE_CURVE_CORPUS="$corpus" POETVAE_CURVE_STEPS=300 \
		"$dir/model.test" -test.count=1 -test.v -test.timeout 60m -test.run 'TestGPULossCurve'
	check "decoding on the GPU: the CPU's logits and poems" \
		"$dir/model.test" -test.count=1 -test.v -test.run 'TestGPUDecoding'
	check "GPU checkpoints: load and decode the same, resume on either engine" \
		"$dir/model.test" -test.count=1 -test.v -test.run 'TestGPUCheckpoint|TestGPUResumeAcrossEngines'

	say "a checkpoint trained by the GPU build, decoded by the CPU build"
	poem="床前明月光，疑是地上霜。举头望明月，低头思故乡。"
	if "$dir/poetvae" train --device "cuda:${POETVAE_GPU:-0}" --no-keywords --epochs 1 --out "$dir/gpu.ckpt" "$corpus" 2>&1 | tail -3 | tee -a "$report" &&
		"$dir/poetvae" reconstruct --model "$dir/gpu.ckpt" "$poem" > "$dir/gpu-decode.txt" &&
		"$dir/poetvae-cpu" reconstruct --model "$dir/gpu.ckpt" "$poem" > "$dir/cpu-decode.txt" &&
		cmp "$dir/gpu-decode.txt" "$dir/cpu-decode.txt"; then
		echo "same greedy poem from both builds: $(cat "$dir/cpu-decode.txt")" | tee -a "$report"
	else
		echo "FAILED: the CPU build does not decode the GPU checkpoint the same" | tee -a "$report"
		failed+=("checkpoint across builds")
	fi
fi

if [ "$bench" = 1 ]; then
	say "benchmark: training poems/s, median of 5 runs"
	table=$dir/bench-gpu.txt
	{
		echo "GPU: $gpu_name"
		"$dir/model.test" -test.run '^$' -test.bench 'EngineStep/cuda' -test.benchtime 30x -test.count 5
		"$dir/model.test" -test.run '^$' -test.bench 'EngineStep/cpu' -test.benchtime 3x -test.count 5
	} 2>&1 | tee "$table" | tee -a "$report"
	if command -v python3 > /dev/null && python3 -c 'import torch' 2> /dev/null; then
		# --vocab: the size of the Go benchmark's vocabulary
		python3 bench/torch_vae.py --vocab 5984 2>&1 | tee -a "$table" | tee -a "$report"
	else
		echo "no PyTorch here: the PyTorch comparison is left out" | tee -a "$table" | tee -a "$report"
	fi
	{ echo "medians:"; awk -f bench/median.awk "$table" | sort; } | tee -a "$table" | tee -a "$report"
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "gpu-check: ${#failed[@]} proof(s) failed: ${failed[*]}" | tee -a "$report"
	exit 1
fi
echo "gpu-check: every proof passed" | tee -a "$report"
