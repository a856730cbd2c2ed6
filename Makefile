# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install once; a stamp keyed on the
# pyproject hash makes later runs skip the install and start in seconds.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell sha256sum pyproject.toml | cut -c1-16)
STAMP := $(VENV)/.installed-$(HASH)
TORCH_SPEC ?= torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint bench bench-smoke venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/emoclassic demo --out artifacts/demo

test: $(STAMP)
	$(BIN)/python -m ruff check emoclassic tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/python -m ruff check emoclassic tests benchmarks

# Every benchmark script with --smoke (tiny generated input, seconds each), BENCH_JOBS at a
# time (the slower folders first); each one's output goes to $(BENCH_LOGS)/<folder>_<script>.log,
# shown when it fails.
BENCH_SCRIPTS = $(foreach d,studies quality speed tools,$(sort $(wildcard benchmarks/$(d)/*.py)))
BENCH_JOBS ?= 2
BENCH_LOGS ?= artifacts/bench-smoke

bench-smoke: $(STAMP)
	@mkdir -p $(BENCH_LOGS); start=$$(date +%s); \
	printf '%s\n' $(BENCH_SCRIPTS) | xargs -P $(BENCH_JOBS) -I{} sh -c \
	  'log=$(BENCH_LOGS)/$$(basename $$(dirname {}))_$$(basename {} .py).log; t=$$(date +%s); \
	   if $(BIN)/python {} --smoke >$$log 2>&1; then echo "ok   {} ($$(($$(date +%s) - t)) s)"; \
	   else echo "FAIL {} ($$(($$(date +%s) - t)) s, log $$log):"; tail -n 25 $$log; exit 1; fi'; \
	rc=$$?; echo "bench-smoke: $(words $(BENCH_SCRIPTS)) scripts in $$(($$(date +%s) - start)) s"; \
	exit $$rc

clean:
	rm -rf $(VENV) build *.egg-info
