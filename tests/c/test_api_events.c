/* test_api_events.c: metrics; events (queue, DROPPED marker, callback) and the eviction listener; BUSY and PANIC; the loader.
 * Part of the tests of every function of nexus_store.h, one program per
 * section of the header; EXPECT() checks a status and that a message was
 * left for nexus_last_error_message(). */
#define _POSIX_C_SOURCE 200809L

#include <time.h>

#include "api_support.h"

/* ---- metrics --------------------------------------------------------------------- */

static void test_reset_metrics(void) {
    NexusStore *s = new_store(0);
    NexusValue *v = NULL;
    size_t n = 0;
    fill(s, 4);
    CHECK_OK(nexus_store_get(s, KEY("k1"), &v));
    nexus_value_release(v);
    EXPECT(nexus_store_get(s, KEY("zz"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK_OK(nexus_store_evict_lru(s, 2, &n));
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.hit_count == 1 && m.miss_count == 1 && m.insert_count == 4);
    CHECK(m.eviction_count == 2 && m.evicted_bytes == 400 && m.max_usage == 800);
    CHECK(m.current_usage == 400);

    CHECK_OK(nexus_store_reset_metrics(s));
    m = metrics_of(s);
    CHECK(m.hit_count == 0 && m.miss_count == 0 && m.insert_count == 0);
    CHECK(m.eviction_count == 0 && m.evicted_bytes == 0);
    CHECK(m.load_count == 0 && m.load_failure_count == 0);
    CHECK(m.max_usage == 400 && m.current_usage == 400 && m.entry_count == 2); /* state stays */
    put_charged(s, "k9", 200);
    CHECK(metrics_of(s).max_usage == 600 && metrics_of(s).insert_count == 1);
    CHECK_OK(nexus_store_free(s));
}

/* ---- events -------------------------------------------------------------------- */

static NexusEvent poll_ok(NexusStore *s) {
    NexusEvent e;
    memset(&e, 0xEE, sizeof e);
    CHECK_OK(nexus_store_poll_event(s, &e));
    return e;
}

/* A poller that wants only what the OS said: the signalled level's changes,
 * without the usage level's flips or the evictions. */
static void test_event_mask_and_signalled_level(void) {
    NexusStore *s = new_store(1000); /* MODERATE at 700 */
    NexusEvent e;
    NexusPressureLevel level = 77;
    CHECK_OK(nexus_store_signalled_level(s, &level));
    CHECK(level == NEXUS_PRESSURE_LEVEL_NONE);

    /* Default mask: usage flips and evictions, no SIGNAL_CHANGED. */
    fill(s, 5); /* 1000: crosses MODERATE and CRITICAL, evicts */
    int kinds[4] = {0};
    while (nexus_store_poll_event(s, &e) == NEXUS_STATUS_OK) kinds[e.kind]++;
    CHECK(kinds[NEXUS_EVENT_KIND_PRESSURE_CHANGED] > 0 && kinds[NEXUS_EVENT_KIND_EVICTION] > 0);
    CHECK(kinds[NEXUS_EVENT_KIND_SIGNAL_CHANGED] == 0);

    EXPECT(nexus_store_set_event_mask(s, 1u << 9), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK_OK(nexus_store_set_event_mask(s, NEXUS_EVENT_MASK_SIGNAL_CHANGED));
    CHECK_OK(nexus_store_clear_unpinned(s, &(size_t){0}));
    fill(s, 5); /* usage flips and evictions again: not delivered */
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);

    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
    CHECK_OK(nexus_store_signalled_level(s, &level));
    CHECK(level == NEXUS_PRESSURE_LEVEL_CRITICAL);
    CHECK_OK(nexus_store_poll_event(s, &e));
    CHECK(e.kind == NEXUS_EVENT_KIND_SIGNAL_CHANGED);
    CHECK(e.previous_level == NEXUS_PRESSURE_LEVEL_NONE && e.level == NEXUS_PRESSURE_LEVEL_CRITICAL);
    uint64_t first = e.sequence;
    /* A repeat sheds again but is no change. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    CHECK_OK(nexus_store_poll_event(s, &e));
    CHECK(e.kind == NEXUS_EVENT_KIND_SIGNAL_CHANGED && e.level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(e.previous_level == NEXUS_PRESSURE_LEVEL_CRITICAL);
    /* Masked-out events take no sequence number: no gap. */
    CHECK(e.sequence == first + 1);
    CHECK_OK(nexus_store_signalled_level(s, &level));
    CHECK(level == NEXUS_PRESSURE_LEVEL_NONE);
    EXPECT(nexus_store_signalled_level(s, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK_OK(nexus_store_free(s));

    /* Decay ends a signal: a SIGNAL_CHANGED to NONE, and the getter agrees. */
    NexusMemoryConfig c = config_with(0);
    c.signal_decay_ms = 1;
    s = store_from(&c);
    CHECK_OK(nexus_store_set_event_mask(s, NEXUS_EVENT_MASK_ALL));
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK_OK(nexus_store_signalled_level(s, &level));
    CHECK(level == NEXUS_PRESSURE_LEVEL_NONE);
    int signal_changes = 0;
    while (nexus_store_poll_event(s, &e) == NEXUS_STATUS_OK)
        if (e.kind == NEXUS_EVENT_KIND_SIGNAL_CHANGED) signal_changes++;
    CHECK(signal_changes == 2);
    CHECK_OK(nexus_store_free(s));
}

static void test_poll_event_sequence(void) {
    NexusStore *s = new_store(1000); /* MODERATE at 700, CRITICAL at 900 */
    NexusEvent e, ev;
    memset(&ev, 0x77, sizeof ev);
    e = ev;
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);
    CHECK(memcmp(&e, &ev, sizeof e) == 0);

    fill(s, 3); /* 600: no event */
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);

    /* A put crossing the threshold: up, the eviction, back down. */
    put_charged(s, "k3", 200);
    NexusEvent up = poll_ok(s), ev1 = poll_ok(s), down = poll_ok(s);
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);

    CHECK(up.kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED && up.sequence == 1);
    CHECK(up.previous_level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(up.level == NEXUS_PRESSURE_LEVEL_MODERATE);
    CHECK(up.usage_bytes == 800 && up.count == 0 && up.bytes == 0);

    CHECK(ev1.kind == NEXUS_EVENT_KIND_EVICTION && ev1.sequence == 2);
    CHECK(ev1.reason == NEXUS_EVICTION_REASON_CAPACITY && ev1.count == 1 && ev1.bytes == 200);
    CHECK(ev1.usage_bytes == 600 && ev1.level == ev1.previous_level);

    CHECK(down.kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED && down.sequence == 3);
    CHECK(down.previous_level == NEXUS_PRESSURE_LEVEL_MODERATE);
    CHECK(down.level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(down.usage_bytes == 600);
    CHECK(up.timestamp_ns <= ev1.timestamp_ns && ev1.timestamp_ns <= down.timestamp_ns);
    CHECK(!has(s, "k0"));

    /* A signal: the change, then its eviction run; NONE: the change back. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    e = poll_ok(s);
    CHECK(e.kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED && e.sequence == 4);
    CHECK(e.level == NEXUS_PRESSURE_LEVEL_MODERATE);
    CHECK(e.previous_level == NEXUS_PRESSURE_LEVEL_NONE);
    e = poll_ok(s);
    CHECK(e.kind == NEXUS_EVENT_KIND_EVICTION && e.sequence == 5);
    CHECK(e.reason == NEXUS_EVICTION_REASON_PRESSURE && e.count == 1 && e.bytes == 200);
    CHECK(e.level == NEXUS_PRESSURE_LEVEL_MODERATE && e.usage_bytes == 400);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    e = poll_ok(s);
    CHECK(e.kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED && e.sequence == 6);
    CHECK(e.level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(e.previous_level == NEXUS_PRESSURE_LEVEL_MODERATE);
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);
    CHECK_OK(nexus_store_free(s));
}

static void test_event_queue_dropped_marker(void) {
    NexusMemoryConfig c = config_with(0);
    c.event_queue_capacity = 2;
    NexusStore *s = store_from(&c);
    fill(s, 10);
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        CHECK_OK(nexus_store_evict_lru(s, 1, &n));
        CHECK(n == 1);
    }
    NexusEvent e1 = poll_ok(s), e2 = poll_ok(s), marker = poll_ok(s), e;
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);
    CHECK(e1.kind == NEXUS_EVENT_KIND_EVICTION && e1.sequence == 1);
    CHECK(e1.reason == NEXUS_EVICTION_REASON_MANUAL && e1.count == 1);
    CHECK(e2.kind == NEXUS_EVENT_KIND_EVICTION && e2.sequence == 2);
    CHECK(marker.kind == NEXUS_EVENT_KIND_DROPPED && marker.count == 3);
    /* It carries the latest loss's number: 3 and 4 are the gap before it. */
    CHECK(marker.sequence == 5);

    /* After a poll made room, events queue again; lost ones left a gap. */
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    e = poll_ok(s);
    CHECK(e.kind == NEXUS_EVENT_KIND_EVICTION && e.sequence == 6);
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);
    CHECK_OK(nexus_store_free(s));
}

static void test_event_callback(void) {
    NexusStore *s = new_store(0);
    NexusEvent e;
    size_t n = 0;
    fill(s, 6);

    EventLog l1 = {0};
    CHECK_OK(nexus_store_set_event_callback(s, on_event, &l1, event_log_destroy));
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    CHECK(l1.count == 1 && l1.last.kind == NEXUS_EVENT_KIND_EVICTION);
    CHECK(l1.last.reason == NEXUS_EVICTION_REASON_MANUAL);
    CHECK(l1.last.count == 1 && l1.last.sequence == 1);
    EXPECT(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY); /* not queued */

    /* Replace: the old ctx is destroyed once, the new one gets events. */
    EventLog l2 = {0};
    CHECK_OK(nexus_store_set_event_callback(s, on_event, &l2, event_log_destroy));
    CHECK(l1.destroyed == 1 && l2.destroyed == 0);
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    CHECK(l1.count == 1 && l2.count == 1 && l2.last.sequence == 2);

    /* Unregister: destroyed; events queue again. */
    CHECK_OK(nexus_store_set_event_callback(s, NULL, NULL, NULL));
    CHECK(l2.destroyed == 1);
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    e = poll_ok(s);
    CHECK(e.kind == NEXUS_EVENT_KIND_EVICTION && e.sequence == 3 && l2.count == 1);

    /* A NULL callback with a ctx: the ctx is destroyed before the call returns. */
    EventLog l3 = {0};
    CHECK_OK(nexus_store_set_event_callback(s, NULL, &l3, event_log_destroy));
    CHECK(l3.destroyed == 1 && l3.count == 0);

    /* Registered at free: destroyed once there. A NULL destroy is fine. */
    EventLog l4 = {0}, l5 = {0};
    CHECK_OK(nexus_store_set_event_callback(s, on_event, &l5, NULL));
    CHECK_OK(nexus_store_set_event_callback(s, on_event, &l4, event_log_destroy));
    CHECK(l5.destroyed == 0);
    CHECK_OK(nexus_store_free(s));
    CHECK(l4.destroyed == 1 && l1.destroyed == 1 && l2.destroyed == 1 && l3.destroyed == 1);
}

static void test_eviction_listener_reasons(void) {
    Listener l = {0};
    NexusMemoryConfig c = config_with(1000);
    NexusStore *s = store_with_listener(&c, &l);
    size_t n = 0;

    put_charged(s, "a", 200);
    CHECK_OK(nexus_store_remove(s, KEY("a")));
    CHECK(l.count == 1 && l.bytes[0] == 200 && heard(&l, "a", NEXUS_EVICTION_REASON_REMOVED));

    put_charged(s, "b", 200);
    put_charged(s, "b", 300);
    CHECK(l.count == 1 && l.bytes[0] == 200 && heard(&l, "b", NEXUS_EVICTION_REASON_REPLACED));

    put_charged(s, "c", 200);
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    CHECK(l.count == 1 && l.bytes[0] == 300 && heard(&l, "b", NEXUS_EVICTION_REASON_MANUAL));

    put_charged(s, "d", 200);
    put_charged(s, "e", 200);
    put_charged(s, "f", 200); /* 800 >= 700: the put evicts the LRU */
    CHECK(heard(&l, "c", NEXUS_EVICTION_REASON_CAPACITY));

    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
    CHECK(heard(&l, "d,e", NEXUS_EVICTION_REASON_PRESSURE));
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));

    CHECK_OK(nexus_store_clear(s, &n));
    CHECK(n == 1 && heard(&l, "f", NEXUS_EVICTION_REASON_REMOVED));

    /* Unregister: destroyed once; no more calls. */
    CHECK_OK(nexus_store_set_eviction_listener(s, NULL, NULL, NULL));
    CHECK(l.destroyed == 1);
    put_charged(s, "g", 200);
    CHECK_OK(nexus_store_remove(s, KEY("g")));
    CHECK(l.count == 0);

    /* Registered at free: destroyed there; entries left at free are not
     * "evicted" (free is not a removal by the caller). */
    Listener l2 = {0};
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, &l2, listener_destroy));
    CHECK_OK(nexus_store_free(s));
    CHECK(l2.destroyed == 1 && l.destroyed == 1);
}

/* ---- BUSY, PANIC --------------------------------------------------------------- */

static void test_free_from_own_callback_is_busy(void) {
    NexusStore *s = new_store(0);
    Listener l = {0};
    l.free_me = s;
    l.free_status = 12345;
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, &l, listener_destroy));
    put_str(s, "k", "v");
    CHECK_OK(nexus_store_remove(s, KEY("k")));
    CHECK(l.count == 1 && l.free_status == NEXUS_STATUS_ERR_BUSY);
    seen_status[NEXUS_STATUS_ERR_BUSY]++;
    CHECK(nexus_last_error_message()[0] != '\0');

    /* The store is still alive and usable. */
    put_str(s, "k2", "v2");
    CHECK(has(s, "k2"));
    l.free_me = NULL;
    CHECK_OK(nexus_store_free(s));
    CHECK(l.destroyed == 1);
}

static void test_debug_panic(void) {
    NexusStore *s = new_store(0);
    put_str(s, "k", "v");
    EXPECT(nexus_store_debug_panic(s), NEXUS_STATUS_ERR_PANIC);
    CHECK(strstr(nexus_last_error_message(), "panic") != NULL);

    /* The store still works: reads, writes, metrics. */
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get(s, KEY("k"), &v));
    CHECK(value_is(v, "v"));
    nexus_value_release(v);
    put_str(s, "k2", "after");
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.entry_count == 2 && m.current_usage == charge_of("k", 1) + charge_of("k2", 5));
    char json[2048];
    size_t n = 0;
    CHECK_OK(nexus_store_metrics_json(s, json, sizeof json, &n));

    /* Again: still contained. */
    EXPECT(nexus_store_debug_panic(s), NEXUS_STATUS_ERR_PANIC);
    CHECK_OK(nexus_store_remove(s, KEY("k")));
    CHECK(metrics_of(s).entry_count == 1);
    CHECK_OK(nexus_store_free(s));
}

/* ---- the loader ------------------------------------------------------------------ */

enum LoadMode {
    LOAD_BYTES,
    LOAD_NOTHING,
    LOAD_TWICE,
    LOAD_FAIL,
    LOAD_OBJECT,
    LOAD_OBJECT_THEN_FAIL,
    LOAD_REENTER,
    LOAD_BAD_ARGS,
};

typedef struct {
    enum LoadMode mode;
    int calls;
    int destroyed;
    NexusStatus fail_with;
    size_t cost;           /* LOAD_OBJECT */
    void *object;          /* the last object given */
    NexusStatus got[4];    /* statuses the loader saw */
    NexusValue *reentered; /* LOAD_REENTER's out-param */
    ReleaseLog rel;
    NexusStore *store;
} Loader;

static NexusStatus load(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    Loader *l = ctx;
    char value[64];
    int n = snprintf(value, sizeof value, "loaded:%.*s", (int)key_len, (const char *)key);
    const uint8_t *bytes = (const uint8_t *)value;
    void *obj;
    l->calls++;
    switch (l->mode) {
    case LOAD_BYTES:
        return nexus_load_sink_put_bytes(sink, bytes, (size_t)n);
    case LOAD_NOTHING:
        return NEXUS_STATUS_OK;
    case LOAD_TWICE:
        l->got[0] = nexus_load_sink_put_bytes(sink, (const uint8_t *)"first", 5);
        l->got[1] = nexus_load_sink_put_bytes(sink, (const uint8_t *)"second", 6);
        obj = new_obj(99);
        l->got[2] = nexus_load_sink_put_object(sink, obj, 10, release_obj, &l->rel);
        if (l->got[2] != NEXUS_STATUS_OK) free(obj); /* refused: still ours */
        return NEXUS_STATUS_OK;
    case LOAD_FAIL:
        return l->fail_with;
    case LOAD_OBJECT:
    case LOAD_OBJECT_THEN_FAIL:
        l->object = new_obj(42);
        l->got[0] = nexus_load_sink_put_object(sink, l->object, l->cost, release_obj, &l->rel);
        return l->mode == LOAD_OBJECT ? l->got[0] : l->fail_with;
    case LOAD_REENTER:
        l->got[0] = nexus_store_get_or_load(l->store, key, key_len, &l->reentered);
        return nexus_load_sink_put_bytes(sink, bytes, (size_t)n);
    case LOAD_BAD_ARGS:
        l->got[0] = nexus_load_sink_put_bytes(sink, NULL, 5);
        l->got[1] = nexus_load_sink_put_bytes(sink, bytes, BEYOND_PTRDIFF);
        l->got[2] = nexus_load_sink_put_bytes(sink, bytes, HUGE_LEN);
        l->got[3] = nexus_load_sink_put_bytes(sink, bytes, (size_t)n);
        return l->got[3];
    }
    return NEXUS_STATUS_ERR_CALLBACK;
}

static void loader_destroy(void *ctx) { ((Loader *)ctx)->destroyed++; }

static NexusStore *store_with_loader(uint64_t max, Loader *l) {
    NexusStore *s = new_store(max);
    l->store = s;
    CHECK_OK(nexus_store_set_loader(s, load, l, loader_destroy));
    return s;
}

static void test_get_or_load_without_loader(void) {
    NexusStore *s = new_store(0);
    put_str(s, "k", "plain");
    NexusValue *v = SENTINEL_VALUE;
    EXPECT(nexus_store_get_or_load(s, KEY("absent"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(v == SENTINEL_VALUE);
    CHECK_OK(nexus_store_get_or_load(s, KEY("k"), &v));
    CHECK(value_is(v, "plain"));
    nexus_value_release(v);
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.hit_count == 1 && m.miss_count == 1 && m.load_count == 0);
    CHECK_OK(nexus_store_free(s));
}

static void test_loader_basics(void) {
    Loader l = {0};
    NexusStore *s = store_with_loader(0, &l);
    NexusValue *v = NULL;

    /* A miss loads, caches and returns; a second call hits. */
    l.mode = LOAD_BYTES;
    CHECK_OK(nexus_store_get_or_load(s, KEY("a"), &v));
    CHECK(value_is(v, "loaded:a") && l.calls == 1);
    nexus_value_release(v);
    CHECK(has(s, "a"));
    CHECK_OK(nexus_store_get_or_load(s, KEY("a"), &v));
    CHECK(value_is(v, "loaded:a") && l.calls == 1);
    nexus_value_release(v);
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.load_count == 1 && m.load_failure_count == 0 && m.insert_count == 1);
    CHECK(m.current_usage == charge_of("a", 8));

    /* The loader says NOT_FOUND: it reaches the caller, nothing cached. */
    l.mode = LOAD_FAIL;
    l.fail_with = NEXUS_STATUS_NOT_FOUND;
    v = SENTINEL_VALUE;
    EXPECT(nexus_store_get_or_load(s, KEY("b"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(v == SENTINEL_VALUE && !has(s, "b") && l.calls == 2);

    /* Any other status propagates as given. */
    l.fail_with = NEXUS_STATUS_ERR_OUT_OF_MEMORY;
    EXPECT(nexus_store_get_or_load(s, KEY("b"), &v), NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    CHECK(v == SENTINEL_VALUE && !has(s, "b"));
    l.fail_with = NEXUS_STATUS_ERR_TOO_LARGE;
    EXPECT(nexus_store_get_or_load(s, KEY("b"), &v), NEXUS_STATUS_ERR_TOO_LARGE);

    /* OK without a value: ERR_CALLBACK. */
    l.mode = LOAD_NOTHING;
    EXPECT(nexus_store_get_or_load(s, KEY("c"), &v), NEXUS_STATUS_ERR_CALLBACK);
    CHECK(v == SENTINEL_VALUE && !has(s, "c"));
    m = metrics_of(s);
    CHECK(m.load_count == 5 && m.load_failure_count == 4 && m.entry_count == 1);

    /* Under EMERGENCY the loaded value cannot be cached but is returned. */
    l.mode = LOAD_BYTES;
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_EMERGENCY));
    CHECK_OK(nexus_store_get_or_load(s, KEY("e"), &v));
    CHECK(value_is(v, "loaded:e") && !has(s, "e"));
    nexus_value_release(v);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));

    /* Unregister: destroyed once; get_or_load is get again. */
    CHECK(l.destroyed == 0);
    CHECK_OK(nexus_store_set_loader(s, NULL, NULL, NULL));
    CHECK(l.destroyed == 1);
    int calls = l.calls;
    v = SENTINEL_VALUE;
    EXPECT(nexus_store_get_or_load(s, KEY("zzz"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(v == SENTINEL_VALUE && l.calls == calls);
    CHECK_OK(nexus_store_free(s));
    CHECK(l.destroyed == 1);

    /* A loader still registered at free is destroyed there. */
    Loader l2 = {0};
    s = store_with_loader(0, &l2);
    CHECK_OK(nexus_store_free(s));
    CHECK(l2.destroyed == 1 && l2.calls == 0);
}

static void test_loader_sink_misuse(void) {
    /* NULL sink, outside any loader. */
    const uint8_t *v1 = (const uint8_t *)"v";
    EXPECT(nexus_load_sink_put_bytes(NULL, v1, 1), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_load_sink_put_bytes(NULL, NULL, 0), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    ReleaseLog rel = {0};
    void *obj = new_obj(1);
    EXPECT(nexus_load_sink_put_object(NULL, obj, 10, release_obj, &rel),
           NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(rel.released == 0);
    free(obj);

    Loader l = {0};
    NexusStore *s = store_with_loader(0, &l);
    NexusValue *v = NULL;

    /* A second sink call is refused; the first value wins. */
    l.mode = LOAD_TWICE;
    CHECK_OK(nexus_store_get_or_load(s, KEY("t"), &v));
    CHECK(value_is(v, "first"));
    nexus_value_release(v);
    CHECK(l.got[0] == NEXUS_STATUS_OK);
    CHECK(l.got[1] == NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(l.got[2] == NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(l.rel.released == 0); /* the refused object stayed the loader's */
    seen_status[NEXUS_STATUS_ERR_INVALID_ARGUMENT]++;

    /* Bad arguments to the sink: refused without filling it. */
    l.mode = LOAD_BAD_ARGS;
    CHECK_OK(nexus_store_get_or_load(s, KEY("x"), &v));
    CHECK(value_is(v, "loaded:x"));
    nexus_value_release(v);
    CHECK(l.got[0] == NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(l.got[1] == NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(l.got[2] == NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    CHECK(l.got[3] == NEXUS_STATUS_OK);

    /* get_or_load of the key from inside its own loader: BUSY. */
    l.mode = LOAD_REENTER;
    l.reentered = SENTINEL_VALUE;
    CHECK_OK(nexus_store_get_or_load(s, KEY("r"), &v));
    CHECK(value_is(v, "loaded:r"));
    nexus_value_release(v);
    CHECK(l.got[0] == NEXUS_STATUS_ERR_BUSY && l.reentered == SENTINEL_VALUE);
    seen_status[NEXUS_STATUS_ERR_BUSY]++;
    CHECK(has(s, "r"));

    CHECK_OK(nexus_store_free(s));
    CHECK(l.destroyed == 1);
}

static void test_loader_objects(void) {
    Loader l = {0};
    NexusStore *s = store_with_loader(0, &l);
    NexusValue *v = NULL;

    /* An object with cost 0 and no size estimator: the sink refuses it (the
     * loader keeps it) and the load fails with that status. */
    l.mode = LOAD_OBJECT;
    l.cost = 0;
    v = SENTINEL_VALUE;
    EXPECT(nexus_store_get_or_load(s, KEY("o1"), &v), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(l.got[0] == NEXUS_STATUS_ERR_INVALID_ARGUMENT && v == SENTINEL_VALUE);
    CHECK(l.rel.released == 0 && !has(s, "o1"));
    free(l.object);

    /* An explicit cost. */
    l.cost = 777;
    CHECK_OK(nexus_store_get_or_load(s, KEY("o2"), &v));
    CHECK(nexus_value_object(v) == l.object && nexus_value_data(v) == NULL);
    CHECK_OK(nexus_store_remove(s, KEY("o2")));
    CHECK(l.rel.released == 0); /* the handle holds it */
    nexus_value_release(v);
    CHECK(l.rel.released == 1);
    CHECK_OK(nexus_store_get_or_load(s, KEY("o2"), &v));
    nexus_value_release(v);
    CHECK(metrics_of(s).current_usage == 777 && l.rel.released == 1);

    /* A value given before a failure is released; nothing cached. */
    l.mode = LOAD_OBJECT_THEN_FAIL;
    l.fail_with = NEXUS_STATUS_NOT_FOUND;
    v = SENTINEL_VALUE;
    EXPECT(nexus_store_get_or_load(s, KEY("o3"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(v == SENTINEL_VALUE && l.rel.released == 2 && !has(s, "o3"));

    CHECK_OK(nexus_store_free(s)); /* releases "o2" */
    CHECK(l.rel.released == 3 && l.destroyed == 1);
}

int main(void) {
    RUN(test_reset_metrics);
    RUN(test_event_mask_and_signalled_level);
    RUN(test_poll_event_sequence);
    RUN(test_event_queue_dropped_marker);
    RUN(test_event_callback);
    RUN(test_eviction_listener_reasons);
    RUN(test_free_from_own_callback_is_busy);
    RUN(test_debug_panic);
    RUN(test_get_or_load_without_loader);
    RUN(test_loader_basics);
    RUN(test_loader_sink_misuse);
    RUN(test_loader_objects);
    FINISH();
}
