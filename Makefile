# poetvae: see README.md. Every target runs from a fresh clone after `make deps`.

GO      ?= go
BIN     ?= poetvae
PREFIX  ?= /usr/local
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO    ?= demo.ckpt
# The shared corpora: the training data of the built-in model (make model).
POETVAE_DATA ?= ../shared/data

# Debian packages: OpenBLAS for the matrix products (not needed to build:
# poetvae finds it at run time and runs pure Go without it, several times
# slower), a C++ compiler for gojieba's segmenter, a font with Chinese
# characters for poetvae plot, and Chromium for the test of poetvae
# serve's page.
DEBIAN_PACKAGES := libopenblas0 g++ pkg-config fonts-droid-fallback chromium

.PHONY: all build test test-short lint demo model fuzz deps install bench torch-check clean load screenshots serve-race safetensors-python
.PHONY: cuda cuda-deps ptx ptx-check ptx-sass gpu-lint gpu-emu-test gpu-asan-test gpu-bin gpu-corpus gpu-curve-ref gpu-bundle gpu-check emu-driver bench-host gpu-check-emu bench-gpu

all: build

build:
	$(GO) build -o $(BIN) ./cmd/poetvae

# The test command of the README and of CI: every package, then the GPU
# engine's tests on the emulated device (no GPU or CUDA toolkit needed).
# The export tests read the safetensors file with Python's safetensors
# package, which Debian 12 lacks: safetensors-python unpacks Debian 13's
# (without installing it; where it cannot, outside CI, those tests say so).
test: deps safetensors-python
	$(GO) test ./...
	$(MAKE) --no-print-directory gpu-emu-test

test-short:
	$(GO) test -short ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@# The softmax's e^x is fast only when inlined (model/fastmath.go).
	@$(GO) build -gcflags=-m ./model 2>&1 | grep -q 'can inline expFast' || { echo "model: expFast is no longer inlined"; exit 1; }
	@# gorgonia.org/cu exits at start on a machine without a GPU: only the
	@# GPU build (-tags gpu, without emu) may link it.
	@if $(GO) list -deps ./cmd/poetvae | grep -qx gorgonia.org/cu; then echo "the default build links gorgonia.org/cu"; exit 1; fi
	@if $(GO) list -deps -tags 'gpu emu' ./... | grep -qx gorgonia.org/cu; then echo "the emulated GPU build links gorgonia.org/cu"; exit 1; fi

# The demo of the README: the model built into poetvae writes five new
# quatrains (checked against its training poems when the shared corpora are
# at hand: none copied) and walks from 静夜思 to 登鹳雀楼; then a small model
# learns the 137 poems of the sample corpus, to show training at work (150
# epochs with a free-bits floor of 1 nat a dimension recover 99% of the
# poems' characters from their posterior means, seeds 1, 2, 3: 99.2–99.4%,
# measured before the rhyme loss became a default):
# a model that knows 137 poems by heart reconstructs them, but writes
# nothing new, which is why the built-in model writes the poems above.
DEMO_CHECK = $(foreach f,tang_train song_train tang_lvshi_train song_lvshi_train,$(if $(wildcard $(POETVAE_DATA)/$(f).txt),--check $(POETVAE_DATA)/$(f).txt))
demo: deps build
	@echo "--- five new quatrains by the built-in model ---"
	./$(BIN) generate --model builtin --count 5 --seed 1 $(DEMO_CHECK)
	@echo; echo "--- from 静夜思 to 登鹳雀楼, the two poems' own codes at the ends ---"
	./$(BIN) interpolate --model builtin --steps 6 \
		"床前明月光，疑是地上霜。举头望明月，低头思故乡。" \
		"白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"
	@echo; echo "--- training at work: a small model learns the sample's 137 poems by heart (a minute or two) ---"
	./$(BIN) train --sample --force --valid-split 0 --out $(DEMO) --epochs 150 --batch 16 --lr 0.005 \
		--embed 64 --enc-hidden 128 --dec-hidden 128 --latent 16 --dropout 0.1 --word-dropout 0.1 \
		--kl-anneal-steps 400 --free-bits 1 --quiet
	@echo; echo "--- what it keeps of 静夜思: learnt by heart, not a poet ---"
	./$(BIN) reconstruct --model $(DEMO) "床前明月光，疑是地上霜。举头望明月，低头思故乡。"

# The model built into poetvae (model/builtin/poetvae.ckpt), from the shared
# corpora: the quatrains and the two halves of each 律诗, eight epochs with
# the default recipe, then packed (float16 weights, keyword figures in place
# of the poems). The same build and seed give the same file, bit for bit:
# every reduction runs in a fixed order (model/parallel.go) and OpenBLAS
# runs one thread. Training takes about two hours on two cores
# (docs/RESULTS.md); rebuild poetvae afterwards to embed the new file.
MODEL_TRAIN = $(foreach f,tang_train song_train tang_lvshi_train song_lvshi_train,$(POETVAE_DATA)/$(f).txt)
MODEL_VALID = --valid $(POETVAE_DATA)/tang_valid.txt --valid $(POETVAE_DATA)/song_valid.txt
MODEL_FULL ?= model-full.ckpt
model: deps build
	@# The built-in model was trained before --code-to-output became a
	@# default: the flag keeps make model reproducing it.
	./$(BIN) train --halves --no-keywords --epochs 8 --seed 1 --force --code-to-output=false --out $(MODEL_FULL) $(MODEL_VALID) $(MODEL_TRAIN)
	./$(BIN) pack --force --model $(MODEL_FULL) --out model/builtin/poetvae.ckpt --halves $(MODEL_VALID) $(MODEL_TRAIN)
	$(MAKE) --no-print-directory build
	sha256sum model/builtin/poetvae.ckpt

deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages present: $(DEBIAN_PACKAGES)"; fi
	$(GO) mod download

install:
	$(GO) build -o $(DESTDIR)$(PREFIX)/bin/$(BIN) ./cmd/poetvae

# The fuzz targets of the readers of what users hand poetvae: checkpoints,
# corpus files and poems, FUZZTIME each (CI: a minute). Inputs that fail
# are written under each package's testdata/fuzz and, committed, stay
# seeds of every later run.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCheckpoint$$' -fuzztime $(FUZZTIME) ./model
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./corpus
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./poetry

# poetvae serve's tests of requests at once, under the race detector (CI).
serve-race:
	$(GO) test -race -run '^TestServe(WarmUp|Concurrent|WhileMapEncodes|MapNotReady|Busy|Panic|Shutdown|Command)$$' -count 1 ./cmd/poetvae

# poetvae serve under load: 1, 4 and 16 clients at once on the loopback
# for LOAD_TIME a row, on a model of the default size; the table (requests
# a second, p50 and p99 latency, errors) goes into docs/BENCHMARKS.md.
LOAD_TIME ?= 3s
load:
	@grep -q '<!-- serve-load begin -->' docs/BENCHMARKS.md || { echo "docs/BENCHMARKS.md has no serve-load section"; exit 1; }
	@out=$$(mktemp); \
	POETVAE_LOAD_TIME=$(LOAD_TIME) POETVAE_LOAD_OUT=$$out $(GO) test ./cmd/poetvae -run '^$$' -bench '^BenchmarkServeLoad$$' -benchtime 1x -count 1 && \
	awk -v table=$$out 'BEGIN { while ((getline line < table) > 0) t = t line "\n" } \
		/<!-- serve-load begin -->/ { print; printf "%s", t; skip = 1; next } \
		/<!-- serve-load end -->/ { skip = 0 } !skip' docs/BENCHMARKS.md > $$out.md && \
	mv $$out.md docs/BENCHMARKS.md; status=$$?; rm -f $$out; exit $$status

# The screenshots of poetvae serve in docs/REFERENCE.md, taken by its browser test;
# SERVE_ARGS gives the page other serve flags, such as a trained model and
# a corpus for the map.
SERVE_ARGS ?=
screenshots:
	POETVAE_SCREENSHOTS=$(CURDIR)/docs/images POETVAE_SERVE_ARGS="$(SERVE_ARGS)" $(GO) test ./cmd/poetvae -run '^TestServeBrowser$$' -count 1 -v

# Benchmarks: training poems/second and milliseconds per generated poem,
# five runs each; bench/results.txt gets the raw runs and the medians.
bench:
	@mkdir -p bench
	@echo "machine: $$(nproc) cores, $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" > bench/results.txt
	$(GO) test ./model -run '^$$' -bench 'TrainStep|Generate|DecodeConstrained|ImportanceNLL' -benchtime 3x -count 5 | tee -a bench/results.txt
	@(echo "medians:"; awk -f bench/median.awk bench/results.txt | sort) | tee -a bench/results.txt

# bench/torch_vae.py, the PyTorch model the GPU engine is timed against, is
# poetvae's model: with poetvae's weights, batch, noise and dropout masks it
# computes the same loss and every gradient (model TestTorchModel, float64,
# on the CPU). Installs Debian's python3-torch, into the system Python.
TORCH_PYTHON ?= /usr/bin/python3
SAFETENSORS_PYTHON := bin/safetensors-python
safetensors-python:
	@cmd/poetvae/testdata/fetch_safetensors_python.sh $(SAFETENSORS_PYTHON) || [ "$$CI" != true ]

torch-check:
	@$(TORCH_PYTHON) -c 'import torch' 2> /dev/null || { \
		echo "installing python3-torch"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends python3-torch > /dev/null; }
	POETVAE_PYTHON=$(TORCH_PYTHON) POETVAE_REQUIRE_TORCH=1 $(GO) test ./model -run '^TestTorchModel$$' -count=1 -v

clean:
	rm -f $(BIN) *.ckpt *.last.ckpt *.metrics.jsonl
	rm -rf $(GPU_DIR)

# --- The CUDA engine (docs/GPU.md) ---------------------------
#
# The build tag is gpu, not cuda: -tags cuda would also switch Gorgonia to its
# own CUDA engine, which needs cuDNN 7 or 8.

NVCC     ?= nvcc
GPU_DIR  ?= gpu
KERNELS  := $(wildcard cuda/*.cu)
PTX      := $(KERNELS:cuda/%.cu=cuda/ptx/%.ptx)
# nvcc -arch=compute_80 writes PTX alone, which the driver compiles for the
# GPU at hand: Ampere, Hopper and later.
NVCCFLAGS := -ptx -arch=compute_80

# poetvae with --device cuda. It needs a GPU to start (gorgonia.org/cu
# initialises the driver when the program loads).
cuda:
	$(GO) build -tags gpu -o $(BIN) ./cmd/poetvae

# Debian's CUDA toolkit (nvcc, headers, the driver library to link against),
# from the contrib and non-free components.
cuda-deps:
	@if command -v $(NVCC) > /dev/null && [ -f /usr/include/cuda.h ]; then echo "CUDA toolkit present: $$($(NVCC) --version | tail -1)"; else 		$(SUDO) sed -i -E '/^Components:/{/non-free( |$$)/!s/$$/ contrib non-free/}' /etc/apt/sources.list.d/debian.sources && 		$(SUDO) apt-get update -qq && 		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nvidia-cuda-dev nvidia-cuda-toolkit; fi

# The kernels' PTX, committed and embedded in the binary.
ptx: $(PTX)

cuda/ptx/%.ptx: cuda/%.cu cuda/common.cuh cuda/rng.cuh
	@mkdir -p cuda/ptx
	$(NVCC) $(NVCCFLAGS) -o $@ $<

# Fails when the committed PTX is not what the sources compile to.
ptx-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && 	for f in $(KERNELS); do $(NVCC) $(NVCCFLAGS) -o $$tmp/$$(basename $$f .cu).ptx $$f || exit 1; done && 	if diff -r $$tmp cuda/ptx > /dev/null; then echo "PTX matches the kernels"; 	else echo "cuda/ptx is stale: run make ptx and commit it"; diff -r $$tmp cuda/ptx | head -20; exit 1; fi

# The committed PTX assembled for the GPUs it is meant for (Ampere sm_80,
# Hopper sm_90), as the driver will at load time: fails on PTX those GPUs
# reject and on kernels that spill registers to local memory.
PTXAS ?= ptxas
ptx-sass:
	@for f in $(PTX); do for arch in sm_80 sm_90; do \
		out=$$($(PTXAS) -arch=$$arch -v -o /dev/null $$f 2>&1) || { echo "$$f: ptxas -arch=$$arch failed:"; echo "$$out"; exit 1; }; \
		if echo "$$out" | grep -Eq '[1-9][0-9]* bytes spill'; then echo "$$f: spills registers on $$arch:"; echo "$$out" | grep -B2 spill; exit 1; fi; \
	done; done; echo "PTX assembles for sm_80 and sm_90 without spills"

# vet and build the GPU code (needs the CUDA toolkit's headers and libcuda).
gpu-lint:
	$(GO) vet -tags gpu ./...
	$(GO) build -tags gpu ./...
	$(GO) vet -tags 'gpu emu' ./...

# The GPU tests on the emulated device: the kernels compiled as C++, each
# GPU thread a fiber on the CPU. No GPU or CUDA toolkit needed.
# The emulated device runs each GPU thread as a fiber: minutes on a busy
# two-core machine, so go test's ten-minute limit is raised for it.
EMU_TEST := $(GO) test -timeout 30m -tags 'gpu emu'
gpu-emu-test:
	$(EMU_TEST) ./cuda
	$(EMU_TEST) -run 'GPU|Device' ./model ./cmd/poetvae

# The emulated kernels under AddressSanitizer, where each device buffer is
# an allocation of its own: a kernel or a launch that reaches past a buffer
# stops with the access, as compute-sanitizer's memcheck would on a GPU.
# The kernel tests (once, in order) and whole training steps of the small
# models (the default size takes minutes under the sanitizer). CI runs it.
ASAN := CGO_CXXFLAGS='-fsanitize=address -O2' $(GO) test -timeout 30m -count=1 -asan -tags 'gpu emu'
gpu-asan-test:
	$(ASAN) -skip KernelsInAnyOrder ./cuda
	$(ASAN) -run 'TestGPUStepMatchesGorgonia/(vae|no-highway|lm|wide-vocab)$$|TestGPUEncode|TestGPUDecoding|TestGPUEvaluate|TestGPUValidation|TestGPUCheckpoint' ./model

# Everything gpu-check runs, built here for a GPU machine without Go: the
# GPU and CPU poetvae, and the test binaries (compiled, not run: they exit
# at once on a machine without a GPU). Pure-Go BLAS (-tags noopenblas),
# whether or not the GPU machine has OpenBLAS, as the CPU figures taken
# there are pure Go's (docs/BENCHMARKS.md); stripped, as they only travel;
# without the built-in model (nobuiltin: 11 MB a binary), as gpu-check
# names every model it uses.
GPU_BUILD := -trimpath -ldflags='-s -w'
gpu-bin:
	@mkdir -p $(GPU_DIR)
	$(GO) build $(GPU_BUILD) -tags 'gpu noopenblas nobuiltin' -o $(GPU_DIR)/poetvae ./cmd/poetvae
	$(GO) build $(GPU_BUILD) -tags 'noopenblas nobuiltin' -o $(GPU_DIR)/poetvae-cpu ./cmd/poetvae
	$(GO) test $(GPU_BUILD) -tags 'gpu noopenblas' -c -o $(GPU_DIR)/cuda.test ./cuda
	$(GO) test $(GPU_BUILD) -tags 'gpu noopenblas' -c -o $(GPU_DIR)/model.test ./model

# The training corpus of the GPU proofs, and the built-in model's training
# and validation poems for gpu-check's train part (GPU_DIR/halves), when the
# shared corpora are at hand (POETVAE_DATA).
HALVES_FILES = tang_train song_train tang_lvshi_train song_lvshi_train tang_valid song_valid
gpu-corpus:
	@mkdir -p $(GPU_DIR)/halves
	@if [ -f $(POETVAE_DATA)/simplified/tang_train.txt ]; then cat $(POETVAE_DATA)/simplified/tang_train.txt $(POETVAE_DATA)/simplified/song_train.txt > $(GPU_DIR)/train.txt; fi
	@for f in $(HALVES_FILES); do [ ! -f $(POETVAE_DATA)/$$f.txt ] || cp $(POETVAE_DATA)/$$f.txt $(GPU_DIR)/halves/; done

# The CPU engine's half of gpu-check's loss-curve proof (300 default-size
# steps on that corpus, about 1.5 minutes on two cores), made here ahead of
# time so that the GPU machine need not train it on its CPU; gpu-bundle
# packs it when it is there. Run it again after a change to the model.
gpu-curve-ref: gpu-corpus
	@[ -f $(GPU_DIR)/train.txt ] || { echo "gpu-curve-ref: no corpus: set POETVAE_DATA" >&2; exit 2; }
	POETVAE_CURVE_CORPUS=$(CURDIR)/$(GPU_DIR)/train.txt POETVAE_CURVE_WRITE=$(CURDIR)/$(GPU_DIR)/curve-cpu.txt \
		$(GO) test -count=1 -timeout 60m -run '^TestLossCurveReference$$' -v ./model

# gpu-bin's binaries in one compressed file (about 30 MB) to copy to the GPU
# machine, with the corpus and gpu-curve-ref's curve when they are there (a
# curve older than the CPU engine's Go sources is left out: it may not be
# what the engine computes now); there: tar -xzf gpu-bundle/poetvae-gpu.tgz,
# then gpu-check.
GPU_BUNDLE := gpu-bundle/poetvae-gpu.tgz
gpu-bundle: gpu-bin gpu-corpus
	@mkdir -p $(dir $(GPU_BUNDLE))
	@extra=; [ -f $(GPU_DIR)/train.txt ] && extra=$(GPU_DIR)/train.txt; \
	for f in $(HALVES_FILES); do [ ! -f $(GPU_DIR)/halves/$$f.txt ] || extra="$$extra $(GPU_DIR)/halves/$$f.txt"; done; \
	if [ -f $(GPU_DIR)/curve-cpu.txt ]; then \
		if [ -n "$$(find model corpus poetry -name '*.go' -newer $(GPU_DIR)/curve-cpu.txt | head -1)" ]; then \
			echo "gpu-bundle: $(GPU_DIR)/curve-cpu.txt is older than the sources, left out (make gpu-curve-ref)"; \
		else extra="$$extra $(GPU_DIR)/curve-cpu.txt"; fi; \
	fi; \
	tar -czf $(GPU_BUNDLE) $(addprefix $(GPU_DIR)/,poetvae poetvae-cpu cuda.test model.test) $$extra
	@tar -tzf $(GPU_BUNDLE) | tr '\n' ' '; echo; ls -l $(GPU_BUNDLE)

# The emulated device behind the CUDA driver API (cuda/emudriver): a
# libcuda.so.1 that runs the kernels on the CPU, loaded in place of NVIDIA's
# (LD_LIBRARY_PATH), so that gpu-bin's binaries, the very files gpu-bundle
# packs for a GPU machine, run here: gorgonia.org/cu, cuda/driver.go and the
# embedded PTX take their GPU paths. Needs the CUDA toolkit's cuda.h.
GPU_EMU_DIR := gpu-emu
EMU_DRIVER  := $(GPU_EMU_DIR)/lib/libcuda.so.1
emu-driver: $(EMU_DRIVER)
$(EMU_DRIVER): cuda/emudriver/libcuda.cc cuda/emu.cc cuda/emu_runtime.h $(KERNELS) cuda/common.cuh cuda/rng.cuh
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -Wall -shared -fPIC -Wl,-soname,libcuda.so.1 -o $@ cuda/emudriver/libcuda.cc

# The host's part of a GPU training step, measured without a GPU: gpu-bin's
# model.test on the emulated driver with POETVAE_EMU_SKIP_KERNELS=1, which
# takes launches and sets without running them, so that a step's time is
# what poetvae and gorgonia.org/cu spend launching its kernels (on a GPU
# the driver's own cost per launch comes on top). Table in bench/host.txt.
bench-host: gpu-bin emu-driver
	@echo "machine: $$(nproc) cores, $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" > bench/host.txt
	POETVAE_EMU_SKIP_KERNELS=1 LD_LIBRARY_PATH=$(abspath $(GPU_EMU_DIR)/lib) $(GPU_DIR)/model.test \
		-test.run '^$$' -test.bench 'EngineStep/cuda' -test.benchtime 300x -test.count 5 | tee -a bench/host.txt
	@(echo "medians:"; awk -f bench/median.awk bench/host.txt | sort) | tee -a bench/host.txt

# A rehearsal of gpu-check where there is no GPU: the same script over
# gpu-bin's binaries on the emulated driver, on the first 100 poems of the
# shared corpora, running the parts that finish there in minutes (kernels,
# step, decoding, checkpoints, builds, and training on the first 30 lines of
# each of the built-in model's files for EMU_TRAIN_SECONDS: all but the
# 300-step loss curves, the sanitizer, the benchmark and the profile). It
# tests the script, the GPU build's binaries and the CLI's path across
# builds, not a GPU. CI runs it.
EMU_TRAIN_SECONDS ?= 120
gpu-check-emu: gpu-bin emu-driver
	@[ -f $(POETVAE_DATA)/simplified/tang_train.txt ] || { echo "gpu-check-emu: no corpus: set POETVAE_DATA" >&2; exit 2; }
	@mkdir -p $(GPU_EMU_DIR)/data/simplified
	head -60 $(POETVAE_DATA)/simplified/tang_train.txt > $(GPU_EMU_DIR)/data/simplified/tang_train.txt
	head -40 $(POETVAE_DATA)/simplified/song_train.txt > $(GPU_EMU_DIR)/data/simplified/song_train.txt
	@mkdir -p $(GPU_EMU_DIR)/halves
	for f in $(HALVES_FILES); do head -30 $(POETVAE_DATA)/$$f.txt > $(GPU_EMU_DIR)/halves/$$f.txt; done
	cp $(addprefix $(GPU_DIR)/,poetvae poetvae-cpu cuda.test model.test) $(GPU_EMU_DIR)/
	LD_LIBRARY_PATH=$(abspath $(GPU_EMU_DIR)/lib) POETVAE_DATA=$(GPU_EMU_DIR)/data POETVAE_TRAIN_SECONDS=$(EMU_TRAIN_SECONDS) \
		bash bench/gpu-check.sh --only kernels,step,decoding,checkpoints,builds,train $(GPU_EMU_DIR)

# On the GPU machine: every GPU proof, then the benchmark (bench/gpu-check.sh;
# --proofs-only and --bench-only split it in two).
gpu-check:
	bash bench/gpu-check.sh $(GPU_DIR)

# On the GPU machine: training poems/s on the GPU at batch 64, 128 and 256,
# the CPU engine, and PyTorch with cuDNN; table in $(GPU_DIR)/bench-gpu.txt.
bench-gpu:
	bash bench/gpu-check.sh --bench-only $(GPU_DIR)
