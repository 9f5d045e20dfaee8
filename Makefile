# nexus_store — build, demo and test entry points.
#   make demo   builds what it needs and runs the main demo
#   make test   format check, clippy, every Rust test (unit, integration, doc)

CARGO ?= cargo

.PHONY: all build demo test fmt-check clippy cargo-test doc clean

all: build

build:
	$(CARGO) build --release

demo:
	$(CARGO) run --release --example demo

test: fmt-check clippy cargo-test

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

cargo-test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

doc:
	$(CARGO) doc --no-deps

clean:
	$(CARGO) clean
