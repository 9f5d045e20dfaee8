#!/usr/bin/env bash
# Builds and tests the Swift package on Linux; exits non-zero on any failure.
#
#   bindings/swift/run_tests.sh [CHROOT_DIR]
#
#   1. makes the Debian trixie + swiftlang chroot if it is missing
#      (scripts/swift-chroot.sh; default .swift-chroot/, git-ignored)
#   2. stages into it the header, the host-built libnexus_store.a (built by
#      `make lib` before this runs), this package and examples/swift/
#      (SwiftPM's .build folders stay in the chroot, so reruns are warm)
#   3. checks that the README's Swift example is examples/swift's
#      readme-example, word for word
#   4. builds and runs the example programs of examples/swift/
#   5. `swift test` under AddressSanitizer (passing tests' lines left out)
#   6. `swift test` under ThreadSanitizer (the Swift code instrumented)
#   7. `swift test` (XCTest; its "Executed N tests" line closes the output)
# /proc is mounted in the chroot only while it runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHROOT="${1:-${SWIFT_CHROOT:-$ROOT/.swift-chroot}}"
CHROOT_TOOL="$ROOT/bindings/swift/scripts/swift-chroot.sh"
LIB="$ROOT/target/release/libnexus_store.a"
STAGE=/nexus            # inside the chroot

step() { printf '\n==== [%3ds] %s\n' "$SECONDS" "$*"; }

[ -f "$LIB" ] || { echo "missing $LIB: run 'make lib' first" >&2; exit 1; }
# Making the chroot, staging into it and chroot itself need root.
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "bindings/swift/run_tests.sh needs root (or sudo) for its chroot" >&2; exit 1; }
  exec sudo -E "$0" "$CHROOT"
fi

step "1. the Swift chroot ($CHROOT)"
"$CHROOT_TOOL" ensure "$CHROOT"

step "2. staging the header, libnexus_store.a, the package and the examples"
stage_dir() {  # stage_dir <repo-relative dir>: replace its sources, keep .build
  local dest="$CHROOT$STAGE/$1"
  mkdir -p "$dest"
  find "$dest" -mindepth 1 -maxdepth 1 ! -name .build -exec rm -rf {} +
  tar -C "$ROOT/$1" --exclude=./.build -cf - . | tar -C "$dest" -xf -
}
mkdir -p "$CHROOT$STAGE/include" "$CHROOT$STAGE/lib"
cp -p "$ROOT/include/nexus_store.h" "$CHROOT$STAGE/include/"
# Only the .a in the -L folder, or the linker would take a .so.
cp -p "$LIB" "$CHROOT$STAGE/lib/"
stage_dir bindings/swift
stage_dir examples/swift

step "3. the README's Swift example is examples/swift/Sources/readme-example/main.swift"
README_EXAMPLE="$ROOT/examples/swift/Sources/readme-example/main.swift"
awk '/<!-- swift-readme-example -->/{f=1; next} f && /^```swift/{on=1; next} on && /^```/{exit} on{print}' \
  "$ROOT/README.md" > "$ROOT/target/readme-example.swift"
if ! diff -u "$README_EXAMPLE" "$ROOT/target/readme-example.swift"; then
  echo "README.md's Swift example differs from $README_EXAMPLE" >&2; exit 1
fi
echo "  identical ($(wc -l < "$README_EXAMPLE") lines)"

# Build plans are not cached: SwiftPM's cached plan misses files added to a
# path dependency (the examples' NexusStorePackage).
step "3b. make xcframework needs Apple's tools and says so"
if [ "$(uname -s)" != Darwin ]; then
  status=0
  "$ROOT/bindings/swift/scripts/make-xcframework.sh" > "$ROOT/target/xcframework.log" 2>&1 || status=$?
  if [ "$status" != 2 ] || ! grep -q "needs Apple's tools" "$ROOT/target/xcframework.log"; then
    cat "$ROOT/target/xcframework.log"; echo "make xcframework: expected status 2 and the message (got $status)" >&2; exit 1
  fi
  sed 's/^/  /' "$ROOT/target/xcframework.log"
fi
# Package.swift declares only the platforms the script builds slices for.
if grep -n -E '\.(tvOS|watchOS|visionOS|macCatalyst)\(' "$ROOT/bindings/swift/Package.swift"; then
  echo "Package.swift declares a platform make-xcframework.sh builds no slice for" >&2; exit 1
fi

LINK="--disable-build-manifest-caching -Xlinker -L$STAGE/lib"
step "4. the examples (examples/swift): build and run in the chroot"
"$CHROOT_TOOL" run "$CHROOT" "set -e
  cd $STAGE/examples/swift
  swift build $LINK
  echo '--- image-cache:'; .build/debug/image-cache
  echo '--- readme-example:'; .build/debug/readme-example
"

# AddressSanitizer catches an object released twice or used after its
# release. Leak detection is off: XCTest on Linux keeps every test case
# object to the end (each leak report is one of those); released-once
# counts are asserted by the tests themselves.
step "5. swift test under AddressSanitizer in the chroot"
"$CHROOT_TOOL" run "$CHROOT" "set -eo pipefail
  cd $STAGE/bindings/swift
  swift build --build-tests --sanitize=address --scratch-path .build/asan $LINK
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 swift test --skip-build --sanitize=address \
    --scratch-path .build/asan --disable-swift-testing $LINK 2>&1 | grep -v -E \"^Test Case '.*' (started|passed)\"
"

# ThreadSanitizer over the wrapper (the Rust library is not instrumented).
step "6. swift test under ThreadSanitizer in the chroot"
"$CHROOT_TOOL" run "$CHROOT" "set -eo pipefail
  cd $STAGE/bindings/swift
  swift build --build-tests --sanitize=thread --scratch-path .build/tsan $LINK
  TSAN_OPTIONS=halt_on_error=1 swift test --skip-build --sanitize=thread \
    --scratch-path .build/tsan --disable-swift-testing $LINK 2>&1 | grep -v -E \"^Test Case '.*' (started|passed)\"
"

step "7. swift test (XCTest) in the chroot"
"$CHROOT_TOOL" run "$CHROOT" "set -e
  cd $STAGE/bindings/swift
  swift build --build-tests $LINK
  swift test --skip-build --disable-swift-testing $LINK
"
