# Sequent — the two commands of the quick start are `make run` and `make test`.
SHELL := /bin/bash

# OpenBLAS 0.3.21 mis-detects recent Xeons and falls back to slow SSE3 kernels. The sequent binary fixes this
# itself (it re-executes with OPENBLAS_CORETYPE set); tests and benchmarks have no such main, so set it here.
CORETYPE := $(shell grep -qw avx512bw /proc/cpuinfo 2>/dev/null && echo SkylakeX || (grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo Haswell))
ifneq ($(CORETYPE),)
export OPENBLAS_CORETYPE ?= $(CORETYPE)
endif

SPEC ?= config/jobs/fashion-dense.json

.PHONY: setup build release run train test test-dashboard bench clean

setup:
	./scripts/setup.sh

build: setup
	swift build

release: setup
	swift build -c release

# Installs what is missing, builds, and starts the service (127.0.0.1:8080, data in ./data).
run: release
	.build/release/sequent serve

# Trains one recipe in the foreground, no server.
train: release
	.build/release/sequent train $(SPEC)

# The whole test suite (what CI runs). Plain `swift test`: --parallel hides XCTest's summary line. It runs under a
# throwaway PostgreSQL cluster (scripts/with-postgres.sh), and SEQUENT_REQUIRE_POSTGRES=1 makes the PostgreSQL tests
# fail rather than skip should the cluster's URL not reach them.
test: build
	./scripts/with-postgres.sh env SEQUENT_REQUIRE_POSTGRES=1 swift test

# The dashboard: first the unit tests of its pure modules (node --test), then the page in a real headless
# Chromium against a real `sequent serve` (installs chromium, chromium-driver and Selenium when missing);
# screenshots go to artifacts/screenshots/.
test-dashboard: build
	./scripts/test-dashboard-unit.sh
	./scripts/test-dashboard.sh

bench: release
	.build/release/sequent bench

clean:
	rm -rf .build
