/* JNI_OnLoad, thread attachment and the shared conversions (see jni_env.h). */
#include "jni_env.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

NexusJniIds nexus_jni;

static JavaVM *nexus_vm;
static pthread_key_t attached_key;

/* Runs when a thread that the shim attached ends. */
static void detach_thread(void *marker) {
  (void)marker;
  if (nexus_vm != NULL) {
    (*nexus_vm)->DetachCurrentThread(nexus_vm);
  }
}

JNIEnv *nexus_jni_env(void) {
  JNIEnv *env = NULL;
  jint got = (*nexus_vm)->GetEnv(nexus_vm, (void **)&env, JNI_VERSION_1_6);
  if (got == JNI_OK) {
    return env;
  }
  if (got != JNI_EDETACHED) {
    return NULL;
  }
#ifdef __ANDROID__
  if ((*nexus_vm)->AttachCurrentThreadAsDaemon(nexus_vm, &env, NULL) != JNI_OK) {
    return NULL;
  }
#else
  if ((*nexus_vm)->AttachCurrentThreadAsDaemon(nexus_vm, (void **)&env, NULL) != JNI_OK) {
    return NULL;
  }
#endif
  /* Any non-NULL value makes the destructor run at thread exit. */
  pthread_setspecific(attached_key, (void *)1);
  return env;
}

static jclass global_class(JNIEnv *env, const char *name) {
  jclass local = (*env)->FindClass(env, name);
  if (local == NULL) {
    return NULL;
  }
  jclass global = (jclass)(*env)->NewGlobalRef(env, local);
  (*env)->DeleteLocalRef(env, local);
  return global;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
  (void)reserved;
  nexus_vm = vm;
  JNIEnv *env = NULL;
  if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK) {
    return JNI_ERR;
  }
  if (pthread_key_create(&attached_key, detach_thread) != 0) {
    return JNI_ERR;
  }
  NexusJniIds ids;
  memset(&ids, 0, sizeof ids);
  ids.callbacks = global_class(env, "io/nexusstore/StoreCallbacks");
  if (ids.callbacks == NULL) return JNI_ERR;
  ids.on_event = (*env)->GetMethodID(env, ids.callbacks, "onEvent", "(IJIIIJJJJ)V");
  ids.on_eviction = (*env)->GetMethodID(env, ids.callbacks, "onEviction", "([BIJ)V");
  ids.load = (*env)->GetMethodID(env, ids.callbacks, "load", "([B)Ljava/lang/Object;");
  ids.describe = (*env)->GetStaticMethodID(env, ids.callbacks, "describe", "(Ljava/lang/Throwable;)[B");
  ids.exception = global_class(env, "io/nexusstore/NexusException");
  if (ids.exception == NULL) return JNI_ERR;
  ids.exception_init = (*env)->GetMethodID(env, ids.exception, "<init>", "(I[B)V");
  ids.byte_array = global_class(env, "[B");
  ids.costed_object = global_class(env, "io/nexusstore/CostedObject");
  ids.load_refused = global_class(env, "io/nexusstore/StoreCallbacks$LoadRefused");
  ids.cancellation = global_class(env, "java/util/concurrent/CancellationException");
  ids.interrupted = global_class(env, "java/lang/InterruptedException");
  if (ids.byte_array == NULL || ids.costed_object == NULL || ids.load_refused == NULL ||
      ids.cancellation == NULL || ids.interrupted == NULL) {
    return JNI_ERR;
  }
  ids.costed_value = (*env)->GetFieldID(env, ids.costed_object, "value", "Ljava/lang/Object;");
  ids.costed_cost = (*env)->GetFieldID(env, ids.costed_object, "cost", "J");
  if (ids.on_event == NULL || ids.on_eviction == NULL || ids.load == NULL || ids.describe == NULL ||
      ids.exception_init == NULL || ids.costed_value == NULL || ids.costed_cost == NULL) {
    return JNI_ERR;
  }
  nexus_jni = ids;
  return JNI_VERSION_1_6;
}

void nexus_jni_throw_message(JNIEnv *env, NexusStatus status, const char *message) {
  if ((*env)->ExceptionCheck(env)) {
    return; /* the first exception stands */
  }
  jbyteArray bytes = nexus_jni_new_bytes(env, (const uint8_t *)message, strlen(message));
  if (bytes == NULL) {
    return; /* OutOfMemoryError pending */
  }
  jthrowable ex = (jthrowable)(*env)->NewObject(env, nexus_jni.exception, nexus_jni.exception_init,
                                                (jint)status, bytes);
  (*env)->DeleteLocalRef(env, bytes);
  if (ex != NULL) {
    (*env)->Throw(env, ex);
    (*env)->DeleteLocalRef(env, ex);
  }
}

void nexus_jni_release_value(JNIEnv *env, NexusValue *value) {
  jthrowable pending = (*env)->ExceptionOccurred(env);
  if (pending != NULL) (*env)->ExceptionClear(env);
  nexus_value_release(value);
  if (pending != NULL) {
    (*env)->Throw(env, pending);
    (*env)->DeleteLocalRef(env, pending);
  }
}

void nexus_jni_throw_status(JNIEnv *env, NexusStatus status) {
  nexus_jni_throw_message(env, status, nexus_last_error_message());
}

int nexus_jni_clear_exception(JNIEnv *env) {
  if (!(*env)->ExceptionCheck(env)) {
    return 0;
  }
  (*env)->ExceptionClear(env);
  return 1;
}

int nexus_jni_bytes_get(JNIEnv *env, jbyteArray array, NexusJniBytes *out) {
  jsize len = (*env)->GetArrayLength(env, array);
  out->len = (size_t)len;
  out->data = out->small;
  if (out->len > sizeof out->small) {
    out->data = malloc(out->len);
    if (out->data == NULL) {
      (*env)->ThrowNew(env, (*env)->FindClass(env, "java/lang/OutOfMemoryError"), "byte[] copy");
      return -1;
    }
  }
  (*env)->GetByteArrayRegion(env, array, 0, len, (jbyte *)out->data);
  return 0;
}

void nexus_jni_bytes_free(NexusJniBytes *bytes) {
  if (bytes->data != bytes->small) {
    free(bytes->data);
  }
  bytes->data = NULL;
}

jbyteArray nexus_jni_new_bytes(JNIEnv *env, const uint8_t *data, size_t len) {
  if (len > (size_t)INT32_MAX) {
    nexus_jni_throw_message(env, NEXUS_STATUS_ERR_TOO_LARGE, "value longer than a Java array can be");
    return NULL;
  }
  jbyteArray array = (*env)->NewByteArray(env, (jsize)len);
  if (array != NULL && len > 0) {
    (*env)->SetByteArrayRegion(env, array, 0, (jsize)len, (const jbyte *)data);
  }
  return array;
}

int nexus_jni_at_least(JNIEnv *env, jlong value, jlong min, const char *name) {
  if (value >= min) return 1;
  char message[160];
  snprintf(message, sizeof message, "%s must be >= %lld (got %lld)", name, (long long)min,
           (long long)value);
  nexus_jni_throw_message(env, NEXUS_STATUS_ERR_INVALID_ARGUMENT, message);
  return 0;
}
