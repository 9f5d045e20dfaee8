/* Defects an outside audit found by calling the public header as a hostile
 * caller would; each test failed before its fix:
 * - two threads, each inside one callback, unregistering each other's
 *   callback waited for each other forever;
 * - nexus_store_poll_event handed out events out of sequence order when
 *   several threads produced them;
 * - a sharded store with no budget let its usage sum wrap past UINT64_MAX;
 * - nexus_store_set_max_bytes on a sharded store returned a status its doc
 *   did not list (the doc now lists it; tests/documented_statuses.rs checks
 *   every function's statuses against the header);
 * - a config never initialized (stack garbage in struct_size and in its
 *   callbacks) made nexus_store_new and nexus_monitor_start call its
 *   garbage destroy pointer, rather than refuse it.
 *
 * Every test arms a watchdog (alarm) so that a deadlock fails the program
 * instead of hanging it. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>

#include "test_util.h"
#include "test_sync.h"

static void watchdog(void) { watchdog_secs(30, 300); }

/* ---- crosswise callback replacement ------------------------------------------ */

/* Thread A is inside the event callback and unregisters the eviction
 * listener; thread B is inside the eviction listener and unregisters the
 * event callback. Each waits until the other is inside its callback first,
 * so both replacements happen while the other callback runs. */
typedef struct {
    NexusStore *store;
    Track event_track;
    Track listener_track;
    int in_event;
    int in_listener;
    NexusStatus from_event;
    NexusStatus from_listener;
} Crosswise;

static void cross_event(void *ctx, const NexusEvent *e) {
    Crosswise *x = ctx;
    (void)e;
    if (ALOAD(&x->in_event)) return; /* only the first event */
    track_enter(&x->event_track);
    AINC(&x->in_event);
    wait_at_least(&x->in_listener, 1);
    x->from_event = nexus_store_set_eviction_listener(x->store, NULL, NULL, NULL);
    track_leave(&x->event_track);
}

static void cross_listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                           uint64_t bytes) {
    Crosswise *x = ctx;
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    track_enter(&x->listener_track);
    AINC(&x->in_listener);
    wait_at_least(&x->in_event, 1);
    x->from_listener = nexus_store_set_event_callback(x->store, NULL, NULL, NULL);
    track_leave(&x->listener_track);
}

static void destroy_event_track(void *ctx) { track_destroy(&((Crosswise *)ctx)->event_track); }
static void destroy_listener_track(void *ctx) {
    track_destroy(&((Crosswise *)ctx)->listener_track);
}

static void *cross_signal(void *arg) {
    Crosswise *x = arg;
    CHECK_OK(nexus_store_signal_pressure(x->store, NEXUS_PRESSURE_LEVEL_MODERATE));
    return NULL;
}

static void *cross_remove(void *arg) {
    Crosswise *x = arg;
    CHECK_OK(nexus_store_remove(x->store, KEY("k")));
    return NULL;
}

static void test_crosswise_unregistration_does_not_hang(void) {
    watchdog();
    Crosswise x;
    memset(&x, 0, sizeof x);
    x.store = new_store(0);
    CHECK_OK(nexus_store_put(x.store, KEY("k"), KEY("v")));
    CHECK_OK(nexus_store_set_event_callback(x.store, cross_event, &x, destroy_event_track));
    CHECK_OK(nexus_store_set_eviction_listener(x.store, cross_listener, &x, destroy_listener_track));
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, cross_signal, &x) == 0);
    CHECK(pthread_create(&b, NULL, cross_remove, &x) == 0);
    CHECK(pthread_join(a, NULL) == 0);
    CHECK(pthread_join(b, NULL) == 0);
    CHECK(x.from_event == NEXUS_STATUS_OK && x.from_listener == NEXUS_STATUS_OK);
    /* Each ctx destroyed exactly once, after its callback's last call. */
    CHECK(x.event_track.destroyed == 1 && x.listener_track.destroyed == 1);
    CHECK(x.event_track.destroy_while_active == 0 && x.listener_track.destroy_while_active == 0);
    CHECK(x.event_track.call_after_destroy == 0 && x.listener_track.call_after_destroy == 0);
    /* Both are unregistered: nothing is called any more. */
    CHECK_OK(nexus_store_put(x.store, KEY("k"), KEY("v")));
    CHECK_OK(nexus_store_remove(x.store, KEY("k")));
    CHECK_OK(nexus_store_signal_pressure(x.store, NEXUS_PRESSURE_LEVEL_NONE));
    CHECK(x.event_track.calls == 1 && x.listener_track.calls == 1);
    CHECK_OK(nexus_store_free(x.store));
}

/* ---- events polled in sequence order ------------------------------------------ */

enum { PRODUCERS = 8 };

typedef struct {
    NexusStore *store;
    int index;
    int puts;
} Producer;

static void *produce(void *arg) {
    Producer *p = arg;
    uint8_t value[200];
    memset(value, p->index, sizeof value);
    for (int i = 0; i < p->puts; i++) {
        char key[32];
        snprintf(key, sizeof key, "p%d-%d", p->index, i);
        /* Over the budget after a few puts: every put evicts (an EVICTION
         * event) and crosses the thresholds (PRESSURE_CHANGED events). */
        CHECK_OK(nexus_store_put(p->store, KEY(key), value, sizeof value));
    }
    return NULL;
}

typedef struct {
    uint64_t last;
    uint64_t polled;
    uint64_t lost;       /* the sum of DROPPED counts */
    uint64_t gaps;       /* sequence numbers skipped */
    uint64_t inversions; /* events at or below the last sequence polled */
    uint64_t markers;    /* DROPPED markers polled */
    uint64_t missing;    /* numbers skipped since the last marker */
    uint64_t miscounts;  /* markers whose count is not missing + 1 */
} PollLog;

static void poll_all(NexusStore *s, PollLog *log) {
    NexusEvent e;
    while (nexus_store_poll_event(s, &e) == NEXUS_STATUS_OK) {
        log->polled++;
        if (e.sequence <= log->last) {
            log->inversions++;
        } else {
            log->gaps += e.sequence - log->last - 1;
            log->missing += e.sequence - log->last - 1;
            log->last = e.sequence;
        }
        if (e.kind == NEXUS_EVENT_KIND_DROPPED) {
            /* The marker carries its latest loss's number; the others it
             * counts are the numbers skipped since the marker before. */
            log->lost += e.count;
            log->markers++;
            if (e.count != log->missing + 1) log->miscounts++;
            log->missing = 0;
        }
    }
}

static void check_poll_order(uint32_t shards, size_t capacity) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.max_cache_bytes = 64 * 1024;
    c.shards = shards;
    c.event_queue_capacity = capacity;
    NexusStore *s = store_from(&c);
    Producer p[PRODUCERS];
    pthread_t t[PRODUCERS];
    PollLog log;
    memset(&log, 0, sizeof log);
    int puts = under_valgrind() ? 400 : 5000;
    for (int i = 0; i < PRODUCERS; i++) {
        p[i].store = s;
        p[i].index = i;
        p[i].puts = puts;
        CHECK(pthread_create(&t[i], NULL, produce, &p[i]) == 0);
    }
    /* Poll while they produce, then what is left. */
    for (int round = 0; round < 200; round++) {
        poll_all(s, &log);
        sleep_ms(1);
    }
    for (int i = 0; i < PRODUCERS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    poll_all(s, &log);
    /* One more event into the drained queue. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_EMERGENCY));
    poll_all(s, &log);
    if (log.inversions != 0)
        fprintf(stderr, "shards %u: %llu of %llu events out of order\n", shards,
                (unsigned long long)log.inversions, (unsigned long long)log.polled);
    CHECK(log.inversions == 0);
    /* A gap means only a loss, and every loss is counted by a marker: the
     * gaps before it, and its own number. */
    CHECK(log.gaps + log.markers == log.lost);
    CHECK(log.miscounts == 0 && log.missing == 0);
    if (capacity >= (size_t)1 << 20) CHECK(log.lost == 0 && log.polled >= (uint64_t)PRODUCERS * puts);
    CHECK_OK(nexus_store_free(s));
}

static void test_poll_event_in_sequence_order(void) {
    watchdog();
    check_poll_order(1, 1 << 20); /* room for every event: no gap at all */
    check_poll_order(8, 1 << 20);
    check_poll_order(8, 64); /* losses: gaps equal the DROPPED counts */
}

/* ---- sharded usage sums never wrap ------------------------------------------ */

static size_t sixteenth_of_u64(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                               size_t value_len) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)value;
    (void)value_len;
    return (size_t)1 << 60;
}

static void test_sharded_usage_never_wraps(void) {
    if (sizeof(size_t) < 8) return; /* the charges need a 64-bit size_t */
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.shards = 2;
    c.max_cache_bytes = 0;
    c.size_estimator = sixteenth_of_u64;
    NexusStore *s = store_from(&c);
    /* 15 x 2^60 fit; a 16th would make 2^64. Each shard alone holds at most
     * 15 of them, so only the store's total can refuse the 16th. */
    for (int i = 0; i < 15; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        CHECK_OK(nexus_store_put(s, KEY(key), KEY("v")));
    }
    const uint64_t fifteen = (uint64_t)15 << 60;
    for (int i = 15; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        CHECK_STATUS(nexus_store_put(s, KEY(key), KEY("v")), NEXUS_STATUS_ERR_TOO_LARGE);
    }
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.current_usage == fifteen && m.max_usage == fifteen && m.entry_count == 15);
    for (int i = 0; i < 15; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        CHECK_OK(nexus_store_pin(s, KEY(key)));
    }
    m = metrics_of(s);
    CHECK(m.pinned_bytes == fifteen && m.pinned_count == 15);
    /* Events report the store's usage, unwrapped. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
    NexusEvent e;
    CHECK_OK(nexus_store_poll_event(s, &e));
    CHECK(e.kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED && e.usage_bytes == fifteen);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    /* Room again after a removal. */
    CHECK_OK(nexus_store_remove(s, KEY("k0")));
    CHECK_OK(nexus_store_put(s, KEY("k15"), KEY("v")));
    CHECK(metrics_of(s).current_usage == fifteen);
    /* Replacing in place needs no room beyond its own. */
    CHECK_OK(nexus_store_put(s, KEY("k15"), KEY("w")));
    CHECK_STATUS(nexus_store_put(s, KEY("k16"), KEY("v")), NEXUS_STATUS_ERR_TOO_LARGE);
    CHECK_OK(nexus_store_free(s));
}

/* ---- set_max_bytes on a sharded store ------------------------------------------ */

static void test_set_max_bytes_below_shard_count(void) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.shards = 8;
    c.max_cache_bytes = 1 << 20;
    NexusStore *s = store_from(&c);
    CHECK_OK(nexus_store_put(s, KEY("k"), KEY("v")));
    CHECK_STATUS(nexus_store_set_max_bytes(s, 3), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "8 shards") != NULL);
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.max_cache_bytes == 1 << 20 && m.entry_count == 1); /* nothing changed */
    CHECK_OK(nexus_store_set_max_bytes(s, 8 * 1024));
    CHECK_OK(nexus_store_set_max_bytes(s, 0));
    CHECK_OK(nexus_store_free(s));
}

/* ---- a config never initialized --------------------------------------------- */

static int garbage_destroys;

static void count_destroy(void *ctx) {
    (void)ctx;
    garbage_destroys++;
}

/* What an uninitialized config holds: every byte garbage (0xA5 here, as
 * malloc debuggers fill), with the fields a careless caller did set. Its
 * destroy pointers point at a counter (garbage would crash); its
 * struct_size is beyond any header's and its other fields are no valid
 * config: nothing in it may be called. */
static void test_a_config_never_initialized_is_refused_unread(void) {
    watchdog();
    NexusMemoryConfig c;
    memset(&c, 0xA5, sizeof c);
    c.max_cache_bytes = 1u << 20;
    c.size_estimator_ctx = &c;
    c.size_estimator_destroy = count_destroy;
    NexusStore *s = NULL;
    CHECK_STATUS(nexus_store_new(&c, &s), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK(strstr(nexus_last_error_message(), "nexus_memory_config_init") != NULL);
    CHECK_STATUS(nexus_memory_config_validate(&c), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    c.struct_size = SIZE_MAX;
    CHECK_STATUS(nexus_store_new(&c, &s), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(garbage_destroys == 0);

    NexusMonitorConfig m;
    memset(&m, 0xA5, sizeof m);
    m.fs_root = NULL;
    m.budget_ctx = &m;
    m.budget_ctx_destroy = count_destroy;
    CHECK_STATUS(nexus_monitor_start(&m), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "nexus_monitor_config_init") != NULL);
    CHECK(garbage_destroys == 0);

    /* A config made by the init function with a wrong struct_size, even one
     * no header has, is refused with its ctx destroyed once: its fields are
     * a valid config, so its destroy is the caller's. */
    nexus_memory_config_init(&c);
    c.struct_size = SIZE_MAX;
    c.size_estimator_ctx = &c;
    c.size_estimator_destroy = count_destroy;
    CHECK_STATUS(nexus_store_new(&c, &s), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(garbage_destroys == 1);
    nexus_monitor_config_init(&m);
    m.struct_size = SIZE_MAX;
    m.budget_ctx = &m;
    m.budget_ctx_destroy = count_destroy;
    CHECK_STATUS(nexus_monitor_start(&m), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(garbage_destroys == 2);

    /* A newer header's larger struct is read: its ctx is destroyed once
     * when the library refuses it. */
    nexus_memory_config_init(&c);
    c.struct_size = sizeof c + 64;
    c.size_estimator_ctx = &c;
    c.size_estimator_destroy = count_destroy;
    CHECK_STATUS(nexus_store_new(&c, &s), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(garbage_destroys == 3);
}

int main(void) {
    RUN(test_crosswise_unregistration_does_not_hang);
    RUN(test_poll_event_in_sequence_order);
    RUN(test_sharded_usage_never_wraps);
    RUN(test_set_max_bytes_below_shard_count);
    RUN(test_a_config_never_initialized_is_refused_unread);
    FINISH();
}
