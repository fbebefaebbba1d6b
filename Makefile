# poetvae: see README.md. Every target runs from a fresh clone after `make deps`.

GO      ?= go
BIN     ?= poetvae
PREFIX  ?= /usr/local
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO    ?= demo.ckpt

# Debian packages the build needs: OpenBLAS for the matrix products (cgo),
# a C++ compiler for gojieba's segmenter, and a font with Chinese characters
# for poetvae plot.
DEBIAN_PACKAGES := libopenblas-dev g++ pkg-config fonts-droid-fallback

.PHONY: all build test test-short lint demo deps install bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/poetvae

# The test command of the README and of CI.
test:
	$(GO) test ./...

test-short:
	$(GO) test -short ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Trains a small model on the built-in sample corpus for about two minutes
# on the CPU (137 poems: it learns them by heart, which is the point of a
# demo), then writes poems and walks between two of them.
demo: build
	./$(BIN) train --sample --valid-split 0 --out $(DEMO) --epochs 100 --batch 16 --lr 0.005 \
		--embed 64 --enc-hidden 128 --dec-hidden 128 --latent 16 --dropout 0.1 --word-dropout 0.1 \
		--kl-anneal-steps 400 --free-bits 0.5
	@echo; echo "--- five new quatrains ---"
	./$(BIN) generate --model $(DEMO) --count 5 --seed 1
	@echo; echo "--- from 静夜思 to 登鹳雀楼 ---"
	./$(BIN) interpolate --model $(DEMO) --steps 6 \
		"床前明月光，疑是地上霜。举头望明月，低头思故乡。" \
		"白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"

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

# Benchmarks: training poems/second and milliseconds per generated poem,
# five runs each; bench/results.txt gets the raw runs and the medians.
bench:
	@mkdir -p bench
	@echo "machine: $$(nproc) cores, $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" > bench/results.txt
	$(GO) test ./model -run '^$$' -bench 'TrainStep|Generate|DecodeConstrained' -benchtime 3x -count 5 | tee -a bench/results.txt
	@(echo "medians:"; awk -f bench/median.awk bench/results.txt | sort) | tee -a bench/results.txt

clean:
	rm -f $(BIN) *.ckpt *.last.ckpt *.metrics.jsonl
