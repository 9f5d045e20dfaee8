#!/usr/bin/env bash
# Builds and tests the C++ wrapper of nexus_store; exits non-zero on any failure.
#
#   bindings/cpp/run_tests.sh
#
#   1. plain build of the root CMake project: GoogleTest suite against the
#      static and the shared library, the -fno-exceptions suite, the example,
#      and the suites and example under valgrind memcheck
#   2. ASan+UBSan build: the same suites
#   3. the header alone, as C++17 and C++20, with and without exceptions
#   4. the example's output
# Both builds link target/release's libraries (`make lib`; built here when
# missing). The ways a project takes the library (add_subdirectory,
# FetchContent, find_package, pkg-config) are tests/integration/run.sh.
# Build directories live under target/cpp/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/target/cpp"
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
  # A build dir made by another generator or from another source folder (before
  # the root CMakeLists.txt, bindings/cpp) cannot be reused: start it over.
  if [[ -f "$dir/CMakeCache.txt" ]] && ! { grep -q "CMAKE_GENERATOR:INTERNAL=${GENERATOR[1]:-Unix Makefiles}\$" "$dir/CMakeCache.txt" &&
                                           grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$ROOT" "$dir/CMakeCache.txt"; }; then
    rm -rf "$dir"
  fi
  cmake -S "$ROOT" -B "$dir" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Debug \
    -DNEXUS_RUST_LIB_DIR="$ROOT/target/release" -DNEXUS_CPP_BUILD_TESTS=ON "$@" >/dev/null
}

[[ -f "$ROOT/target/release/libnexus_store.so" ]] || (cd "$ROOT" && cargo build --release --lib --locked)

step "1. plain build: tests (static, shared, -fno-exceptions), example, valgrind"
configure "$OUT/plain" -DNEXUS_CPP_VALGRIND=ON
cmake --build "$OUT/plain" -j "$JOBS"
ctest --test-dir "$OUT/plain" --output-on-failure -j "$JOBS"

step "2. ASan+UBSan build: tests (static, shared, -fno-exceptions), example"
configure "$OUT/asan" -DCMAKE_CXX_FLAGS="$SANITIZE" -DCMAKE_EXE_LINKER_FLAGS="$SANITIZE"
cmake --build "$OUT/asan" -j "$JOBS"
ctest --test-dir "$OUT/asan" --output-on-failure -j "$JOBS"

step "3. the header alone: C++17 and C++20, with and without exceptions"
for std in c++17 c++20; do
  for eh in -fexceptions -fno-exceptions; do
    printf '#include <nexus/store.hpp>\n#include <nexus/monitor.hpp>\n#include <nexus/governor.hpp>\n#include <nexus/store.hpp>\n' |
      "$CXX" -std="$std" "$eh" -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror \
        -I"$ROOT/bindings/cpp/include" -I"$ROOT/include" -x c++ -fsyntax-only -
    echo "  ok: -std=$std $eh"
  done
done

step "4. examples/cpp/game_loop"
"$OUT/plain/bindings/cpp/game_loop"

step "C++ wrapper: all passed"
