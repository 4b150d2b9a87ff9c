# xfc: the two commands.
#   make demo  installs what is missing, builds, compiles the bundled example
#              model and runs it.
#   make test  installs what is missing, builds, and runs every test.
#   make test-tsan builds the runtime and the concurrency stress with
#              ThreadSanitizer (in $(BUILD)-tsan) and runs 8 threads x 200.
#   make install PREFIX=DIR installs the runtime library, its headers, the
#              xfc command and the CMake package (find_package(xfc)).
#   make bench installs the peers (OpenBLAS, PyTorch, ONNX Runtime), builds
#              in Release and writes bench/results.json and a report.
# Reliability (docs/reliability.md), in a second build folder compiled by
# clang-22 with AddressSanitizer, UBSan and libFuzzer coverage:
#   make test-sanitize  builds it and runs the sanitizer stage's tests.
#   make fuzz           builds the fuzzers and runs each for FUZZ_SECONDS.
BUILD ?= build
SANITIZE_BUILD ?= build-sanitize
FUZZ_SECONDS ?= 60
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)

.PHONY: all setup configure build demo test test-tsan bench goldens clean \
	install \
	test-sanitize fuzz

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

configure: setup $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The threading contract under ThreadSanitizer (scripts/test-tsan.sh);
# needs libclang-rt-22-dev.
test-tsan: build
	TSAN_BUILD=$(BUILD)-tsan JOBS=$(JOBS) bash scripts/test-tsan.sh $(BUILD)

test-sanitize: setup
	JOBS=$(JOBS) bash scripts/sanitize.sh $(SANITIZE_BUILD) test

# Builds only the fuzzers (and what they link) when run alone.
fuzz: setup
	JOBS=$(JOBS) bash scripts/sanitize.sh $(SANITIZE_BUILD) build \
	  fuzz_spec fuzz_safetensors fuzz_manifest fuzz_artifact fuzz_npy \
	  fuzz_fusion_plan
	bash scripts/fuzz.sh $(SANITIZE_BUILD) $(FUZZ_SECONDS)

# Side-by-side benchmarks (bench/README.md); never part of `make test`.
# BENCH_ARGS are passed to bench/run.py.
bench:
	bash scripts/bench.sh $(BUILD) -- $(BENCH_ARGS)

# Regenerates tests/e2e/golden with Debian's PyTorch (the oracle).
goldens:
	@bash scripts/setup.sh --with-oracle
	/usr/bin/python3 tests/e2e/golden/make_goldens.py
	/usr/bin/python3 tests/e2e/golden/attention_patterns/make_pattern_goldens.py
	/usr/bin/python3 tests/e2e/golden/attention_families/make_linear_goldens.py

clean:
	rm -rf $(BUILD) $(BUILD)-tsan $(SANITIZE_BUILD)
