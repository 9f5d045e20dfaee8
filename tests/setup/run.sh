#!/usr/bin/env bash
# Tests of the set-up (`make setup-test`, part of `make test`; a few seconds):
#   - scripts/tools.sh picks a cbindgen of the pinned version on PATH, else the
#     one in its tools folder, else installs one there (cargo faked); names the
#     exact apt-get command when it is not root, runs apt-get when it is (both
#     faked, with the system's programs hidden from PATH)
#   - `make build` and `make install` run with no cbindgen at all
#   - the demo's crate depends on nothing but the library's own dependencies
#   - .ci/run installs nothing itself: it runs `make test`
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
BASH_BIN="$(command -v bash)"
passed=0
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { passed=$((passed + 1)); echo "  ok: $*"; }

fake() {  # fake <dir> <name> <script body>
  mkdir -p "$1"
  printf '#!%s\n%s\n' "$BASH_BIN" "$3" > "$1/$2"
  chmod +x "$1/$2"
}

# A PATH with only what scripts/tools.sh and the fakes run (no compilers, cmake,
# valgrind, cargo or cbindgen): the system as a bare machine.
BARE="$TMP/bare"
mkdir -p "$BARE"
for tool in bash env grep dirname mkdir chmod; do ln -s "$(command -v "$tool")" "$BARE/$tool"; done

# ---- cbindgen --------------------------------------------------------------------
fake "$TMP/path-ok" cbindgen 'echo "cbindgen 0.29.2"'
got="$(PATH="$TMP/path-ok:$BARE" NEXUS_TOOLS_DIR="$TMP/tools-a" "$ROOT/scripts/tools.sh" cbindgen)"
[[ "$got" == "$TMP/path-ok/cbindgen" ]] || fail "cbindgen 0.29.2 on PATH not chosen: $got"
pass "a cbindgen 0.29.2 on PATH is used"

fake "$TMP/path-old" cbindgen 'echo "cbindgen 0.26.0"'
fake "$TMP/tools-b/bin" cbindgen 'echo "cbindgen 0.29.2"'
got="$(PATH="$TMP/path-old:$BARE" NEXUS_TOOLS_DIR="$TMP/tools-b" "$ROOT/scripts/tools.sh" cbindgen)"
[[ "$got" == "$TMP/tools-b/bin/cbindgen" ]] || fail "a wrong-version cbindgen on PATH was not passed over: $got"
pass "another version on PATH is passed over for the tools folder's"

# Neither: cargo install into the tools folder (the fake cargo records its
# arguments and "installs" a cbindgen 0.29.2 where --root says).
fake "$TMP/fakecargo" cargo 'echo "$*" >> "'"$TMP"'/cargo.log"
root=""; while [[ $# -gt 0 ]]; do [[ "$1" == --root ]] && root="$2"; shift; done
mkdir -p "$root/bin"; printf "#!%s\necho \"cbindgen 0.29.2\"\n" "'"$BASH_BIN"'" > "$root/bin/cbindgen"; chmod +x "$root/bin/cbindgen"'
got="$(PATH="$TMP/path-old:$BARE" NEXUS_TOOLS_DIR="$TMP/tools-c" CARGO="$TMP/fakecargo/cargo" \
       "$ROOT/scripts/tools.sh" cbindgen 2>"$TMP/install.err")"
[[ "$got" == "$TMP/tools-c/bin/cbindgen" ]] || fail "cbindgen not installed into the tools folder: $got"
grep -qx -- "install --quiet --locked --debug --force --root $TMP/tools-c cbindgen@0.29.2" "$TMP/cargo.log" ||
  fail "unexpected cargo install: $(cat "$TMP/cargo.log")"
grep -q "installing cbindgen 0.29.2 into $TMP/tools-c" "$TMP/install.err" || fail "the install was not announced"
pass "none: cargo install --locked --root <tools folder> cbindgen@0.29.2, announced"

# ---- system packages ---------------------------------------------------------------
fake "$TMP/user" id '[[ "$1" == -u ]] && echo 1000'
fake "$TMP/user" apt-get 'echo "apt-get $*" >> "'"$TMP"'/apt.log"'
set +e
PATH="$TMP/user:$BARE" "$ROOT/scripts/tools.sh" > "$TMP/user.out" 2>&1
status=$?
set -e
[[ $status -eq 1 ]] || fail "tools.sh as a user with packages missing exited $status"
[[ ! -f "$TMP/apt.log" ]] || fail "tools.sh ran apt-get as a user"
[[ $(wc -l < "$TMP/user.out") -eq 1 ]] || fail "more than one line: $(cat "$TMP/user.out")"
for pkg in gcc g++ cmake ninja-build pkg-config valgrind; do   # their programs are hidden
  [[ "$(cat "$TMP/user.out") " == *"run: sudo apt-get install -y"*" $pkg "* ]] || fail "the command does not name $pkg: $(cat "$TMP/user.out")"
done
pass "as a user: one line, $(cat "$TMP/user.out")"

fake "$TMP/root" id '[[ "$1" == -u ]] && echo 0'
fake "$TMP/root" apt-get 'echo "apt-get $*" >> "'"$TMP"'/apt.log"'
set +e
PATH="$TMP/root:$BARE" "$ROOT/scripts/tools.sh" > "$TMP/root.out" 2>&1
set -e
grep -q "^apt-get update" "$TMP/apt.log" || fail "as root, no apt-get update: $(cat "$TMP/root.out")"
grep -q "^apt-get install -y -qq --no-install-recommends .*valgrind" "$TMP/apt.log" ||
  fail "as root, no apt-get install: $(cat "$TMP/apt.log")"
grep -q "cargo is required" "$TMP/root.out" || fail "with no cargo, no message: $(cat "$TMP/root.out")"
pass "as root: apt-get install of the missing packages, then a clear stop without cargo"

# ---- make build / make install need no cbindgen --------------------------------------
make --no-print-directory -C "$ROOT" build install PREFIX="$TMP/prefix" CBINDGEN="$TMP/no-cbindgen" >/dev/null 2>"$TMP/make.err" ||
  fail "make build install with no cbindgen failed: $(tail -5 "$TMP/make.err")"
[[ -f "$TMP/prefix/include/nexus/store.hpp" && -f "$TMP/prefix/lib/libnexus_store.so" ]] || fail "make install installed too little"
pass "make build and make install ran with CBINDGEN pointing at nothing"

# ---- the demo builds no test-only dependency ---------------------------------------
cd "$ROOT"
tree() { cargo tree --offline --prefix none --format '{p}' -e normal,build "$@" | sed 's/ (.*//; s/ (\*)$//' | sort -u; }
tree -p nexus-store > "$TMP/lib-deps.txt"
tree -p nexus-store-demo | grep -v '^nexus-store-demo ' > "$TMP/demo-deps.txt"
extra="$(comm -13 "$TMP/lib-deps.txt" "$TMP/demo-deps.txt")"
[[ -z "$extra" ]] || fail "the demo pulls in more than the library: $extra"
for dev in $(cargo tree --offline --prefix none --format '{p}' -e dev --depth 1 -p nexus-store | sed 's/ (.*//' | awk '{print $1}' | sort -u); do
  if ! grep -q "^$dev " "$TMP/lib-deps.txt" && grep -q "^$dev " "$TMP/demo-deps.txt"; then
    fail "the demo depends on the test-only $dev"
  fi
done
pass "the demo depends on the library and its $(wc -l < "$TMP/lib-deps.txt") packages only (no proptest)"
grep -q 'run --release -p nexus-store-demo' Makefile || fail "make demo does not run the demo crate"
pass "make demo runs the demo crate"

# ---- .ci/run ----------------------------------------------------------------------
if grep -vE '^\s*(#|$)' .ci/run | grep -qE 'apt-get|cargo install|rustup'; then
  fail ".ci/run installs tools itself: that is scripts/tools.sh's job"
fi
grep -qE '^exec make test$' .ci/run || fail ".ci/run does not end in make test"
pass ".ci/run only runs make test"

echo "setup tests: $passed passed"
