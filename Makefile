# The README's commands. `make up` and `make test` work on a fresh Debian 12 machine:
# they install what is missing through scripts/setup first.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=
CLANG_FORMAT ?= clang-format

.PHONY: all build setup up test asan tsan fuzz bench format format-check clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Starts the platform on this machine with the embedded defaults; Ctrl-C stops it.
up: setup build
	$(BUILD)/bin/trellis up

# Every test: unit tests and integration tests with real processes on loopback.
test: setup build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 300

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer, but for the
# tests labelled `long` (load and chaos runs of a minute each, which `make test` runs):
# the unit tests built here, against the instrumented libraries; the integration tests,
# whose code only drives the daemons, from the plain build, against the instrumented
# `trellis` (TRELLIS_BINARY), which saves building them twice.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
asan: setup build
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DTRELLIS_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target trellis unit_tests
	cd $(ASAN_BUILD) && $(ASAN_ENV) \
	  ctest -L unit -LE long -j $(JOBS) --output-on-failure --timeout 600 --no-tests=error
	cd $(BUILD) && $(ASAN_ENV) TRELLIS_BINARY=$(CURDIR)/$(ASAN_BUILD)/bin/trellis \
	  ctest -L integration -LE long -j $(JOBS) --output-on-failure --timeout 600 --no-tests=error

# The unit tests that run threads (label `threads`: the store's, the servers', the
# proxy's, the master's, ...) under ThreadSanitizer; the others are single-threaded and
# would only cost CI time (TSAN_LABEL=unit runs them all). tests/tsan.supp says what it
# suppresses and why.
TSAN_LABEL ?= threads
tsan: setup
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DTRELLIS_SANITIZE=thread $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_LABEL)_tests
	cd $(TSAN_BUILD) && \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest -L $(TSAN_LABEL) -LE long -j $(JOBS) --output-on-failure --timeout 600 --no-tests=error

# The parsers of what arrives over the network or from operators (memcached requests and
# replies, replication frames, the master's cluster map, the archive's blocks, TLS
# ClientHellos, the gateway's config file, tenants' keys, etcd's replies, the response heads
# the gateway rewrites, MySQL packets, the dbproxy's config file, NBD negotiations and
# requests, the storage nodes' headers) under libFuzzer (clang),
# each for FUZZ_SECONDS, from their seed corpora.
fuzz: setup
	CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DTRELLIS_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target memcache_parser_fuzz memcache_response_fuzz \
	  replication_frame_fuzz cluster_state_fuzz archive_block_fuzz client_hello_fuzz \
	  gateway_config_fuzz key_namespace_fuzz etcd_reply_fuzz proxied_head_fuzz mysql_codec_fuzz \
	  db_config_fuzz nbd_negotiation_fuzz block_wire_fuzz
	for target in memcache_parser memcache_response replication_frame cluster_state archive_block \
	  client_hello gateway_config key_namespace etcd_reply proxied_head mysql_codec \
	  db_config nbd_negotiation block_wire; do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$target && \
	  cp tests/fuzz/corpus/$$target/* $(FUZZ_BUILD)/corpus/$$target/ && \
	  $(FUZZ_BUILD)/bin/$${target}_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    $(FUZZ_BUILD)/corpus/$$target || exit 1; \
	done

# Side-by-side benchmarks against the peers; results go to bench/RESULTS.md.
bench: setup build
	bench/compare-cache.sh

# Whether every tracked C++ file is as .clang-format (clang-format 14) would write it;
# `make format` rewrites them.
format-check: setup
	git ls-files -z '*.h' '*.cc' | xargs -0 $(CLANG_FORMAT) --dry-run --Werror --ferror-limit=1

format: setup
	git ls-files -z '*.h' '*.cc' | xargs -0 $(CLANG_FORMAT) -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
