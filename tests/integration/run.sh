#!/usr/bin/env bash
# The ways a C/C++ project takes nexus_store, each built and run:
#
#   1. `make install` and the CMake install write the same files
#   2. find_package(nexus_store) after `make install` (static and shared)
#   3. pkg-config with the shared library, rpath from the .pc's libdir, and
#      nexus_store-static.pc (the archive, no run-time dependency)
#   4. add_subdirectory(<repository root>): cargo builds into the consumer's
#      build folder, the source tree's target/ is untouched, no tests are
#      defined, a second build relinks nothing
#   5. FetchContent of the repository (reusing 4's cargo folder)
#
# Uses target/release's libraries (`make lib`); builds under target/integration/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/target/integration"
CONSUMER="$ROOT/tests/integration/consumer"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
CXX="${CXX:-c++}"
export PATH="$PATH:$HOME/.cargo/bin"
unset LD_LIBRARY_PATH

GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
step() { printf '\n==== [%3ds] integration %s\n' "$SECONDS" "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
pass() { passed=$((passed + 1)); echo "  ok: $*"; }

[[ -f "$ROOT/target/release/libnexus_store.so" ]] || (cd "$ROOT" && cargo build --release --lib --locked)

configure() {  # configure <build dir> [cmake args...]; a dir from another generator starts over
  local dir="$1"; shift
  if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${GENERATOR[1]:-Unix Makefiles}\$" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  cmake -B "$dir" "${GENERATOR[@]}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "$@" >/dev/null
}

run_consumers() {  # run_consumers <build dir> <route>: both programs, no LD_LIBRARY_PATH
  local out
  for program in consumer consumer_shared; do
    out="$("$1/$program")" || fail "$2: $program exited $?"
    [[ "$out" == "hello from nexus_store, answer 42 "* ]] || fail "$2: $program printed '$out'"
  done
  pass "$2: consumer (static) and consumer_shared ran: $out"
}

step "1. make install and the CMake install (the README's commands) write the same files"
rm -rf "$OUT/prefix-make" "$OUT/prefix-cmake" "$OUT/root-install"
make --no-print-directory -C "$ROOT" install PREFIX="$OUT/prefix-make" >/dev/null
# As the README says: configure, build (cargo runs as part of the build, into
# the build folder), install.
(cd "$ROOT" && cmake -S . -B "$OUT/root-install" "${GENERATOR[@]}" -DNEXUS_CPP_BUILD_TESTS=OFF >/dev/null &&
  cmake --build "$OUT/root-install" -j "$JOBS" >/dev/null &&
  cmake --install "$OUT/root-install" --prefix "$OUT/prefix-cmake" >/dev/null) ||
  fail "the README's cmake configure, build and install"
(cd "$OUT/prefix-make" && find . -type f | sort) > "$OUT/files-make.txt"
for f in include/nexus_store.h include/nexus/store.hpp lib/libnexus_store.a lib/libnexus_store.so \
         lib/pkgconfig/nexus_store.pc lib/pkgconfig/nexus_store-static.pc \
         lib/cmake/nexus_store/nexus_storeConfig.cmake \
         lib/cmake/nexus_store/nexus_storeConfigVersion.cmake; do
  grep -qx "./$f" "$OUT/files-make.txt" || fail "make install did not install $f"
done
diff -r "$OUT/prefix-make" "$OUT/prefix-cmake" || fail "make install and cmake --install differ"
pass "$(wc -l < "$OUT/files-make.txt") files, identical from both installs"

step "2. find_package(nexus_store) after make install"
configure "$OUT/consumer-find_package" -S "$CONSUMER" -DNEXUS_ROUTE=find_package \
  -DCMAKE_PREFIX_PATH="$OUT/prefix-make"
cmake --build "$OUT/consumer-find_package" -j "$JOBS" >/dev/null
run_consumers "$OUT/consumer-find_package" find_package

step "3. pkg-config with the shared library"
mkdir -p "$OUT/pkgconfig"
export PKG_CONFIG_PATH="$OUT/prefix-make/lib/pkgconfig"
pkg-config --exists 'nexus_store >= 0.1' || fail "pkg-config does not find nexus_store"
libdir="$(pkg-config --variable=libdir nexus_store)"
[[ "$(cd "$libdir" && pwd)" == "$OUT/prefix-make/lib" ]] || fail "the .pc's libdir is $libdir"
# shellcheck disable=SC2046  # the flags are words
"$CXX" -std=c++17 -Wall -Wextra -Werror "$CONSUMER/main.cpp" $(pkg-config --cflags --libs nexus_store) \
  -Wl,-rpath,"$libdir" -o "$OUT/pkgconfig/consumer"
readelf -d "$OUT/pkgconfig/consumer" | grep -q 'NEEDED.*\[libnexus_store.so\]' ||
  fail "the pkg-config program is not linked with libnexus_store.so"
out="$("$OUT/pkgconfig/consumer")" || fail "the pkg-config program (with rpath) did not run"
pass "linked with libnexus_store.so, rpath from pkg-config --variable=libdir: $out"
# shellcheck disable=SC2046
"$CXX" -std=c++17 "$CONSUMER/main.cpp" $(pkg-config --cflags --libs nexus_store) -o "$OUT/pkgconfig/consumer-no-rpath"
if "$OUT/pkgconfig/consumer-no-rpath" >/dev/null 2>&1; then
  fail "a program without the rpath started: the README's rpath note is wrong"
fi
pass "without -Wl,-rpath (and no LD_LIBRARY_PATH) it does not start, as the README says"
# The static route: the archive by path, though the .so lies beside it.
# shellcheck disable=SC2046
"$CXX" -std=c++17 -Wall -Wextra -Werror "$CONSUMER/main.cpp" \
  $(pkg-config --cflags --libs nexus_store-static) -o "$OUT/pkgconfig/consumer-static"
if readelf -d "$OUT/pkgconfig/consumer-static" | grep -q 'NEEDED.*libnexus_store'; then
  fail "the nexus_store-static program needs libnexus_store.so"
fi
out="$("$OUT/pkgconfig/consumer-static")" || fail "the nexus_store-static program (no rpath) did not run"
pass "pkg-config nexus_store-static: no libnexus_store.so needed, ran without rpath: $out"
unset PKG_CONFIG_PATH

step "4. add_subdirectory(<repository root>)"
source_lib="$ROOT/target/release/libnexus_store.a"
source_stamp="$(stat -c %Y "$source_lib")"
build="$OUT/consumer-subdirectory"
configure "$build" -S "$CONSUMER" -DNEXUS_ROUTE=subdirectory -DNEXUS_SOURCE="$ROOT"
cmake --build "$build" -j "$JOBS"
for lib in libnexus_store.a libnexus_store.so; do
  [[ -f "$build/nexus_store/cargo/release/$lib" ]] || fail "cargo did not build $lib into the consumer's build folder"
done
[[ "$(stat -c %Y "$source_lib")" == "$source_stamp" ]] || fail "the consumer's build wrote the source tree's target/"
pass "cargo built into $build/nexus_store/cargo; the source tree's target/ untouched"
run_consumers "$build" subdirectory
stamp="$(stat -c %Y "$build/consumer") $(stat -c %Y "$build/consumer_shared")"
sleep 1
cmake --build "$build" -j "$JOBS" >/dev/null
[[ "$(stat -c %Y "$build/consumer") $(stat -c %Y "$build/consumer_shared")" == "$stamp" ]] ||
  fail "a no-op rebuild relinked the consumer"
pass "a second build relinks nothing"

step "5. FetchContent of the repository"
configure "$OUT/consumer-fetchcontent" -S "$CONSUMER" -DNEXUS_ROUTE=fetchcontent -DNEXUS_SOURCE="$ROOT" \
  -DNEXUS_CARGO_TARGET_DIR="$build/nexus_store/cargo"
cmake --build "$OUT/consumer-fetchcontent" -j "$JOBS" >/dev/null
run_consumers "$OUT/consumer-fetchcontent" fetchcontent

step "integration: all $passed checks passed"
