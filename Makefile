# One entry point for everything: `make demo` (set up, load an example, show it),
# `make test` (set up, run every test), `make check` (lints + tests), `make bench`,
# `make wheel` (dist/: the manylinux abi3 wheel and the sdist), `make fuzz` (cargo-fuzz).

# Everything runs in the project's virtualenv, which `make setup` creates and fills:
# never the system's Python. VENV=/elsewhere puts it elsewhere.
VENV ?= .venv
PY ?= $(abspath $(VENV))/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
BPF_OUT ?= build/bpf
# The clang of any supported version (14-22) this machine has; tests/bpf and the test
# fixtures build with it, and with one of 15+ for bpf_core_type_matches().
CLANG ?= $(or $(shell scripts/find_clang.sh),clang)
CLANG_CORE_MATCHES ?= $(or $(shell CLANG= scripts/find_clang.sh 15),clang-19)
export CLANG CLANG_CORE_MATCHES

.PHONY: vm-6.1 vm-6.12 setup demo test test-rust test-py test-vm test-matrix wheel wheel-test check lint bench clean fuzz fuzz-smoke

setup:
	VENV=$(VENV) ./scripts/setup.sh

demo: setup
	$(MAKE) -s -C tests/bpf O=$(CURDIR)/$(BPF_OUT)
	$(PY) examples/demo.py $(BPF_OUT)/seed.bpf.o $(BPF_OUT)/metadata_used.bpf.o

test: setup test-rust test-py wheel-test

test-rust:
	cargo test --no-default-features --lib

test-py:
	$(PY) -m pytest -rs tests

# The kernel tests inside a VM booted with one of Debian's kernels (KERNEL=6.1 or 6.12),
# and both of them: the kernel matrix CI runs after the host's tests.
# Under software emulation Python runs ~11x slower: the matrix leaves out what does not
# depend on the kernel (skeleton generation and typing, the CLI's text formats and
# grammar, README's blocks, the set-up, the Prometheus servers), keeping load, binding,
# CO-RE, externs, maps, scan, census, bind, faults, attach types, build and progress.
KERNEL ?= 6.1
VM_TESTS ?= tests --ignore=tests/test_skel.py --ignore=tests/test_cli_show.py \
	--ignore=tests/test_exporter.py --ignore=tests/test_cli_grammar.py \
	--ignore=tests/test_readme.py --ignore=tests/test_setup.py
test-vm: setup
	PY=$(PY) ./scripts/vm_test.sh $(KERNEL) $(VM_TESTS)

# Both VMs at once (one vCPU each, on a machine of two or more CPUs): what they need is
# installed and the test objects built first, so that the two runs only read them.
test-matrix: setup
	VM_PREPARE_ONLY=1 PY=$(PY) ./scripts/vm_test.sh 6.1
	VM_PREPARE_ONLY=1 PY=$(PY) ./scripts/vm_test.sh 6.12
	$(MAKE) -s -C tests/bpf O=$(CURDIR)/build/vm-objs CLANG=$(CLANG) >/dev/null
	$(MAKE) -j2 --no-print-directory vm-6.1 vm-6.12

vm-6.1 vm-6.12: vm-%:
	PY=$(PY) ./scripts/vm_test.sh $* $(VM_TESTS)

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --no-default-features --lib -- -D warnings
	$(PY) -m ruff check python tests bench examples scripts
	$(PY) -m mypy python/bpfbind

# The release wheel and sdist into dist/; wheel-test also installs the wheel in a fresh
# venv without Rust and runs the tests, the CLI and mypy against it.
wheel: setup
	PY=$(PY) ./scripts/wheel_test.sh --build-only

wheel-test: setup
	PY=$(PY) ./scripts/wheel_test.sh

check: setup lint test-rust test-py wheel-test

bench: setup
	$(MAKE) -s -C bench
	$(MAKE) -s -C tests/bpf O=$(CURDIR)/$(BPF_OUT)
	$(PY) bench/load.py
	$(PY) bench/load_core.py
	$(PY) bench/bind.py
	$(PY) bench/scan.py
	$(PY) bench/exporter.py
	$(PY) bench/import_time.py
	$(PY) bench/ringbuf.py

clean:
	rm -rf build target bench/out dist

# Coverage-guided fuzzing of the parsers (fuzz/, nightly + cargo-fuzz): FUZZ_SECONDS per
# target; fuzz-smoke is the short run CI makes on the corpora.
FUZZ_SECONDS ?= 600
fuzz:
	./scripts/fuzz.sh $(FUZZ_SECONDS)

# A fixed seed and a fixed number of runs: from the committed seeds, CI's smoke tries the
# same inputs every time, so it fails on a regression, not on the luck of the draw
# (make fuzz explores).
fuzz-smoke:
	FUZZ_RUNS=40000 FUZZ_ARGS="-seed=1 $(FUZZ_ARGS)" ./scripts/fuzz.sh 120
