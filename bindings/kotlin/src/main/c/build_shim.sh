#!/usr/bin/env bash
# Builds the JNI shim (libnexus_store_jni.so) from the C files beside this script, linking the
# host-built Rust static library. Called by Maven in the compile phase (exec-maven-plugin).
#   build_shim.sh JAVA_HOME NEXUS_ROOT OUT_DIR
set -euo pipefail
java_home=$1
root=$2
out=$3
here=$(cd "$(dirname "$0")" && pwd)
lib="$root/target/release/libnexus_store.a"
if [ ! -f "$lib" ]; then
  echo "build_shim.sh: $lib is missing: run 'make lib' (or 'cargo build --release --lib') in $root" >&2
  exit 1
fi
mkdir -p "$out"
so="$out/libnexus_store_jni.so"
# Rebuild only when a source, the header or the Rust library is newer than the shim.
if [ -f "$so" ] && [ -z "$(find "$here" "$root/include/nexus_store.h" "$lib" -newer "$so" -type f | head -1)" ]; then
  echo "build_shim.sh: $so is up to date"
  exit 0
fi
${CC:-cc} -std=c11 -O2 -g -fPIC -shared -Wall -Wextra -Werror -fvisibility=hidden \
  -I"$java_home/include" -I"$java_home/include/linux" -I"$root/include" \
  "$here"/*.c "$lib" \
  -Wl,--exclude-libs,ALL -Wl,-z,defs -Wl,-soname,libnexus_store_jni.so \
  -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc \
  -o "$so"
echo "build_shim.sh: built $so"
