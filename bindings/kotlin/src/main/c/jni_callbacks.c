/* The store's callbacks into the JVM: events, the eviction listener and the loader. Each
 * registration holds a JNI global reference to an io.nexusstore.StoreCallbacks, deleted by the
 * C library's destroy exactly once, on whatever thread that runs. A call into the JVM runs in
 * its own local frame (native threads keep no local references), and any exception it throws
 * is cleared here: nothing is left pending across the C library. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "jni_env.h"

#include <stdlib.h>
#include <string.h>

#define NATIVE(name) JNICALL Java_io_nexusstore_NativeBridge_##name

static void delete_global_ref(void *ctx) {
  JNIEnv *env = nexus_jni_env();
  if (env != NULL) {
    (*env)->DeleteGlobalRef(env, (jobject)ctx);
  }
}

static void on_event(void *ctx, const NexusEvent *e) {
  JNIEnv *env = nexus_jni_env();
  if (env == NULL || (*env)->PushLocalFrame(env, 4) != 0) {
    if (env != NULL) nexus_jni_clear_exception(env);
    return;
  }
  (*env)->CallVoidMethod(env, (jobject)ctx, nexus_jni.on_event, (jint)e->kind,
                         nexus_jni_u64(e->sequence), (jint)e->level, (jint)e->previous_level,
                         (jint)e->reason, nexus_jni_u64(e->count), nexus_jni_u64(e->bytes),
                         nexus_jni_u64(e->usage_bytes), nexus_jni_u64(e->timestamp_ns));
  nexus_jni_clear_exception(env);
  (*env)->PopLocalFrame(env, NULL);
}

static void on_eviction(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                        uint64_t bytes) {
  JNIEnv *env = nexus_jni_env();
  if (env == NULL || (*env)->PushLocalFrame(env, 4) != 0) {
    if (env != NULL) nexus_jni_clear_exception(env);
    return;
  }
  jbyteArray jkey = nexus_jni_new_bytes(env, key, key_len);
  if (jkey != NULL) {
    (*env)->CallVoidMethod(env, (jobject)ctx, nexus_jni.on_eviction, jkey, (jint)reason,
                           nexus_jni_u64(bytes));
  }
  nexus_jni_clear_exception(env);
  (*env)->PopLocalFrame(env, NULL);
}

/* The message of `thrown` (StoreCallbacks.describe), as a malloc'd C string, or NULL. */
static char *describe(JNIEnv *env, jthrowable thrown) {
  jbyteArray utf8 = (jbyteArray)(*env)->CallStaticObjectMethod(env, nexus_jni.callbacks,
                                                               nexus_jni.describe, thrown);
  if (nexus_jni_clear_exception(env) || utf8 == NULL) {
    return NULL;
  }
  jsize len = (*env)->GetArrayLength(env, utf8);
  char *message = malloc((size_t)len + 1);
  if (message != NULL) {
    (*env)->GetByteArrayRegion(env, utf8, 0, len, (jbyte *)message);
    message[len] = '\0';
    /* The C API takes a C string: a NUL inside the message ends it. */
  }
  return message;
}

static NexusStatus put_into_sink(void *sink, void *object, size_t cost, NexusReleaseFn release,
                                 void *release_ctx) {
  return nexus_load_sink_put_object(sink, object, cost, release, release_ctx);
}

static NexusStatus loader(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
  JNIEnv *env = nexus_jni_env();
  if (env == NULL) {
    return nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_CALLBACK,
                                "the loader's thread could not be attached to the JVM");
  }
  if ((*env)->PushLocalFrame(env, 8) != 0) {
    nexus_jni_clear_exception(env);
    return nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_OUT_OF_MEMORY, "no room for JNI references");
  }
  NexusStatus status;
  jbyteArray jkey = nexus_jni_new_bytes(env, key, key_len);
  jobject result = NULL;
  if (jkey != NULL) {
    result = (*env)->CallObjectMethod(env, (jobject)ctx, nexus_jni.load, jkey);
  }
  if ((*env)->ExceptionCheck(env)) {
    jthrowable thrown = (*env)->ExceptionOccurred(env);
    (*env)->ExceptionClear(env);
    /* StoreCallbacks.load refused the loader's result (of the wrong type for its call):
     * INVALID_ARGUMENT with its message. A cancellation (a coroutine's, or an interrupt) is
     * the loading caller's, not the key's: the load is abandoned, and the callers that joined
     * it look the key up again (NexusStore.load rethrows the same two classes to the caller).
     * Anything else the loader threw is CALLBACK. */
    int refused = (*env)->IsInstanceOf(env, thrown, nexus_jni.load_refused);
    int cancelled = (*env)->IsInstanceOf(env, thrown, nexus_jni.cancellation) ||
                    (*env)->IsInstanceOf(env, thrown, nexus_jni.interrupted);
    char *message = describe(env, thrown);
    if (cancelled) {
      nexus_load_sink_abandon(sink, message != NULL ? message : "the loader's caller was cancelled");
    } else {
      nexus_load_sink_fail(sink, refused ? NEXUS_STATUS_ERR_INVALID_ARGUMENT : NEXUS_STATUS_ERR_CALLBACK,
                           message != NULL ? message : "the loader threw");
    }
    free(message);
    status = NEXUS_STATUS_ERR_CALLBACK; /* ignored: the sink holds the failure */
  } else if (result == NULL) {
    status = NEXUS_STATUS_NOT_FOUND; /* the loader returned null: absent */
  } else if ((*env)->IsInstanceOf(env, result, nexus_jni.byte_array)) {
    NexusJniBytes v;
    if (nexus_jni_bytes_get(env, (jbyteArray)result, &v) != 0) {
      nexus_jni_clear_exception(env);
      status = nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_OUT_OF_MEMORY, "loaded value copy");
    } else {
      status = nexus_load_sink_put_bytes(sink, v.data, v.len);
      nexus_jni_bytes_free(&v);
    }
  } else if ((*env)->IsInstanceOf(env, result, nexus_jni.costed_object)) {
    jobject object = (*env)->GetObjectField(env, result, nexus_jni.costed_value);
    jlong cost = (*env)->GetLongField(env, result, nexus_jni.costed_cost);
    NexusStatus refusal;
    const char *why = nexus_jni_cost_refused(cost, &refusal);
    if (why != NULL) {
      /* Refused with the Kotlin API's reason; ERR_CALLBACK (ignored: the sink holds the
       * failure) keeps the message below from being set again. */
      nexus_load_sink_fail(sink, refusal, why);
      status = NEXUS_STATUS_ERR_CALLBACK;
    } else {
      status = nexus_jni_put_global(env, object, (size_t)cost, put_into_sink, sink);
    }
  } else {
    /* StoreCallbacks.load passes only a byte[], a CostedObject or null; never read fields of
     * anything else (erased generics let a loader return any object). */
    nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_INVALID_ARGUMENT,
                         "the loader returned neither a byte[] nor a CostedObject");
    status = NEXUS_STATUS_ERR_CALLBACK;
  }
  if (status != NEXUS_STATUS_OK && status != NEXUS_STATUS_NOT_FOUND &&
      status != NEXUS_STATUS_ERR_CALLBACK) {
    /* A put into the sink failed: every waiter gets its status and message. */
    char *message = strdup(nexus_last_error_message());
    nexus_load_sink_fail(sink, status, message != NULL ? message : "the loaded value was refused");
    free(message);
  }
  (*env)->PopLocalFrame(env, NULL);
  return status;
}

/* Registers (callbacks != null) or unregisters one kind of callback. */
static void register_callback(JNIEnv *env, jlong store, jobject callbacks, int kind) {
  jobject ref = NULL;
  if (callbacks != NULL) {
    ref = (*env)->NewGlobalRef(env, callbacks);
    if (ref == NULL) return;
  }
  NexusStore *s = nexus_jni_store(store);
  NexusStatus status;
  /* On failure the library runs delete_global_ref itself (also when unregistering). */
  switch (kind) {
    case 0:
      status = nexus_store_set_event_callback(s, ref ? on_event : NULL, ref, ref ? delete_global_ref : NULL);
      break;
    case 1:
      status = nexus_store_set_eviction_listener(s, ref ? on_eviction : NULL, ref, ref ? delete_global_ref : NULL);
      break;
    default:
      status = nexus_store_set_loader(s, ref ? loader : NULL, ref, ref ? delete_global_ref : NULL);
      break;
  }
  if (status != NEXUS_STATUS_OK) {
    nexus_jni_throw_status(env, status);
  }
}

JNIEXPORT void NATIVE(setEventCallback)(JNIEnv *env, jclass cls, jlong store, jobject callbacks) {
  (void)cls;
  register_callback(env, store, callbacks, 0);
}

JNIEXPORT void NATIVE(setEvictionListener)(JNIEnv *env, jclass cls, jlong store, jobject callbacks) {
  (void)cls;
  register_callback(env, store, callbacks, 1);
}

JNIEXPORT void NATIVE(setLoader)(JNIEnv *env, jclass cls, jlong store, jobject callbacks) {
  (void)cls;
  register_callback(env, store, callbacks, 2);
}

/* The loaded (or cached) bytes; null when the loader returned null. */
JNIEXPORT jbyteArray NATIVE(getOrLoad)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return NULL;
  NexusValue *value = NULL;
  NexusStatus status = nexus_store_get_or_load(nexus_jni_store(store), k.data, k.len, &value);
  nexus_jni_bytes_free(&k);
  if (status == NEXUS_STATUS_NOT_FOUND) return NULL;
  if (status != NEXUS_STATUS_OK) {
    nexus_jni_throw_status(env, status);
    return NULL;
  }
  jbyteArray out = NULL;
  const uint8_t *data = nexus_value_data(value);
  if (data == NULL) {
    nexus_jni_throw_message(env, NEXUS_STATUS_ERR_INVALID_ARGUMENT,
                            "the value is an object: read it with getObject");
  } else {
    out = nexus_jni_new_bytes(env, data, nexus_value_len(value));
  }
  nexus_jni_release_value(env, value);
  return out;
}

/* The loaded (or cached) object; null when the loader returned null. */
JNIEXPORT jobject NATIVE(getOrLoadObject)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return NULL;
  NexusValue *value = NULL;
  NexusStatus status = nexus_store_get_or_load(nexus_jni_store(store), k.data, k.len, &value);
  nexus_jni_bytes_free(&k);
  return nexus_jni_object_of(env, status, value, "getOrLoad");
}
