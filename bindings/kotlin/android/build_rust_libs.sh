#!/usr/bin/env bash
# Builds libnexus_store.a for each Android ABI with cargo (the staticlib only: the JNI shim's
# CMake build links it with the NDK's clang); the Gradle task buildRustLibs runs it first.
#   build_rust_libs.sh NDK_DIR OUT_DIR ABI=TRIPLE...
set -euo pipefail
ndk=$1
out=$2
shift 2
root=$(cd "$(dirname "$0")/../../.." && pwd)
min_api=24
toolchain="$ndk/toolchains/llvm/prebuilt/$(uname -s | tr '[:upper:]' '[:lower:]')-x86_64/bin"
for pair in "$@"; do
  abi=${pair%%=*}
  triple=${pair#*=}
  rustup target add "$triple" >/dev/null
  clang_triple=$triple
  [ "$triple" = armv7-linux-androideabi ] && clang_triple=armv7a-linux-androideabi
  upper=$(echo "$triple" | tr '[:lower:]-' '[:upper:]_')
  env "CARGO_TARGET_${upper}_LINKER=$toolchain/${clang_triple}${min_api}-clang" \
      "CC_${triple//-/_}=$toolchain/${clang_triple}${min_api}-clang" \
      "AR_${triple//-/_}=$toolchain/llvm-ar" \
      cargo rustc --manifest-path "$root/Cargo.toml" --release --lib --crate-type staticlib \
      --target "$triple" --target-dir "$root/target/android"
  mkdir -p "$out/$abi"
  cp "$root/target/android/$triple/release/libnexus_store.a" "$out/$abi/libnexus_store.a"
done
