/* Load sinks are checked handles: a sink kept by a careless loader and
 * used after its loader returned (on the same thread or another, before or
 * after its store is freed), and a value that was never a sink, are
 * NEXUS_STATUS_ERR_INVALID_HANDLE with a message, and nothing cached is
 * lost; a sink used from another thread while its loader runs is
 * serialised and works. Before sinks were handles, a kept sink pointed into
 * a stack frame that was gone (undefined behaviour: the calls wrote there
 * and returned OK). */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>

#include "test_util.h"
#include "test_sync.h"

static void watchdog(void) { watchdog_secs(30, 150); }

/* The sink the careless loader kept. */
static NexusLoadSink *kept;
static int released;

static void count_release(void *ctx, void *object) {
    (void)ctx;
    (void)object;
    released++;
}

/* Gives the key as the value, and keeps the sink. */
static NexusStatus keeping_loader(void *ctx, const uint8_t *key, size_t key_len,
                                  NexusLoadSink *sink) {
    (void)ctx;
    kept = sink;
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static int is_invalid_handle_message(void) {
    return strstr(nexus_last_error_message(), "sink") != NULL;
}

/* Every sink call on `sink` is INVALID_HANDLE with a message; an object
 * offered is not taken (its release never runs). */
static void check_refused(NexusLoadSink *sink) {
    static int object;
    int before = released;
    CHECK_STATUS(nexus_load_sink_put_bytes(sink, KEY("late")), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK(is_invalid_handle_message());
    CHECK_STATUS(nexus_load_sink_put_object(sink, &object, 10, count_release, NULL),
                 NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK(is_invalid_handle_message());
    CHECK(released == before);
    CHECK_STATUS(nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_CALLBACK, "late"),
                 NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK(is_invalid_handle_message());
    CHECK_STATUS(nexus_load_sink_abandon(sink, "late"), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK(is_invalid_handle_message());
}

/* The value under `key` is `expected`. */
static void check_value(NexusStore *s, const char *key, const char *expected) {
    char buf[32];
    size_t len = 0;
    CHECK_OK(nexus_store_get_copy(s, KEY(key), (uint8_t *)buf, sizeof buf, &len));
    CHECK(len == strlen(expected) && memcmp(buf, expected, len) == 0);
}

static uint64_t entries(NexusStore *s) {
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    return m.entry_count;
}

/* A store with the keeping loader and "a" loaded through it. */
static NexusStore *store_with_a_load(void) {
    NexusStore *s = new_store(1 << 20);
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_set_loader(s, keeping_loader, NULL, NULL));
    kept = NULL;
    CHECK_OK(nexus_store_get_or_load(s, KEY("a"), &v));
    nexus_value_release(v);
    CHECK(kept != NULL);
    return s;
}

static void test_sink_used_after_its_loader_returned(void) {
    NexusStore *s = store_with_a_load();
    check_refused(kept);
    /* Nothing cached is lost, nothing replaced. */
    check_value(s, "a", "a");
    CHECK(entries(s) == 1);
    CHECK_OK(nexus_store_free(s));
}

static void *refuse_on_other_thread(void *sink) {
    check_refused((NexusLoadSink *)sink);
    return NULL;
}

static void test_sink_used_after_return_from_another_thread(void) {
    NexusStore *s = store_with_a_load();
    pthread_t t;
    watchdog();
    CHECK(pthread_create(&t, NULL, refuse_on_other_thread, kept) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    check_value(s, "a", "a");
    CHECK(entries(s) == 1);
    CHECK_OK(nexus_store_free(s));
    alarm(0);
}

static void test_sink_used_after_its_store_was_freed(void) {
    NexusStore *s = store_with_a_load();
    NexusLoadSink *sink = kept;
    NexusStore *other = new_store(1 << 20);
    CHECK_OK(nexus_store_put(other, KEY("b"), KEY("b")));
    CHECK_OK(nexus_store_free(s));
    check_refused(sink);
    check_value(other, "b", "b");
    CHECK_OK(nexus_store_free(other));
}

/* A stale sink stays refused while a later load (in the same slot, most
 * likely) is in progress, and that load's own sink works. */
static NexusLoadSink *stale;
static NexusStatus stale_then_own_loader(void *ctx, const uint8_t *key, size_t key_len,
                                         NexusLoadSink *sink) {
    (void)ctx;
    CHECK(sink != stale);
    check_refused(stale);
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static void test_stale_sink_during_a_later_load(void) {
    NexusStore *s = store_with_a_load();
    NexusValue *v = NULL;
    stale = kept;
    CHECK_OK(nexus_store_set_loader(s, stale_then_own_loader, NULL, NULL));
    CHECK_OK(nexus_store_get_or_load(s, KEY("b"), &v));
    nexus_value_release(v);
    check_value(s, "a", "a");
    check_value(s, "b", "b");
    CHECK_OK(nexus_store_free(s));
}

static void test_values_that_were_never_sinks(void) {
    /* A pointer to memory (what a sink used to be), made-up odd values, the
     * largest value: none names a live sink. */
    uint64_t memory[8] = {0};
    NexusLoadSink *never[] = {
        (NexusLoadSink *)(void *)memory,
        (NexusLoadSink *)(uintptr_t)1,
        (NexusLoadSink *)(uintptr_t)0x5e5e5,
        (NexusLoadSink *)(uintptr_t)0x12345679,
        (NexusLoadSink *)UINTPTR_MAX,
        (NexusLoadSink *)(UINTPTR_MAX - 2),
    };
    size_t i;
    for (i = 0; i < sizeof never / sizeof never[0]; i++) check_refused(never[i]);
    for (i = 0; i < 8; i++) CHECK(memory[i] == 0);
    /* NULL stays NULL_ARGUMENT. */
    CHECK_STATUS(nexus_load_sink_put_bytes(NULL, KEY("x")), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK_STATUS(nexus_load_sink_fail(NULL, NEXUS_STATUS_ERR_CALLBACK, NULL),
                 NEXUS_STATUS_ERR_NULL_ARGUMENT);
}

/* While its loader runs, a sink may be used from another thread: the calls
 * are serialised. */
static void *put_from_helper(void *sink) {
    static NexusStatus status;
    status = nexus_load_sink_put_bytes((NexusLoadSink *)sink, KEY("from helper"));
    return &status;
}

static NexusStatus delegating_loader(void *ctx, const uint8_t *key, size_t key_len,
                                     NexusLoadSink *sink) {
    pthread_t t;
    void *status = NULL;
    (void)ctx;
    (void)key;
    (void)key_len;
    CHECK(pthread_create(&t, NULL, put_from_helper, sink) == 0);
    CHECK(pthread_join(t, &status) == 0);
    CHECK(*(NexusStatus *)status == NEXUS_STATUS_OK);
    /* A second value is refused as on the loader's own thread. */
    CHECK_STATUS(nexus_load_sink_put_bytes(sink, KEY("second")),
                 NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    return NEXUS_STATUS_OK;
}

static void test_sink_used_from_another_thread_during_its_load(void) {
    NexusStore *s = new_store(1 << 20);
    NexusValue *v = NULL;
    watchdog();
    CHECK_OK(nexus_store_set_loader(s, delegating_loader, NULL, NULL));
    CHECK_OK(nexus_store_get_or_load(s, KEY("k"), &v));
    nexus_value_release(v);
    check_value(s, "k", "from helper");
    CHECK_OK(nexus_store_free(s));
    alarm(0);
}

/* Many threads loading at once, each giving its value, then keeping its
 * sink and trying the one the previous load (of any thread) kept: that
 * sink is retired (INVALID_HANDLE) or, its loader still running, already
 * holds its value (INVALID_ARGUMENT); never OK. Every load caches its own
 * value. */
#define RACERS 4
#define LOADS 300
static NexusLoadSink *shared_stale;
static int stale_other;

static NexusStatus racing_loader(void *ctx, const uint8_t *key, size_t key_len,
                                 NexusLoadSink *sink) {
    NexusLoadSink *previous;
    NexusStatus st;
    (void)ctx;
    st = nexus_load_sink_put_bytes(sink, key, key_len);
    previous = __atomic_exchange_n(&shared_stale, sink, __ATOMIC_SEQ_CST);
    if (previous != NULL) {
        NexusStatus late = nexus_load_sink_put_bytes(previous, KEY("stale"));
        if (late != NEXUS_STATUS_ERR_INVALID_HANDLE && late != NEXUS_STATUS_ERR_INVALID_ARGUMENT)
            AINC(&stale_other);
    }
    return st;
}

static void *racer(void *store) {
    int i;
    char key[32];
    for (i = 0; i < LOADS; i++) {
        NexusValue *v = NULL;
        snprintf(key, sizeof key, "k%p-%d", (void *)&i, i);
        if (nexus_store_get_or_load((NexusStore *)store, KEY(key), &v) != NEXUS_STATUS_OK) {
            fprintf(stderr, "racer: %s\n", nexus_last_error_message());
            exit(1);
        }
        nexus_value_release(v);
    }
    return NULL;
}

static void test_stale_sinks_across_racing_loads(void) {
    NexusStore *s = new_store(1 << 26);
    pthread_t t[RACERS];
    int i;
    watchdog();
    CHECK_OK(nexus_store_set_loader(s, racing_loader, NULL, NULL));
    for (i = 0; i < RACERS; i++) CHECK(pthread_create(&t[i], NULL, racer, s) == 0);
    for (i = 0; i < RACERS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    CHECK(entries(s) == RACERS * LOADS);
    CHECK(ALOAD(&stale_other) == 0);
    CHECK_OK(nexus_store_free(s));
    alarm(0);
}

/* `test_sinks NAME` runs only the test NAME (to see each fail alone). */
#define RUN_IF(fn) if (argc < 2 || strcmp(argv[1], #fn) == 0) RUN(fn)

int main(int argc, char **argv) {
    RUN_IF(test_sink_used_after_its_loader_returned);
    RUN_IF(test_sink_used_after_return_from_another_thread);
    RUN_IF(test_sink_used_after_its_store_was_freed);
    RUN_IF(test_stale_sink_during_a_later_load);
    RUN_IF(test_values_that_were_never_sinks);
    RUN_IF(test_sink_used_from_another_thread_during_its_load);
    RUN_IF(test_stale_sinks_across_racing_loads);
    FINISH();
}
