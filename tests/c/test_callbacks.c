/* Callbacks: (fn, ctx, destroy) ownership, re-entrancy, freeing a store from
 * its own callback, unregistering while another thread is inside a
 * callback, slow callbacks, the loader's single flight and its edge cases,
 * events via callback vs queue, and the eviction listener's reasons.
 *
 * Every test arms a watchdog (alarm) so that a deadlock fails the program
 * instead of hanging it. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "test_sync.h"

/* ---- small helpers -------------------------------------------------------- */

/* Fails the program instead of hanging. */
static void watchdog(void) { watchdog_secs(20, 120); }

static void check_track_clean(const Track *t) {
    CHECK(t->destroy_while_active == 0);
    CHECK(t->call_after_destroy == 0);
    CHECK(t->active == 0);
}

static uint64_t misses(NexusStore *s) {
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    return m.miss_count;
}

/* Expects key to hold exactly the bytes `want`. */
static void check_value(NexusStore *s, const char *key, const char *want) {
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get(s, KEY(key), &v));
    CHECK(nexus_value_len(v) == strlen(want));
    CHECK(memcmp(nexus_value_data(v), want, strlen(want)) == 0);
    nexus_value_release(v);
}

static int contains(NexusStore *s, const char *key) {
    bool b = false;
    CHECK_OK(nexus_store_contains(s, KEY(key), &b));
    return b ? 1 : 0;
}

/* Objects with a counting release. */
typedef struct {
    int released;
    int id;
} Obj;

static int g_release_calls = 0;

static void obj_release(void *ctx, void *object) {
    Obj *o = object;
    (void)ctx;
    AINC(&o->released);
    AINC(&g_release_calls);
}

/* ---- the three registrable callbacks, tracked ----------------------------- */

enum { CB_EVENT, CB_LISTENER, CB_LOADER, CB_KINDS };

static void ev_track(void *ctx, const NexusEvent *e) {
    Track *t = ctx;
    track_enter(t);
    CHECK(e != NULL);
    track_leave(t);
}

static void li_track(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                     uint64_t bytes) {
    Track *t = ctx;
    track_enter(t);
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    track_leave(t);
}

static NexusStatus ld_track(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    Track *t = ctx;
    NexusStatus st;
    track_enter(t);
    st = nexus_load_sink_put_bytes(sink, key, key_len);
    track_leave(t);
    return st;
}

/* Registers the tracked callback of kind `which` (or unregisters with
 * with_fn 0), passing ctx and destroy. */
static NexusStatus reg(int which, NexusStore *s, int with_fn, void *ctx, NexusDestroyFn destroy) {
    switch (which) {
    case CB_EVENT:
        return nexus_store_set_event_callback(s, with_fn ? ev_track : NULL, ctx, destroy);
    case CB_LISTENER:
        return nexus_store_set_eviction_listener(s, with_fn ? li_track : NULL, ctx, destroy);
    default:
        return nexus_store_set_loader(s, with_fn ? ld_track : NULL, ctx, destroy);
    }
}

/* Makes the store call its callback of kind `which` at least once. */
static void trigger(int which, NexusStore *s) {
    NexusValue *v = NULL;
    switch (which) {
    case CB_EVENT:
        CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
        CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
        break;
    case CB_LISTENER:
        CHECK_OK(nexus_store_put(s, KEY("trig"), KEY("v")));
        CHECK_OK(nexus_store_remove(s, KEY("trig")));
        break;
    default: {
        /* NOT_FOUND when no loader is registered. */
        NexusStatus st = nexus_store_get_or_load(s, KEY("trig-load"), &v);
        CHECK(st == NEXUS_STATUS_OK || st == NEXUS_STATUS_NOT_FOUND);
        if (st == NEXUS_STATUS_OK) {
            CHECK(nexus_value_len(v) == strlen("trig-load"));
            nexus_value_release(v);
            CHECK_OK(nexus_store_remove(s, KEY("trig-load")));
        }
        break;
    }
    }
}

/* ---- destroy runs exactly once -------------------------------------------- */

static void test_destroy_exactly_once(void) {
    watchdog();
    for (int which = 0; which < CB_KINDS; which++) {
        Track a, b, c, d, e, f, g, h;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        memset(&c, 0, sizeof c);
        memset(&d, 0, sizeof d);
        memset(&e, 0, sizeof e);
        memset(&f, 0, sizeof f);
        memset(&g, 0, sizeof g);
        memset(&h, 0, sizeof h);
        NexusStore *s = new_store(0);

        /* Registered and used: not destroyed. */
        CHECK_OK(reg(which, s, 1, &a, track_destroy));
        trigger(which, s);
        CHECK(a.calls > 0);
        CHECK(a.destroyed == 0);

        /* Replaced: the old ctx is destroyed, once, the new one is not. */
        CHECK_OK(reg(which, s, 1, &b, track_destroy));
        CHECK(a.destroyed == 1);
        CHECK(b.destroyed == 0);
        int a_calls = a.calls;
        trigger(which, s);
        CHECK(a.calls == a_calls); /* the old callback is no longer called */
        CHECK(b.calls > 0);

        /* Unregistered (fn NULL): the old ctx is destroyed, and the ctx
         * passed with the NULL fn is destroyed at once. */
        CHECK_OK(reg(which, s, 0, &c, track_destroy));
        CHECK(b.destroyed == 1);
        CHECK(c.destroyed == 1);
        int b_calls = b.calls;
        trigger(which, s);
        CHECK(b.calls == b_calls);
        CHECK(c.calls == 0);

        /* Unregistering again with nothing registered: only the new ctx. */
        CHECK_OK(reg(which, s, 0, &h, track_destroy));
        CHECK(h.destroyed == 1);

        /* NULL destroy is allowed; NULL fn + NULL ctx + NULL destroy too. */
        CHECK_OK(reg(which, s, 1, NULL, NULL));
        CHECK_OK(reg(which, s, 0, NULL, NULL));

        /* Registration that fails destroys the ctx before returning. */
        NexusStore *dead = new_store(0);
        CHECK_OK(nexus_store_free(dead));
        CHECK_STATUS(reg(which, dead, 1, &e, track_destroy), NEXUS_STATUS_ERR_INVALID_HANDLE);
        CHECK(e.destroyed == 1);
        CHECK_STATUS(reg(which, NULL, 1, &f, track_destroy), NEXUS_STATUS_ERR_NULL_ARGUMENT);
        CHECK(f.destroyed == 1);
        /* A handle that never was one. */
        NexusStore *bogus = (NexusStore *)(uintptr_t)0x7fff0000u;
        CHECK_STATUS(reg(which, bogus, 1, &g, track_destroy), NEXUS_STATUS_ERR_INVALID_HANDLE);
        CHECK(g.destroyed == 1);
        /* A failed unregistration (freed handle, fn NULL) too. */
        Track z;
        memset(&z, 0, sizeof z);
        CHECK_STATUS(reg(which, dead, 0, &z, track_destroy), NEXUS_STATUS_ERR_INVALID_HANDLE);
        CHECK(z.destroyed == 1);

        /* At the store's free. */
        CHECK_OK(reg(which, s, 1, &d, track_destroy));
        trigger(which, s);
        CHECK(d.destroyed == 0);
        CHECK_OK(nexus_store_free(s));
        CHECK(d.destroyed == 1);

        const Track *all[] = {&a, &b, &c, &d, &e, &f, &g, &h, &z};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            CHECK(all[i]->destroyed == 1);
            check_track_clean(all[i]);
        }
    }
}

/* The size estimator's ctx: destroyed once at the store's free, or when
 * nexus_store_new fails. */
static size_t est_plain(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                        size_t value_len) {
    Track *t = ctx;
    track_enter(t);
    (void)key;
    (void)value;
    track_leave(t);
    return key_len + value_len + 1;
}

static void test_estimator_ctx_destroyed_once(void) {
    watchdog();
    Track t, bad;
    memset(&t, 0, sizeof t);
    memset(&bad, 0, sizeof bad);
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.size_estimator = est_plain;
    c.size_estimator_ctx = &t;
    c.size_estimator_destroy = track_destroy;
    NexusStore *s = store_from(&c);
    CHECK_OK(nexus_store_put(s, KEY("k"), KEY("vv")));
    CHECK(t.calls == 1);
    CHECK(t.destroyed == 0);
    CHECK_OK(nexus_store_free(s));
    CHECK(t.destroyed == 1);
    check_track_clean(&t);

    /* A config that fails validation: destroyed before nexus_store_new returns. */
    c.size_estimator_ctx = &bad;
    c.eviction_batch_size = 0;
    NexusStore *none = NULL;
    CHECK_STATUS(nexus_store_new(&c, &none), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(none == NULL);
    CHECK(bad.destroyed == 1);
}

/* ---- re-entrant callbacks ------------------------------------------------- */

enum { RE_EVENT, RE_LISTENER, RE_RELEASE, RE_ESTIMATOR, RE_LOADER, RE_KINDS };

static struct {
    NexusStore *s;
    int depth;           /* > 0 while a re-entering sequence runs */
    int done[RE_KINDS];  /* re-entering sequences completed, per callback kind */
} g_re;

#define RE_BUDGET 1000000u

static void ok_or(NexusStatus st, NexusStatus alt) {
    nexus_test_checks++;
    if (st != NEXUS_STATUS_OK && st != alt) {
        fprintf(stderr, "[%s] re-entrant call returned %s: %s\n", nexus_test_name,
                nexus_status_str(st), nexus_last_error_message());
        exit(1);
    }
}

/* Calls back into the store from inside a callback. Nested callbacks that
 * this produces do not re-enter again (depth guard). */
static void reenter(int kind) {
    NexusStore *s = g_re.s;
    NexusValue *v = NULL;
    NexusMemoryMetrics m;
    NexusEvent ev;
    size_t n = 0, len = 0;
    uint8_t buf[16];
    bool b = false;
    if (g_re.depth > 0) return;
    g_re.depth++;
    CHECK_OK(nexus_store_get(s, KEY("re:base"), &v));
    CHECK(nexus_value_len(v) == 4 && memcmp(nexus_value_data(v), "base", 4) == 0);
    nexus_value_release(v);
    CHECK_OK(nexus_store_put(s, KEY("re:tmp"), KEY("tmp")));
    CHECK_OK(nexus_store_pin(s, KEY("re:pinned")));
    CHECK_OK(nexus_store_is_pinned(s, KEY("re:pinned"), &b));
    CHECK(b);
    CHECK_OK(nexus_store_unpin(s, KEY("re:pinned")));
    CHECK_OK(nexus_store_evict(s, 1, &n));
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    CHECK(m.current_usage <= RE_BUDGET);
    ok_or(nexus_store_poll_event(s, &ev), NEXUS_STATUS_EMPTY);
    ok_or(nexus_store_remove(s, KEY("re:tmp")), NEXUS_STATUS_NOT_FOUND);
    CHECK_OK(nexus_store_set_max_bytes(s, RE_BUDGET));
    CHECK_OK(nexus_store_contains(s, KEY("re:base"), &b));
    CHECK(b);
    CHECK_OK(nexus_store_get_copy(s, KEY("re:base"), buf, sizeof buf, &len));
    CHECK(len == 4);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    g_re.depth--;
    g_re.done[kind]++;
}

static void re_event(void *ctx, const NexusEvent *e) {
    (void)ctx;
    (void)e;
    reenter(RE_EVENT);
}

static void re_listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                        uint64_t bytes) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    reenter(RE_LISTENER);
}

static void re_release(void *ctx, void *object) {
    (void)ctx;
    AINC(&((Obj *)object)->released);
    reenter(RE_RELEASE);
}

static size_t re_estimator(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                           size_t value_len) {
    (void)ctx;
    (void)value;
    if (key_len == 7 && memcmp(key, "re:est!", 7) == 0) reenter(RE_ESTIMATOR);
    return key_len + value_len + 16;
}

static NexusStatus re_loader(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    reenter(RE_LOADER);
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static void test_reentrant_callbacks(void) {
    watchdog();
    memset(&g_re, 0, sizeof g_re);
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.max_cache_bytes = RE_BUDGET;
    c.size_estimator = re_estimator;
    NexusStore *s = store_from(&c);
    g_re.s = s;
    CHECK_OK(nexus_store_put(s, KEY("re:base"), KEY("base")));
    CHECK_OK(nexus_store_pin(s, KEY("re:base")));

    /* Estimator (no other callback registered yet). */
    CHECK_OK(nexus_store_put(s, KEY("re:est!"), KEY("x")));
    CHECK(g_re.done[RE_ESTIMATOR] == 1);

    /* Event callback alone. */
    CHECK_OK(nexus_store_set_event_callback(s, re_event, NULL, NULL));
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(g_re.done[RE_EVENT] >= 1);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));

    /* Listener alone. */
    CHECK_OK(nexus_store_set_event_callback(s, NULL, NULL, NULL));
    CHECK_OK(nexus_store_set_eviction_listener(s, re_listener, NULL, NULL));
    CHECK_OK(nexus_store_put(s, KEY("re:gone"), KEY("g")));
    CHECK_OK(nexus_store_remove(s, KEY("re:gone")));
    CHECK(g_re.done[RE_LISTENER] >= 1);
    CHECK_OK(nexus_store_set_eviction_listener(s, NULL, NULL, NULL));

    /* Release callback: inside a store call (remove)... */
    Obj o1 = {0, 1}, o2 = {0, 2};
    CHECK_OK(nexus_store_put_object(s, KEY("re:obj"), &o1, 10, re_release, NULL));
    CHECK_OK(nexus_store_remove(s, KEY("re:obj")));
    CHECK(o1.released == 1);
    CHECK(g_re.done[RE_RELEASE] == 1);
    /* ...and from the last nexus_value_release, outside any store call. */
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_put_object(s, KEY("re:obj"), &o2, 10, re_release, NULL));
    CHECK_OK(nexus_store_get(s, KEY("re:obj"), &v));
    CHECK_OK(nexus_store_remove(s, KEY("re:obj")));
    CHECK(o2.released == 0);
    nexus_value_release(v);
    CHECK(o2.released == 1);
    CHECK(g_re.done[RE_RELEASE] == 2);

    /* Loader. */
    CHECK_OK(nexus_store_set_loader(s, re_loader, NULL, NULL));
    CHECK_OK(nexus_store_get_or_load(s, KEY("re:missing"), &v));
    CHECK(nexus_value_len(v) == strlen("re:missing"));
    nexus_value_release(v);
    CHECK(g_re.done[RE_LOADER] == 1);

    /* All at once: every callback registered, each re-enters when it is the
     * first to run; a put whose estimator re-enters, an eviction with
     * listener, event and release callbacks. */
    int before[RE_KINDS];
    memcpy(before, g_re.done, sizeof before);
    CHECK_OK(nexus_store_set_event_callback(s, re_event, NULL, NULL));
    CHECK_OK(nexus_store_set_eviction_listener(s, re_listener, NULL, NULL));
    Obj o3 = {0, 3};
    CHECK_OK(nexus_store_put_object(s, KEY("re:obj3"), &o3, 10, re_release, NULL));
    CHECK_OK(nexus_store_put(s, KEY("re:est!"), KEY("again")));
    size_t n = 0;
    CHECK_OK(nexus_store_clear_unpinned(s, &n));
    CHECK(n >= 1);
    CHECK(o3.released == 1);
    CHECK(g_re.done[RE_ESTIMATOR] > before[RE_ESTIMATOR]);
    CHECK(g_re.done[RE_LISTENER] > before[RE_LISTENER]);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
    CHECK(g_re.done[RE_EVENT] > before[RE_EVENT]);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    CHECK_OK(nexus_store_get_or_load(s, KEY("re:missing2"), &v));
    nexus_value_release(v);
    CHECK(g_re.done[RE_LOADER] > before[RE_LOADER]);

    /* The store is consistent and usable afterwards. */
    check_value(s, "re:base", "base");
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    CHECK(m.in_use_bytes == 0);
    CHECK(m.current_usage <= RE_BUDGET);
    CHECK_OK(nexus_store_free(s));
    CHECK(o1.released == 1 && o2.released == 1 && o3.released == 1);
}

/* ---- a callback that frees its own store gets BUSY ------------------------ */

static struct {
    NexusStore *s;
    int armed;
    int attempts;
    NexusStatus status;
    int had_message;
    int store_usable_inside;
} g_fr;

static void free_own_store(void) {
    if (!g_fr.armed) return;
    g_fr.armed = 0;
    g_fr.attempts++;
    g_fr.status = nexus_store_free(g_fr.s);
    g_fr.had_message = nexus_last_error_message()[0] != '\0';
    bool b = false;
    g_fr.store_usable_inside = nexus_store_contains(g_fr.s, KEY("keep"), &b) == NEXUS_STATUS_OK && b;
}

static void fr_event(void *ctx, const NexusEvent *e) {
    (void)ctx;
    (void)e;
    free_own_store();
}

static void fr_listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                        uint64_t bytes) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    free_own_store();
}

static void fr_release(void *ctx, void *object) {
    (void)ctx;
    AINC(&((Obj *)object)->released);
    free_own_store();
}

static size_t fr_estimator(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                           size_t value_len) {
    (void)ctx;
    (void)key;
    (void)value;
    free_own_store();
    return key_len + value_len + 8;
}

static NexusStatus fr_loader(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    free_own_store();
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static void expect_busy_and_usable(NexusStore *s) {
    CHECK(g_fr.attempts == 1);
    CHECK(g_fr.status == NEXUS_STATUS_ERR_BUSY);
    CHECK(g_fr.had_message);
    CHECK(g_fr.store_usable_inside);
    /* Still works afterwards. */
    CHECK_OK(nexus_store_put(s, KEY("after"), KEY("ok")));
    check_value(s, "after", "ok");
    check_value(s, "keep", "kept");
}

static void test_free_from_own_callback_is_busy(void) {
    watchdog();
    for (int kind = 0; kind < RE_KINDS; kind++) {
        NexusMemoryConfig c;
        nexus_memory_config_init(&c);
        if (kind == RE_ESTIMATOR) c.size_estimator = fr_estimator;
        NexusStore *s = store_from(&c);
        memset(&g_fr, 0, sizeof g_fr);
        g_fr.s = s;
        CHECK_OK(nexus_store_put(s, KEY("keep"), KEY("kept")));
        CHECK_OK(nexus_store_pin(s, KEY("keep")));
        Obj o = {0, 0};
        NexusValue *v = NULL;
        switch (kind) {
        case RE_EVENT:
            CHECK_OK(nexus_store_set_event_callback(s, fr_event, NULL, NULL));
            g_fr.armed = 1;
            CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
            CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
            break;
        case RE_LISTENER:
            CHECK_OK(nexus_store_set_eviction_listener(s, fr_listener, NULL, NULL));
            CHECK_OK(nexus_store_put(s, KEY("gone"), KEY("g")));
            g_fr.armed = 1;
            CHECK_OK(nexus_store_remove(s, KEY("gone")));
            break;
        case RE_RELEASE:
            CHECK_OK(nexus_store_put_object(s, KEY("obj"), &o, 8, fr_release, NULL));
            g_fr.armed = 1;
            CHECK_OK(nexus_store_remove(s, KEY("obj")));
            CHECK(o.released == 1);
            break;
        case RE_ESTIMATOR:
            g_fr.armed = 1;
            CHECK_OK(nexus_store_put(s, KEY("est"), KEY("e")));
            check_value(s, "est", "e");
            break;
        default:
            CHECK_OK(nexus_store_set_loader(s, fr_loader, NULL, NULL));
            g_fr.armed = 1;
            CHECK_OK(nexus_store_get_or_load(s, KEY("load"), &v));
            CHECK(nexus_value_len(v) == 4);
            nexus_value_release(v);
            break;
        }
        expect_busy_and_usable(s);
        CHECK_OK(nexus_store_free(s));
        CHECK_STATUS(nexus_store_put(s, KEY("x"), KEY("y")), NEXUS_STATUS_ERR_INVALID_HANDLE);
    }
}

/* ---- a ctx destroy run by one of the store's calls that frees the store ------- */

/* A destroy is user code too: when a call of the store runs it (replacing or
 * unregistering a callback, a registration with a NULL callback, the last
 * drop of a loader that unregistered itself during its load), freeing the
 * store from it would wait for that very call. No callback scope of the core
 * covers these; the handle table's record of this thread's calls does. */

static void fr_destroy(void *ctx) {
    (void)ctx;
    free_own_store();
}

static int g_unreg_loads;

static NexusStatus fr_self_unregistering_loader(void *ctx, const uint8_t *key, size_t key_len,
                                                NexusLoadSink *sink) {
    (void)ctx;
    AINC(&g_unreg_loads);
    /* From inside: returns at once; the loader is dropped (its destroy runs)
     * when this load's get_or_load lets go of it. */
    CHECK_OK(nexus_store_set_loader(g_fr.s, NULL, NULL, NULL));
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

enum { DF_REPLACE, DF_UNREGISTER, DF_NULL_CALLBACK, DF_LOADER_AFTER_LOAD, DF_KINDS };

static void test_free_from_destroy_run_by_a_call_is_busy(void) {
    watchdog();
    for (int kind = 0; kind < DF_KINDS; kind++) {
        NexusStore *s = new_store(0);
        memset(&g_fr, 0, sizeof g_fr);
        g_fr.s = s;
        CHECK_OK(nexus_store_put(s, KEY("keep"), KEY("kept")));
        NexusValue *v = NULL;
        switch (kind) {
        case DF_REPLACE:
            CHECK_OK(nexus_store_set_event_callback(s, fr_event, NULL, fr_destroy));
            g_fr.armed = 1;
            CHECK_OK(nexus_store_set_event_callback(s, fr_event, NULL, NULL));
            break;
        case DF_UNREGISTER:
            CHECK_OK(nexus_store_set_eviction_listener(s, fr_listener, NULL, fr_destroy));
            g_fr.armed = 1;
            CHECK_OK(nexus_store_set_eviction_listener(s, NULL, NULL, NULL));
            break;
        case DF_NULL_CALLBACK:
            g_fr.armed = 1;
            CHECK_OK(nexus_store_set_loader(s, NULL, NULL, fr_destroy));
            break;
        default:
            g_unreg_loads = 0;
            CHECK_OK(nexus_store_set_loader(s, fr_self_unregistering_loader, NULL, fr_destroy));
            g_fr.armed = 1;
            CHECK_OK(nexus_store_get_or_load(s, KEY("load"), &v));
            CHECK(nexus_value_len(v) == 4);
            nexus_value_release(v);
            CHECK(g_unreg_loads == 1);
            /* Unregistered: a miss is NOT_FOUND now. */
            CHECK_STATUS(nexus_store_get_or_load(s, KEY("other"), &v), NEXUS_STATUS_NOT_FOUND);
            break;
        }
        expect_busy_and_usable(s);
        CHECK_OK(nexus_store_free(s));
        CHECK_STATUS(nexus_store_put(s, KEY("x"), KEY("y")), NEXUS_STATUS_ERR_INVALID_HANDLE);
    }
}

/* ---- a callback of one store may free another store -------------------------- */

/* BUSY is only for the store whose call this thread is inside: freeing
 * another store from a callback frees it (waiting for its own calls). */

static struct {
    NexusStore *other;
    NexusStatus status;
    int calls;
} g_fo;

static void fo_listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                        uint64_t bytes) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    if (g_fo.calls++ == 0) g_fo.status = nexus_store_free(g_fo.other);
}

static void test_callback_may_free_another_store(void) {
    watchdog();
    NexusStore *a = new_store(0);
    NexusStore *b = new_store(0);
    memset(&g_fo, 0, sizeof g_fo);
    g_fo.other = b;
    CHECK_OK(nexus_store_put(b, KEY("k"), KEY("v")));
    CHECK_OK(nexus_store_put(a, KEY("gone"), KEY("g")));
    CHECK_OK(nexus_store_set_eviction_listener(a, fo_listener, NULL, NULL));
    CHECK_OK(nexus_store_remove(a, KEY("gone")));
    CHECK(g_fo.calls == 1);
    CHECK(g_fo.status == NEXUS_STATUS_OK);
    bool b_has = false;
    CHECK_STATUS(nexus_store_contains(b, KEY("k"), &b_has), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_OK(nexus_store_put(a, KEY("after"), KEY("ok")));
    check_value(a, "after", "ok");
    CHECK_OK(nexus_store_free(a));
}

/* ---- unregistering while another thread is inside the callback ----------- */

typedef struct {
    Track t;
    Gate gate;
    int inside;        /* the blocking call has started */
    int cb_returning;  /* the blocking call is about to return */
    NexusStore *s;
    int which;
    int replace;       /* replace instead of unregister */
    int unreg_done;    /* the unregistering call returned */
    int saw_returned;  /* ...and the blocking call had returned by then */
    int saw_destroyed; /* destroyed count when the unregistering call returned */
    NexusStatus trigger_status;
} Blk;

static void blk_body(Blk *b) {
    track_enter(&b->t);
    AINC(&b->inside);
    gate_wait(&b->gate);
    ASTORE(&b->cb_returning, 1);
    track_leave(&b->t);
}

static void blk_event(void *ctx, const NexusEvent *e) {
    Blk *b = ctx;
    (void)e;
    /* Only the first event blocks (a signal may produce several). */
    if (ALOAD(&b->inside) == 0) blk_body(b);
}

static void blk_listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                         uint64_t bytes) {
    Blk *b = ctx;
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    blk_body(b);
}

static NexusStatus blk_loader(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    Blk *b = ctx;
    NexusStatus st = nexus_load_sink_put_bytes(sink, key, key_len);
    blk_body(b);
    return st;
}

static void blk_destroy(void *ctx) { track_destroy(&((Blk *)ctx)->t); }

static void *blk_trigger_thread(void *arg) {
    Blk *b = arg;
    NexusValue *v = NULL;
    switch (b->which) {
    case CB_EVENT:
        b->trigger_status = nexus_store_signal_pressure(b->s, NEXUS_PRESSURE_LEVEL_MODERATE);
        break;
    case CB_LISTENER:
        b->trigger_status = nexus_store_remove(b->s, KEY("victim"));
        break;
    default:
        b->trigger_status = nexus_store_get_or_load(b->s, KEY("slow-key"), &v);
        if (b->trigger_status == NEXUS_STATUS_OK) {
            CHECK(nexus_value_len(v) == strlen("slow-key"));
            nexus_value_release(v);
        }
        break;
    }
    return NULL;
}

static Track g_replacement;

static void *blk_unregister_thread(void *arg) {
    Blk *b = arg;
    NexusStatus st;
    if (b->replace)
        st = reg(b->which, b->s, 1, &g_replacement, track_destroy);
    else
        st = reg(b->which, b->s, 0, NULL, NULL);
    CHECK(st == NEXUS_STATUS_OK);
    ASTORE(&b->saw_returned, ALOAD(&b->cb_returning));
    ASTORE(&b->saw_destroyed, ALOAD(&b->t.destroyed));
    ASTORE(&b->unreg_done, 1);
    return NULL;
}

static NexusStatus blk_register(Blk *b) {
    switch (b->which) {
    case CB_EVENT:
        return nexus_store_set_event_callback(b->s, blk_event, b, blk_destroy);
    case CB_LISTENER:
        return nexus_store_set_eviction_listener(b->s, blk_listener, b, blk_destroy);
    default:
        return nexus_store_set_loader(b->s, blk_loader, b, blk_destroy);
    }
}

static void test_unregister_waits_for_running_call(void) {
    watchdog();
    for (int replace = 0; replace < 2; replace++) {
        for (int which = 0; which < CB_KINDS; which++) {
            Blk b;
            memset(&b, 0, sizeof b);
            memset(&g_replacement, 0, sizeof g_replacement);
            gate_init(&b.gate);
            b.which = which;
            b.replace = replace;
            b.s = new_store(0);
            CHECK_OK(nexus_store_put(b.s, KEY("victim"), KEY("v")));
            CHECK_OK(blk_register(&b));

            pthread_t trig, unreg;
            CHECK(pthread_create(&trig, NULL, blk_trigger_thread, &b) == 0);
            wait_at_least(&b.inside, 1);
            CHECK(pthread_create(&unreg, NULL, blk_unregister_thread, &b) == 0);

            /* The unregistering call must not return while the call runs. */
            sleep_ms(under_valgrind() ? 300 : 100);
            CHECK(ALOAD(&b.unreg_done) == 0);
            CHECK(ALOAD(&b.t.destroyed) == 0);
            /* Other calls on the store go on meanwhile. */
            CHECK_OK(nexus_store_put(b.s, KEY("other"), KEY("o")));
            check_value(b.s, "other", "o");

            gate_open(&b.gate);
            CHECK(pthread_join(trig, NULL) == 0);
            CHECK(pthread_join(unreg, NULL) == 0);
            CHECK(b.trigger_status == NEXUS_STATUS_OK);
            CHECK(b.unreg_done == 1);
            CHECK(b.saw_returned == 1);
            CHECK(b.t.destroyed == 1);
            CHECK(b.t.calls == 1);
            check_track_clean(&b.t);

            /* The old callback is not called again. */
            trigger(which, b.s);
            CHECK(b.t.calls == 1);
            if (replace) CHECK(g_replacement.calls > 0);
            CHECK_OK(nexus_store_free(b.s));
            CHECK(b.t.destroyed == 1);
            if (replace) {
                CHECK(g_replacement.destroyed == 1);
                check_track_clean(&g_replacement);
            }
            gate_destroy(&b.gate);
        }
    }
}

/* Unregistering (or replacing) a callback from inside itself returns at
 * once; its destroy runs after that call returned. */
typedef struct {
    Track t;
    NexusStore *s;
    int which;
    int replace;
    int destroyed_inside; /* destroyed count right after unregistering, inside */
    int done;
} SelfUnreg;

static Track g_self_replacement;

static void self_unreg_body(SelfUnreg *u) {
    track_enter(&u->t);
    if (!u->done) {
        u->done = 1;
        NexusStatus st = u->replace ? reg(u->which, u->s, 1, &g_self_replacement, track_destroy)
                                    : reg(u->which, u->s, 0, NULL, NULL);
        CHECK(st == NEXUS_STATUS_OK);
        u->destroyed_inside = ALOAD(&u->t.destroyed);
    }
    track_leave(&u->t);
}

static void su_event(void *ctx, const NexusEvent *e) {
    (void)e;
    self_unreg_body(ctx);
}

static void su_listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                        uint64_t bytes) {
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    self_unreg_body(ctx);
}

static NexusStatus su_loader(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    self_unreg_body(ctx);
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static void su_destroy(void *ctx) { track_destroy(&((SelfUnreg *)ctx)->t); }

static void test_unregister_from_inside_returns_at_once(void) {
    watchdog();
    for (int replace = 0; replace < 2; replace++) {
        for (int which = 0; which < CB_KINDS; which++) {
            SelfUnreg u;
            memset(&u, 0, sizeof u);
            memset(&g_self_replacement, 0, sizeof g_self_replacement);
            u.s = new_store(0);
            u.which = which;
            u.replace = replace;
            switch (which) {
            case CB_EVENT:
                CHECK_OK(nexus_store_set_event_callback(u.s, su_event, &u, su_destroy));
                break;
            case CB_LISTENER:
                CHECK_OK(nexus_store_set_eviction_listener(u.s, su_listener, &u, su_destroy));
                break;
            default:
                CHECK_OK(nexus_store_set_loader(u.s, su_loader, &u, su_destroy));
                break;
            }
            trigger(which, u.s); /* the watchdog fails this if it deadlocks */
            CHECK(u.done == 1);
            CHECK(u.destroyed_inside == 0);
            CHECK(u.t.destroyed == 1);
            check_track_clean(&u.t);
            int calls = u.t.calls;
            trigger(which, u.s);
            CHECK(u.t.calls == calls);
            if (replace) CHECK(g_self_replacement.calls > 0);
            CHECK_OK(nexus_store_free(u.s));
            CHECK(u.t.destroyed == 1);
            if (replace) CHECK(g_self_replacement.destroyed == 1);
        }
    }
}

/* ---- a slow callback does not block other threads ------------------------- */

enum { SL_EVENT, SL_LISTENER, SL_RELEASE, SL_ESTIMATOR, SL_LOADER, SL_KINDS };

static struct {
    Gate gate;
    int inside;
    NexusStore *s;
    int kind;
    Obj slow_obj;
    NexusStatus status;
} g_sl;

static void sl_block(void) {
    AINC(&g_sl.inside);
    gate_wait(&g_sl.gate);
}

static void sl_event(void *ctx, const NexusEvent *e) {
    (void)ctx;
    if (g_sl.kind == SL_EVENT && e->kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED && e->level == NEXUS_PRESSURE_LEVEL_EMERGENCY &&
        ALOAD(&g_sl.inside) == 0)
        sl_block();
}

static void sl_listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                        uint64_t bytes) {
    (void)ctx;
    (void)reason;
    (void)bytes;
    if (g_sl.kind == SL_LISTENER && key_len == 4 && memcmp(key, "slow", 4) == 0) sl_block();
}

static void sl_release(void *ctx, void *object) {
    (void)ctx;
    AINC(&((Obj *)object)->released);
    if (g_sl.kind == SL_RELEASE && object == &g_sl.slow_obj) sl_block();
}

static size_t sl_estimator(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                           size_t value_len) {
    (void)ctx;
    (void)value;
    if (g_sl.kind == SL_ESTIMATOR && key_len == 4 && memcmp(key, "slow", 4) == 0) sl_block();
    return key_len + value_len + 32;
}

static NexusStatus sl_loader(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    if (g_sl.kind == SL_LOADER && key_len == 4 && memcmp(key, "slow", 4) == 0) sl_block();
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static void *sl_thread(void *arg) {
    NexusStore *s = g_sl.s;
    NexusValue *v = NULL;
    (void)arg;
    switch (g_sl.kind) {
    case SL_EVENT:
        g_sl.status = nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_EMERGENCY);
        break;
    case SL_LISTENER:
    case SL_RELEASE:
        g_sl.status = nexus_store_remove(s, KEY("slow"));
        break;
    case SL_ESTIMATOR:
        g_sl.status = nexus_store_put(s, KEY("slow"), KEY("value"));
        break;
    default:
        g_sl.status = nexus_store_get_or_load(s, KEY("slow"), &v);
        nexus_value_release(v);
        break;
    }
    return NULL;
}

static void test_slow_callback_does_not_block_others(void) {
    watchdog();
    for (int kind = 0; kind < SL_KINDS; kind++) {
        memset(&g_sl, 0, sizeof g_sl);
        gate_init(&g_sl.gate);
        g_sl.kind = kind;
        NexusMemoryConfig c;
        nexus_memory_config_init(&c);
        c.size_estimator = sl_estimator;
        NexusStore *s = store_from(&c);
        g_sl.s = s;
        CHECK_OK(nexus_store_put(s, KEY("base"), KEY("b")));
        CHECK_OK(nexus_store_pin(s, KEY("base")));
        if (kind == SL_RELEASE)
            CHECK_OK(nexus_store_put_object(s, KEY("slow"), &g_sl.slow_obj, 64, sl_release, NULL));
        else if (kind == SL_LISTENER)
            CHECK_OK(nexus_store_put(s, KEY("slow"), KEY("s")));
        CHECK_OK(nexus_store_set_event_callback(s, sl_event, NULL, NULL));
        CHECK_OK(nexus_store_set_eviction_listener(s, sl_listener, NULL, NULL));
        CHECK_OK(nexus_store_set_loader(s, sl_loader, NULL, NULL));

        pthread_t t;
        CHECK(pthread_create(&t, NULL, sl_thread, NULL) == 0);
        wait_at_least(&g_sl.inside, 1);

        /* Meanwhile, this thread uses the store freely (the watchdog fails
         * the test if any of these blocks until the gate opens). */
        char key[32];
        NexusValue *v = NULL;
        Obj objs[8];
        memset(objs, 0, sizeof objs);
        for (int i = 0; i < 8; i++) {
            snprintf(key, sizeof key, "k%d", i);
            /* (EMERGENCY refuses unpinned puts: pin them first there.) */
            if (kind == SL_EVENT) CHECK_OK(nexus_store_pin(s, KEY(key)));
            CHECK_OK(nexus_store_put(s, KEY(key), KEY("value")));
            check_value(s, key, "value");
            snprintf(key, sizeof key, "o%d", i);
            if (kind == SL_EVENT) CHECK_OK(nexus_store_pin(s, KEY(key)));
            CHECK_OK(nexus_store_put_object(s, KEY(key), &objs[i], 16, obj_release, NULL));
            CHECK_OK(nexus_store_remove(s, KEY(key)));
            CHECK(objs[i].released == 1);
        }
        if (kind != SL_EVENT) {
            CHECK_OK(nexus_store_get_or_load(s, KEY("loaded"), &v));
            CHECK(nexus_value_len(v) == strlen("loaded"));
            nexus_value_release(v);
        }
        size_t n = 0;
        CHECK_OK(nexus_store_evict(s, 2, &n));
        NexusMemoryMetrics m;
        CHECK_OK(nexus_store_memory_metrics(s, &m));
        CHECK(ALOAD(&g_sl.inside) == 1); /* still blocked */

        gate_open(&g_sl.gate);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(g_sl.status == NEXUS_STATUS_OK);
        if (kind == SL_RELEASE) CHECK(g_sl.slow_obj.released == 1);
        CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
        CHECK_OK(nexus_store_free(s));
        gate_destroy(&g_sl.gate);
    }
}

/* ---- loader semantics ----------------------------------------------------- */

#define WAITERS 8

typedef struct {
    NexusStore *s;
    int calls;
    uint64_t wait_misses;  /* block until the store counted this many misses */
    NexusStatus fail;      /* non-OK: return this instead of a value */
} SingleLoad;

static NexusStatus ld_single(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    SingleLoad *l = ctx;
    AINC(&l->calls);
    while (misses(l->s) < l->wait_misses) sleep_ms(1);
    if (l->fail != NEXUS_STATUS_OK) return l->fail;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "loaded:%.*s", (int)key_len, (const char *)key);
    return nexus_load_sink_put_bytes(sink, (const uint8_t *)buf, (size_t)n);
}

typedef struct {
    NexusStore *s;
    const char *key;
    NexusStatus status;
    char data[64];
    size_t len;
    void *object;
} Waiter;

static void *waiter_thread(void *arg) {
    Waiter *w = arg;
    NexusValue *v = NULL;
    w->status = nexus_store_get_or_load(w->s, KEY(w->key), &v);
    if (w->status == NEXUS_STATUS_OK) {
        w->len = nexus_value_len(v);
        w->object = nexus_value_object(v);
        CHECK(w->len < sizeof w->data);
        if (w->len > 0) memcpy(w->data, nexus_value_data(v), w->len);
        nexus_value_release(v);
    }
    return NULL;
}

static void run_waiters(NexusStore *s, const char *key, Waiter *w, int n) {
    pthread_t t[WAITERS];
    for (int i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = s;
        w[i].key = key;
        CHECK(pthread_create(&t[i], NULL, waiter_thread, &w[i]) == 0);
    }
    for (int i = 0; i < n; i++) CHECK(pthread_join(t[i], NULL) == 0);
}

static void test_loader_single_flight(void) {
    watchdog();
    SingleLoad l;
    memset(&l, 0, sizeof l);
    NexusStore *s = new_store(0);
    l.s = s;
    l.wait_misses = WAITERS;
    CHECK_OK(nexus_store_set_loader(s, ld_single, &l, NULL));
    Waiter w[WAITERS];
    run_waiters(s, "shared", w, WAITERS);
    CHECK(l.calls == 1);
    for (int i = 0; i < WAITERS; i++) {
        CHECK(w[i].status == NEXUS_STATUS_OK);
        CHECK(w[i].len == strlen("loaded:shared"));
        CHECK(memcmp(w[i].data, "loaded:shared", w[i].len) == 0);
    }
    check_value(s, "shared", "loaded:shared");
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    CHECK(m.load_count == 1);
    CHECK(m.load_failure_count == 0);
    CHECK(m.entry_count == 1);
    CHECK(m.in_use_bytes == 0);
    /* A hit does not call the loader again. */
    run_waiters(s, "shared", w, 2);
    CHECK(l.calls == 1);
    CHECK_OK(nexus_store_free(s));
}

static void test_loader_failure_reaches_every_waiter(void) {
    watchdog();
    const NexusStatus fails[] = {NEXUS_STATUS_NOT_FOUND, NEXUS_STATUS_ERR_TOO_LARGE};
    for (size_t f = 0; f < sizeof fails / sizeof fails[0]; f++) {
        SingleLoad l;
        memset(&l, 0, sizeof l);
        NexusStore *s = new_store(0);
        l.s = s;
        l.wait_misses = WAITERS;
        l.fail = fails[f];
        CHECK_OK(nexus_store_set_loader(s, ld_single, &l, NULL));
        Waiter w[WAITERS];
        run_waiters(s, "bad", w, WAITERS);
        CHECK(l.calls == 1);
        for (int i = 0; i < WAITERS; i++) CHECK(w[i].status == fails[f]);
        CHECK(contains(s, "bad") == 0);
        NexusMemoryMetrics m;
        CHECK_OK(nexus_store_memory_metrics(s, &m));
        CHECK(m.entry_count == 0);
        CHECK(m.current_usage == 0);
        CHECK(m.load_count == 1);
        CHECK(m.load_failure_count == 1);
        /* Nothing stuck: the next miss calls the loader again. */
        l.fail = NEXUS_STATUS_OK;
        l.wait_misses = 0;
        NexusValue *v = NULL;
        CHECK_OK(nexus_store_get_or_load(s, KEY("bad"), &v));
        CHECK(nexus_value_len(v) == strlen("loaded:bad"));
        nexus_value_release(v);
        CHECK(l.calls == 2);
        CHECK_OK(nexus_store_free(s));
    }
}

/* get_or_load from inside the loader: the same key is BUSY, another works. */
static struct {
    NexusStore *s;
    int outer_calls;
    int inner_calls;
    NexusStatus same_key;
    NexusStatus other_key;
    size_t other_len;
} g_nest;

static NexusStatus ld_nest(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    if (key_len == 5 && memcmp(key, "outer", 5) == 0) {
        NexusValue *v = NULL;
        g_nest.outer_calls++;
        g_nest.same_key = nexus_store_get_or_load(g_nest.s, KEY("outer"), &v);
        if (g_nest.same_key == NEXUS_STATUS_OK) nexus_value_release(v);
        v = NULL;
        g_nest.other_key = nexus_store_get_or_load(g_nest.s, KEY("inner"), &v);
        if (g_nest.other_key == NEXUS_STATUS_OK) {
            g_nest.other_len = nexus_value_len(v);
            nexus_value_release(v);
        }
    } else {
        g_nest.inner_calls++;
    }
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static void test_loader_reentrant_get_or_load(void) {
    watchdog();
    memset(&g_nest, 0, sizeof g_nest);
    NexusStore *s = new_store(0);
    g_nest.s = s;
    CHECK_OK(nexus_store_set_loader(s, ld_nest, NULL, NULL));
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get_or_load(s, KEY("outer"), &v));
    CHECK(nexus_value_len(v) == 5 && memcmp(nexus_value_data(v), "outer", 5) == 0);
    nexus_value_release(v);
    CHECK(g_nest.outer_calls == 1);
    CHECK(g_nest.same_key == NEXUS_STATUS_ERR_BUSY);
    CHECK(g_nest.other_key == NEXUS_STATUS_OK);
    CHECK(g_nest.other_len == 5);
    CHECK(g_nest.inner_calls == 1);
    check_value(s, "outer", "outer");
    check_value(s, "inner", "inner");
    CHECK_OK(nexus_store_free(s));
}

/* A put (or remove) of the key while it loads wins: the waiters get the
 * loaded value, the put's value stays cached (after a remove: nothing). */
static struct {
    Gate gate;
    int inside;
    int calls;
    Obj *object; /* give this object instead of bytes when set */
} g_race;

static NexusStatus ld_race(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    (void)key;
    (void)key_len;
    AINC(&g_race.calls);
    AINC(&g_race.inside);
    gate_wait(&g_race.gate);
    if (g_race.object) return nexus_load_sink_put_object(sink, g_race.object, 50, obj_release, NULL);
    return nexus_load_sink_put_bytes(sink, KEY("loaded"));
}

static void test_put_during_load_wins(void) {
    watchdog();
    for (int mode = 0; mode < 3; mode++) { /* 0 put, 1 remove, 2 put with a loaded object */
        memset(&g_race, 0, sizeof g_race);
        gate_init(&g_race.gate);
        Obj obj = {0, 7};
        if (mode == 2) g_race.object = &obj;
        NexusStore *s = new_store(0);
        CHECK_OK(nexus_store_set_loader(s, ld_race, NULL, NULL));
        Waiter w[2];
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            memset(&w[i], 0, sizeof w[i]);
            w[i].s = s;
            w[i].key = "race";
        }
        /* Waiter 0 runs the loader; waiter 1 waits for it. */
        CHECK(pthread_create(&t[0], NULL, waiter_thread, &w[0]) == 0);
        wait_at_least(&g_race.inside, 1);
        CHECK(pthread_create(&t[1], NULL, waiter_thread, &w[1]) == 0);
        while (misses(s) < 2) sleep_ms(1);
        if (mode == 1)
            CHECK_STATUS(nexus_store_remove(s, KEY("race")), NEXUS_STATUS_NOT_FOUND);
        else
            CHECK_OK(nexus_store_put(s, KEY("race"), KEY("put-value")));
        gate_open(&g_race.gate);
        for (int i = 0; i < 2; i++) CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(g_race.calls == 1);
        for (int i = 0; i < 2; i++) {
            CHECK(w[i].status == NEXUS_STATUS_OK);
            if (mode != 2)
                CHECK(w[i].len == 6 && memcmp(w[i].data, "loaded", 6) == 0);
            else
                CHECK(w[i].object == &obj);
        }
        if (mode == 1)
            CHECK(contains(s, "race") == 0);
        else
            check_value(s, "race", "put-value");
        if (mode == 2) {
            /* Not cached, and both handles were released by the waiters:
             * released exactly once, already. */
            CHECK(obj.released == 1);
        }
        NexusMemoryMetrics m;
        CHECK_OK(nexus_store_memory_metrics(s, &m));
        CHECK(m.in_use_bytes == 0);
        CHECK_OK(nexus_store_free(s));
        if (mode == 2) CHECK(obj.released == 1);
        gate_destroy(&g_race.gate);
    }
}

/* Loader objects: release runs exactly once. */
static struct {
    Obj *give;
    NexusStatus after; /* status to return after giving the object */
    Obj *second;       /* try to give a second object too */
    NexusStatus second_status;
    int calls;
} g_lo;

static NexusStatus ld_object(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    (void)key;
    (void)key_len;
    g_lo.calls++;
    NexusStatus st = nexus_load_sink_put_object(sink, g_lo.give, 100, obj_release, NULL);
    if (st != NEXUS_STATUS_OK) return st;
    if (g_lo.second)
        g_lo.second_status = nexus_load_sink_put_object(sink, g_lo.second, 100, obj_release, NULL);
    return g_lo.after;
}

static void test_loader_object_release(void) {
    watchdog();
    NexusStore *s = new_store(0);
    CHECK_OK(nexus_store_set_loader(s, ld_object, NULL, NULL));
    NexusValue *v = NULL;

    /* Cached: released when removed (not when the handle goes). */
    Obj a = {0, 1};
    memset(&g_lo, 0, sizeof g_lo);
    g_lo.give = &a;
    CHECK_OK(nexus_store_get_or_load(s, KEY("a"), &v));
    CHECK(nexus_value_object(v) == &a);
    CHECK(nexus_value_data(v) == NULL);
    nexus_value_release(v);
    CHECK(contains(s, "a") == 1);
    CHECK(a.released == 0);
    CHECK_OK(nexus_store_remove(s, KEY("a")));
    CHECK(a.released == 1);

    /* Not cached (EMERGENCY refuses unpinned keys): still returned with OK,
     * released exactly once, when the last handle goes. */
    Obj b = {0, 2};
    g_lo.give = &b;
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_EMERGENCY));
    CHECK_OK(nexus_store_get_or_load(s, KEY("b"), &v));
    CHECK(nexus_value_object(v) == &b);
    CHECK(contains(s, "b") == 0);
    CHECK(b.released == 0);
    NexusValue *v2 = NULL;
    /* The same uncached load is not shared: a second get_or_load loads again. */
    Obj b2 = {0, 22};
    g_lo.give = &b2;
    CHECK_OK(nexus_store_get_or_load(s, KEY("b"), &v2));
    CHECK(nexus_value_object(v2) == &b2);
    nexus_value_release(v2);
    CHECK(b2.released == 1);
    CHECK(b.released == 0);
    nexus_value_release(v);
    CHECK(b.released == 1);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));

    /* Gives a value, then fails: the object is released, nothing cached. */
    const NexusStatus afters[] = {NEXUS_STATUS_NOT_FOUND, NEXUS_STATUS_ERR_OVER_BUDGET};
    for (size_t i = 0; i < sizeof afters / sizeof afters[0]; i++) {
        Obj c = {0, 3};
        g_lo.give = &c;
        g_lo.after = afters[i];
        v = NULL;
        CHECK_STATUS(nexus_store_get_or_load(s, KEY("c"), &v), afters[i]);
        CHECK(v == NULL);
        CHECK(c.released == 1);
        CHECK(contains(s, "c") == 0);
    }
    g_lo.after = NEXUS_STATUS_OK;

    /* A second sink call is INVALID_ARGUMENT and takes no ownership. */
    Obj d = {0, 4}, d2 = {0, 5};
    g_lo.give = &d;
    g_lo.second = &d2;
    CHECK_OK(nexus_store_get_or_load(s, KEY("d"), &v));
    CHECK(g_lo.second_status == NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(nexus_value_object(v) == &d);
    nexus_value_release(v);
    g_lo.second = NULL;

    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    CHECK(m.in_use_bytes == 0);
    CHECK(m.entry_count == 1); /* d */
    CHECK_OK(nexus_store_free(s));
    CHECK(d.released == 1);
    CHECK(d2.released == 0);
    CHECK(a.released == 1 && b.released == 1 && b2.released == 1);
}

/* ---- events: callback vs queue -------------------------------------------- */

static int g_ev_count;
static uint64_t g_ev_last_seq;

static void ev_count(void *ctx, const NexusEvent *e) {
    (void)ctx;
    g_ev_count++;
    CHECK(e->sequence > g_ev_last_seq); /* one thread: in order */
    g_ev_last_seq = e->sequence;
}

/* A loader that returns the status of a sink call that refused its value
 * (the usual `return nexus_load_sink_put_object(...)`) fails its load with
 * the refusal's reason, not only "the loader returned status 4". */
static int g_refused_released;
static void refused_release(void *ctx, void *object) {
    (void)ctx;
    (void)object;
    g_refused_released++;
}

static NexusStatus ld_refused(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    (void)key;
    (void)key_len;
    static int object;
    /* cost 0 with no size estimator: refused, the object stays ours */
    return nexus_load_sink_put_object(sink, &object, 0, refused_release, NULL);
}

static NexusStatus ld_status_only(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)sink;
    return NEXUS_STATUS_ERR_INVALID_ARGUMENT;
}

static void test_loader_returning_a_refusal_says_why(void) {
    NexusStore *s = new_store(0);
    CHECK_OK(nexus_store_set_loader(s, ld_refused, NULL, NULL));
    NexusValue *v = NULL;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("k"), &v), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(v == NULL);
    const char *msg = nexus_last_error_message();
    CHECK(strstr(msg, "the loader returned status 4: its sink refused its value") != NULL);
    CHECK(strstr(msg, "size estimator") != NULL);
    CHECK(g_refused_released == 0);
    /* A status with no refusal behind it says only the status. */
    CHECK_OK(nexus_store_set_loader(s, ld_status_only, NULL, NULL));
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("k"), &v), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "the loader returned status 4") != NULL);
    CHECK(strstr(nexus_last_error_message(), "refused") == NULL);
    CHECK(contains(s, "k") == 0);
    CHECK_OK(nexus_store_free(s));
}

static void test_events_callback_vs_queue(void) {
    watchdog();
    NexusStore *s = new_store(0);
    NexusEvent e;
    CHECK_STATUS(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);

    g_ev_count = 0;
    g_ev_last_seq = 0;
    CHECK_OK(nexus_store_set_event_callback(s, ev_count, NULL, NULL));
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    CHECK(g_ev_count == 2);
    CHECK_STATUS(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);

    /* Unregistering restores the queue. */
    CHECK_OK(nexus_store_set_event_callback(s, NULL, NULL, NULL));
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    CHECK(g_ev_count == 2);
    CHECK_OK(nexus_store_poll_event(s, &e));
    CHECK(e.kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED);
    CHECK(e.previous_level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(e.level == NEXUS_PRESSURE_LEVEL_CRITICAL);
    CHECK(e.sequence == g_ev_last_seq + 1);
    CHECK_OK(nexus_store_poll_event(s, &e));
    CHECK(e.kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED);
    CHECK(e.level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(e.sequence == g_ev_last_seq + 2);
    CHECK_STATUS(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);

    /* Registering again: nothing queues. */
    CHECK_OK(nexus_store_set_event_callback(s, ev_count, NULL, NULL));
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(g_ev_count == 3);
    CHECK_STATUS(nexus_store_poll_event(s, &e), NEXUS_STATUS_EMPTY);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    CHECK_OK(nexus_store_free(s));
}

/* ---- eviction listener reasons -------------------------------------------- */

typedef struct {
    char key[16];
    size_t key_len;
    NexusEvictionReason reason;
    uint64_t bytes;
} Heard;

static Heard g_heard[64];
static int g_nheard;

static void li_record(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                      uint64_t bytes) {
    (void)ctx;
    CHECK(g_nheard < 64);
    CHECK(key_len < sizeof g_heard[0].key);
    if (key_len > 0) memcpy(g_heard[g_nheard].key, key, key_len);
    g_heard[g_nheard].key[key_len] = '\0';
    g_heard[g_nheard].key_len = key_len;
    g_heard[g_nheard].reason = reason;
    g_heard[g_nheard].bytes = bytes;
    g_nheard++;
}

static void expect_heard(int i, const char *key, NexusEvictionReason reason, uint64_t bytes) {
    CHECK(i < g_nheard);
    CHECK(g_heard[i].key_len == strlen(key));
    CHECK(strcmp(g_heard[i].key, key) == 0);
    CHECK(g_heard[i].reason == reason);
    CHECK(g_heard[i].bytes == bytes);
}

/* Default estimator: key + value + overhead. */
#define CHARGE(klen, vlen) ((uint64_t)(klen) + (uint64_t)(vlen) + NEXUS_ENTRY_OVERHEAD_BYTES)

static void test_listener_reasons(void) {
    watchdog();
    char val[256];
    memset(val, 'v', sizeof val);
    const uint64_t c302 = CHARGE(2, 172); /* 302 */
    NexusStore *s = new_store(1000);      /* working size 700, critical 900 */
    g_nheard = 0;
    CHECK_OK(nexus_store_set_eviction_listener(s, li_record, NULL, NULL));

    /* CAPACITY: the third put reaches CRITICAL (906 >= 900) and evicts the
     * least recently used entry until usage < 700. */
    CHECK_OK(nexus_store_put(s, KEY("a0"), (const uint8_t *)val, 172));
    CHECK_OK(nexus_store_put(s, KEY("a1"), (const uint8_t *)val, 172));
    CHECK(g_nheard == 0);
    CHECK_OK(nexus_store_put(s, KEY("a2"), (const uint8_t *)val, 172));
    CHECK(g_nheard == 1);
    expect_heard(0, "a0", NEXUS_EVICTION_REASON_CAPACITY, c302);

    /* PRESSURE: MODERATE keeps 0.75 x 604 = 453: evicts a1. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(g_nheard == 2);
    expect_heard(1, "a1", NEXUS_EVICTION_REASON_PRESSURE, c302);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));

    /* MANUAL: evict_lru, evict, clear_unpinned. */
    CHECK_OK(nexus_store_put(s, KEY("m1"), (const uint8_t *)val, 10));
    CHECK_OK(nexus_store_put(s, KEY("m2"), (const uint8_t *)val, 20));
    size_t n = 0;
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    CHECK(n == 1);
    expect_heard(2, "a2", NEXUS_EVICTION_REASON_MANUAL, c302);
    CHECK_OK(nexus_store_evict(s, 1, &n));
    CHECK(n == 1);
    expect_heard(3, "m1", NEXUS_EVICTION_REASON_MANUAL, CHARGE(2, 10));
    CHECK_OK(nexus_store_clear_unpinned(s, &n));
    CHECK(n == 1);
    expect_heard(4, "m2", NEXUS_EVICTION_REASON_MANUAL, CHARGE(2, 20));
    CHECK(g_nheard == 5);

    /* REPLACED: the old entry's key and charge. */
    CHECK_OK(nexus_store_put(s, KEY("rep"), (const uint8_t *)val, 40));
    CHECK_OK(nexus_store_put(s, KEY("rep"), (const uint8_t *)val, 90));
    CHECK(g_nheard == 6);
    expect_heard(5, "rep", NEXUS_EVICTION_REASON_REPLACED, CHARGE(3, 40));

    /* REMOVED: remove, and clear (pinned too); the empty key as well. */
    CHECK_OK(nexus_store_remove(s, KEY("rep")));
    expect_heard(6, "rep", NEXUS_EVICTION_REASON_REMOVED, CHARGE(3, 90));
    CHECK_OK(nexus_store_put(s, NULL, 0, (const uint8_t *)val, 5));
    CHECK_OK(nexus_store_pin(s, NULL, 0));
    CHECK_OK(nexus_store_clear(s, &n));
    CHECK(n == 1);
    CHECK(g_nheard == 8);
    expect_heard(7, "", NEXUS_EVICTION_REASON_REMOVED, CHARGE(0, 5));

    /* Objects: the explicit cost is the charge. */
    Obj o = {0, 9};
    CHECK_OK(nexus_store_put_object(s, KEY("obj"), &o, 77, obj_release, NULL));
    CHECK_OK(nexus_store_remove(s, KEY("obj")));
    expect_heard(8, "obj", NEXUS_EVICTION_REASON_REMOVED, 77);
    CHECK(o.released == 1);

    /* Not a removal: nothing heard for a failed remove. */
    CHECK_STATUS(nexus_store_remove(s, KEY("nope")), NEXUS_STATUS_NOT_FOUND);
    CHECK(g_nheard == 9);

    /* Every listener call matched an eviction count where it should. */
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    CHECK(m.eviction_count == 5); /* a0, a1, a2, m1, m2 */
    CHECK(m.evicted_bytes == 3 * c302 + CHARGE(2, 10) + CHARGE(2, 20));

    /* The free reports nothing per entry (header: "not told of the entries
     * still present when the store is freed"); their values are released. */
    Obj last = {0, 3};
    CHECK_OK(nexus_store_put(s, KEY("left"), (const uint8_t *)val, 8));
    CHECK_OK(nexus_store_put_object(s, KEY("lobj"), &last, 5, obj_release, NULL));
    CHECK(g_nheard == 9);
    CHECK_OK(nexus_store_free(s));
    CHECK(g_nheard == 9);
    CHECK(last.released == 1);
}

/* ---- callbacks run by nexus_signal_pressure_all --------------------------- */

/* The event callback and the listener, run on this thread by
 * nexus_signal_pressure_all, free their own store: BUSY as from any other
 * of the store's calls, and the store still works afterwards. */
static void test_free_from_callback_run_by_signal_all_is_busy(void) {
    watchdog();
    for (int kind = 0; kind < 2; kind++) {
        NexusStore *s = new_store(0);
        memset(&g_fr, 0, sizeof g_fr);
        g_fr.s = s;
        CHECK_OK(nexus_store_put(s, KEY("keep"), KEY("kept")));
        CHECK_OK(nexus_store_pin(s, KEY("keep")));
        CHECK_OK(nexus_store_put(s, KEY("victim"), KEY("v")));
        if (kind == 0)
            CHECK_OK(nexus_store_set_event_callback(s, fr_event, NULL, NULL));
        else
            CHECK_OK(nexus_store_set_eviction_listener(s, fr_listener, NULL, NULL));
        g_fr.armed = 1;
        CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_CRITICAL));
        CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
        CHECK(g_fr.attempts == 1);
        if (g_fr.status != NEXUS_STATUS_ERR_BUSY)
            fprintf(stderr, "[%s] %s run by nexus_signal_pressure_all: nexus_store_free returned %s\n",
                    nexus_test_name, kind == 0 ? "event callback" : "eviction listener",
                    nexus_status_str(g_fr.status));
        CHECK(g_fr.status == NEXUS_STATUS_ERR_BUSY);
        CHECK(g_fr.store_usable_inside);
        check_value(s, "keep", "kept");
        CHECK_OK(nexus_store_free(s));
    }
}

/* A callback run by nexus_signal_pressure_all frees another store, one the
 * signal reaches after it (the free used to wait for good: the signal held
 * every store's reference until its loop ended) or before it. */
static struct {
    NexusStore *other;
    int calls;
    NexusStatus status;
} g_sf;

static void sf_event(void *ctx, const NexusEvent *e) {
    (void)ctx;
    (void)e;
    if (g_sf.other == NULL) return;
    g_sf.calls++;
    g_sf.status = nexus_store_free(g_sf.other);
    g_sf.other = NULL;
}

static void test_callback_run_by_signal_all_may_free_another_store(void) {
    watchdog();
    for (int later = 1; later >= 0; later--) {
        NexusStore *first = new_store(0);
        NexusStore *second = new_store(0);
        NexusStore *freeing = later ? first : second;
        NexusStore *freed = later ? second : first;
        CHECK_OK(nexus_store_put(freed, KEY("k"), KEY("v")));
        CHECK_OK(nexus_store_put(freeing, KEY("mine"), KEY("kept")));
        CHECK_OK(nexus_store_pin(freeing, KEY("mine")));
        memset(&g_sf, 0, sizeof g_sf);
        g_sf.other = freed;
        CHECK_OK(nexus_store_set_event_callback(freeing, sf_event, NULL, NULL));
        CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_MODERATE));
        CHECK(g_sf.calls == 1);
        if (g_sf.status != NEXUS_STATUS_OK)
            fprintf(stderr, "[%s] freeing the %s store: %s\n", nexus_test_name, later ? "later" : "earlier",
                    nexus_status_str(g_sf.status));
        CHECK(g_sf.status == NEXUS_STATUS_OK);
        bool has = false;
        CHECK_STATUS(nexus_store_contains(freed, KEY("k"), &has), NEXUS_STATUS_ERR_INVALID_HANDLE);
        CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
        check_value(freeing, "mine", "kept");
        CHECK_OK(nexus_store_free(freeing));
    }
}

/* A loader that unregisters itself has its destroy run at the end of the
 * get_or_load that called it: that destroy is a callback of the store like
 * the others, so a replace from it returns at once rather than wait for
 * another thread inside the replaced callback (audit 13: it waited, and
 * with that thread waiting for the get_or_load, both hung). */
static struct {
    NexusStore *s, *s2;
    int t2_inside, t2_left, replace_done, replace_saw_t2_inside;
    NexusStatus replace_status;
} g_ld;

static void ld_other_event(void *ctx, const NexusEvent *e) {
    (void)ctx;
    (void)e;
    if (__atomic_exchange_n(&g_ld.t2_inside, 1, __ATOMIC_SEQ_CST)) return;
    for (int i = 0; i < 3000 && !ALOAD(&g_ld.replace_done); i++) sleep_ms(1);
    ASTORE(&g_ld.t2_left, 1);
}

static void *ld_signal_other(void *arg) {
    (void)arg;
    CHECK_OK(nexus_store_signal_pressure(g_ld.s2, NEXUS_PRESSURE_LEVEL_MODERATE));
    return NULL;
}

static NexusStatus ld_unregistering_loader(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    (void)ctx;
    CHECK_OK(nexus_store_set_loader(g_ld.s, NULL, NULL, NULL));
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static void ld_destroy_replaces(void *ctx) {
    (void)ctx;
    g_ld.replace_status = nexus_store_set_event_callback(g_ld.s2, NULL, NULL, NULL);
    ASTORE(&g_ld.replace_saw_t2_inside, !ALOAD(&g_ld.t2_left));
    ASTORE(&g_ld.replace_done, 1);
}

static void test_a_loaders_destroy_run_by_its_load_is_a_callback(void) {
    watchdog();
    memset(&g_ld, 0, sizeof g_ld);
    g_ld.s = new_store(0);
    g_ld.s2 = new_store(0);
    CHECK_OK(nexus_store_set_event_mask(g_ld.s2, NEXUS_EVENT_MASK_ALL));
    CHECK_OK(nexus_store_set_event_callback(g_ld.s2, ld_other_event, NULL, NULL));
    CHECK_OK(nexus_store_set_loader(g_ld.s, ld_unregistering_loader, NULL, ld_destroy_replaces));
    pthread_t t2;
    CHECK(pthread_create(&t2, NULL, ld_signal_other, NULL) == 0);
    wait_at_least(&g_ld.t2_inside, 1);
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get_or_load(g_ld.s, KEY("k"), &v));
    nexus_value_release(v);
    CHECK(ALOAD(&g_ld.replace_done) == 1);
    CHECK(g_ld.replace_status == NEXUS_STATUS_OK);
    CHECK(ALOAD(&g_ld.replace_saw_t2_inside) == 1);
    CHECK(pthread_join(t2, NULL) == 0);
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
    CHECK_OK(nexus_store_free(g_ld.s));
    CHECK_OK(nexus_store_free(g_ld.s2));
}

/* A free of an unrelated store from deep inside nested callbacks (each
 * store's listener removing a key of the next store) frees it: BUSY only
 * past 64 nested callbacks (audit 13: BUSY past 16, from 9 nested
 * listeners). */
enum { NESTED = 24 };
static NexusStore *g_chain[NESTED];
static NexusStore *g_unrelated;
static NexusStatus g_deep_free = 99;

static void chain_listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                           uint64_t bytes) {
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    size_t i = (size_t)(uintptr_t)ctx;
    if (i + 1 < NESTED)
        CHECK_OK(nexus_store_remove(g_chain[i + 1], KEY("k")));
    else
        g_deep_free = nexus_store_free(g_unrelated);
}

static void test_free_from_deeply_nested_callbacks(void) {
    watchdog();
    for (size_t i = 0; i < NESTED; i++) {
        g_chain[i] = new_store(0);
        CHECK_OK(nexus_store_put(g_chain[i], KEY("k"), KEY("v")));
        CHECK_OK(nexus_store_set_eviction_listener(g_chain[i], chain_listener, (void *)(uintptr_t)i, NULL));
    }
    g_unrelated = new_store(0);
    CHECK_OK(nexus_store_remove(g_chain[0], KEY("k")));
    if (g_deep_free != NEXUS_STATUS_OK)
        fprintf(stderr, "[%s] free from %d nested listeners: %s\n", nexus_test_name, (int)NESTED,
                nexus_status_str(g_deep_free));
    CHECK(g_deep_free == NEXUS_STATUS_OK);
    for (size_t i = 0; i < NESTED; i++) CHECK_OK(nexus_store_free(g_chain[i]));
}

int main(void) {
    RUN(test_destroy_exactly_once);
    RUN(test_estimator_ctx_destroyed_once);
    RUN(test_reentrant_callbacks);
    RUN(test_free_from_own_callback_is_busy);
    RUN(test_free_from_destroy_run_by_a_call_is_busy);
    RUN(test_callback_may_free_another_store);
    RUN(test_unregister_waits_for_running_call);
    RUN(test_unregister_from_inside_returns_at_once);
    RUN(test_slow_callback_does_not_block_others);
    RUN(test_loader_single_flight);
    RUN(test_loader_failure_reaches_every_waiter);
    RUN(test_loader_reentrant_get_or_load);
    RUN(test_put_during_load_wins);
    RUN(test_loader_object_release);
    RUN(test_loader_returning_a_refusal_says_why);
    RUN(test_events_callback_vs_queue);
    RUN(test_listener_reasons);
    RUN(test_free_from_callback_run_by_signal_all_is_busy);
    RUN(test_callback_run_by_signal_all_may_free_another_store);
    RUN(test_a_loaders_destroy_run_by_its_load_is_a_callback);
    RUN(test_free_from_deeply_nested_callbacks);
    alarm(0);
    FINISH();
}
