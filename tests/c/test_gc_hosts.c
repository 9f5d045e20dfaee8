/* The C functions for garbage-collected hosts (Swift, Kotlin/JNI) and
 * wrappers: nexus_memory_config_validate, nexus_load_sink_fail, nexus_load_sink_abandon,
 * NEXUS_CHARGE_DEFAULT and nexus_store_free_deferred (from every callback
 * kind, from a second thread while calls are in flight, under load).
 *
 * Every test arms a watchdog (alarm) so that a deadlock fails the program
 * instead of hanging it. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "test_util.h"
#include "test_sync.h"

static void watchdog(void) { watchdog_secs(20, 180); }

/* Objects with a counting release that records the releasing thread. */
typedef struct {
    int released;
    pthread_t by;
} Obj;

static void obj_release(void *ctx, void *object) {
    Obj *o = object;
    (void)ctx;
    o->by = pthread_self();
    AINC(&o->released);
}

static int destroyed_ctx = 0;
static void count_destroy(void *ctx) {
    (void)ctx;
    AINC(&destroyed_ctx);
}

/* ---- nexus_memory_config_validate ----------------------------------------- */

typedef void (*Breaker)(NexusMemoryConfig *c);
static void bad_moderate(NexusMemoryConfig *c) { c->moderate_threshold = 0.0; }
static void bad_order(NexusMemoryConfig *c) { c->moderate_threshold = c->critical_threshold; }
static void bad_nan(NexusMemoryConfig *c) { c->critical_threshold = (double)NAN; }
static void bad_critical(NexusMemoryConfig *c) { c->critical_threshold = 1.5; }
static void bad_keeps(NexusMemoryConfig *c) { c->signal_critical_keep = 0.9; }
static void bad_keep_zero(NexusMemoryConfig *c) { c->signal_critical_keep = 0.0; }
static void bad_batch(NexusMemoryConfig *c) { c->eviction_batch_size = 0; }
static void bad_queue(NexusMemoryConfig *c) { c->event_queue_capacity = 0; }
static void bad_strategy(NexusMemoryConfig *c) { c->strategy = 77; }
static void bad_shards_zero(NexusMemoryConfig *c) { c->shards = 0; }
static void bad_shards_many(NexusMemoryConfig *c) { c->shards = NEXUS_MAX_SHARDS + 1; }
static void bad_shard_budget(NexusMemoryConfig *c) {
    c->shards = 8;
    c->max_cache_bytes = 3; /* each shard needs at least one byte */
}
static void bad_size_big(NexusMemoryConfig *c) { c->struct_size = sizeof *c + 8; }
static void bad_size_small(NexusMemoryConfig *c) { c->struct_size = 4; }

static void test_config_validate_matches_store_new(void) {
    static const Breaker breakers[] = {bad_moderate,    bad_order,       bad_nan,
                                       bad_critical,    bad_keeps,       bad_keep_zero,
                                       bad_batch,       bad_queue,       bad_strategy,
                                       bad_shards_zero, bad_shards_many, bad_shard_budget,
                                       bad_size_big,    bad_size_small};
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    CHECK_OK(nexus_memory_config_validate(&c));
    c.shards = NEXUS_MAX_SHARDS;
    c.max_cache_bytes = NEXUS_MAX_SHARDS; /* one byte per shard: the least allowed */
    CHECK_OK(nexus_memory_config_validate(&c));
    CHECK_STATUS(nexus_memory_config_validate(NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);

    for (size_t i = 0; i < sizeof breakers / sizeof breakers[0]; i++) {
        char message[512];
        NexusMemoryConfig b;
        nexus_memory_config_init(&b);
        b.max_cache_bytes = 1 << 20;
        breakers[i](&b);
        /* An estimator ctx: validate never destroys it. */
        b.size_estimator_ctx = &destroyed_ctx;
        b.size_estimator_destroy = count_destroy;
        int before = ALOAD(&destroyed_ctx);
        CHECK_STATUS(nexus_memory_config_validate(&b), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        CHECK(ALOAD(&destroyed_ctx) == before);
        snprintf(message, sizeof message, "%s", nexus_last_error_message());
        /* nexus_store_new refuses it with the same status and message (and
         * destroys the ctx it was given, as documented; fields beyond a
         * small struct_size are not read, so that ctx is not seen). */
        NexusStore *s = NULL;
        CHECK_STATUS(nexus_store_new(&b, &s), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        CHECK(s == NULL);
        CHECK(strcmp(message, nexus_last_error_message()) == 0);
        if (breakers[i] != bad_size_small) CHECK(ALOAD(&destroyed_ctx) == before + 1);
    }
    /* A valid config with an estimator ctx: nothing destroyed either. */
    nexus_memory_config_init(&c);
    c.size_estimator_ctx = &destroyed_ctx;
    c.size_estimator_destroy = count_destroy;
    int before = ALOAD(&destroyed_ctx);
    CHECK_OK(nexus_memory_config_validate(&c));
    CHECK(ALOAD(&destroyed_ctx) == before);
}

/* ---- nexus_load_sink_fail -------------------------------------------------- */

typedef struct {
    Gate go;
    int calls;
    NexusStatus status;
    const char *message;
} FailingLoader;

static NexusStatus failing_load(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    FailingLoader *l = ctx;
    (void)key;
    (void)key_len;
    AINC(&l->calls);
    gate_wait(&l->go);
    CHECK_OK(nexus_load_sink_fail(sink, l->status, l->message));
    /* The loader's own return value is ignored once the sink holds a failure. */
    return NEXUS_STATUS_OK;
}

typedef struct {
    NexusStore *store;
    NexusStatus got;
    char message[256];
} Waiter;

static void *wait_for_load(void *arg) {
    Waiter *w = arg;
    NexusValue *v = NULL;
    w->got = nexus_store_get_or_load(w->store, KEY("disk"), &v);
    snprintf(w->message, sizeof w->message, "%s", nexus_last_error_message());
    CHECK(v == NULL);
    return NULL;
}

static void test_sink_fail_reaches_every_waiter(void) {
    watchdog();
    enum { WAITERS = 6 };
    NexusStore *s = new_store(0);
    FailingLoader l = {.status = NEXUS_STATUS_ERR_CALLBACK,
                       .message = "disk on fire: sector 7 unreadable"};
    gate_init(&l.go);
    CHECK_OK(nexus_store_set_loader(s, failing_load, &l, NULL));
    pthread_t t[WAITERS];
    Waiter w[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        w[i].store = s;
        CHECK(pthread_create(&t[i], NULL, wait_for_load, &w[i]) == 0);
    }
    wait_at_least(&l.calls, 1);
    sleep_ms(50); /* let the others join the load in flight */
    gate_open(&l.go);
    for (int i = 0; i < WAITERS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(w[i].got == NEXUS_STATUS_ERR_CALLBACK);
        CHECK(strcmp(w[i].message, "disk on fire: sector 7 unreadable") == 0);
    }
    CHECK(ALOAD(&l.calls) >= 1 && ALOAD(&l.calls) <= WAITERS);
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.entry_count == 0 && m.load_failure_count == (uint64_t)ALOAD(&l.calls));

    /* NOT_FOUND with a NULL message: a default message naming it. */
    l.status = NEXUS_STATUS_NOT_FOUND;
    l.message = NULL;
    NexusValue *v = NULL;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("disk"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(strstr(nexus_last_error_message(), "not found") != NULL);
    CHECK_OK(nexus_store_free(s));
    gate_destroy(&l.go);
}

/* A loader that misuses its sink in the way `mode` says. */
typedef struct {
    int mode;
    NexusStatus second;
    Obj obj;
} SinkMisuse;

static NexusStatus misusing_load(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    SinkMisuse *m = ctx;
    (void)key;
    (void)key_len;
    switch (m->mode) {
    case 0: /* an object, then a failure: the failure wins, the object is released */
        CHECK_OK(nexus_load_sink_put_object(sink, &m->obj, 10, obj_release, NULL));
        CHECK_OK(nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_CALLBACK, "changed my mind"));
        CHECK(ALOAD(&m->obj.released) == 1);
        m->second = nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_CALLBACK, "twice");
        return NEXUS_STATUS_OK;
    case 1: /* failure, then an object: the object is refused and not owned */
        CHECK_OK(nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_OUT_OF_MEMORY, "no room"));
        m->second = nexus_load_sink_put_object(sink, &m->obj, 10, obj_release, NULL);
        return NEXUS_STATUS_OK;
    case 2: /* not a failure status */
        m->second = nexus_load_sink_fail(sink, NEXUS_STATUS_OK, "fine");
        return NEXUS_STATUS_NOT_FOUND;
    case 3: /* no status at all */
        m->second = nexus_load_sink_fail(sink, 999, "what");
        return NEXUS_STATUS_NOT_FOUND;
    default: /* the loader itself returns no status */
        return (NexusStatus)999;
    }
}

static void test_sink_fail_misuse(void) {
    NexusStore *s = new_store(0);
    SinkMisuse m = {0};
    CHECK_OK(nexus_store_set_loader(s, misusing_load, &m, NULL));
    NexusValue *v = NULL;

    m.mode = 0;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("a"), &v), NEXUS_STATUS_ERR_CALLBACK);
    CHECK(strcmp(nexus_last_error_message(), "changed my mind") == 0);
    CHECK(m.second == NEXUS_STATUS_ERR_INVALID_ARGUMENT && m.obj.released == 1);
    CHECK(metrics_of(s).entry_count == 0);
    m.obj.released = 0;

    m.mode = 1;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("b"), &v), NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    CHECK(strcmp(nexus_last_error_message(), "no room") == 0);
    CHECK(m.second == NEXUS_STATUS_ERR_INVALID_ARGUMENT && m.obj.released == 0);

    m.mode = 2;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("c"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(m.second == NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    m.mode = 3;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("d"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(m.second == NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    /* A return that is no status reaches the caller as ERR_CALLBACK (the
     * header's promise: a status the caller's switch knows). */
    m.mode = 4;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("e"), &v), NEXUS_STATUS_ERR_CALLBACK);
    CHECK(strstr(nexus_last_error_message(), "the loader returned status 999") != NULL);
    CHECK(metrics_of(s).entry_count == 0);
    CHECK_STATUS(nexus_load_sink_fail(NULL, NEXUS_STATUS_ERR_CALLBACK, "x"),
                 NEXUS_STATUS_ERR_NULL_ARGUMENT);

    /* A message longer than the library keeps is cut, never overrun:
     * 3000 x "é" (2 bytes each) is cut at a character boundary. */
    static char longest[6001];
    for (int i = 0; i < 3000; i++) memcpy(longest + 2 * i, "\xc3\xa9", 2);

    FailingLoader fl = {.status = NEXUS_STATUS_ERR_CALLBACK, .message = longest};
    gate_init(&fl.go);
    gate_open(&fl.go);
    CHECK_OK(nexus_store_set_loader(s, failing_load, &fl, NULL));
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("long"), &v), NEXUS_STATUS_ERR_CALLBACK);
    size_t kept = strlen(nexus_last_error_message());
    CHECK(kept > 1000 && kept < 1024 && kept % 2 == 0);
    CHECK(memcmp(nexus_last_error_message(), longest, kept) == 0);
    gate_destroy(&fl.go);
    CHECK_OK(nexus_store_free(s));
    CHECK(m.obj.released == 0);
}

/* ---- nexus_load_sink_abandon ----------------------------------------------- */

/* The first call gives a value, then abandons the load once the others have
 * joined it (its caller "was cancelled"); later calls load "fresh". */
static NexusStatus abandoning_load(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    FailingLoader *l = ctx;
    (void)key;
    (void)key_len;
    if (AINC(&l->calls) == 1) {
        gate_wait(&l->go);
        CHECK_OK(nexus_load_sink_put_bytes(sink, (const uint8_t *)"stale", 5));
        CHECK_OK(nexus_load_sink_abandon(sink, "my caller was cancelled"));
        return NEXUS_STATUS_OK; /* ignored */
    }
    return nexus_load_sink_put_bytes(sink, (const uint8_t *)"fresh", 5);
}

typedef struct {
    NexusStore *store;
    NexusStatus got;
    char message[256];
    char value[8];
} Loading;

static void *load_and_read(void *arg) {
    Loading *w = arg;
    NexusValue *v = NULL;
    w->got = nexus_store_get_or_load(w->store, KEY("disk"), &v);
    snprintf(w->message, sizeof w->message, "%s", nexus_last_error_message());
    if (w->got == NEXUS_STATUS_OK) {
        const uint8_t *bytes = nexus_value_data(v);
        CHECK(bytes != NULL && nexus_value_len(v) == 5);
        memcpy(w->value, bytes, 5);
        nexus_value_release(v);
    } else {
        CHECK(v == NULL);
    }
    return NULL;
}

static void test_sink_abandon_fails_only_its_caller(void) {
    watchdog();
    enum { CALLERS = 6 };
    NexusStore *s = new_store(0);
    FailingLoader l = {0};
    gate_init(&l.go);
    CHECK_OK(nexus_store_set_loader(s, abandoning_load, &l, NULL));
    pthread_t t[CALLERS];
    Loading w[CALLERS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CALLERS; i++) {
        w[i].store = s;
        CHECK(pthread_create(&t[i], NULL, load_and_read, &w[i]) == 0);
    }
    wait_at_least(&l.calls, 1);
    sleep_ms(50); /* let the others join the load in flight */
    gate_open(&l.go);
    int failed = 0;
    for (int i = 0; i < CALLERS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        if (w[i].got == NEXUS_STATUS_OK) {
            CHECK(memcmp(w[i].value, "fresh", 5) == 0);
        } else {
            failed++;
            CHECK(w[i].got == NEXUS_STATUS_ERR_CALLBACK);
            CHECK(strcmp(w[i].message, "my caller was cancelled") == 0);
        }
    }
    /* Only the caller whose loader abandoned fails; the others (joined or
     * not) got a later load's value, and "stale" was never cached. */
    CHECK(failed == 1);
    CHECK(ALOAD(&l.calls) >= 2);
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.entry_count == 1 && m.load_failure_count == 1);
    CHECK(m.load_count == (uint64_t)ALOAD(&l.calls));
    CHECK_OK(nexus_store_free(s));
    gate_destroy(&l.go);
}

/* Abandon's misuse, by `mode`; `second` is the refused call's status. */
static NexusStatus abandon_misuse(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    SinkMisuse *m = ctx;
    (void)key;
    (void)key_len;
    switch (m->mode) {
    case 0: /* an object, then an abandonment: the object is released */
        CHECK_OK(nexus_load_sink_put_object(sink, &m->obj, 10, obj_release, NULL));
        CHECK_OK(nexus_load_sink_abandon(sink, NULL));
        CHECK(ALOAD(&m->obj.released) == 1);
        m->second = nexus_load_sink_abandon(sink, "twice");
        return NEXUS_STATUS_OK;
    case 1: /* abandoned, then a value or a failure: refused */
        CHECK_OK(nexus_load_sink_abandon(sink, "gone"));
        m->second = nexus_load_sink_put_bytes(sink, (const uint8_t *)"late", 4);
        CHECK(nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_CALLBACK, "x") ==
              NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        return NEXUS_STATUS_OK;
    default: /* failed, then abandoned: refused, the failure stands */
        CHECK_OK(nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_OUT_OF_MEMORY, "no room"));
        m->second = nexus_load_sink_abandon(sink, "gone");
        return NEXUS_STATUS_OK;
    }
}

static void test_sink_abandon_misuse(void) {
    NexusStore *s = new_store(0);
    SinkMisuse m = {0};
    CHECK_OK(nexus_store_set_loader(s, abandon_misuse, &m, NULL));
    NexusValue *v = NULL;

    m.mode = 0;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("a"), &v), NEXUS_STATUS_ERR_CALLBACK);
    CHECK(strcmp(nexus_last_error_message(), "the loader abandoned the load") == 0);
    CHECK(m.second == NEXUS_STATUS_ERR_INVALID_ARGUMENT && m.obj.released == 1);

    m.mode = 1;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("b"), &v), NEXUS_STATUS_ERR_CALLBACK);
    CHECK(strcmp(nexus_last_error_message(), "gone") == 0);
    CHECK(m.second == NEXUS_STATUS_ERR_INVALID_ARGUMENT);

    m.mode = 2;
    CHECK_STATUS(nexus_store_get_or_load(s, KEY("c"), &v), NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    CHECK(strcmp(nexus_last_error_message(), "no room") == 0);
    CHECK(m.second == NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(v == NULL);
    NexusMemoryMetrics mm = metrics_of(s);
    CHECK(mm.entry_count == 0 && mm.load_failure_count == 3);
    CHECK_STATUS(nexus_load_sink_abandon(NULL, "x"), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK_OK(nexus_store_free(s));
}

/* ---- NEXUS_CHARGE_DEFAULT ---------------------------------------------------- */

/* Knows the cost of keys starting with 'x' (7 bytes); defers the others. */
static size_t partial_estimate(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                               size_t value_len) {
    (void)ctx;
    (void)value;
    (void)value_len;
    return key_len > 0 && key[0] == 'x' ? 7 : NEXUS_CHARGE_DEFAULT;
}

static void test_charge_default_sentinel(void) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.size_estimator = partial_estimate;
    NexusStore *s = store_from(&c);
    CHECK_OK(nexus_store_put(s, KEY("x1"), KEY("whatever")));
    CHECK(metrics_of(s).current_usage == 7);
    CHECK_OK(nexus_store_put(s, KEY("d1"), KEY("hello")));
    CHECK(metrics_of(s).current_usage == 7 + 2 + 5 + NEXUS_ENTRY_OVERHEAD_BYTES);
    Obj o = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("dobj"), &o, 0, obj_release, NULL));
    CHECK(metrics_of(s).current_usage ==
          7 + (2 + 5 + NEXUS_ENTRY_OVERHEAD_BYTES) + (4 + NEXUS_ENTRY_OVERHEAD_BYTES));
    /* An explicit cost is never the estimator's. */
    Obj p = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("dcost"), &p, 1000, obj_release, NULL));
    CHECK(metrics_of(s).current_usage ==
          7 + (2 + 5 + NEXUS_ENTRY_OVERHEAD_BYTES) + (4 + NEXUS_ENTRY_OVERHEAD_BYTES) + 1000);
    CHECK_OK(nexus_store_free(s));
    CHECK(o.released == 1 && p.released == 1);
}

/* ---- nexus_store_free_deferred ---------------------------------------------- */

static void quiet_event(void *ctx, const NexusEvent *e) {
    (void)ctx;
    (void)e;
}

static void test_free_deferred_basics(void) {
    CHECK_OK(nexus_store_free_deferred(NULL));
    NexusStore *s = new_store(0);
    Obj o = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("o"), &o, 10, obj_release, NULL));
    NexusValue *held = NULL;
    CHECK_OK(nexus_store_put(s, KEY("b"), KEY("bytes")));
    CHECK_OK(nexus_store_get(s, KEY("b"), &held));
    int before = ALOAD(&destroyed_ctx);
    CHECK_OK(nexus_store_set_event_callback(s, quiet_event, &destroyed_ctx, count_destroy));

    /* No call in flight: freed before it returns, on this thread. */
    CHECK_OK(nexus_store_free_deferred(s));
    CHECK(o.released == 1 && pthread_equal(o.by, pthread_self()));
    CHECK(ALOAD(&destroyed_ctx) == before + 1);
    CHECK_STATUS(nexus_store_free_deferred(s), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_store_free(s), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_store_put(s, KEY("k"), KEY("v")), NEXUS_STATUS_ERR_INVALID_HANDLE);
    /* A read handle outlives the store. */
    CHECK(nexus_value_len(held) == 5 && memcmp(nexus_value_data(held), "bytes", 5) == 0);
    nexus_value_release(held);

    /* After a blocking free, too. */
    s = new_store(0);
    CHECK_OK(nexus_store_free(s));
    CHECK_STATUS(nexus_store_free_deferred(s), NEXUS_STATUS_ERR_INVALID_HANDLE);
}

/* Which callback frees its own store with the deferred free. */
enum { IN_ESTIMATOR, IN_LOADER, IN_RELEASE, IN_LISTENER, IN_EVENT, IN_DESTROY, IN_KINDS };

typedef struct {
    NexusStore *store;
    int kind;
    int freed;          /* free_deferred returned OK inside the callback */
    int after_free;     /* a call on the handle inside the callback after it */
    int destroys;       /* ctx destroys of this state's callbacks */
    int calls_after_destroy;
    Obj obj;            /* an object cached before the trigger */
    Obj trigger_obj;    /* the object the trigger removes (IN_RELEASE) */
} SelfFree;

static void free_here(SelfFree *f) {
    if (ALOAD(&f->freed)) return;
    CHECK_OK(nexus_store_free_deferred(f->store));
    AINC(&f->freed);
    /* The handle is invalid at once, even inside the call that holds it. */
    bool b = false;
    f->after_free = (int)nexus_store_contains(f->store, KEY("o"), &b);
}

static size_t sf_estimate(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                          size_t value_len) {
    SelfFree *f = ctx;
    (void)value;
    if (key_len == 7 && memcmp(key, "trigger", 7) == 0) free_here(f);
    return key_len + value_len + 1;
}

static void sf_destroy(void *ctx) {
    SelfFree *f = ctx;
    AINC(&f->destroys);
}

static void sf_destroy_that_frees(void *ctx) {
    SelfFree *f = ctx;
    AINC(&f->destroys);
    free_here(f);
}

static NexusStatus sf_load(void *ctx, const uint8_t *key, size_t key_len, NexusLoadSink *sink) {
    SelfFree *f = ctx;
    if (ALOAD(&f->destroys)) AINC(&f->calls_after_destroy);
    free_here(f);
    return nexus_load_sink_put_bytes(sink, key, key_len);
}

static void sf_release(void *ctx, void *object) {
    SelfFree *f = ctx;
    obj_release(NULL, object);
    if (object == &f->trigger_obj) free_here(f);
}

static void sf_listen(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                      uint64_t bytes) {
    SelfFree *f = ctx;
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    if (ALOAD(&f->destroys)) AINC(&f->calls_after_destroy);
    free_here(f);
}

static void sf_event(void *ctx, const NexusEvent *e) {
    SelfFree *f = ctx;
    (void)e;
    if (ALOAD(&f->destroys)) AINC(&f->calls_after_destroy);
    free_here(f);
}

static void test_free_deferred_from_every_callback(void) {
    watchdog();
    for (int kind = 0; kind < IN_KINDS; kind++) {
        SelfFree f;
        memset(&f, 0, sizeof f);
        f.kind = kind;
        NexusMemoryConfig c;
        nexus_memory_config_init(&c);
        c.size_estimator = sf_estimate;
        c.size_estimator_ctx = &f;
        c.size_estimator_destroy = sf_destroy;
        f.store = store_from(&c);
        NexusStore *s = f.store;
        int expected_destroys = 1; /* the estimator's */
        CHECK_OK(nexus_store_put_object(s, KEY("o"), &f.obj, 10, obj_release, NULL));
        NexusValue *v = NULL;
        switch (kind) {
        case IN_ESTIMATOR:
            CHECK_OK(nexus_store_put(s, KEY("trigger"), KEY("v")));
            break;
        case IN_LOADER:
            CHECK_OK(nexus_store_set_loader(s, sf_load, &f, sf_destroy));
            expected_destroys++;
            CHECK_OK(nexus_store_get_or_load(s, KEY("missing"), &v));
            /* The loaded value is returned although the store is gone. */
            CHECK(nexus_value_len(v) == 7 && memcmp(nexus_value_data(v), "missing", 7) == 0);
            nexus_value_release(v);
            break;
        case IN_RELEASE:
            CHECK_OK(nexus_store_put_object(s, KEY("t"), &f.trigger_obj, 10, sf_release, &f));
            CHECK_OK(nexus_store_remove(s, KEY("t")));
            CHECK(f.trigger_obj.released == 1);
            break;
        case IN_LISTENER:
            CHECK_OK(nexus_store_set_eviction_listener(s, sf_listen, &f, sf_destroy));
            expected_destroys++;
            CHECK_OK(nexus_store_put(s, KEY("t"), KEY("v")));
            CHECK_OK(nexus_store_remove(s, KEY("t")));
            break;
        case IN_EVENT:
            CHECK_OK(nexus_store_set_event_callback(s, sf_event, &f, sf_destroy));
            expected_destroys++;
            CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
            break;
        default: /* IN_DESTROY: a replaced callback's destroy, run by the replace */
            CHECK_OK(nexus_store_set_event_callback(s, sf_event, &f, sf_destroy_that_frees));
            CHECK_OK(nexus_store_set_event_callback(s, NULL, NULL, NULL));
            expected_destroys++;
            break;
        }
        /* The call that ran the callback has returned: the store is freed. */
        CHECK(ALOAD(&f.freed) == 1);
        CHECK(f.after_free == NEXUS_STATUS_ERR_INVALID_HANDLE);
        CHECK(f.obj.released == 1);
        CHECK(ALOAD(&f.destroys) == expected_destroys);
        CHECK(f.calls_after_destroy == 0);
        CHECK_STATUS(nexus_store_free(s), NEXUS_STATUS_ERR_INVALID_HANDLE);
    }
}

/* The release callback of the last handle of a removed entry, run by
 * nexus_value_release (no call through the handle in flight): a blocking
 * free there is BUSY (it is the store's callback); the deferred free frees
 * at once. */
typedef struct {
    NexusStore *store;
    NexusStatus blocking;
    NexusStatus deferred;
    int released;
} ReleaseFrees;

static void release_that_frees(void *ctx, void *object) {
    ReleaseFrees *r = ctx;
    (void)object;
    r->blocking = nexus_store_free(r->store);
    r->deferred = nexus_store_free_deferred(r->store);
    AINC(&r->released);
}

static void test_free_from_release_run_by_value_release(void) {
    watchdog();
    ReleaseFrees r = {0};
    Obj other = {0};
    r.store = new_store(0);
    int dummy;
    CHECK_OK(nexus_store_put_object(r.store, KEY("t"), &dummy, 10, release_that_frees, &r));
    CHECK_OK(nexus_store_put_object(r.store, KEY("o"), &other, 10, obj_release, NULL));
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get(r.store, KEY("t"), &v));
    CHECK_OK(nexus_store_remove(r.store, KEY("t")));
    CHECK(r.released == 0);
    nexus_value_release(v);
    CHECK(r.released == 1);
    CHECK(r.blocking == NEXUS_STATUS_ERR_BUSY);
    CHECK(r.deferred == NEXUS_STATUS_OK);
    CHECK(other.released == 1); /* freed by the deferred free, at once */
    CHECK_STATUS(nexus_store_free(r.store), NEXUS_STATUS_ERR_INVALID_HANDLE);
}

/* The same when the release restores the budget under a signal: the store's
 * own eviction run releases a value whose callback frees the store. */
static void test_free_from_budget_restore_run_by_value_release(void) {
    watchdog();
    ReleaseFrees r = {0};
    r.store = new_store(1000);
    int a, b;
    CHECK_OK(nexus_store_put_object(r.store, KEY("victim"), &a, 300, release_that_frees, &r));
    CHECK_OK(nexus_store_put_object(r.store, KEY("held"), &b, 300, NULL, NULL));
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get(r.store, KEY("held"), &v));
    CHECK_OK(nexus_store_pin(r.store, KEY("held")));
    /* Both held by handles: the signal can evict neither. */
    NexusValue *w = NULL;
    CHECK_OK(nexus_store_get(r.store, KEY("victim"), &w));
    CHECK_OK(nexus_store_signal_pressure(r.store, NEXUS_PRESSURE_LEVEL_CRITICAL));
    CHECK(r.released == 0); /* held by a handle: not evicted */
    /* Releasing the handle leaves usage above the held budget: the store
     * evicts "victim" here, and its release callback tries both frees. */
    nexus_value_release(w);
    CHECK(r.released == 1);
    CHECK(r.blocking == NEXUS_STATUS_ERR_BUSY);
    CHECK(r.deferred == NEXUS_STATUS_OK);
    CHECK_STATUS(nexus_store_pin(r.store, KEY("held")), NEXUS_STATUS_ERR_INVALID_HANDLE);
    nexus_value_release(v);
}

/* A second thread frees the store while a call is in flight (blocked in a
 * callback): the free returns at once, the store is freed when that call
 * returns, on its thread. */
typedef struct {
    Gate release_callback;
    int inside;
    NexusStore *store;
    pthread_t destroyed_by;
    int destroyed;
} Blocked;

static void blocking_event(void *ctx, const NexusEvent *e) {
    Blocked *b = ctx;
    (void)e;
    AINC(&b->inside);
    gate_wait(&b->release_callback);
}

static void blocked_destroy(void *ctx) {
    Blocked *b = ctx;
    b->destroyed_by = pthread_self();
    AINC(&b->destroyed);
}

static void *signal_store(void *arg) {
    Blocked *b = arg;
    CHECK_OK(nexus_store_signal_pressure(b->store, NEXUS_PRESSURE_LEVEL_MODERATE));
    return NULL;
}

static void test_free_deferred_while_a_call_is_in_flight(void) {
    watchdog();
    Blocked b;
    memset(&b, 0, sizeof b);
    gate_init(&b.release_callback);
    b.store = new_store(0);
    Obj o = {0};
    CHECK_OK(nexus_store_put_object(b.store, KEY("o"), &o, 10, obj_release, NULL));
    CHECK_OK(nexus_store_set_event_callback(b.store, blocking_event, &b, blocked_destroy));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, signal_store, &b) == 0);
    wait_at_least(&b.inside, 1);

    CHECK_OK(nexus_store_free_deferred(b.store)); /* does not wait for t */
    CHECK(ALOAD(&b.destroyed) == 0 && ALOAD(&o.released) == 0);
    CHECK_STATUS(nexus_store_put(b.store, KEY("k"), KEY("v")), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_store_free_deferred(b.store), NEXUS_STATUS_ERR_INVALID_HANDLE);

    gate_open(&b.release_callback);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(ALOAD(&b.destroyed) == 1 && pthread_equal(b.destroyed_by, t));
    CHECK(ALOAD(&o.released) == 1 && pthread_equal(o.by, t));
    gate_destroy(&b.release_callback);
}

/* Threads keep calling while the store is freed under them: each call is OK
 * (or NOT_FOUND) before the free and INVALID_HANDLE after; every object the
 * store took is released exactly once, and no refused one is released. */
enum { HAMMER_THREADS = 4, HAMMER_KEYS = 64 };
enum { NOT_TRIED, TAKEN, REFUSED };

typedef struct {
    NexusStore *store;
    int index;
    int *stop;
    Obj objs[HAMMER_KEYS];
    int fate[HAMMER_KEYS];
    int bad;
} Hammer;

static void *hammer(void *arg) {
    Hammer *h = arg;
    for (int round = 0; !ALOAD(h->stop); round++) {
        char key[32];
        int i = round % HAMMER_KEYS;
        snprintf(key, sizeof key, "t%d-%d", h->index, i);
        NexusStatus st;
        if (h->fate[i] == NOT_TRIED) {
            st = nexus_store_put_object(h->store, KEY(key), &h->objs[i], 100, obj_release, NULL);
            h->fate[i] = st == NEXUS_STATUS_OK ? TAKEN : REFUSED;
        } else {
            NexusValue *v = NULL;
            st = nexus_store_get(h->store, KEY(key), &v);
            if (st == NEXUS_STATUS_OK) nexus_value_release(v);
        }
        if (st != NEXUS_STATUS_OK && st != NEXUS_STATUS_NOT_FOUND &&
            st != NEXUS_STATUS_ERR_INVALID_HANDLE)
            AINC(&h->bad);
    }
    return NULL;
}

static void test_free_deferred_under_load(void) {
    watchdog();
    static Hammer h[HAMMER_THREADS];
    int stop = 0;
    NexusStore *s = new_store(1 << 20);
    pthread_t t[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) {
        memset(&h[i], 0, sizeof h[i]);
        h[i].store = s;
        h[i].index = i;
        h[i].stop = &stop;
        CHECK(pthread_create(&t[i], NULL, hammer, &h[i]) == 0);
    }
    sleep_ms(under_valgrind() ? 200 : 20);
    CHECK_OK(nexus_store_free_deferred(s));
    sleep_ms(10);
    ASTORE(&stop, 1);
    /* Every thread first: the store is freed by whichever call ends last. */
    for (int i = 0; i < HAMMER_THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    int taken = 0;
    for (int i = 0; i < HAMMER_THREADS; i++) {
        CHECK(h[i].bad == 0);
        for (int k = 0; k < HAMMER_KEYS; k++) {
            CHECK(ALOAD(&h[i].objs[k].released) == (h[i].fate[k] == TAKEN ? 1 : 0));
            taken += h[i].fate[k] == TAKEN;
        }
    }
    CHECK(taken > 0);
}

/* A store freed from a thread's exit path (a pthread key's destructor, as a
 * JNI detach or a Swift thread-local would): the library's own thread-locals
 * may be gone by then; the free still works and nothing panics. */
static pthread_key_t exit_key;
static NexusStatus freed_at_exit = 99;
static NexusStatus put_at_exit = 99;

static void free_at_thread_exit(void *store) {
    put_at_exit = nexus_store_put(store, KEY("late"), KEY("v"));
    freed_at_exit = nexus_store_free(store);
}

static void *thread_that_exits(void *store) {
    CHECK_OK(nexus_store_put(store, KEY("k"), KEY("v"))); /* the library's thread-locals exist */
    NexusValue *v = NULL;
    CHECK_STATUS(nexus_store_get(store, KEY("absent"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(pthread_setspecific(exit_key, store) == 0);
    return NULL;
}

static void test_free_from_a_thread_exit_destructor(void) {
    watchdog();
    CHECK(pthread_key_create(&exit_key, free_at_thread_exit) == 0);
    NexusStore *s = new_store(0);
    Obj o = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("o"), &o, 10, obj_release, NULL));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_that_exits, s) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(put_at_exit == NEXUS_STATUS_OK && freed_at_exit == NEXUS_STATUS_OK);
    CHECK(o.released == 1);
    CHECK_STATUS(nexus_store_free(s), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK(pthread_key_delete(exit_key) == 0);
}

int main(void) {
    RUN(test_config_validate_matches_store_new);
    RUN(test_sink_fail_reaches_every_waiter);
    RUN(test_sink_fail_misuse);
    RUN(test_sink_abandon_fails_only_its_caller);
    RUN(test_sink_abandon_misuse);
    RUN(test_charge_default_sentinel);
    RUN(test_free_deferred_basics);
    RUN(test_free_deferred_from_every_callback);
    RUN(test_free_from_release_run_by_value_release);
    RUN(test_free_from_budget_restore_run_by_value_release);
    RUN(test_free_deferred_while_a_call_is_in_flight);
    RUN(test_free_deferred_under_load);
    RUN(test_free_from_a_thread_exit_destructor);
    FINISH();
}
