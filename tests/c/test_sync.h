/* Helpers for the threaded C tests: SeqCst atomics on plain ints, an
 * alarm() watchdog that fails the program instead of letting a deadlock
 * hang it, sleeps, and a gate that threads block on until it opens.
 * Include after defining _POSIX_C_SOURCE and including test_util.h. */
#ifndef NEXUS_TEST_SYNC_H
#define NEXUS_TEST_SYNC_H

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define ALOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ASTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define AINC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
#define ADEC(p) __atomic_sub_fetch((p), 1, __ATOMIC_SEQ_CST)

static void on_alarm(int sig) {
    static const char msg[] = "watchdog: test did not finish in time (deadlock?): ";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    if (write(2, nexus_test_name, strlen(nexus_test_name)) < 0) {
    }
    if (write(2, "\n", 1) < 0) {
    }
    _exit(3);
}

/* Fails the program instead of hanging. */
static inline void watchdog_secs(unsigned native, unsigned valgrind) {
    signal(SIGALRM, on_alarm);
    alarm(under_valgrind() ? valgrind : native);
}

static inline void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Waits (bounded by the watchdog) until *flag >= value. */
static inline void wait_at_least(int *flag, int value) {
    while (ALOAD(flag) < value) sleep_ms(1);
}

/* A gate threads block on until it is opened. */
typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    int open;
} Gate;

static inline void gate_init(Gate *g) {
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->c, NULL);
    g->open = 0;
}

static inline void gate_destroy(Gate *g) {
    pthread_mutex_destroy(&g->m);
    pthread_cond_destroy(&g->c);
}

static inline void gate_wait(Gate *g) {
    pthread_mutex_lock(&g->m);
    while (!g->open) pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

static inline void gate_open(Gate *g) {
    pthread_mutex_lock(&g->m);
    g->open = 1;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
}

/* A callback ctx that records its calls and its destruction. */
typedef struct {
    int active;               /* calls in progress */
    int calls;                /* calls started */
    int destroyed;            /* destroy calls */
    int destroy_while_active; /* destroy ran while a call was in progress */
    int call_after_destroy;   /* a call started after destroy */
} Track;

static inline void track_enter(Track *t) {
    if (ALOAD(&t->destroyed)) AINC(&t->call_after_destroy);
    AINC(&t->active);
    AINC(&t->calls);
}

static inline void track_leave(Track *t) { ADEC(&t->active); }

static inline void track_destroy(void *ctx) {
    Track *t = ctx;
    if (ALOAD(&t->active) != 0) AINC(&t->destroy_while_active);
    AINC(&t->destroyed);
}

#endif
