#!/usr/bin/env bash
# Builds bindings/swift/CNexusStore.xcframework: the Rust static library for
# iOS devices (arm64), the iOS simulator (arm64 + x86_64) and macOS (arm64 +
# x86_64), with the C header and a module map (module CNexusStore). When it
# exists, bindings/swift/Package.swift uses it as a binary target instead of
# the system-library module, so an Xcode app adds the package and links
# nothing else.
#
#   make xcframework        (on a Mac with Xcode and rustup)
#
# Where Apple's tools are missing it says which and exits with status 2.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
OUT="$ROOT/target/xcframework"
XCFRAMEWORK="$ROOT/bindings/swift/CNexusStore.xcframework"
DEVICE=(aarch64-apple-ios)
SIMULATOR=(aarch64-apple-ios-sim x86_64-apple-ios)
MACOS=(aarch64-apple-darwin x86_64-apple-darwin)

missing() {
  echo "make xcframework: $1" >&2
  echo "make xcframework: an XCFramework needs Apple's tools (macOS with Xcode: xcodebuild, lipo) and rustup;" >&2
  echo "make xcframework: nothing was built here. On Linux the Swift package links target/release/libnexus_store.a instead." >&2
  exit 2
}

[ "$(uname -s)" = Darwin ] || missing "this is $(uname -s), not macOS"
command -v xcodebuild >/dev/null || missing "xcodebuild not found (install Xcode and run xcode-select)"
xcodebuild -version >/dev/null 2>&1 || missing "xcodebuild does not run (select a full Xcode: sudo xcode-select -s /Applications/Xcode.app)"
command -v lipo >/dev/null || missing "lipo not found"
command -v rustup >/dev/null || missing "rustup not found (the Apple targets are added with it)"

targets=("${DEVICE[@]}" "${SIMULATOR[@]}" "${MACOS[@]}")
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  echo "== cargo build --release --lib --target $t"
  (cd "$ROOT" && cargo build --release --lib --target "$t")
done

rm -rf "$OUT" "$XCFRAMEWORK"
mkdir -p "$OUT/headers" "$OUT/ios-simulator" "$OUT/macos"
cp "$ROOT/include/nexus_store.h" "$OUT/headers/"
cat > "$OUT/headers/module.modulemap" <<'MAP'
module CNexusStore [system] {
    header "nexus_store.h"
    export *
}
MAP

lib() { echo "$ROOT/target/$1/release/libnexus_store.a"; }
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$OUT/ios-simulator/libnexus_store.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$OUT/macos/libnexus_store.a"

xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$OUT/headers" \
  -library "$OUT/ios-simulator/libnexus_store.a" -headers "$OUT/headers" \
  -library "$OUT/macos/libnexus_store.a" -headers "$OUT/headers" \
  -output "$XCFRAMEWORK"
echo "make xcframework: built $XCFRAMEWORK (iOS device, iOS simulator, macOS)"
echo "make xcframework: bindings/swift/Package.swift now uses it; add the package to the app."
