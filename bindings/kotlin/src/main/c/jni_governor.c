/* The budget governor: io.nexusstore.NativeBridge's governor natives over nexus_governor_*.
 * A governor is its handle (a Long) as a store is; events are polled (no callback into the JVM). */
#include "jni_env.h"

#define NATIVE(name) JNICALL Java_io_nexusstore_NativeBridge_##name

static inline NexusGovernor *governor_of(jlong handle) {
  return (NexusGovernor *)(intptr_t)handle;
}

/* Runs `call`; on failure throws NexusException and returns from the native. */
static jlongArray long_array(JNIEnv *env, const jlong *fields, jsize n) {
  jlongArray out = (*env)->NewLongArray(env, n);
  if (out != NULL) {
    (*env)->SetLongArrayRegion(env, out, 0, n, fields);
  }
  return out;
}

JNIEXPORT jlong NATIVE(governorNew)(JNIEnv *env, jclass cls, jlong budget_bytes, jdouble moderate_keep,
                                    jdouble critical_keep, jlong queue_capacity) {
  (void)cls;
  if (!nexus_jni_at_least(env, budget_bytes, 1, "budgetBytes") ||
      !nexus_jni_at_least(env, queue_capacity, 1, "eventQueueCapacity")) {
    return 0;
  }
  NexusGovernorConfig config;
  nexus_governor_config_init(&config);
  config.budget_bytes = (uint64_t)budget_bytes;
  config.signal_moderate_keep = moderate_keep;
  config.signal_critical_keep = critical_keep;
  config.event_queue_capacity = nexus_jni_size_saturated(queue_capacity);
  NexusGovernor *governor = NULL;
  NEXUS_JNI_CHECK(env, nexus_governor_new(&config, &governor), 0);
  return (jlong)(intptr_t)governor;
}

/* Never throws: the status is returned (close() and the Cleaner decide what it means). */
JNIEXPORT jint NATIVE(governorFreeDeferred)(JNIEnv *env, jclass cls, jlong governor) {
  (void)env;
  (void)cls;
  return (jint)nexus_governor_free_deferred(governor_of(governor));
}

static int fill_member(JNIEnv *env, NexusGovernorMember *member, jint priority, jlong floor_bytes,
                       jlong ceiling_bytes) {
  if (!nexus_jni_at_least(env, priority, 0, "priority") ||
      !nexus_jni_at_least(env, floor_bytes, 0, "floorBytes") ||
      !nexus_jni_at_least(env, ceiling_bytes, 0, "ceilingBytes (0 = no ceiling)")) {
    return 0;
  }
  nexus_governor_member_init(member);
  member->priority = (uint32_t)priority;
  member->floor_bytes = (uint64_t)floor_bytes;
  member->ceiling_bytes = (uint64_t)ceiling_bytes;
  return 1;
}

JNIEXPORT void NATIVE(governorJoin)(JNIEnv *env, jclass cls, jlong governor, jlong store, jint priority,
                                    jlong floor_bytes, jlong ceiling_bytes) {
  (void)cls;
  NexusGovernorMember member;
  if (!fill_member(env, &member, priority, floor_bytes, ceiling_bytes)) return;
  NEXUS_JNI_CHECK(env, nexus_governor_join(governor_of(governor), nexus_jni_store(store), &member), );
}

JNIEXPORT void NATIVE(governorSetMember)(JNIEnv *env, jclass cls, jlong governor, jlong store,
                                         jint priority, jlong floor_bytes, jlong ceiling_bytes) {
  (void)cls;
  NexusGovernorMember member;
  if (!fill_member(env, &member, priority, floor_bytes, ceiling_bytes)) return;
  NEXUS_JNI_CHECK(env,
                  nexus_governor_set_member(governor_of(governor), nexus_jni_store(store), &member), );
}

/* true when the store left, false when it was not a member of this governor. */
JNIEXPORT jboolean NATIVE(governorLeave)(JNIEnv *env, jclass cls, jlong governor, jlong store) {
  (void)cls;
  NexusStatus status = nexus_governor_leave(governor_of(governor), nexus_jni_store(store));
  if (status == NEXUS_STATUS_NOT_FOUND) return JNI_FALSE;
  NEXUS_JNI_CHECK(env, status, JNI_FALSE);
  return JNI_TRUE;
}

JNIEXPORT void NATIVE(governorSetBudget)(JNIEnv *env, jclass cls, jlong governor, jlong budget_bytes) {
  (void)cls;
  if (!nexus_jni_at_least(env, budget_bytes, 1, "budgetBytes")) return;
  NEXUS_JNI_CHECK(env, nexus_governor_set_budget(governor_of(governor), (uint64_t)budget_bytes), );
}

JNIEXPORT void NATIVE(governorSignalPressure)(JNIEnv *env, jclass cls, jlong governor, jint level) {
  (void)cls;
  NEXUS_JNI_CHECK(env, nexus_governor_signal_pressure(governor_of(governor), (NexusPressureLevel)level), );
}

JNIEXPORT void NATIVE(governorEnforce)(JNIEnv *env, jclass cls, jlong governor) {
  (void)cls;
  NEXUS_JNI_CHECK(env, nexus_governor_enforce(governor_of(governor)), );
}

/* The NexusGovernorMetrics fields in declaration order (GovernorMetrics.fromNative reads them). */
JNIEXPORT jlongArray NATIVE(governorMetrics)(JNIEnv *env, jclass cls, jlong governor) {
  (void)cls;
  NexusGovernorMetrics m;
  NEXUS_JNI_CHECK(env, nexus_governor_metrics(governor_of(governor), &m), NULL);
  jlong fields[] = {
      nexus_jni_u64(m.budget_bytes), nexus_jni_u64(m.budget_in_force),
      nexus_jni_u64(m.level),        nexus_jni_u64(m.total_usage),
      nexus_jni_u64(m.shed_bytes),   nexus_jni_u64(m.shed_entries),
      nexus_jni_u64(m.unmet_bytes),  nexus_jni_u64(m.member_count),
  };
  return long_array(env, fields, (jsize)(sizeof fields / sizeof fields[0]));
}

/* The NexusGovernorMemberMetrics fields in declaration order; null when the store is not a
 * member of this governor. */
JNIEXPORT jlongArray NATIVE(governorMemberMetrics)(JNIEnv *env, jclass cls, jlong governor, jlong store) {
  (void)cls;
  NexusGovernorMemberMetrics m;
  NexusStatus status = nexus_governor_member_metrics(governor_of(governor), nexus_jni_store(store), &m);
  if (status == NEXUS_STATUS_NOT_FOUND) return NULL;
  NEXUS_JNI_CHECK(env, status, NULL);
  jlong fields[] = {
      nexus_jni_u64(m.store_id),
      nexus_jni_u64(m.priority),
      nexus_jni_u64(m.floor_bytes),
      nexus_jni_u64(m.ceiling_bytes),
      nexus_jni_u64(m.usage_bytes),
      nexus_jni_u64(m.entry_count),
      nexus_jni_u64(m.shed_bytes_over_budget),
      nexus_jni_u64(m.shed_bytes_pressure),
      nexus_jni_u64(m.shed_bytes_ceiling),
      nexus_jni_u64(m.shed_entries),
  };
  return long_array(env, fields, (jsize)(sizeof fields / sizeof fields[0]));
}

/* The oldest queued event's NexusGovernorEvent fields in declaration order; null when none. */
JNIEXPORT jlongArray NATIVE(governorPollEvent)(JNIEnv *env, jclass cls, jlong governor) {
  (void)cls;
  NexusGovernorEvent e;
  NexusStatus status = nexus_governor_poll_event(governor_of(governor), &e);
  if (status == NEXUS_STATUS_EMPTY) return NULL;
  NEXUS_JNI_CHECK(env, status, NULL);
  jlong fields[] = {
      nexus_jni_u64(e.kind),            nexus_jni_u64(e.sequence),
      nexus_jni_u64(e.store_id),        nexus_jni_u64(e.cause),
      nexus_jni_u64(e.bytes),           nexus_jni_u64(e.count),
      nexus_jni_u64(e.store_usage),     nexus_jni_u64(e.total_usage),
      nexus_jni_u64(e.budget_in_force), nexus_jni_u64(e.level),
      nexus_jni_u64(e.previous_level),  nexus_jni_u64(e.timestamp_ns),
  };
  return long_array(env, fields, (jsize)(sizeof fields / sizeof fields[0]));
}

JNIEXPORT jlong NATIVE(storeId)(JNIEnv *env, jclass cls, jlong store) {
  (void)cls;
  uint64_t id = 0;
  NEXUS_JNI_CHECK(env, nexus_store_id(nexus_jni_store(store), &id), 0);
  return (jlong)id;
}
