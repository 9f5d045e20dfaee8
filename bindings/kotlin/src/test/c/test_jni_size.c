/* The shim's jlong -> size_t conversions (jni_env.h), as a 32-bit device (armeabi-v7a) runs them:
 * built by run_size_checks.sh for the host and, where the compiler links 32-bit programs, with
 * -m32, where a size_t is 4 bytes and 2^32 + 1 must not become 1. */
#include <stdio.h>
#include "jni_env.h"
int main(void) {
  int bad = 0;
  jlong big = ((jlong)1 << 32) + 1;
  size_t s = nexus_jni_size_saturated(big);
  int fits = nexus_jni_size_fits(big);
  printf("sizeof(size_t)=%zu saturated=%zu fits=%d\n", sizeof(size_t), s, fits);
  if (sizeof(size_t) == 4) { bad |= s != SIZE_MAX; bad |= fits != 0; }
  else { bad |= s != (size_t)big; bad |= fits != 1; }
  bad |= nexus_jni_size_saturated(7) != 7;
  bad |= !nexus_jni_size_fits(7);
  return bad;
}
