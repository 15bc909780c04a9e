# One entry point for everything: `make demo` (set up, load an example, show it),
# `make test` (set up, run every test), `make check` (lints + tests), `make bench`.

PY ?= python3
BPF_OUT ?= build/bpf

.PHONY: setup demo test test-rust test-py check lint bench clean

setup:
	./scripts/setup.sh

demo: setup
	$(MAKE) -s -C tests/bpf O=$(CURDIR)/$(BPF_OUT)
	$(PY) examples/demo.py $(BPF_OUT)/seed.bpf.o $(BPF_OUT)/metadata_used.bpf.o

test: setup test-rust test-py

test-rust:
	cargo test --no-default-features --lib

test-py:
	$(PY) -m pytest -rs tests

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --no-default-features --lib -- -D warnings
	$(PY) -m ruff check python tests bench examples
	$(PY) -m mypy python/bpfbind

check: setup lint test-rust test-py

bench: setup
	$(MAKE) -s -C bench
	$(MAKE) -s -C tests/bpf O=$(CURDIR)/$(BPF_OUT)
	$(PY) bench/load.py
	$(PY) bench/bind.py
	$(PY) bench/scan.py

clean:
	rm -rf build target bench/out
