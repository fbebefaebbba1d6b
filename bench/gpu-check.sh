#!/usr/bin/env bash
# Runs every GPU proof of the CUDA engine, then the GPU benchmark, on a
# machine with an NVIDIA GPU, from the binaries `make gpu-bin` (or the one
# file `make gpu-bundle`) built elsewhere: no Go toolchain or CUDA toolkit is
# needed here, only the driver (and PyTorch for the comparison, and
# compute-sanitizer for the sanitizer proof). Everything it prints also goes
# to check.txt, the benchmark table to bench-gpu.txt, both in DIR or in
# POETVAE_REPORT_DIR (a folder that must survive the run being cut short).
#
#   bench/gpu-check.sh [--only PARTS | --proofs-only | --bench-only] [DIR]
#
# DIR defaults to gpu. PARTS is a comma-separated list of: kernels, step,
# curve, decoding, checkpoints, builds, sanitizer (the proofs), bench,
# profile (not run unless named: each kernel's time in two training steps,
# by Nsight Compute) and train (not run unless named: the built-in model's
# recipe trained on the GPU for POETVAE_TRAIN_SECONDS, default 240, from
# DIR/halves, which make gpu-corpus fills); --proofs-only is every proof,
# --bench-only is bench.
# Parts run as separate commands keep each command short (the split is
# meant to fit ten-minute commands; not yet timed on a GPU).
#
# The corpus is DIR/train.txt, written from POETVAE_DATA (default
# ../shared/data: its simplified Tang and Song training poems) when that
# folder is there. POETVAE_GPU picks the GPU (default 0), POETVAE_CURVE_STEPS
# the length of the loss-curve comparison (default 300; DIR/curve-cpu.txt,
# the CPU's half made elsewhere by make gpu-curve-ref, is used for 300).
set -uo pipefail

parts=kernels,step,curve,decoding,checkpoints,builds,sanitizer,bench
case "${1:-}" in
--only) parts=${2:?--only needs a list of parts}; shift 2 ;;
--proofs-only) parts=kernels,step,curve,decoding,checkpoints,builds,sanitizer; shift ;;
--bench-only) parts=bench; shift ;;
esac
for p in ${parts//,/ }; do
	case $p in
	kernels | step | curve | decoding | checkpoints | builds | sanitizer | bench | profile | train) ;;
	*) echo "gpu-check: unknown part $p (parts: kernels, step, curve, decoding, checkpoints, builds, sanitizer, bench, profile, train)" >&2; exit 2 ;;
	esac
done
want() { [[ ",$parts," == *",$1,"* ]]; }

dir=${1:-gpu}
data=${POETVAE_DATA:-../shared/data}
gpu=${POETVAE_GPU:-0}
reports=${POETVAE_REPORT_DIR:-$dir}
mkdir -p "$reports"
report=$reports/check.txt
for f in poetvae poetvae-cpu cuda.test model.test; do
	[ -x "$dir/$f" ] || { echo "gpu-check: $dir/$f is missing: build it with make gpu-bin (or unpack make gpu-bundle's file)" >&2; exit 2; }
done
: > "$report"
failed=()

say() { echo "== $*" | tee -a "$report"; }
check() { # check NAME COMMAND...: runs a proof, records a failure
	local name=$1 start=$SECONDS; shift
	say "$name"
	"$@" 2>&1 | tee -a "$report"
	local rc=${PIPESTATUS[0]}
	if [ "$rc" != 0 ]; then echo "FAILED: $name (status $rc)" | tee -a "$report"; failed+=("$name"); fi
	echo "-- $((SECONDS - start)) s" | tee -a "$report" # to plan the next runs' split
}

say "device"
if command -v nvidia-smi > /dev/null; then
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$report"
	gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sed -n "$((gpu + 1))p")
else
	gpu_name=unknown
	echo "no nvidia-smi here (make gpu-check-emu runs this script on the emulated device)" | tee -a "$report"
fi
# The one library the GPU binaries need beyond glibc: the driver's libcuda
# (they are linked against Debian's CUDA 11.8 stub; any newer driver serves).
ldd "$dir/poetvae" 2>&1 | grep -E 'libcuda|not found|version' | tee -a "$report"

corpus=$dir/train.txt
if [ -f "$data/simplified/tang_train.txt" ]; then
	cat "$data/simplified/tang_train.txt" "$data/simplified/song_train.txt" > "$corpus"
elif [ ! -s "$corpus" ]; then
	echo "gpu-check: no corpus: neither $data/simplified nor $corpus (set POETVAE_DATA)" >&2; exit 2
fi

if want kernels; then
	check "kernels against float64 references (poisoned outputs)" \
		"$dir/cuda.test" -test.count=1 -test.v
fi
if want step; then
	check "whole training steps against the Gorgonia step (1e-4)" \
		"$dir/model.test" -test.count=1 -test.v -test.run 'TestGPUStepMatchesGorgonia'
fi
if want curve; then
	# The CPU engine's curve comes from DIR/curve-cpu.txt (make
	# gpu-curve-ref) when it is there and the length is the default;
	# otherwise the CPU trains it here too.
	cpu_curve=
	if [ -f "$dir/curve-cpu.txt" ] && [ -z "${POETVAE_CURVE_STEPS:-}" ]; then cpu_curve=$dir/curve-cpu.txt; fi
	check "${POETVAE_CURVE_STEPS:-300} steps on the shared corpus on both engines (loss curves within 1%)" \
		env POETVAE_CURVE_CORPUS="$corpus" POETVAE_CURVE_STEPS="${POETVAE_CURVE_STEPS:-300}" POETVAE_CURVE_CPU="$cpu_curve" \
		"$dir/model.test" -test.count=1 -test.v -test.timeout 60m -test.run 'TestGPULossCurve'
fi
if want decoding; then
	check "encoding and decoding on the GPU: the CPU's posteriors, logits, poems, eval and validation figures" \
		"$dir/model.test" -test.count=1 -test.v -test.run 'TestGPUEncode|TestGPUDecoding|TestGPUEvaluate|TestGPUValidation'
fi
if want checkpoints; then
	check "GPU checkpoints: load and decode the same, resume on either engine, written in the background" \
		"$dir/model.test" -test.count=1 -test.v -test.run 'TestGPUCheckpoint|TestGPUResumeAcrossEngines|TestGPUInterruptAfterBackgroundSave|TestUnwritableCheckpoint'
fi
if want builds; then
	say "a checkpoint trained by the GPU build, decoded by the CPU build"
	poem="床前明月光，疑是地上霜。举头望明月，低头思故乡。"
	if "$dir/poetvae" train --force --device "cuda:$gpu" --no-keywords --epochs 1 --out "$dir/gpu.ckpt" "$corpus" 2>&1 | tail -3 | tee -a "$report" &&
		"$dir/poetvae" reconstruct --model "$dir/gpu.ckpt" "$poem" > "$dir/gpu-decode.txt" &&
		"$dir/poetvae-cpu" reconstruct --model "$dir/gpu.ckpt" "$poem" > "$dir/cpu-decode.txt" &&
		cmp "$dir/gpu-decode.txt" "$dir/cpu-decode.txt"; then
		echo "same greedy poem from both builds: $(cat "$dir/cpu-decode.txt")" | tee -a "$report"
	else
		echo "FAILED: the CPU build does not decode the GPU checkpoint the same" | tee -a "$report"
		failed+=("checkpoint across builds")
	fi
fi
if want sanitizer; then
	# What the emulator cannot see: misaligned accesses and strays inside a
	# buffer, shared-memory races that change no result in its three orders
	# of threads, the hardware's own rules on barriers.
	sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2> /dev/null | head -1)
	if [ -n "$sanitizer" ]; then
		for tool in memcheck racecheck synccheck; do
			# The graph test's steps repeat the kernels the others test one
			# by one: races and barriers are checked per kernel, so only
			# memcheck, at its lower cost, runs through them.
			skip=()
			[ "$tool" = memcheck ] || skip=(-test.skip StepGraphs)
			check "compute-sanitizer --tool $tool: the kernel tests" \
				"$sanitizer" --tool "$tool" --error-exitcode 1 "$dir/cuda.test" -test.count=1 "${skip[@]}"
		done
		check "compute-sanitizer --tool memcheck: whole training steps" \
			"$sanitizer" --tool memcheck --error-exitcode 1 "$dir/model.test" -test.count=1 -test.short -test.run 'TestGPUStepMatchesGorgonia'
	else
		echo "FAILED: no compute-sanitizer here" | tee -a "$report"
		failed+=("sanitizer")
	fi
fi

if want bench; then
	say "benchmark: training poems/s, median of 5 runs"
	table=$reports/bench-gpu.txt
	{
		echo "GPU: $gpu_name"
		"$dir/model.test" -test.run '^$' -test.bench 'EngineStep/cuda' -test.benchtime 30x -test.count 5
		"$dir/model.test" -test.run '^$' -test.bench 'EngineStep/cpu' -test.benchtime 3x -test.count 5
		# an epoch's validation, which training on a GPU runs there, and
		# whole epochs with validation and checkpoints
		"$dir/model.test" -test.run '^$' -test.bench 'Validate' -test.benchtime 2x -test.count 5
		"$dir/model.test" -test.run '^$' -test.bench 'TrainEpoch/cuda' -test.benchtime 5x -test.count 5
		# 0.2 s a kernel and shape, not go test's 1 s: 84 of them, five
		# times over, would take most of a ten-minute command
		"$dir/cuda.test" -test.run '^$' -test.bench 'Gemm' -test.benchtime 0.2s -test.count 5
	} 2>&1 | tee "$table" | tee -a "$report"
	if command -v python3 > /dev/null && python3 -c 'import torch' 2> /dev/null; then
		# Like against like: with poetvae's weights and batch, the PyTorch
		# model computes poetvae's loss and gradients, here with cuDNN's LSTM.
		check "bench/torch_vae.py is poetvae's model (loss and gradients in float64, cuDNN's LSTM)" \
			env POETVAE_PYTHON=python3 POETVAE_TORCH_DEVICE=cuda POETVAE_REQUIRE_TORCH=1 \
			"$dir/model.test" -test.count=1 -test.v -test.run '^TestTorchModel$'
		# --vocab: the size of the Go benchmark's vocabulary; FP32, then
		# TF32 beside the engine's --tf32
		python3 bench/torch_vae.py --vocab 5984 2>&1 | tee -a "$table" | tee -a "$report"
		python3 bench/torch_vae.py --vocab 5984 --tf32 2>&1 | tee -a "$table" | tee -a "$report"
	else
		echo "no PyTorch here: the PyTorch comparison is left out" | tee -a "$table" | tee -a "$report"
	fi
	{ echo "medians:"; awk -f bench/median.awk "$table" | sort; } | tee -a "$table" | tee -a "$report"
fi

if want profile; then
	# Where a step's time goes: every kernel's count and mean duration over
	# a warm-up step and one timed step of the default model at batch 64.
	ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda*/bin/ncu 2> /dev/null | head -1)
	if [ -n "$ncu" ]; then
		check "kernel times of a training step (Nsight Compute)" \
			"$ncu" --metrics gpu__time_duration.sum --print-summary per-kernel \
			"$dir/model.test" -test.run '^$' -test.bench 'EngineStep/^cuda$/^B=64$' -test.benchtime 1x
	else
		echo "FAILED: no ncu here" | tee -a "$report"
		failed+=("profile")
	fi
fi

if want train; then
	# The run two CPU cores cannot make in a working day: the built-in
	# model's recipe (make model's train command with today's defaults, up
	# to 40 epochs with patience) on the GPU until POETVAE_TRAIN_SECONDS have passed, then interrupted as
	# Ctrl-C interrupts it, which leaves the best epoch's model whole.
	# What comes back (REPORT_DIR): the log, the epochs' metrics, and the
	# model gzipped in parts small enough to travel; join them with
	# cat train.ckpt.gz.* | gunzip > train.ckpt, then prior --halves, pack
	# and eval it on any machine.
	halves=$dir/halves
	seconds=${POETVAE_TRAIN_SECONDS:-240}
	say "the built-in model's recipe on the GPU for $seconds s"
	if [ -f "$halves/tang_lvshi_train.txt" ]; then
		start=$SECONDS
		timeout --preserve-status -s INT -k 60 "$seconds" "$dir/poetvae" train --device "cuda:$gpu" --halves --no-keywords --epochs 40 --seed 1 \
			--force --out "$reports/train.ckpt" --valid "$halves/tang_valid.txt" --valid "$halves/song_valid.txt" \
			"$halves/tang_train.txt" "$halves/song_train.txt" "$halves/tang_lvshi_train.txt" "$halves/song_lvshi_train.txt" \
			> "$reports/train-log.txt" 2>&1
		rc=$?
		tail -n 25 "$reports/train-log.txt" | tee -a "$report"
		# 130: interrupted at the time limit, as planned; 0: patience ended it first
		if [ ! -f "$reports/train.ckpt" ]; then
			echo "FAILED: training on the GPU: no epoch finished (status $rc)" | tee -a "$report"
			failed+=("training")
		elif [ "$rc" != 0 ] && [ "$rc" != 130 ]; then
			echo "FAILED: training on the GPU (status $rc)" | tee -a "$report"
			failed+=("training")
		else
			rm -f "$reports"/train.ckpt.gz.* # an earlier run's parts would join this one's
			gzip -c "$reports/train.ckpt" | split -b 15M - "$reports/train.ckpt.gz."
			ls -l "$reports"/train.ckpt.gz.* | tee -a "$report"
		fi
		rm -f "$reports/train.ckpt" "$reports/train.last.ckpt"
		echo "-- $((SECONDS - start)) s" | tee -a "$report"
	else
		echo "FAILED: no corpus in $halves (make gpu-corpus with POETVAE_DATA set)" | tee -a "$report"
		failed+=("training")
	fi
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "gpu-check: ${#failed[@]} proof(s) failed: ${failed[*]}" | tee -a "$report"
	exit 1
fi
echo "gpu-check: every part asked for passed ($parts) in $SECONDS s" | tee -a "$report"
