# nexus_store — build, demo and test entry points.
#   make demo    builds what it needs and runs the main demo
#   make test    everything: format, clippy, Rust tests, header drift and
#                self-containment, C tests (static + shared library, under
#                AddressSanitizer+UBSan and under valgrind), the examples
#   make build   release libraries + header + nexus_store.pc

CARGO    ?= cargo
CC       ?= cc
CXX      ?= c++
CBINDGEN ?= cbindgen
CBINDGEN_VERSION := 0.29.2
VALGRIND ?= valgrind
PREFIX   ?= /usr/local

VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
REL      := target/release
LIB_A    := $(REL)/libnexus_store.a
LIB_SO   := $(REL)/libnexus_store.so
ASAN_TARGET := x86_64-unknown-linux-gnu
ASAN_LIB_A  := target/asan/$(ASAN_TARGET)/release/libnexus_store.a
HEADER   := include/nexus_store.h
PC       := $(REL)/nexus_store.pc
OUT      := target/c
SYS_LIBS := -lpthread -ldl -lm

C_WARN   := -Wall -Wextra -Werror -pedantic
C_TEST_FLAGS := -std=c99 $(C_WARN) -g -O1 -Iinclude -Itests/c
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
VALGRIND_FLAGS := -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
export ASAN_OPTIONS := detect_leaks=1:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1
# The panic-containment tests panic on purpose: keep their reports short.
export RUST_BACKTRACE := 0

C_TESTS  := $(basename $(notdir $(wildcard tests/c/test_*.c)))
C_COMMON := $(wildcard tests/c/*.h)

.PHONY: fuzz fuzz-smoke alloc-failure schedules soak soak-short hardening
.PHONY: all build lib asan-lib header check-header header-selfcontained demo test \
        fmt-check clippy cargo-test c-test c-test-asan c-test-valgrind examples \
        pkg-config install doc clean check-cbindgen bench bench-quick cpp-test

all: build

# ---- libraries, header, pkg-config ------------------------------------------

lib:
	$(CARGO) build --release --lib

build: lib check-header $(PC)

# The sanitizer build: the Rust code itself instrumented with ASan, linked
# into C tests compiled with gcc's ASan+UBSan (the runtimes are compatible).
asan-lib:
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" $(CARGO) build --release --lib \
	    --target $(ASAN_TARGET) --target-dir target/asan

check-cbindgen:
	@$(CBINDGEN) --version 2>/dev/null | grep -q " $(CBINDGEN_VERSION)$$" || { \
	  echo "cbindgen $(CBINDGEN_VERSION) is required: cargo install --locked cbindgen@$(CBINDGEN_VERSION)"; exit 1; }

header: check-cbindgen
	$(CBINDGEN) --config cbindgen.toml --crate nexus-store --output $(HEADER) --quiet

check-header: check-cbindgen
	@mkdir -p target
	$(CBINDGEN) --config cbindgen.toml --crate nexus-store --output target/nexus_store.h.check --quiet
	@diff -u $(HEADER) target/nexus_store.h.check || { \
	  echo "include/nexus_store.h is out of date: run 'make header' and commit it"; exit 1; }

# The header compiles alone, included twice, as C99, C11 and C++17.
header-selfcontained:
	@mkdir -p $(OUT)
	printf '#include "nexus_store.h"\n#include "nexus_store.h"\nint main(void) { return NEXUS_STATUS_OK; }\n' > $(OUT)/header_alone.c
	$(CC) -std=c99 $(C_WARN) -Iinclude -c $(OUT)/header_alone.c -o $(OUT)/header_alone_c99.o
	$(CC) -std=c11 $(C_WARN) -Iinclude -c $(OUT)/header_alone.c -o $(OUT)/header_alone_c11.o
	$(CXX) -x c++ -std=c++17 $(C_WARN) -Iinclude -c $(OUT)/header_alone.c -o $(OUT)/header_alone_cxx.o

define PC_TEXT
prefix=$(1)
libdir=$${prefix}/lib
includedir=$${prefix}/include

Name: nexus_store
Description: Memory-pressure-aware native cache
Version: $(VERSION)
Cflags: -I$${includedir}
Libs: -L$${libdir} -lnexus_store
Libs.private: $(SYS_LIBS)
endef

$(PC): Cargo.toml Makefile
	@mkdir -p $(REL)
	$(file >$@,$(call PC_TEXT,$(PREFIX)))

pkg-config: $(PC)

install: lib check-header $(PC)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(HEADER) $(DESTDIR)$(PREFIX)/include/
	sed 's|^prefix=.*|prefix=$(PREFIX)|' $(PC) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nexus_store.pc

# ---- demo -----------------------------------------------------------------------

demo:
	$(CARGO) run --release --example demo

# ---- tests ----------------------------------------------------------------------

test: fmt-check clippy cargo-test check-header header-selfcontained c-test examples cpp-test bench-quick hardening

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

cargo-test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc
	$(CARGO) test -p nexus-store-bench

c-test: c-test-asan c-test-valgrind

# Each C test, against the static and the shared library, under ASan+UBSan.
c-test-asan: asan-lib lib
	@mkdir -p $(OUT)
	@set -e; for t in $(C_TESTS); do \
	  $(CC) $(C_TEST_FLAGS) $(ASAN_FLAGS) tests/c/$$t.c $(ASAN_LIB_A) $(SYS_LIBS) -o $(OUT)/$$t.asan-static; \
	  echo "  ASAN static  $$t"; ./$(OUT)/$$t.asan-static; \
	  $(CC) $(C_TEST_FLAGS) $(ASAN_FLAGS) tests/c/$$t.c -L$(REL) -lnexus_store $(SYS_LIBS) -o $(OUT)/$$t.asan-shared; \
	  echo "  ASAN shared  $$t"; LD_LIBRARY_PATH=$(REL) ./$(OUT)/$$t.asan-shared; \
	done

# Each C test, against the static and the shared library, under valgrind
# memcheck: any error or definite/indirect leak fails.
c-test-valgrind: lib
	@mkdir -p $(OUT)
	@set -e; for t in $(C_TESTS); do \
	  $(CC) $(C_TEST_FLAGS) tests/c/$$t.c $(LIB_A) $(SYS_LIBS) -o $(OUT)/$$t.static; \
	  echo "  VALGRIND static  $$t"; NEXUS_TEST_UNDER_VALGRIND=1 $(VALGRIND) $(VALGRIND_FLAGS) ./$(OUT)/$$t.static; \
	  $(CC) $(C_TEST_FLAGS) tests/c/$$t.c -L$(REL) -lnexus_store $(SYS_LIBS) -o $(OUT)/$$t.shared; \
	  echo "  VALGRIND shared  $$t"; NEXUS_TEST_UNDER_VALGRIND=1 LD_LIBRARY_PATH=$(REL) $(VALGRIND) $(VALGRIND_FLAGS) ./$(OUT)/$$t.shared; \
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

# The C++ wrapper: GoogleTest suites through CTest (static and shared library,
# ASan+UBSan, valgrind, -fno-exceptions), two translation units, the CMake
# package used from an outside project after `cmake --install`, pkg-config,
# and examples/cpp/game_loop.cpp. Build trees under target/cpp/.
cpp-test: lib
	bindings/cpp/run_tests.sh

# ---- benchmarks -----------------------------------------------------------------

# The full comparison with the peers (moka, mini-moka, quick_cache, lru):
# writes bench/results/latest.md and latest.svg. Several minutes.
bench:
	$(CARGO) run --release -p nexus-store-bench --bin nexus-bench

# Small sizes, every workload, sanity checks only (no speed assertions);
# writes to target/bench-quick/. Part of `make test`.
bench-quick:
	$(CARGO) run --release -p nexus-store-bench --bin nexus-bench -- --quick

doc:
	$(CARGO) doc --no-deps

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
