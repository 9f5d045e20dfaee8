#!/usr/bin/env bash
# The shim's jlong -> size_t conversions on a 32-bit device (armeabi-v7a), checked on this host
# (part of `make test-kotlin`): test_jni_size.c built and run for the host and, when the
# compiler can link 32-bit programs (gcc-multilib on x86_64), for -m32; there, every shim
# source is also compiled for -m32 with -Werror.
#   run_size_checks.sh NEXUS_ROOT OUT_DIR
set -euo pipefail
root=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
shim="$here/../../main/c"
java_home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
cc=${CC:-cc}
flags=(-std=c11 -Wall -Wextra -Werror -I"$java_home/include" -I"$java_home/include/linux"
       -I"$root/include" -I"$shim")
mkdir -p "$out"
"$cc" "${flags[@]}" "$here/test_jni_size.c" -o "$out/test_jni_size"
"$out/test_jni_size"
if echo 'int main(void) { return 0; }' | "$cc" -m32 -x c - -o "$out/m32_probe" 2>/dev/null; then
  "$cc" -m32 "${flags[@]}" "$here/test_jni_size.c" -o "$out/test_jni_size32"
  "$out/test_jni_size32"
  for f in "$shim"/*.c; do
    "$cc" -m32 "${flags[@]}" -c "$f" -o "$out/m32_$(basename "$f").o"
  done
  echo "run_size_checks.sh: 32-bit checks passed (size_t of 4 bytes; every shim source builds with -m32)"
else
  echo "run_size_checks.sh: 32-bit checks skipped: $cc cannot link -m32 programs (install gcc-multilib)"
fi
