/* A store's lifecycle and its byte API: io.nexusstore.NativeBridge's natives over the C API. */
#include "jni_env.h"

#include <stdlib.h>

#define NATIVE(name) JNICALL Java_io_nexusstore_NativeBridge_##name

/* Runs `call`; on failure throws NexusException and returns from the native. */
JNIEXPORT jstring NATIVE(version)(JNIEnv *env, jclass cls) {
  (void)cls;
  return (*env)->NewStringUTF(env, nexus_version());
}

JNIEXPORT jlong NATIVE(entryOverheadBytes)(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return (jlong)NEXUS_ENTRY_OVERHEAD_BYTES;
}

static int fill_config(JNIEnv *env, NexusMemoryConfig *config, jlong max_bytes, jdouble moderate,
                       jdouble critical, jlong batch, jint strategy, jlong queue_capacity,
                       jdouble moderate_keep, jdouble critical_keep, jlong decay_ms, jint shards,
                       jboolean lfu_history, jlong max_entries, jlong ttl_ms, jlong tti_ms) {
  if (strategy < 0) {
    nexus_jni_throw_message(env, NEXUS_STATUS_ERR_INVALID_ARGUMENT, "unknown eviction strategy");
    return 0;
  }
  if (!nexus_jni_at_least(env, max_bytes, 0, "maxCacheBytes") ||
      !nexus_jni_at_least(env, batch, 1, "evictionBatchSize") ||
      !nexus_jni_at_least(env, queue_capacity, 1, "eventQueueCapacity") ||
      !nexus_jni_at_least(env, decay_ms, 0, "signalDecayMs") ||
      !nexus_jni_at_least(env, shards, 1, "shards") ||
      !nexus_jni_at_least(env, max_entries, 0, "maxEntries") ||
      !nexus_jni_at_least(env, ttl_ms, 0, "ttlMs") ||
      !nexus_jni_at_least(env, tti_ms, 0, "ttiMs")) {
    return 0;
  }
  nexus_memory_config_init(config);
  config->max_cache_bytes = (uint64_t)max_bytes;
  config->moderate_threshold = moderate;
  config->critical_threshold = critical;
  config->eviction_batch_size = nexus_jni_size_saturated(batch);
  config->strategy = (NexusEvictionStrategy)strategy;
  config->event_queue_capacity = nexus_jni_size_saturated(queue_capacity);
  config->signal_moderate_keep = moderate_keep;
  config->signal_critical_keep = critical_keep;
  config->signal_decay_ms = (uint64_t)decay_ms;
  config->shards = (uint32_t)shards;
  config->lfu_history = lfu_history == JNI_TRUE;
  config->max_entries = (uint64_t)max_entries;
  config->ttl_ms = (uint64_t)ttl_ms;
  config->tti_ms = (uint64_t)tti_ms;
  return 1;
}

JNIEXPORT void NATIVE(validateConfig)(JNIEnv *env, jclass cls, jlong max_bytes, jdouble moderate,
                                      jdouble critical, jlong batch, jint strategy,
                                      jlong queue_capacity, jdouble moderate_keep,
                                      jdouble critical_keep, jlong decay_ms, jint shards,
                                      jboolean lfu_history, jlong max_entries, jlong ttl_ms,
                                      jlong tti_ms) {
  (void)cls;
  NexusMemoryConfig config;
  if (!fill_config(env, &config, max_bytes, moderate, critical, batch, strategy, queue_capacity,
                   moderate_keep, critical_keep, decay_ms, shards, lfu_history, max_entries,
                   ttl_ms, tti_ms)) {
    return;
  }
  NEXUS_JNI_CHECK(env, nexus_memory_config_validate(&config), );
}

JNIEXPORT jlong NATIVE(storeNew)(JNIEnv *env, jclass cls, jlong max_bytes, jdouble moderate,
                                 jdouble critical, jlong batch, jint strategy, jlong queue_capacity,
                                 jdouble moderate_keep, jdouble critical_keep, jlong decay_ms,
                                 jint shards, jboolean lfu_history, jlong max_entries,
                                 jlong ttl_ms, jlong tti_ms) {
  (void)cls;
  NexusMemoryConfig config;
  if (!fill_config(env, &config, max_bytes, moderate, critical, batch, strategy, queue_capacity,
                   moderate_keep, critical_keep, decay_ms, shards, lfu_history, max_entries,
                   ttl_ms, tti_ms)) {
    return 0;
  }
  NexusStore *store = NULL;
  NEXUS_JNI_CHECK(env, nexus_store_new(&config, &store), 0);
  return (jlong)(intptr_t)store;
}

/* Never throws: the status is returned (close() and the Cleaner decide what it means). */
JNIEXPORT jint NATIVE(storeFreeDeferred)(JNIEnv *env, jclass cls, jlong store) {
  (void)env;
  (void)cls;
  return (jint)nexus_store_free_deferred(nexus_jni_store(store));
}

JNIEXPORT void NATIVE(put)(JNIEnv *env, jclass cls, jlong store, jbyteArray key, jbyteArray value) {
  (void)cls;
  NexusJniBytes k, v;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return;
  if (nexus_jni_bytes_get(env, value, &v) != 0) {
    nexus_jni_bytes_free(&k);
    return;
  }
  NexusStatus status = nexus_store_put(nexus_jni_store(store), k.data, k.len, v.data, v.len);
  nexus_jni_bytes_free(&v);
  nexus_jni_bytes_free(&k);
  if (status != NEXUS_STATUS_OK) {
    nexus_jni_throw_status(env, status);
  }
}

/* nexus_store_put_ttl: a ttl_ms under 1 is refused here (INVALID_ARGUMENT). */
JNIEXPORT void NATIVE(putTtl)(JNIEnv *env, jclass cls, jlong store, jbyteArray key, jbyteArray value,
                              jlong ttl_ms) {
  (void)cls;
  if (!nexus_jni_at_least(env, ttl_ms, 1, "ttlMs")) return;
  NexusJniBytes k, v;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return;
  if (nexus_jni_bytes_get(env, value, &v) != 0) {
    nexus_jni_bytes_free(&k);
    return;
  }
  NexusStatus status =
      nexus_store_put_ttl(nexus_jni_store(store), k.data, k.len, v.data, v.len, (uint64_t)ttl_ms);
  nexus_jni_bytes_free(&v);
  nexus_jni_bytes_free(&k);
  if (status != NEXUS_STATUS_OK) {
    nexus_jni_throw_status(env, status);
  }
}

JNIEXPORT jlong NATIVE(sweepExpired)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  size_t removed = 0;
  NEXUS_JNI_CHECK(env, nexus_store_sweep_expired(nexus_jni_store(store), &removed), 0);
  return (jlong)removed;
}

/* null when absent; NexusException for an object value. One copy-out call (no read handle):
 * into a stack buffer, or, for a longer value, a buffer of the size the library reports. */
JNIEXPORT jbyteArray NATIVE(get)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return NULL;
  uint8_t small[256];
  uint8_t *buf = small;
  size_t cap = sizeof small;
  size_t len = 0;
  NexusStatus status;
  for (;;) {
    status = nexus_store_get_copy(nexus_jni_store(store), k.data, k.len, buf, cap, &len);
    if (status != NEXUS_STATUS_ERR_BUFFER_TOO_SMALL) break;
    /* The value may grow between the size query and the copy: ask again with room. */
    if (buf != small) free(buf);
    cap = len;
    buf = malloc(cap == 0 ? 1 : cap);
    if (buf == NULL) {
      nexus_jni_bytes_free(&k);
      nexus_jni_throw_message(env, NEXUS_STATUS_ERR_OUT_OF_MEMORY, "value copy");
      return NULL;
    }
  }
  nexus_jni_bytes_free(&k);
  jbyteArray out = NULL;
  if (status == NEXUS_STATUS_OK) {
    out = nexus_jni_new_bytes(env, buf, len);
  } else if (status == NEXUS_STATUS_ERR_INVALID_ARGUMENT) {
    nexus_jni_throw_message(env, status, "the value is an object: read it with getObject");
  } else if (status != NEXUS_STATUS_NOT_FOUND) {
    nexus_jni_throw_status(env, status);
  }
  if (buf != small) free(buf);
  return out;
}

JNIEXPORT jboolean NATIVE(contains)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return JNI_FALSE;
  bool present = false;
  NexusStatus status = nexus_store_contains(nexus_jni_store(store), k.data, k.len, &present);
  nexus_jni_bytes_free(&k);
  NEXUS_JNI_CHECK(env, status, JNI_FALSE);
  return present ? JNI_TRUE : JNI_FALSE;
}

/* true when removed, false when absent. */
JNIEXPORT jboolean NATIVE(remove)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return JNI_FALSE;
  NexusStatus status = nexus_store_remove(nexus_jni_store(store), k.data, k.len);
  nexus_jni_bytes_free(&k);
  if (status == NEXUS_STATUS_NOT_FOUND) return JNI_FALSE;
  NEXUS_JNI_CHECK(env, status, JNI_FALSE);
  return JNI_TRUE;
}

JNIEXPORT jlong NATIVE(clear)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  size_t removed = 0;
  NEXUS_JNI_CHECK(env, nexus_store_clear(nexus_jni_store(store), &removed), 0);
  return (jlong)removed;
}

JNIEXPORT void NATIVE(pin)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return;
  NexusStatus status = nexus_store_pin(nexus_jni_store(store), k.data, k.len);
  nexus_jni_bytes_free(&k);
  NEXUS_JNI_CHECK(env, status, );
}

/* true when a pin ended, false when the key was not pinned. */
JNIEXPORT jboolean NATIVE(unpin)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return JNI_FALSE;
  NexusStatus status = nexus_store_unpin(nexus_jni_store(store), k.data, k.len);
  nexus_jni_bytes_free(&k);
  if (status == NEXUS_STATUS_NOT_FOUND) return JNI_FALSE;
  NEXUS_JNI_CHECK(env, status, JNI_FALSE);
  return JNI_TRUE;
}

JNIEXPORT jboolean NATIVE(isPinned)(JNIEnv *env, jclass cls, jlong store, jbyteArray key) {
  (void)cls;
  NexusJniBytes k;
  if (nexus_jni_bytes_get(env, key, &k) != 0) return JNI_FALSE;
  bool pinned = false;
  NexusStatus status = nexus_store_is_pinned(nexus_jni_store(store), k.data, k.len, &pinned);
  nexus_jni_bytes_free(&k);
  NEXUS_JNI_CHECK(env, status, JNI_FALSE);
  return pinned ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jobjectArray NATIVE(pinnedKeys)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  NexusKeyList *list = NULL;
  NEXUS_JNI_CHECK(env, nexus_store_pinned_ids(nexus_jni_store(store), &list), NULL);
  size_t n = nexus_key_list_len(list);
  jclass byte_array = (*env)->FindClass(env, "[B");
  jobjectArray out = byte_array == NULL ? NULL : (*env)->NewObjectArray(env, (jsize)n, byte_array, NULL);
  for (size_t i = 0; out != NULL && i < n; i++) {
    size_t len = 0;
    const uint8_t *key = nexus_key_list_get(list, i, &len);
    jbyteArray bytes = nexus_jni_new_bytes(env, key, len);
    if (bytes == NULL) {
      out = NULL;
      break;
    }
    (*env)->SetObjectArrayElement(env, out, (jsize)i, bytes);
    (*env)->DeleteLocalRef(env, bytes);
  }
  nexus_key_list_free(list);
  return out;
}

JNIEXPORT jlong NATIVE(evictLru)(JNIEnv *env, jclass cls, jlong store, jlong count) {
  (void)cls;
  if (!nexus_jni_at_least(env, count, 0, "count")) return 0;
  size_t evicted = 0;
  NEXUS_JNI_CHECK(env,
                  nexus_store_evict_lru(nexus_jni_store(store), nexus_jni_size_saturated(count), &evicted),
                  0);
  return (jlong)evicted;
}

JNIEXPORT jlong NATIVE(evict)(JNIEnv *env, jclass cls, jlong store, jlong count) {
  (void)cls;
  if (!nexus_jni_at_least(env, count, 0, "count")) return 0;
  size_t evicted = 0;
  NEXUS_JNI_CHECK(env,
                  nexus_store_evict(nexus_jni_store(store), nexus_jni_size_saturated(count), &evicted),
                  0);
  return (jlong)evicted;
}

JNIEXPORT jlong NATIVE(clearUnpinned)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  size_t evicted = 0;
  NEXUS_JNI_CHECK(env, nexus_store_clear_unpinned(nexus_jni_store(store), &evicted), 0);
  return (jlong)evicted;
}

JNIEXPORT void NATIVE(signalPressure)(JNIEnv *env, jclass cls, jlong store, jint level) {
  (void)cls;
  NEXUS_JNI_CHECK(env, nexus_store_signal_pressure(nexus_jni_store(store), (NexusPressureLevel)level), );
}

JNIEXPORT void NATIVE(signalPressureAll)(JNIEnv *env, jclass cls, jint level) {
  (void)cls;
  NEXUS_JNI_CHECK(env, nexus_signal_pressure_all((NexusPressureLevel)level), );
}

JNIEXPORT jint NATIVE(pressureLevel)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  NexusPressureLevel level = 0;
  NEXUS_JNI_CHECK(env, nexus_store_pressure_level(nexus_jni_store(store), &level), 0);
  return (jint)level;
}

JNIEXPORT void NATIVE(setMaxBytes)(JNIEnv *env, jclass cls, jlong store, jlong max_bytes) {
  (void)cls;
  if (!nexus_jni_at_least(env, max_bytes, 0, "maxCacheBytes")) return;
  NEXUS_JNI_CHECK(env, nexus_store_set_max_bytes(nexus_jni_store(store), (uint64_t)max_bytes), );
}

/* The NexusMemoryMetrics fields in declaration order (MemoryMetrics.fromNative reads them). */
JNIEXPORT jlongArray NATIVE(metrics)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  NexusMemoryMetrics m;
  NEXUS_JNI_CHECK(env, nexus_store_memory_metrics(nexus_jni_store(store), &m), NULL);
  jlong fields[] = {
      nexus_jni_u64(m.current_usage),  nexus_jni_u64(m.max_usage),       nexus_jni_u64(m.eviction_count),
      nexus_jni_u64(m.pressure_level), nexus_jni_u64(m.entry_count),     nexus_jni_u64(m.pinned_count),
      nexus_jni_u64(m.pinned_bytes),   nexus_jni_u64(m.in_use_bytes),    nexus_jni_u64(m.hit_count),
      nexus_jni_u64(m.miss_count),     nexus_jni_u64(m.insert_count),    nexus_jni_u64(m.evicted_bytes),
      nexus_jni_u64(m.load_count),     nexus_jni_u64(m.load_failure_count), nexus_jni_u64(m.max_cache_bytes),
      nexus_jni_u64(m.effective_budget),
  };
  jsize n = (jsize)(sizeof fields / sizeof fields[0]);
  jlongArray out = (*env)->NewLongArray(env, n);
  if (out != NULL) {
    (*env)->SetLongArrayRegion(env, out, 0, n, fields);
  }
  return out;
}

JNIEXPORT jstring NATIVE(metricsJson)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  size_t need = 0;
  NexusStatus status = nexus_store_metrics_json(nexus_jni_store(store), NULL, 0, &need);
  if (status != NEXUS_STATUS_ERR_BUFFER_TOO_SMALL) {
    nexus_jni_throw_status(env, status);
    return NULL;
  }
  /* Room to spare: counters may grow between the size query and the copy. */
  size_t cap = need + 64;
  char *buf = malloc(cap);
  if (buf == NULL) {
    nexus_jni_throw_message(env, NEXUS_STATUS_ERR_OUT_OF_MEMORY, "metrics buffer");
    return NULL;
  }
  status = nexus_store_metrics_json(nexus_jni_store(store), buf, cap, &need);
  jstring out = NULL;
  if (status == NEXUS_STATUS_OK) {
    out = (*env)->NewStringUTF(env, buf); /* ASCII JSON */
  } else {
    nexus_jni_throw_status(env, status);
  }
  free(buf);
  return out;
}

JNIEXPORT void NATIVE(resetMetrics)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  NEXUS_JNI_CHECK(env, nexus_store_reset_metrics(nexus_jni_store(store)), );
}

JNIEXPORT void NATIVE(debugPanic)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  NEXUS_JNI_CHECK(env, nexus_store_debug_panic(nexus_jni_store(store)), );
}

JNIEXPORT jint NATIVE(signalledLevel)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  NexusPressureLevel level = 0;
  NEXUS_JNI_CHECK(env, nexus_store_signalled_level(nexus_jni_store(store), &level), 0);
  return (jint)level;
}

JNIEXPORT void NATIVE(setEventMask)(JNIEnv *env, jclass cls, jlong store, jint mask) {
  (void)cls;
  NEXUS_JNI_CHECK(env, nexus_store_set_event_mask(nexus_jni_store(store), (uint32_t)mask), );
}
