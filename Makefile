# The README's two commands: `make run` and `make test`. Everything else is
# CMake; this file only picks build directories and flags.
JOBS ?= $(shell nproc)
PORT ?= 8080

.PHONY: all run test deps build build-asan build-tsan bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j$(JOBS)

# Builds, then starts mock-llm and tollgate on the embedded defaults.
run: build
	@PORT=$(PORT) scripts/run-local.sh build

# ASan + UBSan build, then every test (unit, conformance, end-to-end, SDK).
# The gateway's threads (workers, reloads) also run under ThreadSanitizer:
# build-tsan makes that binary and e2e_reload_tsan in build-asan drives it.
build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTOLLGATE_SANITIZE=address \
	       -DTOLLGATE_TSAN_BINARY=$(CURDIR)/build-tsan/src/tollgate >/dev/null
	@cmake --build build-asan -j$(JOBS)

build-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOLLGATE_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j$(JOBS) --target tollgate

test: build-asan build-tsan
	@scripts/install-deps.sh --test
	@cd build-asan && ctest --output-on-failure -j$(JOBS)

bench:
	@scripts/install-deps.sh --bench
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j$(JOBS)
	@bench/run.sh build

clean:
	rm -rf build build-asan build-tsan
