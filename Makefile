# nexus_store — build, demo and test entry points.
#   make demo    builds what it needs and runs the main demo (demo/)
#   make test    checks its tools first and installs what is missing
#                (scripts/tools.sh), then everything: format, clippy, Rust
#                tests, docs, header drift and self-containment, C tests
#                (static + shared library, under AddressSanitizer+UBSan and
#                under valgrind), the examples, C++, the integration routes
#   make build   release libraries + nexus_store.pc and nexus_store-static.pc (no cbindgen needed)
#   make install PREFIX=...   C and C++ headers, both libraries, pkg-config
#                file and CMake package (no cbindgen needed)

CARGO    ?= cargo
CC       ?= cc
CXX      ?= c++
# A cbindgen of the pinned version (scripts/tools.sh); only the header
# targets use it. Expanded when used, so it installs one at most once.
CBINDGEN ?= $(shell scripts/tools.sh cbindgen)
VALGRIND ?= valgrind
PREFIX   ?= /usr/local

VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
REL      := target/release
LIB_A    := $(REL)/libnexus_store.a
LIB_SO   := $(REL)/libnexus_store.so
ASAN_TARGET := x86_64-unknown-linux-gnu
ASAN_LIB_A  := target/asan/$(ASAN_TARGET)/release/libnexus_store.a
HEADER   := include/nexus_store.h
CPP_HEADERS := $(wildcard bindings/cpp/include/nexus/*.hpp)
PC       := $(REL)/nexus_store.pc $(REL)/nexus_store-static.pc
CMAKE_CONFIG := $(REL)/cmake/nexus_storeConfig.cmake $(REL)/cmake/nexus_storeConfigVersion.cmake
OUT      := target/c
SYS_LIBS := -lpthread -ldl -lm

C_WARN   := -Wall -Wextra -Werror -pedantic
C_TEST_FLAGS := -std=c99 $(C_WARN) -g -O1 -Iinclude -Itests/c
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# Valgrind's default leak kinds (definite and possible): a C host running
# its own program under valgrind sees no report from the library.
# --fair-sched=yes: valgrind runs one thread at a time, and its default lock
# may hand it to the same spinning threads for good (test_gc_hosts' hammer
# threads kept its main thread from ever waking on an AMD EPYC host); the
# fair lock takes turns.
VALGRIND_FLAGS := -q --fair-sched=yes --error-exitcode=99 --leak-check=full
# test_monitor ends its process with the monitor thread running (on
# purpose: that exit is safe), and glibc's stack of a live thread is
# "possibly lost": there only definite and indirect leaks fail.
VALGRIND_FLAGS_LIVE_THREAD := $(VALGRIND_FLAGS) --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
export ASAN_OPTIONS := detect_leaks=1:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1
# The panic-containment tests panic on purpose: keep their reports short.
export RUST_BACKTRACE := 0

C_TESTS  := $(basename $(notdir $(wildcard tests/c/test_*.c)))
C_COMMON := $(wildcard tests/c/*.h)

.PHONY: fuzz fuzz-smoke alloc-failure schedules soak soak-short hardening
.PHONY: all build lib asan-lib header check-header header-selfcontained demo test \
        fmt-check clippy cargo-test c-test c-test-asan c-test-valgrind examples \
        pkg-config install doc doc-check clean tools bench bench-setup bench-quick cpp-test \
        integration-test setup-test test-kotlin bench-kotlin demo-os demo-governor os-monitor-test \
        test-swift xcframework

all: build

# ---- libraries, header, pkg-config ------------------------------------------

lib:
	$(CARGO) build --release --lib

build: lib $(PC)

# The sanitizer build: the Rust code itself instrumented with ASan, linked
# into C tests compiled with gcc's ASan+UBSan (the runtimes are compatible).
asan-lib:
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" $(CARGO) build --release --lib \
	    --target $(ASAN_TARGET) --target-dir target/asan

# Checks the tools of `make test` and installs the missing ones.
tools:
	@scripts/tools.sh

header:
	$(CBINDGEN) --config cbindgen.toml --crate nexus-store --output $(HEADER) --quiet

check-header:
	@mkdir -p target
	$(CBINDGEN) --config cbindgen.toml --crate nexus-store --output target/nexus_store.h.check --quiet
	@diff -u $(HEADER) target/nexus_store.h.check || { \
	  echo "include/nexus_store.h is out of date: run 'make header' and commit it"; exit 1; }

# The header compiles alone, included twice, as C89, C99, C11, C++98 and
# C++17 (pedantic, warnings as errors).
header-selfcontained:
	@mkdir -p $(OUT)
	printf '#include "nexus_store.h"\n#include "nexus_store.h"\nint main(void) { return NEXUS_STATUS_OK; }\n' > $(OUT)/header_alone.c
	$(CC) -std=c89 $(C_WARN) -Iinclude -c $(OUT)/header_alone.c -o $(OUT)/header_alone_c89.o
	$(CC) -std=c99 $(C_WARN) -Iinclude -c $(OUT)/header_alone.c -o $(OUT)/header_alone_c99.o
	$(CC) -std=c11 $(C_WARN) -Iinclude -c $(OUT)/header_alone.c -o $(OUT)/header_alone_c11.o
	$(CXX) -x c++ -std=c++98 $(C_WARN) -Iinclude -c $(OUT)/header_alone.c -o $(OUT)/header_alone_cxx98.o
	$(CXX) -x c++ -std=c++17 $(C_WARN) -Iinclude -c $(OUT)/header_alone.c -o $(OUT)/header_alone_cxx.o

# nexus_store.pc and the CMake package come from the templates in cmake/,
# the same files the CMake install writes: relocatable (each finds its prefix
# from its own place), so one copy serves target/release and every PREFIX.
TEMPLATE_VARS := -e 's|@NEXUS_PC_UP@|../..|' -e 's|@NEXUS_CONFIG_UP@|../../..|' \
                 -e 's|@CMAKE_INSTALL_LIBDIR@|lib|' -e 's|@CMAKE_INSTALL_INCLUDEDIR@|include|' \
                 -e 's|@PROJECT_VERSION@|$(VERSION)|'

$(REL)/%.pc: cmake/%.pc.in Cargo.toml
	@mkdir -p $(@D)
	sed $(TEMPLATE_VARS) $< > $@

$(REL)/cmake/%: cmake/%.in Cargo.toml
	@mkdir -p $(@D)
	sed $(TEMPLATE_VARS) $< > $@

pkg-config: $(PC)

install: lib $(PC) $(CMAKE_CONFIG)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/lib/cmake/nexus_store \
	    $(DESTDIR)$(PREFIX)/include/nexus
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(HEADER) $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(CPP_HEADERS) $(DESTDIR)$(PREFIX)/include/nexus/
	install -m 644 $(PC) $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 $(CMAKE_CONFIG) $(DESTDIR)$(PREFIX)/lib/cmake/nexus_store/

# ---- demo -----------------------------------------------------------------------

# The demo is its own crate (demo/): it builds the library and none of the
# tests' dependencies.
demo:
	$(CARGO) run --release -p nexus-store-demo

# The budget governor: three stores of different priorities share one budget
# through a pressure sequence; prints a timeline, a text chart and checks
# (lowest priority gives first, floors hold), failing if one does not hold.
demo-governor:
	$(CARGO) run --release -p nexus-store-demo --bin demo-governor

# The OS pressure monitor on real kernel readings: as root, a child allocating
# under a memory cgroup made for the run (else it says why it cannot run here).
demo-os:
	$(CARGO) run --release --example demo_os

# ---- tests ----------------------------------------------------------------------

test: tools setup-test fmt-check clippy cargo-test doc-check check-header header-selfcontained \
      c-test examples cpp-test integration-test test-swift test-kotlin bench-quick hardening \
      demo-governor

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

cargo-test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc
	$(CARGO) test -p nexus-store-bench

c-test: c-test-asan c-test-valgrind

# The OS pressure sources and monitor alone (`test` runs all of these through
# cargo-test, c-test and cpp-test).
os-monitor-test: lib
	$(CARGO) test --lib os_pressure
	$(CARGO) test --lib api_monitor
	$(CARGO) test --test os_monitor
	@mkdir -p $(OUT)
	$(CC) $(C_TEST_FLAGS) tests/c/test_monitor.c $(LIB_A) $(SYS_LIBS) -o $(OUT)/test_monitor.static
	./$(OUT)/test_monitor.static

# Each C test, against the static and the shared library, under ASan+UBSan
# (the shared run with NEXUS_STORE_NO_MEMBARRIER set: both ways of counting calls).
c-test-asan: asan-lib lib
	@mkdir -p $(OUT)
	@set -e; for t in $(C_TESTS); do \
	  $(CC) $(C_TEST_FLAGS) $(ASAN_FLAGS) tests/c/$$t.c $(ASAN_LIB_A) $(SYS_LIBS) -o $(OUT)/$$t.asan-static; \
	  echo "  ASAN static  $$t"; ./$(OUT)/$$t.asan-static; \
	  $(CC) $(C_TEST_FLAGS) $(ASAN_FLAGS) tests/c/$$t.c -L$(REL) -lnexus_store $(SYS_LIBS) -o $(OUT)/$$t.asan-shared; \
	  echo "  ASAN shared  $$t (NEXUS_STORE_NO_MEMBARRIER: every call counted with atomic adds)"; \
	  NEXUS_STORE_NO_MEMBARRIER=1 LD_LIBRARY_PATH=$(REL) ./$(OUT)/$$t.asan-shared; \
	done

# Each C test, against the static and the shared library, under valgrind
# memcheck: any error or definite/indirect leak fails.
c-test-valgrind: lib
	@mkdir -p $(OUT)
	@set -e; for t in $(C_TESTS); do \
	  $(CC) $(C_TEST_FLAGS) tests/c/$$t.c $(LIB_A) $(SYS_LIBS) -o $(OUT)/$$t.static; \
	  flags="$(VALGRIND_FLAGS)"; [ $$t != test_monitor ] || flags="$(VALGRIND_FLAGS_LIVE_THREAD)"; \
	  echo "  VALGRIND static  $$t"; NEXUS_TEST_UNDER_VALGRIND=1 $(VALGRIND) $$flags ./$(OUT)/$$t.static; \
	  $(CC) $(C_TEST_FLAGS) tests/c/$$t.c -L$(REL) -lnexus_store $(SYS_LIBS) -o $(OUT)/$$t.shared; \
	  echo "  VALGRIND shared  $$t"; NEXUS_TEST_UNDER_VALGRIND=1 LD_LIBRARY_PATH=$(REL) $(VALGRIND) $$flags ./$(OUT)/$$t.shared; \
	done

# The C examples compile warning-free, link through pkg-config's flags, and run.
examples: lib $(PC)
	@mkdir -p $(OUT)
	$(CC) -std=c99 $(C_WARN) -Iinclude examples/c/quickstart.c $(LIB_A) $(SYS_LIBS) -o $(OUT)/quickstart
	./$(OUT)/quickstart
	$(CC) -std=c99 $(C_WARN) -Iinclude examples/c/quickstart.c -L$(REL) -lnexus_store -o $(OUT)/quickstart-shared
	LD_LIBRARY_PATH=$(REL) ./$(OUT)/quickstart-shared > /dev/null
	rm -rf target/stage && $(MAKE) --no-print-directory install PREFIX=$(CURDIR)/target/stage
	$(CC) -std=c99 $(C_WARN) examples/c/quickstart.c \
	    $$(PKG_CONFIG_PATH=target/stage/lib/pkgconfig pkg-config --cflags --libs nexus_store) \
	    -Wl,-rpath,$(CURDIR)/target/stage/lib -o $(OUT)/quickstart-pkgconfig
	./$(OUT)/quickstart-pkgconfig > /dev/null

# The C++ wrapper, built by the root CMake project against target/release's
# libraries: GoogleTest suites through CTest (static and shared library,
# ASan+UBSan, valgrind, -fno-exceptions), two translation units, the header
# alone, and examples/cpp/game_loop.cpp. Build trees under target/cpp/.
cpp-test: lib
	bindings/cpp/run_tests.sh

# The four ways a C/C++ project takes nexus_store (tests/integration/):
# add_subdirectory of the repository root, FetchContent, find_package after
# `make install`, pkg-config with the shared library. Each builds and runs.
integration-test: lib
	tests/integration/run.sh

# The set-up itself: scripts/tools.sh's choices (faked tools, no install),
# the demo's dependency tree, the install's file list.
setup-test:
	tests/setup/run.sh

# The Swift package (bindings/swift) and examples/swift: `swift test` (XCTest)
# in a Debian trixie chroot with swiftlang, made once under $(SWIFT_CHROOT)
# (about 3.5 minutes and 2 GB; git-ignored) and reused; the Rust static
# library is built here and copied in.
SWIFT_CHROOT ?= $(CURDIR)/.swift-chroot
test-swift: lib
	bindings/swift/run_tests.sh $(SWIFT_CHROOT)

# NexusStore.xcframework (iOS device, iOS simulator, macOS) from the Rust
# static libraries; needs Apple's tools (xcodebuild) and says so elsewhere.
xcframework:
	bindings/swift/scripts/make-xcframework.sh

# The Kotlin wrapper (bindings/kotlin): Maven builds the JNI shim against the
# release static library, runs the JUnit 5 suites under -Xcheck:jni (whose
# warnings fail the target), then the Android glue under Robolectric,
# offline. The first run downloads Maven's artifacts (about 470 MB with
# Robolectric's android-all jar) into ~/.m2.
MVN ?= mvn
KOTLIN_DIR := bindings/kotlin

# -Xcheck:jni writes its warnings to the JVM's own output, which surefire
# keeps in target/surefire-reports/*.dumpstream, not in Maven's log: both
# are searched (and old dumpstreams removed first).
test-kotlin: lib
	@mkdir -p $(KOTLIN_DIR)/target
	$(KOTLIN_DIR)/src/test/c/run_size_checks.sh $(CURDIR) $(KOTLIN_DIR)/target/size-checks
	@find $(KOTLIN_DIR) -name '*.dumpstream' -path '*surefire-reports*' -delete
	{ cd $(KOTLIN_DIR) && $(MVN) -B -ntp test 2>&1; echo $$? > target/mvn-test.rc; } | tee $(KOTLIN_DIR)/target/mvn-test.log
	@exit $$(cat $(KOTLIN_DIR)/target/mvn-test.rc)
	@! grep -n "in native method\|JNI call made\|WARNING in native" $(KOTLIN_DIR)/target/mvn-test.log \
	    $$(find $(KOTLIN_DIR) -name '*.dumpstream' -path '*surefire-reports*') || \
	  { echo "-Xcheck:jni reported the lines above"; exit 1; }

# The JVM benchmark beside Caffeine (W1-like throughput, W2-like hit ratio);
# not part of `make test`. About two minutes.
bench-kotlin: lib
	cd $(KOTLIN_DIR) && $(MVN) -B -ntp -q test-compile exec:exec@bench

# ---- benchmarks -----------------------------------------------------------------

# The full comparison with the peers (moka, mini-moka, quick_cache, lru):
# writes bench/results/latest.md and latest.svg. Several minutes.
bench: bench-setup
	$(CARGO) build --release -p nexus-store-bench --bins
	$(CARGO) run --release -p nexus-store-bench --bin nexus-bench

# W2's real traces and libCacheSim's algorithms, in the git-ignored bench/.data/
# (downloaded once, reused): see bench/libcachesim/setup.sh.
bench-setup:
	bench/libcachesim/setup.sh

# Small sizes, every workload, sanity checks only (no speed assertions);
# writes to target/bench-quick/. Part of `make test`.
bench-quick:
	$(CARGO) build --release -p nexus-store-bench --bins
	$(CARGO) run --release -p nexus-store-bench --bin nexus-bench -- --quick

doc:
	$(CARGO) doc --no-deps

# The API docs build without a warning (broken or private intra-doc links).
doc-check:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

clean:
	$(CARGO) clean

# ---- hardening (docs/TESTING.md) --------------------------------------------------

FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 60
SOAK_SECONDS       ?= 600
SOAK_SHORT_SECONDS ?= 30

# What `make test` runs of it: fuzz smoke, every allocation failing, the
# model-checked schedules, a 30-second soak.
hardening: fuzz-smoke alloc-failure schedules soak-short

# Every fuzz target for FUZZ_SECONDS each (cargo-fuzz on stable through
# RUSTC_BOOTSTRAP; installs cargo-fuzz if missing). Prints executions and
# executions per second of each.
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke:
	fuzz/run.sh $(FUZZ_SMOKE_SECONDS)

# The allocation-failure loop and the schedules share one build (target/hardening):
# both cfgs on, RUSTC_BOOTSTRAP for the allocation error hook.
HARDENING_CARGO := RUSTC_BOOTSTRAP=1 RUSTFLAGS="--cfg nexus_oom_panic --cfg nexus_shuttle" \
    CARGO_TARGET_DIR=target/hardening $(CARGO)

# The Nth allocation inside the C calls fails, for every N (transient and
# persistent): tests/alloc_failure_every_point.rs.
alloc-failure:
	$(HARDENING_CARGO) test --release --test alloc_failure_every_point

# shuttle-explored schedules of the handle table and the callback slots:
# tests/schedules.rs (SHUTTLE_ITERATIONS schedules per test and scheduler).
schedules:
	$(HARDENING_CARGO) test --release --test schedules -- --test-threads=1

# 8 threads of random C calls and pressure signals for SOAK_SECONDS (and the
# 16-thread pin/unpin/evict/signal race): tests/soak.rs.
soak:
	NEXUS_SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --release --test soak -- --nocapture --test-threads=1

soak-short:
	NEXUS_SOAK_SECONDS=$(SOAK_SHORT_SECONDS) $(CARGO) test --release --test soak -- --nocapture --test-threads=1
