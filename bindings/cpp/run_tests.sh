#!/usr/bin/env bash
# Builds and tests the C++ wrapper of nexus_store; exits non-zero on any failure.
#
#   bindings/cpp/run_tests.sh
#
#   1. plain build (cargo builds the Rust library): GoogleTest suite against
#      the static and the shared library, the -fno-exceptions suite, the
#      example, and the suites and example under valgrind memcheck
#   2. ASan+UBSan build (against the library built in 1): the same suites
#   3. the header alone, as C++17 and C++20, with and without exceptions
#   4. cmake --install into a staging prefix; an outside project finds it
#      with find_package(nexus_store) and runs (static and shared)
#   5. a tiny program compiled through pkg-config against that prefix
#   6. the example's output
# Build directories live under target/cpp/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/target/cpp"
STAGE="$OUT/stage"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
CXX="${CXX:-c++}"
export PATH="$PATH:$HOME/.cargo/bin"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export RUST_BACKTRACE=0

GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

step() { printf '\n==== [%3ds] %s\n' "$SECONDS" "$*"; }

configure() {  # configure <build dir> [cmake args...]
  local dir="$1"; shift
  # A build dir made by another generator cannot be reused: start it over.
  if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${GENERATOR[1]:-Unix Makefiles}\$" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  cmake -S "$ROOT/bindings/cpp" -B "$dir" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Debug "$@" >/dev/null
}

step "1. plain build: tests (static, shared, -fno-exceptions), example, valgrind"
configure "$OUT/plain" -DNEXUS_CPP_VALGRIND=ON
cmake --build "$OUT/plain" -j "$JOBS"
ctest --test-dir "$OUT/plain" --output-on-failure -j "$JOBS"

step "2. ASan+UBSan build: tests (static, shared, -fno-exceptions), example"
configure "$OUT/asan" -DNEXUS_RUST_LIB_DIR="$ROOT/target/release" \
  -DCMAKE_CXX_FLAGS="$SANITIZE" -DCMAKE_EXE_LINKER_FLAGS="$SANITIZE"
cmake --build "$OUT/asan" -j "$JOBS"
ctest --test-dir "$OUT/asan" --output-on-failure -j "$JOBS"

step "3. the header alone: C++17 and C++20, with and without exceptions"
for std in c++17 c++20; do
  for eh in -fexceptions -fno-exceptions; do
    printf '#include <nexus/store.hpp>\n#include <nexus/monitor.hpp>\n#include <nexus/store.hpp>\n' |
      "$CXX" -std="$std" "$eh" -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror \
        -I"$ROOT/bindings/cpp/include" -I"$ROOT/include" -x c++ -fsyntax-only -
    echo "  ok: -std=$std $eh"
  done
done

step "4. cmake --install, then find_package(nexus_store) from an outside project"
rm -rf "$STAGE" "$OUT/consumer"
cmake --install "$OUT/plain" --prefix "$STAGE" >/dev/null
cmake -S "$ROOT/bindings/cpp/tests/consumer" -B "$OUT/consumer" "${GENERATOR[@]}" \
  -DCMAKE_PREFIX_PATH="$STAGE" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >/dev/null
cmake --build "$OUT/consumer" -j "$JOBS"
"$OUT/consumer/consumer"
"$OUT/consumer/consumer_shared"

step "5. pkg-config: a tiny program against the staged prefix"
mkdir -p "$OUT/pkgconfig"
flags="$(PKG_CONFIG_PATH="$STAGE/lib/pkgconfig" pkg-config --cflags --libs nexus_store)"
# shellcheck disable=SC2086  # the flags are words
"$CXX" -std=c++17 -Wall -Wextra -Werror "$ROOT/bindings/cpp/tests/consumer/main.cpp" $flags \
  -Wl,-rpath,"$STAGE/lib" -o "$OUT/pkgconfig/consumer"
"$OUT/pkgconfig/consumer"
# `make build`'s nexus_store.pc (prefix set at make time) works the same way.
if [[ -f "$ROOT/target/release/nexus_store.pc" ]]; then
  flags="$(PKG_CONFIG_PATH="$ROOT/target/release" pkg-config --define-variable=prefix="$STAGE" --cflags --libs nexus_store)"
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 -Wall -Wextra -Werror "$ROOT/bindings/cpp/tests/consumer/main.cpp" $flags \
    -Wl,-rpath,"$STAGE/lib" -o "$OUT/pkgconfig/consumer-make-pc"
  "$OUT/pkgconfig/consumer-make-pc"
fi

step "6. examples/cpp/game_loop"
"$OUT/plain/game_loop"

step "C++ wrapper: all passed"
