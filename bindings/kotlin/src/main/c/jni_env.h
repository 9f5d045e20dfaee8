/* The JVM side of the shim: the JavaVM, a JNIEnv for any thread (native threads are attached
 * on first use and detached when they end), the classes and methods the shim calls, and the
 * conversions every entry point shares (keys, exceptions). */
#ifndef NEXUS_JNI_ENV_H
#define NEXUS_JNI_ENV_H

#include <jni.h>
#include <stddef.h>
#include <stdint.h>

#include "nexus_store.h"

/* Classes and methods, resolved once in JNI_OnLoad (global references). */
typedef struct NexusJniIds {
  jclass callbacks;          /* io.nexusstore.StoreCallbacks */
  jmethodID on_event;        /* (IJIIIJJJJ)V */
  jmethodID on_eviction;     /* ([BIJ)V */
  jmethodID load;            /* ([B)Ljava/lang/Object;: a byte[], a CostedObject or null */
  jmethodID describe;        /* static (Ljava/lang/Throwable;)[B: the message, UTF-8 */
  jclass exception;          /* io.nexusstore.NexusException */
  jmethodID exception_init;  /* (I[B)V */
  jclass byte_array;         /* byte[] */
  jclass costed_object;      /* io.nexusstore.CostedObject */
  jfieldID costed_value;     /* Ljava/lang/Object; */
  jfieldID costed_cost;      /* J */
  jclass load_refused;       /* io.nexusstore.StoreCallbacks$LoadRefused: a result of the wrong type */
  jclass cancellation;       /* java.util.concurrent.CancellationException (kotlinx's too) */
  jclass interrupted;        /* java.lang.InterruptedException */
} NexusJniIds;

extern NexusJniIds nexus_jni;

/* A JNIEnv for this thread; attaches a native thread (as a daemon) on first use, and a
 * pthread key's destructor detaches it when the thread ends. NULL if attaching failed. */
JNIEnv *nexus_jni_env(void);

/* Throws io.nexusstore.NexusException(status, nexus_last_error_message()). */
void nexus_jni_throw_status(JNIEnv *env, NexusStatus status);

/* Runs a C library call; if it fails, throws its status and message as a
 * NexusException (nexus_jni_throw_status) and returns fail_value from the
 * calling JNI function. */
#define NEXUS_JNI_CHECK(env, call, fail_value)     \
  do {                                            \
    NexusStatus check_status_ = (call);           \
    if (check_status_ != NEXUS_STATUS_OK) {       \
      nexus_jni_throw_status((env), check_status_); \
      return fail_value;                          \
    }                                             \
  } while (0)

/* Throws io.nexusstore.NexusException(status, message). */
void nexus_jni_throw_message(JNIEnv *env, NexusStatus status, const char *message);

/* Whether value >= min; if not, throws INVALID_ARGUMENT "<name> must be >= <min> (got <value>)".
 * Every bad value of a field gets these words (a 0 that the library refused came back in its own,
 * with the C field's name). */
int nexus_jni_at_least(JNIEnv *env, jlong value, jlong min, const char *name);

/* Clears a pending exception, if any, and returns 1 if there was one. Every call from a
 * callback into the JVM is followed by this: nothing is left pending across the C library. */
int nexus_jni_clear_exception(JNIEnv *env);

/* Why an object's cost of 0 is refused (the C library's own message names a size estimator,
 * which the Kotlin API does not offer). */
#define NEXUS_JNI_COST_ZERO \
  "an object's cost is 0: pass its size in bytes as cost (a Kotlin store has no size estimator)"

/* A u64 figure as a jlong, at most Long.MAX_VALUE: a usage of objects charged near 2^63 (or
 * anything past it) reads as the largest Long, never as a negative number. */
static inline jlong nexus_jni_u64(uint64_t v) {
  return v > (uint64_t)INT64_MAX ? (jlong)INT64_MAX : (jlong)v;
}

/* A jlong (already checked >= 0) as a size_t. On a 32-bit device (armeabi-v7a) a jlong can be
 * above SIZE_MAX, and a plain cast would keep only its low bits (2^32 + 1 would become 1):
 * - nexus_jni_size_saturated gives SIZE_MAX instead, for counts and capacities, where more
 *   than a size_t holds means "as many as there are";
 * - nexus_jni_size_fits says whether it fits, for costs, which must never be cut (the caller
 *   refuses a cost that does not fit: TOO_LARGE). */
static inline size_t nexus_jni_size_saturated(jlong v) {
#if SIZE_MAX < UINT64_MAX
  if ((uint64_t)v > (uint64_t)SIZE_MAX) return SIZE_MAX;
#endif
  return (size_t)v;
}

static inline int nexus_jni_size_fits(jlong v) {
#if SIZE_MAX < UINT64_MAX
  return (uint64_t)v <= (uint64_t)SIZE_MAX;
#else
  (void)v;
  return 1;
#endif
}

/* The message of a cost above SIZE_MAX (32-bit devices only). */
#define NEXUS_JNI_COST_TOO_LARGE "cost is larger than this device's size_t can hold"

/* Why an object's cost (already >= 0) cannot be charged, with the status to refuse it with, or
 * NULL when it can: 0 (the library would point to a size estimator, which a Kotlin store does
 * not have), or more than this device's size_t holds. The put and the loader's sink refuse the
 * same costs in the same words. */
static inline const char *nexus_jni_cost_refused(jlong cost, NexusStatus *status) {
  if (cost == 0) {
    *status = NEXUS_STATUS_ERR_INVALID_ARGUMENT;
    return NEXUS_JNI_COST_ZERO;
  }
  if (!nexus_jni_size_fits(cost)) {
    *status = NEXUS_STATUS_ERR_TOO_LARGE;
    return NEXUS_JNI_COST_TOO_LARGE;
  }
  return NULL;
}

/* nexus_value_release, with nothing pending across it: the release may run the store's
 * callbacks on this thread (it can evict the entry of a store under a signal), and they call
 * into the JVM. An exception this native already threw is set aside and thrown again after. */
void nexus_jni_release_value(JNIEnv *env, NexusValue *value);

/* A Java byte[]'s bytes copied out (GetByteArrayRegion): small ones on the stack, so a call
 * allocates nothing for them (GetByteArrayElements would copy into a malloc'd buffer anyway). */
typedef struct NexusJniBytes {
  uint8_t *data;
  size_t len;
  uint8_t small[256];
} NexusJniBytes;

/* Copies `array` (not NULL) into `out`; 0 on success, else an exception is pending (OutOfMemoryError). */
int nexus_jni_bytes_get(JNIEnv *env, jbyteArray array, NexusJniBytes *out);
void nexus_jni_bytes_free(NexusJniBytes *bytes);

/* The object a read (get or get_or_load) returned with `status` and
 * `value`: a new local reference (the entry may be released the moment the
 * handle is), NULL when absent (NOT_FOUND), or NULL with a NexusException
 * pending for another failure or a bytes value (`bytes_reader` names the
 * call that reads bytes). Releases `value`. */
jobject nexus_jni_object_of(JNIEnv *env, NexusStatus status, NexusValue *value,
                            const char *bytes_reader);

/* Stores `object` as a JNI global reference under `key` (cost 0: the estimator), through
 * `put` (nexus_store_put_object or nexus_load_sink_put_object's shape); on success the store
 * owns the reference and deletes it exactly once. Returns the status. */
typedef NexusStatus (*NexusJniPutObjectFn)(void *target, void *object, size_t cost,
                                           NexusReleaseFn release, void *release_ctx);
NexusStatus nexus_jni_put_global(JNIEnv *env, jobject object, size_t cost, NexusJniPutObjectFn put,
                                 void *target);

/* A new Java byte[] holding `len` bytes at `data`; NULL with an exception pending on failure. */
jbyteArray nexus_jni_new_bytes(JNIEnv *env, const uint8_t *data, size_t len);

/* A store handle as the Kotlin side holds it. */
static inline NexusStore *nexus_jni_store(jlong handle) {
  return (NexusStore *)(intptr_t)handle;
}

#endif
