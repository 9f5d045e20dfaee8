/* Testing aid, like nexus_store_debug_panic: signals a level to a store from a new native
 * thread (never attached to the JVM before), so the store's callbacks run on that thread and
 * the shim must attach it, and detach it when it ends. Returns the signal's status. */
#include "jni_env.h"

#include <pthread.h>

#define NATIVE(name) JNICALL Java_io_nexusstore_NativeBridge_##name

typedef struct SignalJob {
  NexusStore *store;
  NexusPressureLevel level;
  NexusStatus status;
} SignalJob;

static void *run_signal(void *arg) {
  SignalJob *job = arg;
  job->status = nexus_store_signal_pressure(job->store, job->level);
  return NULL;
}

JNIEXPORT jint NATIVE(signalPressureFromNativeThread)(JNIEnv *env, jclass cls, jlong store,
                                                      jint level) {
  (void)cls;
  SignalJob job = {nexus_jni_store(store), (NexusPressureLevel)level, NEXUS_STATUS_OK};
  pthread_t thread;
  if (pthread_create(&thread, NULL, run_signal, &job) != 0) {
    nexus_jni_throw_message(env, NEXUS_STATUS_ERR_OUT_OF_MEMORY, "pthread_create failed");
    return 0;
  }
  pthread_join(thread, NULL);
  return (jint)job.status;
}
