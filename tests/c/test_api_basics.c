/* test_api_basics.c: version, statuses and messages; the configuration and nexus_store_new; bad store handles.
 * Part of the tests of every function of nexus_store.h, one program per
 * section of the header; EXPECT() checks a status and that a message was
 * left for nexus_last_error_message(). */
#define _POSIX_C_SOURCE 200809L

#include "api_support.h"

/* ---- version, statuses, messages -------------------------------------------- */

static void test_version(void) {
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", NEXUS_VERSION_MAJOR, NEXUS_VERSION_MINOR,
             NEXUS_VERSION_PATCH);
    CHECK(nexus_version() != NULL);
    CHECK(strcmp(nexus_version(), expected) == 0);
    CHECK(nexus_version() == nexus_version()); /* static */
}

static void test_enum_names(void) {
    CHECK(strcmp(nexus_pressure_level_str(NEXUS_PRESSURE_LEVEL_NONE), "NONE") == 0);
    CHECK(strcmp(nexus_pressure_level_str(NEXUS_PRESSURE_LEVEL_MODERATE), "MODERATE") == 0);
    CHECK(strcmp(nexus_pressure_level_str(NEXUS_PRESSURE_LEVEL_CRITICAL), "CRITICAL") == 0);
    CHECK(strcmp(nexus_pressure_level_str(NEXUS_PRESSURE_LEVEL_EMERGENCY), "EMERGENCY") == 0);
    CHECK(strcmp(nexus_eviction_strategy_str(NEXUS_EVICTION_STRATEGY_LRU), "LRU") == 0);
    CHECK(strcmp(nexus_eviction_strategy_str(NEXUS_EVICTION_STRATEGY_LFU), "LFU") == 0);
    CHECK(strcmp(nexus_eviction_strategy_str(NEXUS_EVICTION_STRATEGY_SIZE), "SIZE") == 0);
    CHECK(strcmp(nexus_eviction_strategy_str(NEXUS_EVICTION_STRATEGY_TINY_LFU), "TINY_LFU") == 0);
    CHECK(strcmp(nexus_eviction_reason_str(NEXUS_EVICTION_REASON_CAPACITY), "CAPACITY") == 0);
    CHECK(strcmp(nexus_eviction_reason_str(NEXUS_EVICTION_REASON_PRESSURE), "PRESSURE") == 0);
    CHECK(strcmp(nexus_eviction_reason_str(NEXUS_EVICTION_REASON_MANUAL), "MANUAL") == 0);
    CHECK(strcmp(nexus_eviction_reason_str(NEXUS_EVICTION_REASON_REPLACED), "REPLACED") == 0);
    CHECK(strcmp(nexus_eviction_reason_str(NEXUS_EVICTION_REASON_REMOVED), "REMOVED") == 0);
    CHECK(strcmp(nexus_eviction_reason_str(NEXUS_EVICTION_REASON_GOVERNOR), "GOVERNOR") == 0);
    CHECK(strcmp(nexus_eviction_reason_str(NEXUS_EVICTION_REASON_EXPIRED), "EXPIRED") == 0);
    CHECK(strcmp(nexus_event_kind_str(NEXUS_EVENT_KIND_PRESSURE_CHANGED), "PRESSURE_CHANGED") == 0);
    CHECK(strcmp(nexus_event_kind_str(NEXUS_EVENT_KIND_EVICTION), "EVICTION") == 0);
    CHECK(strcmp(nexus_event_kind_str(NEXUS_EVENT_KIND_DROPPED), "DROPPED") == 0);
    CHECK(strcmp(nexus_event_kind_str(NEXUS_EVENT_KIND_SIGNAL_CHANGED), "SIGNAL_CHANGED") == 0);
    /* Out of range: a name, never NULL. */
    const uint32_t bad[] = {4, 5, 77, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(strcmp(nexus_pressure_level_str(bad[i]), "UNKNOWN") == 0);
        CHECK(strcmp(nexus_eviction_strategy_str(bad[i]), "UNKNOWN") == 0);
        CHECK(strcmp(nexus_event_kind_str(bad[i]), "UNKNOWN") == 0);
        if (bad[i] > 6) CHECK(strcmp(nexus_eviction_reason_str(bad[i]), "UNKNOWN") == 0);
    }
    CHECK(strcmp(nexus_eviction_strategy_str(NEXUS_EVICTION_STRATEGY_TINY_LFU), "TINY_LFU") == 0);
}

static void test_status_str(void) {
    static const struct {
        NexusStatus status;
        const char *text;
    } table[] = {
        {NEXUS_STATUS_OK, "ok"},
        {NEXUS_STATUS_NOT_FOUND, "not found"},
        {NEXUS_STATUS_EMPTY, "empty"},
        {NEXUS_STATUS_ERR_NULL_ARGUMENT, "null argument"},
        {NEXUS_STATUS_ERR_INVALID_ARGUMENT, "invalid argument"},
        {NEXUS_STATUS_ERR_INVALID_HANDLE, "invalid handle"},
        {NEXUS_STATUS_ERR_TOO_LARGE, "too large"},
        {NEXUS_STATUS_ERR_OVER_BUDGET, "over budget"},
        {NEXUS_STATUS_ERR_CALLBACK, "callback failed"},
        {NEXUS_STATUS_ERR_BUFFER_TOO_SMALL, "buffer too small"},
        {NEXUS_STATUS_ERR_BUSY, "busy"},
        {NEXUS_STATUS_ERR_OUT_OF_MEMORY, "out of memory"},
        {NEXUS_STATUS_ERR_PANIC, "panic"},
    };
    const size_t n = sizeof table / sizeof table[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = nexus_status_str(table[i].status);
        CHECK(s != NULL && s[0] != '\0');
        CHECK(strcmp(s, table[i].text) == 0);
        CHECK(strcmp(s, "unknown status") != 0);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(s, nexus_status_str(table[j].status)) != 0);
    }
    CHECK(strcmp(nexus_status_str(NEXUS_STATUS_ERR_PANIC + 1), "unknown status") == 0);
    CHECK(strcmp(nexus_status_str(1000), "unknown status") == 0);
    CHECK(strcmp(nexus_status_str(0xFFFFFFFFu), "unknown status") == 0);
}

static void *fresh_thread_messages(void *arg) {
    int *ok = arg;
    const char *m = nexus_last_error_message();
    *ok = m != NULL && m[0] == '\0'; /* "" before this thread's first failure */
    *ok = *ok && nexus_store_put(NULL, KEY("k"), NULL, 0) == NEXUS_STATUS_ERR_NULL_ARGUMENT;
    m = nexus_last_error_message();
    *ok = *ok && m != NULL && m[0] != '\0';
    return NULL;
}

static void test_last_error_message(void) {
    CHECK(nexus_last_error_message() != NULL);

    EXPECT(nexus_store_get(NULL, KEY("k"), NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    char saved[512];
    snprintf(saved, sizeof saved, "%s", nexus_last_error_message());
    CHECK(saved[0] != '\0');

    /* A successful call leaves the message unchanged, like errno. */
    NexusStore *s = new_store(0);
    put_str(s, "k", "v");
    CHECK(strcmp(nexus_last_error_message(), saved) == 0);

    /* The message is per thread: another thread starts with "" and its
     * failure does not touch this thread's message. */
    int ok = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fresh_thread_messages, &ok) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(ok);
    CHECK(strcmp(nexus_last_error_message(), saved) == 0);

    /* A different failure gives a (non-empty) message of its own. */
    EXPECT(nexus_store_remove(s, KEY("absent")), NEXUS_STATUS_NOT_FOUND);
    CHECK(nexus_last_error_message()[0] != '\0');
    CHECK_OK(nexus_store_free(s));
}

/* ---- configuration and nexus_store_new ------------------------------------- */

static void test_config_init_defaults(void) {
    NexusMemoryConfig c;
    memset(&c, 0xA5, sizeof c);
    nexus_memory_config_init(&c);
    CHECK(c.struct_size == sizeof(NexusMemoryConfig));
    CHECK(c.max_cache_bytes == 0);
    CHECK(c.moderate_threshold == 0.7);
    CHECK(c.critical_threshold == 0.9);
    CHECK(c.eviction_batch_size == 10);
    CHECK(c.strategy == NEXUS_EVICTION_STRATEGY_LRU);
    CHECK(c.size_estimator == NULL);
    CHECK(c.size_estimator_ctx == NULL);
    CHECK(c.size_estimator_destroy == NULL);
    CHECK(c.event_queue_capacity == 1024);
    CHECK(c.signal_moderate_keep == 0.75);
    CHECK(c.signal_critical_keep == 0.5);
    CHECK(c.signal_decay_ms == 0);
    CHECK(c.shards == 1);
    CHECK(c.lfu_history == false);
    nexus_memory_config_init(NULL); /* does nothing */

    /* The defaults make a valid, unbounded store. */
    NexusStore *s = store_from(&c);
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.max_cache_bytes == 0 && m.effective_budget == 0 && m.entry_count == 0);
    CHECK(m.pressure_level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK_OK(nexus_store_free(s));
}

static void test_store_new_null_arguments(void) {
    NexusStore *out = SENTINEL_STORE;
    EXPECT(nexus_store_new(NULL, &out), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(out == SENTINEL_STORE);

    /* NULL out: the estimator ctx is destroyed once, nothing else runs. */
    Estimator est = {0};
    NexusMemoryConfig c = config_with(1000);
    c.size_estimator = estimate;
    c.size_estimator_ctx = &est;
    c.size_estimator_destroy = estimator_destroy;
    EXPECT(nexus_store_new(&c, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(est.destroyed == 1 && est.calls == 0);
}

/* `c` must fail with INVALID_ARGUMENT, leave the out-param alone, and
 * destroy the estimator ctx `destroys` times: once when the estimator
 * fields lie within struct_size, never when they lie beyond it. */
static void expect_bad_config_destroying(NexusMemoryConfig c, int destroys) {
    Estimator est = {0};
    c.size_estimator = estimate;
    c.size_estimator_ctx = &est;
    c.size_estimator_destroy = estimator_destroy;
    NexusStore *out = SENTINEL_STORE;
    EXPECT(nexus_store_new(&c, &out), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(out == SENTINEL_STORE);
    CHECK(est.destroyed == destroys);
    CHECK(est.calls == 0);
}

static void expect_bad_config(NexusMemoryConfig c) { expect_bad_config_destroying(c, 1); }

/* `c` must make a store; its estimator ctx is destroyed only at free. */
static void expect_good_config(NexusMemoryConfig c) {
    Estimator est = {0};
    est.fixed = 1;
    c.size_estimator = estimate;
    c.size_estimator_ctx = &est;
    c.size_estimator_destroy = estimator_destroy;
    NexusStore *s = store_from(&c);
    CHECK(est.destroyed == 0);
    CHECK_OK(nexus_store_free(s));
    CHECK(est.destroyed == 1);
}

static void test_store_new_bad_thresholds(void) {
    static const double bad[][2] = {
        {NAN, 0.9},   {0.7, NAN},   {INFINITY, 0.9}, {0.7, INFINITY}, {-INFINITY, 0.9},
        {-0.1, 0.9},  {0.0, 0.9},   {0.7, 1.01},     {0.7, 2.0},      {1.5, 2.0},
        {0.9, 0.7},   {0.8, 0.8},   {1.0, 1.0},      {0.7, -0.9},     {0.7, 0.0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        NexusMemoryConfig c = config_with(1000);
        c.moderate_threshold = bad[i][0];
        c.critical_threshold = bad[i][1];
        expect_bad_config(c);
    }
    /* The edges that are allowed: critical == 1, tiny moderate. */
    NexusMemoryConfig c = config_with(1000);
    c.critical_threshold = 1.0;
    expect_good_config(c);
    c.moderate_threshold = 1e-9;
    expect_good_config(c);
}

static void test_store_new_bad_keeps(void) {
    static const double bad[][2] = {
        /* {moderate_keep, critical_keep} */
        {NAN, 0.5}, {0.75, NAN}, {INFINITY, 0.5}, {0.75, -INFINITY}, {0.75, 0.0},
        {0.75, -0.5}, {1.5, 0.5}, {0.5, 0.75}, {0.0, 0.0}, {1.01, 1.01},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        NexusMemoryConfig c = config_with(1000);
        c.signal_moderate_keep = bad[i][0];
        c.signal_critical_keep = bad[i][1];
        expect_bad_config(c);
    }
    NexusMemoryConfig c = config_with(1000);
    c.signal_moderate_keep = 1.0;
    c.signal_critical_keep = 1.0; /* equal keeps are allowed */
    expect_good_config(c);
}

/* shards > 1 through the C ABI: every key is found, metrics add up over the
 * shards, an entry larger than a shard's share is TOO_LARGE, EMERGENCY keeps
 * the pins of every shard (README, "Shards"). */
static void test_sharded_store(void) {
    /* Shares of 100000: the 100 entries (20000 bytes, spread by a random
     * hash) stay below every shard's working size. */
    NexusMemoryConfig c = config_with(4 * 100000);
    c.shards = 4;
    NexusStore *s = store_from(&c);
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_charged(s, key, 200);
    }
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.entry_count == 100);
    CHECK(m.current_usage == 100 * 200);
    CHECK(m.max_cache_bytes == 400000);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(has(s, key));
    }
    /* 100001 bytes exceed a shard's share of 100000. */
    static uint8_t big[100001 - 3 - OVERHEAD];
    CHECK_STATUS(nexus_store_put(s, KEY("big"), big, sizeof big), NEXUS_STATUS_ERR_TOO_LARGE);
    CHECK(strstr(nexus_last_error_message(), "share") != NULL);
    for (int i = 0; i < 100; i += 10) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_OK(nexus_store_pin(s, KEY(key)));
    }
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_EMERGENCY));
    m = metrics_of(s);
    CHECK(m.entry_count == 10);
    CHECK(m.pinned_count == 10);
    CHECK(m.eviction_count == 90);
    CHECK(m.pressure_level == NEXUS_PRESSURE_LEVEL_EMERGENCY);
    CHECK_OK(nexus_store_free(s));
}

static void test_store_new_bad_sizes_and_strategy(void) {
    NexusMemoryConfig c = config_with(1000);
    c.eviction_batch_size = 0;
    expect_bad_config(c);

    c = config_with(1000);
    c.event_queue_capacity = 0;
    expect_bad_config(c);

    c = config_with(1000);
    c.shards = 0;
    expect_bad_config(c);
    c.shards = 65;
    expect_bad_config(c);
    c.shards = 64;
    expect_good_config(c);

    c = config_with(1000);
    c.strategy = NEXUS_EVICTION_STRATEGY_TINY_LFU + 1;
    expect_bad_config(c);
    c.strategy = 0xFFFFFFFFu;
    expect_bad_config(c);

    for (NexusEvictionStrategy st = NEXUS_EVICTION_STRATEGY_LRU; st <= NEXUS_EVICTION_STRATEGY_TINY_LFU;
         st++) {
        c = config_with(1000);
        c.strategy = st;
        expect_good_config(c);
    }
    c = config_with(1000);
    c.eviction_batch_size = 1;
    c.event_queue_capacity = 1;
    expect_good_config(c);
}

static void test_store_new_struct_size(void) {
    NexusMemoryConfig c = config_with(1000);
    c.struct_size = sizeof(NexusMemoryConfig) + 8; /* a newer header */
    expect_bad_config(c);
    c.struct_size = SIZE_MAX;
    expect_bad_config(c);

    /* Too small to hold max_cache_bytes: the estimator fields are beyond
     * struct_size, so they are not read (and its ctx is not destroyed). */
    c = config_with(1000);
    c.struct_size = 0;
    expect_bad_config_destroying(c, 0);

    c = config_with(1000);
    c.struct_size = sizeof(size_t);
    expect_bad_config_destroying(c, 0);
}

/* A struct_size that ends inside a field is no header's size: refused with
 * the field named, whatever the field holds; fields wholly within it are
 * read (the estimator's ctx is destroyed when its destroy lies within). */
static void test_store_new_torn_struct_size(void) {
    NexusMemoryConfig c = config_with(1000);
    c.struct_size = offsetof(NexusMemoryConfig, shards) + 2;
    expect_bad_config(c);
    CHECK(strstr(nexus_last_error_message(), "NexusMemoryConfig.shards") != NULL);
    CHECK_STATUS(nexus_memory_config_validate(&c), NEXUS_STATUS_ERR_INVALID_ARGUMENT);

    c = config_with(1000);
    c.struct_size = sizeof(NexusMemoryConfig) - 1; /* inside the last field */
    expect_bad_config(c);

    c = config_with(1000);
    c.struct_size = offsetof(NexusMemoryConfig, moderate_threshold) + 4;
    expect_bad_config_destroying(c, 0);
    CHECK(strstr(nexus_last_error_message(), "moderate_threshold") != NULL);

    /* Inside the estimator's function pointer: never read as half a
     * pointer, never called; its ctx and destroy lie beyond. */
    c = config_with(1000);
    c.struct_size = offsetof(NexusMemoryConfig, size_estimator) + 4;
    expect_bad_config_destroying(c, 0);
    CHECK(strstr(nexus_last_error_message(), "size_estimator") != NULL);
}

/* A smaller struct_size (an older header): the trailing fields are not read
 * and take their defaults, whatever garbage lies there. */
static void test_store_new_older_struct_size(void) {
    NexusMemoryConfig c = config_with(1000);
    c.struct_size = offsetof(NexusMemoryConfig, event_queue_capacity);
    c.event_queue_capacity = 0;     /* invalid if it were read */
    c.signal_moderate_keep = NAN;   /* invalid if it were read */
    c.signal_critical_keep = -1.0;  /* invalid if it were read */
    c.signal_decay_ms = UINT64_MAX; /* garbage */
    c.shards = 0;                   /* invalid if it were read */
    NexusStore *s = store_from(&c);
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.max_cache_bytes == 1000); /* fields within struct_size are read */
    /* The default keeps are in force: 0.75 and 0.5 of the working size 700. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(metrics_of(s).effective_budget == 525);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
    CHECK(metrics_of(s).effective_budget == 350);
    CHECK_OK(nexus_store_free(s));

    /* Cut before the estimator: it is neither called nor destroyed, and the
     * default estimator charges key + value + overhead. */
    Estimator est = {0};
    est.fixed = 5;
    c = config_with(1000);
    c.struct_size = offsetof(NexusMemoryConfig, size_estimator);
    c.size_estimator = estimate;
    c.size_estimator_ctx = &est;
    c.size_estimator_destroy = estimator_destroy;
    s = store_from(&c);
    put_str(s, "key", "value");
    CHECK(metrics_of(s).current_usage == charge_of("key", 5));
    CHECK_OK(nexus_store_free(s));
    CHECK(est.calls == 0 && est.destroyed == 0);
}

/* ---- bad handles ------------------------------------------------------------ */

/* Calls every store function on `s` with otherwise valid arguments and
 * expects `st` from each; out-params stay untouched, a put_object takes no
 * ownership, and each callback registration destroys its ctx once. */
static void expect_every_call_fails(NexusStore *s, NexusStatus st) {
    const uint8_t *k = (const uint8_t *)"k";
    uint8_t buf[8] = "unset";
    NexusValue *v = SENTINEL_VALUE;
    size_t n = SENTINEL_SIZE;
    bool b = true;
    NexusKeyList *list = SENTINEL_LIST;
    NexusPressureLevel lvl = 99;
    NexusMemoryMetrics m, m_copy;
    NexusEvent ev, ev_copy;
    char json[16];
    memset(&m, 0xAB, sizeof m);
    memcpy(&m_copy, &m, sizeof m);
    memset(&ev, 0xCD, sizeof ev);
    memcpy(&ev_copy, &ev, sizeof ev);
    memset(json, 'J', sizeof json);

    EXPECT(nexus_store_put(s, k, 1, k, 1), st);
    ReleaseLog rel = {0};
    void *obj = new_obj(1);
    EXPECT(nexus_store_put_object(s, k, 1, obj, 10, release_obj, &rel), st);
    CHECK(rel.released == 0);
    free(obj); /* still ours */
    EXPECT(nexus_store_get(s, k, 1, &v), st);
    CHECK(v == SENTINEL_VALUE);
    EXPECT(nexus_store_get_copy(s, k, 1, buf, sizeof buf, &n), st);
    CHECK(n == SENTINEL_SIZE && strcmp((char *)buf, "unset") == 0);
    EXPECT(nexus_store_contains(s, k, 1, &b), st);
    CHECK(b == true);
    EXPECT(nexus_store_remove(s, k, 1), st);
    EXPECT(nexus_store_clear(s, &n), st);
    CHECK(n == SENTINEL_SIZE);
    EXPECT(nexus_store_pin(s, k, 1), st);
    EXPECT(nexus_store_unpin(s, k, 1), st);
    EXPECT(nexus_store_is_pinned(s, k, 1, &b), st);
    CHECK(b == true);
    EXPECT(nexus_store_pinned_ids(s, &list), st);
    CHECK(list == SENTINEL_LIST);
    EXPECT(nexus_store_evict_lru(s, 1, &n), st);
    EXPECT(nexus_store_evict(s, 1, &n), st);
    EXPECT(nexus_store_clear_unpinned(s, &n), st);
    CHECK(n == SENTINEL_SIZE);
    EXPECT(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE), st);
    EXPECT(nexus_store_pressure_level(s, &lvl), st);
    CHECK(lvl == 99);
    EXPECT(nexus_store_set_max_bytes(s, 1000), st);
    EXPECT(nexus_store_memory_metrics(s, &m), st);
    CHECK(memcmp(&m, &m_copy, sizeof m) == 0);
    EXPECT(nexus_store_metrics_json(s, json, sizeof json, &n), st);
    EXPECT(nexus_store_metrics_json(s, NULL, 0, &n), st);
    CHECK(n == SENTINEL_SIZE && json[0] == 'J');
    EXPECT(nexus_store_reset_metrics(s), st);
    EXPECT(nexus_store_poll_event(s, &ev), st);
    CHECK(memcmp(&ev, &ev_copy, sizeof ev) == 0);
    EXPECT(nexus_store_get_or_load(s, k, 1, &v), st);
    CHECK(v == SENTINEL_VALUE);
    EXPECT(nexus_store_debug_panic(s), st);

    EventLog evlog = {0};
    EXPECT(nexus_store_set_event_callback(s, on_event, &evlog, event_log_destroy), st);
    CHECK(evlog.destroyed == 1 && evlog.count == 0);
    Listener lis = {0};
    EXPECT(nexus_store_set_eviction_listener(s, on_evicted, &lis, listener_destroy), st);
    CHECK(lis.destroyed == 1 && lis.count == 0);
    Destroyed d = {0};
    EXPECT(nexus_store_set_loader(s, NULL, &d, count_destroy), st);
    CHECK(d.destroyed == 1);
}

static void test_null_store(void) {
    CHECK_OK(nexus_store_free(NULL));
    expect_every_call_fails(NULL, NEXUS_STATUS_ERR_NULL_ARGUMENT);
}

static void test_stale_handle(void) {
    NexusStore *s = new_store(1000);
    put_str(s, "k", "v");
    CHECK_OK(nexus_store_free(s));
    expect_every_call_fails(s, NEXUS_STATUS_ERR_INVALID_HANDLE);
    EXPECT(nexus_store_free(s), NEXUS_STATUS_ERR_INVALID_HANDLE); /* double free */
    EXPECT(nexus_store_free(s), NEXUS_STATUS_ERR_INVALID_HANDLE);

    /* New stores reuse the slot; the stale handle never reaches them. */
    int rounds = under_valgrind() ? 50 : 500;
    for (int i = 0; i < rounds; i++) {
        NexusStore *t = new_store(0);
        put_str(t, "k", "new");
        EXPECT(nexus_store_put(s, KEY("k"), NULL, 0), NEXUS_STATUS_ERR_INVALID_HANDLE);
        EXPECT(nexus_store_remove(s, KEY("k")), NEXUS_STATUS_ERR_INVALID_HANDLE);
        EXPECT(nexus_store_free(s), NEXUS_STATUS_ERR_INVALID_HANDLE);
        CHECK(has(t, "k"));
        CHECK_OK(nexus_store_free(t));
        EXPECT(nexus_store_free(t), NEXUS_STATUS_ERR_INVALID_HANDLE);
    }
}

static void test_made_up_handles(void) {
    NexusStore *live = new_store(0); /* so that some slots exist */
    NexusStore *fake[] = {
        (NexusStore *)(uintptr_t)0x12345,
        (NexusStore *)(uintptr_t)0x1, /* slot 0, generation 0: never issued */
        (NexusStore *)(uintptr_t)UINTPTR_MAX,
        (NexusStore *)(uintptr_t)((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1)),
    };
    for (size_t i = 0; i < sizeof fake / sizeof fake[0]; i++) {
        expect_every_call_fails(fake[i], NEXUS_STATUS_ERR_INVALID_HANDLE);
        EXPECT(nexus_store_free(fake[i]), NEXUS_STATUS_ERR_INVALID_HANDLE);
    }
    CHECK(metrics_of(live).entry_count == 0);
    CHECK_OK(nexus_store_free(live));
}

/* The init functions write only the caller's struct: `_sized` as much as
 * the caller's header declares (an older header's struct, followed here by
 * bytes that must stay as they were), the plain ones this header's size,
 * and neither anything for NULL or a size that cannot hold struct_size. */
#define CANARY 0xEE
static int bytes_from_are(const unsigned char *b, size_t from, size_t to, unsigned char v) {
    for (size_t i = from; i < to; i++)
        if (b[i] != v) return 0;
    return 1;
}

/* `init_sized` on an older header's struct (ending at byte `older_end`)
 * writes only that struct; the plain `init` writes this header's size and
 * not a byte more. */
#define CHECK_INIT_WRITES_ONLY(T, init, init_sized, older_end)           \
    do {                                                               \
        union {                                                        \
            T c;                                                       \
            unsigned char b[sizeof(T) + 32];                           \
        } u_;                                                          \
        size_t older_ = (older_end);                                   \
        memset(&u_, CANARY, sizeof u_);                                \
        init_sized(&u_.c, older_);                                     \
        CHECK(u_.c.struct_size == older_);                             \
        CHECK(bytes_from_are(u_.b, older_, sizeof u_.b, CANARY));      \
        memset(&u_, CANARY, sizeof u_);                                \
        init(&u_.c);                                                   \
        CHECK(u_.c.struct_size == sizeof(T));                          \
        CHECK(bytes_from_are(u_.b, sizeof(T), sizeof u_.b, CANARY));   \
    } while (0)

static void test_init_functions_write_only_the_callers_size(void) {
    CHECK_INIT_WRITES_ONLY(NexusMemoryConfig, nexus_memory_config_init,
                           nexus_memory_config_init_sized,
                           offsetof(NexusMemoryConfig, max_entries));
    CHECK_INIT_WRITES_ONLY(NexusMonitorConfig, nexus_monitor_config_init,
                           nexus_monitor_config_init_sized,
                           offsetof(NexusMonitorConfig, budget_fraction));
    CHECK_INIT_WRITES_ONLY(NexusGovernorConfig, nexus_governor_config_init,
                           nexus_governor_config_init_sized,
                           offsetof(NexusGovernorConfig, event_queue_capacity));
    CHECK_INIT_WRITES_ONLY(NexusGovernorMember, nexus_governor_member_init,
                           nexus_governor_member_init_sized,
                           offsetof(NexusGovernorMember, ceiling_bytes));

    /* An older header's config, as `_sized` left it, makes a store. */
    union {
        NexusMemoryConfig c;
        unsigned char b[sizeof(NexusMemoryConfig) + 32];
    } m;
    memset(&m, CANARY, sizeof m);
    nexus_memory_config_init_sized(&m.c, offsetof(NexusMemoryConfig, max_entries));
    m.c.max_cache_bytes = 1000;
    NexusStore *s = store_from(&m.c);
    CHECK(metrics_of(s).max_cache_bytes == 1000);
    CHECK_OK(nexus_store_free(s));

    /* NULL, or a size that cannot hold struct_size: nothing written. */
    memset(&m, CANARY, sizeof m);
    nexus_memory_config_init_sized(&m.c, sizeof(size_t) - 1);
    nexus_memory_config_init_sized(NULL, sizeof m.c);
    CHECK(bytes_from_are(m.b, 0, sizeof m.b, CANARY));
}

int main(void) {
    RUN(test_version);
    RUN(test_enum_names);
    RUN(test_status_str);
    RUN(test_last_error_message);
    RUN(test_config_init_defaults);
    RUN(test_store_new_null_arguments);
    RUN(test_store_new_bad_thresholds);
    RUN(test_store_new_bad_keeps);
    RUN(test_store_new_bad_sizes_and_strategy);
    RUN(test_sharded_store);
    RUN(test_store_new_struct_size);
    RUN(test_store_new_older_struct_size);
    RUN(test_store_new_torn_struct_size);
    RUN(test_init_functions_write_only_the_callers_size);
    RUN(test_null_store);
    RUN(test_stale_handle);
    RUN(test_made_up_handles);
    FINISH();
}
