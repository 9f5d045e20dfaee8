#!/usr/bin/env bash
# The tools `make test` uses: checks them (a few seconds) and installs what is
# missing, without asking.
#
#   scripts/tools.sh            check everything `make test` needs, install what is missing
#   scripts/tools.sh cbindgen   print the path of a cbindgen of the pinned version
#                               (installing it first if there is none)
#
#   cbindgen 0.29.2   the header drift check only; a cbindgen of that version on
#                     PATH is used, else one is installed into target/tools/
#                     (git-ignored) with `cargo install --locked --debug --root`
#                     (a debug build: it compiles in under a minute, a sixth
#                     of a release build, and still writes the header in
#                     half a second)
#   clippy, rustfmt   `rustup component add` when rustup is there
#   system packages   C/C++ compilers, CMake, Ninja, GoogleTest, valgrind,
#                     pkg-config, debootstrap (the Swift chroot), a JDK and
#                     Maven: `apt-get install` when running as root, else
#                     one line naming the command to run, and a failure
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CBINDGEN_VERSION=0.29.2
TOOLS_DIR="${NEXUS_TOOLS_DIR:-$ROOT/target/tools}"
CARGO="${CARGO:-cargo}"

say() { printf 'tools: %s\n' "$*" >&2; }

has_version() {  # has_version <program> <version>
  "$1" --version 2>/dev/null | grep -q " $2\$"
}

cbindgen_path() {
  if has_version cbindgen "$CBINDGEN_VERSION"; then
    command -v cbindgen
  elif has_version "$TOOLS_DIR/bin/cbindgen" "$CBINDGEN_VERSION"; then
    echo "$TOOLS_DIR/bin/cbindgen"
  else
    return 1
  fi
}

ensure_cbindgen() {
  cbindgen_path >/dev/null && return 0
  say "installing cbindgen $CBINDGEN_VERSION into $TOOLS_DIR (once, about a minute)"
  "$CARGO" install --quiet --locked --debug --force --root "$TOOLS_DIR" "cbindgen@$CBINDGEN_VERSION" >&2
  cbindgen_path >/dev/null || { say "cbindgen $CBINDGEN_VERSION did not install into $TOOLS_DIR"; exit 1; }
}

ensure_rust_components() {
  command -v "$CARGO" >/dev/null || { say "cargo is required: install Rust with rustup (https://rustup.rs)"; exit 1; }
  local missing=()
  "$CARGO" clippy --version >/dev/null 2>&1 || missing+=(clippy)
  "$CARGO" fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if command -v rustup >/dev/null; then
    say "installing ${missing[*]}"
    rustup component add "${missing[@]}" >&2
  else
    say "missing ${missing[*]}: run: rustup component add ${missing[*]}"
    exit 1
  fi
}

# The system packages (Debian/Ubuntu names) whose programs or files are missing.
missing_system_packages() {
  command -v cc >/dev/null || echo gcc
  command -v c++ >/dev/null || echo g++
  command -v make >/dev/null || echo make
  command -v cmake >/dev/null || echo cmake
  command -v ninja >/dev/null || echo ninja-build
  command -v pkg-config >/dev/null || echo pkg-config
  command -v valgrind >/dev/null || echo valgrind
  command -v git >/dev/null || echo git
  [[ -f /usr/include/gtest/gtest.h || -f /usr/local/include/gtest/gtest.h ]] || echo libgtest-dev
  command -v debootstrap >/dev/null || echo debootstrap          # test-swift's chroot
  command -v javac >/dev/null || echo openjdk-17-jdk-headless     # test-kotlin
  command -v mvn >/dev/null || echo maven                         # test-kotlin
  # test-kotlin's 32-bit checks of the JNI shim (armeabi-v7a's size_t), on x86_64 hosts
  [[ $HOSTTYPE != x86_64 || -f /usr/lib32/crt1.o ]] || echo gcc-multilib
}

ensure_system_packages() {
  local missing
  mapfile -t missing < <(missing_system_packages)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if ! command -v apt-get >/dev/null; then
    say "missing ${missing[*]} (Debian names): install them with your package manager"
    exit 1
  fi
  if [[ $(id -u) -ne 0 ]]; then
    say "missing ${missing[*]}: run: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

case "${1:-all}" in
  cbindgen)
    ensure_cbindgen
    cbindgen_path
    ;;
  all)
    ensure_system_packages
    ensure_rust_components
    ensure_cbindgen
    say "all present (cbindgen: $(cbindgen_path))"
    ;;
  *)
    echo "usage: scripts/tools.sh [all|cbindgen]" >&2
    exit 2
    ;;
esac
