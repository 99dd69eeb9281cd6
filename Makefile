# berth — build, test, demo, bench.
SHELL := /bin/bash
TARGET := x86_64-unknown-linux-gnu
BIN := target/$(TARGET)/release/berth
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PREFIX ?= /usr/local

.PHONY: build test unit integration test-v2 lint demo bench profile install clean

# One static binary (glibc static-pie), no C libraries at run time, its
# hot code first (scripts/build.sh).
build:
	BERTH_COMMIT=$(COMMIT) scripts/build.sh
	@ls -l $(BIN)

unit:
	cargo test -p berth

# Real containers as root on a busybox bundle (this host: cgroup v1 hybrid).
integration: build
	BERTH_BIN=$(abspath $(BIN)) cargo test -p berth-integration -- --test-threads=2

# The same integration tests inside a cgroup-v2-only VM.
test-v2: build
	BERTH_BIN=$(abspath $(BIN)) scripts/test-v2.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test: lint unit test-v2 integration

demo: build
	BERTH=$(abspath $(BIN)) scripts/demo.sh

bench: build
	BERTH=$(abspath $(BIN)) scripts/bench.sh

# Instruction counts (callgrind) of run, exec, list and one exec's start.
profile:
	scripts/profile.sh

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/berth
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/

clean:
	cargo clean
