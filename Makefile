# PoR: one command per gate. See README.md.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(CURDIR)/target
WASM_TARGET := wasm32-unknown-unknown
CONTRACT_WASM := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/contract/por_contract.wasm

.PHONY: all deps contract build test check bench fuzz testnet testnet-clean clean

all: build

## deps: what a fresh machine with only the Rust toolchain lacks.
deps:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@# promtool and prometheus for por/tests/observability.rs: Debian's
	@# `prometheus` package (on a systemd host its postinst also enables the
	@# prometheus service; `systemctl disable --now prometheus` if unwanted).
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "deps: promtool/prometheus missing and no apt-get: install Prometheus (promtool, prometheus) yourself" >&2; exit 1; \
	  fi; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "deps: installing Debian's prometheus package (promtool, prometheus)"; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	fi
	@# chromium and chromedriver for por/tests/network_page.rs (the network
	@# page in a real headless browser): Debian's packages.
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "deps: chromium/chromedriver missing and no apt-get: install Chromium and its chromedriver yourself" >&2; exit 1; \
	  fi; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "deps: installing Debian's chromium and chromium-driver packages"; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; \
	fi

## contract: the NEAR contract's wasm, in artifacts/por_contract.wasm.
contract: deps
	RUSTFLAGS="--cfg near -C link-arg=-s" $(CARGO) build -p por-contract --target $(WASM_TARGET) --profile contract
	@mkdir -p artifacts
	cp $(CONTRACT_WASM) artifacts/por_contract.wasm
	@echo "contract: artifacts/por_contract.wasm ($$(stat -c %s artifacts/por_contract.wasm) bytes)"

build: contract
	$(CARGO) build --workspace --all-targets

## test: every test of the workspace (the contract's unit tests included) and
## the contract's wasm build, which the devnet tests run.
test: contract
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

## check: formatting, clippy with warnings denied, docs with warnings denied.
check: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

## bench: the benchmarks; figures go to docs/BENCHMARKS.md.
bench: contract
	$(CARGO) bench -p por-core --bench routing
	$(CARGO) bench -p por-core --bench batch_sign
	$(CARGO) bench -p por-devnet --bench rpc_call
	$(CARGO) bench -p por-files --bench files
	@# files through one relay, nodes as separate processes; the network-bound
	@# part needs root (network namespaces, tbf) and is skipped without it
	CARGO="$(CARGO)" bash files/benches/netns/run.sh
	$(CARGO) bench -p por-node --bench relay
	$(CARGO) build --release -p por-sim
	$(CARGO_TARGET_DIR)/release/por-sim bench --nodes 1000,10000 --requests 1000000

## fuzz: every decoder (wire messages and frames, API bodies, chain answers)
## against FUZZ_CASES arbitrary, truncated and mutated inputs each (default a
## million; `make test` runs 256). Stable toolchain, proptest.
FUZZ_CASES ?= 1000000
fuzz:
	POR_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p por-core --test decoders
	POR_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p por-behaviours --test decoders
	POR_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p por-node --test decoders

## testnet: the local network (see README.md): the devnet with the contract,
## NODES nodes (default 5) with channels, demo traffic and a status table,
## until Ctrl-C. State in ./testnet (make testnet-clean removes it).
NODES ?= 5
# The same package selection as `make test` (the workspace, with the dev
# targets' features), so that one build serves both and neither rebuilds the
# other's dependencies.
testnet: contract
	$(CARGO) build --workspace --bins --examples
	$(CARGO_TARGET_DIR)/debug/por testnet --nodes $(NODES) --dir testnet

testnet-clean:
	rm -rf testnet

clean:
	$(CARGO) clean
	rm -rf artifacts testnet
