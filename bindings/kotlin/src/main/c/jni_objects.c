/* The object cache: a JVM object is stored as a JNI global reference, which the library's
 * release callback deletes exactly once, on whatever thread ends the entry. */
#include "jni_env.h"

#include <stdatomic.h>
#include <stdio.h>

#define NATIVE(name) JNICALL Java_io_nexusstore_NativeBridge_##name

/* Global references the shim holds for stored objects, across every store. */
static atomic_llong live_object_refs;

static void release_object(void *ctx, void *object) {
  (void)ctx;
  JNIEnv *env = nexus_jni_env();
  if (env != NULL) {
    (*env)->DeleteGlobalRef(env, (jobject)object);
    atomic_fetch_sub(&live_object_refs, 1);
  }
}

NexusStatus nexus_jni_put_global(JNIEnv *env, jobject object, size_t cost, NexusJniPutObjectFn put,
                                 void *target) {
  jobject ref = (*env)->NewGlobalRef(env, object);
  if (ref == NULL) {
    nexus_jni_clear_exception(env);
    return NEXUS_STATUS_ERR_OUT_OF_MEMORY;
  }
  atomic_fetch_add(&live_object_refs, 1);
  NexusStatus status = put(target, ref, cost, release_object, NULL);
  if (status != NEXUS_STATUS_OK) {
    /* The store took no ownership. */
    (*env)->DeleteGlobalRef(env, ref);
    atomic_fetch_sub(&live_object_refs, 1);
  }
  return status;
}

typedef struct PutTarget {
  NexusStore *store;
  const uint8_t *key;
  size_t key_len;
} PutTarget;

static NexusStatus put_into_store(void *target, void *object, size_t cost, NexusReleaseFn release,
                                  void *release_ctx) {
  PutTarget *t = target;
  return nexus_store_put_object(t->store, t->key, t->key_len, object, cost, release, release_ctx);
}

JNIEXPORT void NATIVE(putObject)(JNIEnv *env, jclass cls, jlong store, jbyteArray key, jobject value,
                                 jlong cost) {
  (void)cls;
  if (!nexus_jni_at_least(env, cost, 0, "cost")) return; /* "cost must be >= 0 (got -1)" */
  NexusStatus refusal;
  const char *why = nexus_jni_cost_refused(cost, &refusal);
  if (why != NULL) {
    nexus_jni_throw_message(env, refusal, why);
    return;
  }
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return;
  PutTarget target = {nexus_jni_store(store), k.data, k.len};
  NexusStatus status = nexus_jni_put_global(env, value, (size_t)cost, put_into_store, &target);
  nexus_jni_bytes_free(&k);
  if (status != NEXUS_STATUS_OK) {
    nexus_jni_throw_status(env, status);
  }
}

/* The object, or null when absent; NexusException for a bytes value. */
JNIEXPORT jobject NATIVE(getObject)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return NULL;
  NexusValue *value = NULL;
  NexusStatus status = nexus_store_get(nexus_jni_store(store), k.data, k.len, &value);
  nexus_jni_bytes_free(&k);
  return nexus_jni_object_of(env, status, value, "get");
}

jobject nexus_jni_object_of(JNIEnv *env, NexusStatus status, NexusValue *value,
                            const char *bytes_reader) {
  if (status == NEXUS_STATUS_NOT_FOUND) return NULL;
  if (status != NEXUS_STATUS_OK) {
    nexus_jni_throw_status(env, status);
    return NULL;
  }
  jobject out = NULL;
  void *object = nexus_value_object(value);
  if (object == NULL) {
    char message[96];
    snprintf(message, sizeof message, "the value is bytes: read it with %s", bytes_reader);
    nexus_jni_throw_message(env, NEXUS_STATUS_ERR_INVALID_ARGUMENT, message);
  } else {
    /* A local reference of our own: the entry may be released the moment the handle is. */
    out = (*env)->NewLocalRef(env, (jobject)object);
  }
  nexus_jni_release_value(env, value);
  return out;
}

JNIEXPORT jlong NATIVE(liveObjectRefs)(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return (jlong)atomic_load(&live_object_refs);
}
