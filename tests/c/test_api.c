/* test_api.c — every function of nexus_store.h, every status code, and the
 * bad inputs of the ARGUMENTS / OWNERSHIP sections of the header.
 *
 * Each test is a small static function run with RUN(...). EXPECT() checks a
 * status, that a message was left for nexus_last_error_message(), and
 * records the status so the last test can verify every status code was
 * provoked at least once. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

/* ---- helpers ------------------------------------------------------------ */

static int seen_status[NEXUS_STATUS_ERR_PANIC + 1];

#define EXPECT(call, status)                                                         \
    do {                                                                             \
        CHECK_STATUS(call, status);                                                  \
        CHECK(nexus_last_error_message() != NULL);                                   \
        seen_status[(status)]++;                                                     \
    } while (0)

#define OVERHEAD ((uint64_t)NEXUS_ENTRY_OVERHEAD_BYTES)
/* 1 << 62 on 64-bit: a representable length no allocator can satisfy. */
#define HUGE_LEN ((size_t)1 << (sizeof(size_t) * 8 - 2))
#define BEYOND_PTRDIFF ((size_t)PTRDIFF_MAX + 1)

/* Sentinels for out-params: compared, never dereferenced. */
#define SENTINEL_STORE ((NexusStore *)(uintptr_t)0x5e5e1)
#define SENTINEL_VALUE ((NexusValue *)(uintptr_t)0x5e5e2)
#define SENTINEL_LIST ((NexusKeyList *)(uintptr_t)0x5e5e3)
#define SENTINEL_SIZE ((size_t)0x5e5e4)

static uint8_t filler[4096];

static NexusMemoryConfig config_with(uint64_t max) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.max_cache_bytes = max;
    return c;
}

static NexusStore *store_from(const NexusMemoryConfig *c) {
    NexusStore *s = NULL;
    CHECK_OK(nexus_store_new(c, &s));
    CHECK(s != NULL);
    return s;
}

static NexusMemoryMetrics metrics_of(NexusStore *s) {
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    return m;
}

static int same_metrics(const NexusMemoryMetrics *a, const NexusMemoryMetrics *b) {
    return a->current_usage == b->current_usage && a->max_usage == b->max_usage &&
           a->eviction_count == b->eviction_count && a->pressure_level == b->pressure_level &&
           a->entry_count == b->entry_count && a->pinned_count == b->pinned_count &&
           a->pinned_bytes == b->pinned_bytes && a->in_use_bytes == b->in_use_bytes &&
           a->hit_count == b->hit_count && a->miss_count == b->miss_count &&
           a->insert_count == b->insert_count && a->evicted_bytes == b->evicted_bytes &&
           a->load_count == b->load_count && a->load_failure_count == b->load_failure_count &&
           a->max_cache_bytes == b->max_cache_bytes && a->effective_budget == b->effective_budget;
}

/* The default estimator's charge of a bytes entry. */
static uint64_t charge_of(const char *key, size_t value_len) {
    return (uint64_t)strlen(key) + value_len + OVERHEAD;
}

/* Puts `key` with a value sized so that the default estimator charges `charge`. */
static void put_charged(NexusStore *s, const char *key, uint64_t charge) {
    CHECK(charge >= charge_of(key, 0) && charge - charge_of(key, 0) <= sizeof filler);
    CHECK_OK(nexus_store_put(s, KEY(key), filler, (size_t)(charge - charge_of(key, 0))));
}

/* Puts k0..k(n-1), each charged 200 by the default estimator. */
static void fill(NexusStore *s, int n) {
    char key[16];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_charged(s, key, 200);
    }
}

static void put_str(NexusStore *s, const char *key, const char *value) {
    CHECK_OK(nexus_store_put(s, KEY(key), (const uint8_t *)value, strlen(value)));
}

static bool has(NexusStore *s, const char *key) {
    bool b = false;
    CHECK_OK(nexus_store_contains(s, KEY(key), &b));
    return b;
}

static bool pinned(NexusStore *s, const char *key) {
    bool b = false;
    CHECK_OK(nexus_store_is_pinned(s, KEY(key), &b));
    return b;
}

static NexusPressureLevel level_of(NexusStore *s) {
    NexusPressureLevel l = 99;
    CHECK_OK(nexus_store_pressure_level(s, &l));
    return l;
}

/* Whether a value handle holds exactly the bytes of `str`. */
static bool value_is(const NexusValue *v, const char *str) {
    size_t n = strlen(str);
    return v != NULL && nexus_value_len(v) == n && nexus_value_data(v) != NULL &&
           memcmp(nexus_value_data(v), str, n) == 0;
}

/* ---- callback contexts ----------------------------------------------------- */

typedef struct {
    int destroyed;
} Destroyed;

static void count_destroy(void *ctx) { ((Destroyed *)ctx)->destroyed++; }

/* Objects are malloc'd ints; release frees them, so a missing release is a
 * leak and a double release a double free (both caught by ASan/valgrind). */
typedef struct {
    int released;
    void *last;
} ReleaseLog;

static void release_obj(void *ctx, void *object) {
    ReleaseLog *log = ctx;
    log->released++;
    log->last = object;
    free(object);
}

static void *new_obj(int tag) {
    int *p = malloc(sizeof *p);
    CHECK(p != NULL);
    *p = tag;
    return p;
}

/* A size estimator: a fixed charge, a growing one (100, 200, ... for the
 * same input), and HUGE_CHARGE when `huge` is set or the key starts with
 * "huge". */
#define HUGE_CHARGE (SIZE_MAX - 1) /* SIZE_MAX is NEXUS_CHARGE_DEFAULT */
typedef struct {
    bool growing;
    bool huge; /* every estimate is HUGE_CHARGE */
    size_t fixed;
    int calls;
    int destroyed;
    const void *last_value;
    size_t last_value_len;
    size_t last_key_len;
} Estimator;

static size_t estimate(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                       size_t value_len) {
    Estimator *e = ctx;
    e->calls++;
    e->last_value = value;
    e->last_value_len = value_len;
    e->last_key_len = key_len;
    if (e->huge || (key_len >= 4 && memcmp(key, "huge", 4) == 0)) return HUGE_CHARGE;
    return e->growing ? (size_t)e->calls * 100 : e->fixed;
}

static void estimator_destroy(void *ctx) { ((Estimator *)ctx)->destroyed++; }

/* An eviction listener that logs keys and reasons; optionally it tries to
 * free a store from inside the callback. */
#define LOG_MAX 64
typedef struct {
    int count;
    char keys[LOG_MAX][16];
    NexusEvictionReason reasons[LOG_MAX];
    uint64_t bytes[LOG_MAX];
    int destroyed;
    NexusStore *free_me;
    NexusStatus free_status;
} Listener;

static void on_evicted(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                   uint64_t bytes) {
    Listener *l = ctx;
    if (l->count < LOG_MAX) {
        size_t n = key_len < 15 ? key_len : 15;
        if (n > 0) memcpy(l->keys[l->count], key, n);
        l->keys[l->count][n] = '\0';
        l->reasons[l->count] = reason;
        l->bytes[l->count] = bytes;
    }
    l->count++;
    if (l->free_me != NULL) l->free_status = nexus_store_free(l->free_me);
}

static void listener_destroy(void *ctx) { ((Listener *)ctx)->destroyed++; }

/* Whether the listener heard exactly `keys` ("a,b,c"), all for `reason`;
 * then forgets them. */
static bool heard(Listener *l, const char *keys, NexusEvictionReason reason) {
    char joined[LOG_MAX * 17] = "";
    bool ok = l->count <= LOG_MAX;
    for (int i = 0; ok && i < l->count; i++) {
        if (i > 0) strcat(joined, ",");
        strcat(joined, l->keys[i]);
        ok = l->reasons[i] == reason;
    }
    ok = ok && strcmp(joined, keys) == 0;
    if (!ok) fprintf(stderr, "  listener heard \"%s\", expected \"%s\"\n", joined, keys);
    l->count = 0;
    return ok;
}

typedef struct {
    int count;
    NexusEvent last;
    int destroyed;
} EventLog;

static void on_event(void *ctx, const NexusEvent *e) {
    EventLog *log = ctx;
    log->count++;
    log->last = *e;
}

static void event_log_destroy(void *ctx) { ((EventLog *)ctx)->destroyed++; }

/* ---- version, statuses, messages -------------------------------------------- */

static void test_version(void) {
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", NEXUS_VERSION_MAJOR, NEXUS_VERSION_MINOR,
             NEXUS_VERSION_PATCH);
    CHECK(nexus_version() != NULL);
    CHECK(strcmp(nexus_version(), expected) == 0);
    CHECK(nexus_version() == nexus_version()); /* static */
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
    c.strategy = 3;
    expect_bad_config(c);
    c.strategy = 0xFFFFFFFFu;
    expect_bad_config(c);

    for (NexusEvictionStrategy st = NEXUS_EVICTION_STRATEGY_LRU; st <= NEXUS_EVICTION_STRATEGY_SIZE;
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

/* ---- keys, values and lengths ------------------------------------------------ */

static void test_null_with_length(void) {
    NexusStore *s = new_store(0);
    put_str(s, "k", "v");
    NexusMemoryMetrics before = metrics_of(s);
    NexusValue *v = SENTINEL_VALUE;
    size_t n = SENTINEL_SIZE;
    bool b = true;
    uint8_t buf[4];
    ReleaseLog rel = {0};
    void *obj = new_obj(2);

    EXPECT(nexus_store_put(s, NULL, 1, (const uint8_t *)"v", 1), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_put(s, KEY("k"), NULL, 3), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_put_object(s, NULL, 2, obj, 10, release_obj, &rel),
           NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(rel.released == 0);
    free(obj);
    EXPECT(nexus_store_get(s, NULL, 1, &v), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_get_copy(s, NULL, 1, buf, sizeof buf, &n), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_get_copy(s, KEY("k"), NULL, 4, &n), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_contains(s, NULL, 1, &b), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_remove(s, NULL, 1), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_pin(s, NULL, 1), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_unpin(s, NULL, 1), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_is_pinned(s, NULL, 1, &b), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_get_or_load(s, NULL, 1, &v), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(v == SENTINEL_VALUE && n == SENTINEL_SIZE && b == true);

    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK(!pinned(s, ""));
    CHECK_OK(nexus_store_free(s));
}

static void test_empty_key_and_value(void) {
    NexusStore *s = new_store(0);
    NexusValue *v = NULL;
    size_t n = SENTINEL_SIZE;
    bool b = false;

    /* Empty key (NULL, 0) with a value. */
    CHECK_OK(nexus_store_put(s, NULL, 0, (const uint8_t *)"v0", 2));
    CHECK_OK(nexus_store_contains(s, NULL, 0, &b));
    CHECK(b);
    CHECK(has(s, "")); /* a non-NULL pointer with length 0 is the same key */
    CHECK_OK(nexus_store_get(s, NULL, 0, &v));
    CHECK(value_is(v, "v0"));
    nexus_value_release(v);
    CHECK(metrics_of(s).current_usage == charge_of("", 2));

    /* Empty value (NULL, 0): a non-NULL data pointer with length 0. */
    CHECK_OK(nexus_store_put(s, KEY("e"), NULL, 0));
    v = NULL;
    CHECK_OK(nexus_store_get(s, KEY("e"), &v));
    CHECK(v != NULL && nexus_value_len(v) == 0 && nexus_value_data(v) != NULL);
    CHECK(nexus_value_object(v) == NULL);
    nexus_value_release(v);
    CHECK_OK(nexus_store_get_copy(s, KEY("e"), NULL, 0, &n));
    CHECK(n == 0);

    /* Empty key and empty value together. */
    CHECK_OK(nexus_store_put(s, NULL, 0, NULL, 0));
    CHECK_OK(nexus_store_get(s, KEY(""), &v));
    CHECK(nexus_value_len(v) == 0);
    nexus_value_release(v);
    CHECK(metrics_of(s).current_usage == charge_of("", 0) + charge_of("e", 0));

    CHECK_OK(nexus_store_remove(s, NULL, 0));
    EXPECT(nexus_store_remove(s, NULL, 0), NEXUS_STATUS_NOT_FOUND);
    CHECK_OK(nexus_store_contains(s, NULL, 0, &b));
    CHECK(!b);
    CHECK_OK(nexus_store_remove(s, KEY("e")));
    CHECK(metrics_of(s).current_usage == 0);
    CHECK_OK(nexus_store_free(s));
}

static void test_lengths_near_size_max(void) {
    NexusStore *s = new_store(0);
    put_str(s, "k", "value");
    NexusMemoryMetrics before = metrics_of(s);
    const uint8_t small[8] = "smallbuf";
    uint8_t buf[8];
    const size_t bad[] = {SIZE_MAX, BEYOND_PTRDIFF};
    NexusValue *v = SENTINEL_VALUE;
    size_t n = SENTINEL_SIZE;
    bool b = true;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = bad[i];
        EXPECT(nexus_store_put(s, small, len, small, 1), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_put(s, small, 1, small, len), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        ReleaseLog rel = {0};
        void *obj = new_obj(3);
        EXPECT(nexus_store_put_object(s, small, len, obj, 10, release_obj, &rel),
               NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        CHECK(rel.released == 0);
        free(obj);
        EXPECT(nexus_store_get(s, small, len, &v), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_get_copy(s, small, len, buf, sizeof buf, &n),
               NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_get_copy(s, KEY("k"), buf, len, &n), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_contains(s, small, len, &b), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_remove(s, small, len), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_pin(s, small, len), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_unpin(s, small, len), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_is_pinned(s, small, len, &b), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        EXPECT(nexus_store_get_or_load(s, small, len, &v), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    }
    CHECK(v == SENTINEL_VALUE && n == SENTINEL_SIZE && b == true);
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK_OK(nexus_store_free(s));
}

/* A representable but unallocatable length: the library allocates before it
 * reads, so a valid small pointer is never over-read. Nothing is lost. */
static void test_huge_length_out_of_memory(void) {
    NexusStore *s = new_store(0);
    put_str(s, "k", "value");
    NexusMemoryMetrics before = metrics_of(s);
    const uint8_t small[8] = "smallbuf";

    EXPECT(nexus_store_put(s, KEY("k"), small, HUGE_LEN), NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    EXPECT(nexus_store_put(s, KEY("other"), small, HUGE_LEN), NEXUS_STATUS_ERR_OUT_OF_MEMORY);
    EXPECT(nexus_store_put(s, small, HUGE_LEN, small, 1), NEXUS_STATUS_ERR_OUT_OF_MEMORY);

    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get(s, KEY("k"), &v));
    CHECK(value_is(v, "value"));
    nexus_value_release(v);
    CHECK(!has(s, "other"));
    CHECK_OK(nexus_store_free(s));
}

/* ---- out-pointers ------------------------------------------------------------ */

static void test_null_out_pointers(void) {
    NexusStore *s = new_store(0);
    put_str(s, "k", "value");
    CHECK_OK(nexus_store_pin(s, KEY("k")));
    put_str(s, "j", "other");
    NexusMemoryMetrics before = metrics_of(s);

    EXPECT(nexus_store_get(s, KEY("k"), NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_get_copy(s, KEY("k"), NULL, 0, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_contains(s, KEY("k"), NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_is_pinned(s, KEY("k"), NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_pinned_ids(s, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_clear(s, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_evict_lru(s, 10, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_evict(s, 10, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_clear_unpinned(s, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_pressure_level(s, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_memory_metrics(s, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_metrics_json(s, NULL, 0, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    char json[4096];
    EXPECT(nexus_store_metrics_json(s, json, sizeof json, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    size_t n = SENTINEL_SIZE;
    EXPECT(nexus_store_metrics_json(s, NULL, 16, &n), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(n == SENTINEL_SIZE);
    EXPECT(nexus_store_poll_event(s, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_get_or_load(s, KEY("k"), NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);

    /* Nothing was cleared or evicted by the refused calls. */
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK(has(s, "k") && has(s, "j") && pinned(s, "k"));
    CHECK_OK(nexus_store_free(s));
}

static void test_out_params_on_other_failures(void) {
    NexusStore *s = new_store(0);
    NexusValue *v = SENTINEL_VALUE;
    size_t n = SENTINEL_SIZE;
    NexusEvent ev, ev_copy;
    memset(&ev, 0xCD, sizeof ev);
    memcpy(&ev_copy, &ev, sizeof ev);

    EXPECT(nexus_store_get(s, KEY("absent"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(v == SENTINEL_VALUE);
    EXPECT(nexus_store_get_or_load(s, KEY("absent"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(v == SENTINEL_VALUE);
    EXPECT(nexus_store_get_copy(s, KEY("absent"), NULL, 0, &n), NEXUS_STATUS_NOT_FOUND);
    CHECK(n == SENTINEL_SIZE);
    EXPECT(nexus_store_poll_event(s, &ev), NEXUS_STATUS_EMPTY);
    CHECK(memcmp(&ev, &ev_copy, sizeof ev) == 0);
    CHECK_OK(nexus_store_free(s));
}

static void test_get_copy(void) {
    NexusStore *s = new_store(0);
    put_str(s, "k", "hello");
    uint8_t buf[16];
    size_t n = SENTINEL_SIZE;

    /* Size query: NULL buffer, length 0; not a hit. */
    NexusMemoryMetrics before = metrics_of(s);
    EXPECT(nexus_store_get_copy(s, KEY("k"), NULL, 0, &n), NEXUS_STATUS_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 5);
    /* One byte short: the size is reported, the buffer left alone. */
    memset(buf, '#', sizeof buf);
    n = SENTINEL_SIZE;
    EXPECT(nexus_store_get_copy(s, KEY("k"), buf, 4, &n), NEXUS_STATUS_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 5);
    for (size_t i = 0; i < sizeof buf; i++) CHECK(buf[i] == '#');
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(after.hit_count == before.hit_count && after.miss_count == before.miss_count);

    /* Exact size, then a larger buffer. */
    n = SENTINEL_SIZE;
    CHECK_OK(nexus_store_get_copy(s, KEY("k"), buf, 5, &n));
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0 && buf[5] == '#');
    n = SENTINEL_SIZE;
    CHECK_OK(nexus_store_get_copy(s, KEY("k"), buf, sizeof buf, &n));
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(metrics_of(s).hit_count == before.hit_count + 2);

    /* A miss; an object value. */
    n = SENTINEL_SIZE;
    EXPECT(nexus_store_get_copy(s, KEY("absent"), buf, sizeof buf, &n), NEXUS_STATUS_NOT_FOUND);
    CHECK(n == SENTINEL_SIZE);
    CHECK(metrics_of(s).miss_count == before.miss_count + 1);
    ReleaseLog rel = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("obj"), new_obj(4), 64, release_obj, &rel));
    EXPECT(nexus_store_get_copy(s, KEY("obj"), buf, sizeof buf, &n),
           NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    EXPECT(nexus_store_get_copy(s, KEY("obj"), NULL, 0, &n), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(n == SENTINEL_SIZE);
    CHECK_OK(nexus_store_free(s));
    CHECK(rel.released == 1);
}

/* The unsigned integer after "key": in a JSON object. */
static bool json_u64(const char *json, const char *key, uint64_t *out) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr(json, quoted);
    if (p == NULL) return false;
    p += strlen(quoted);
    while (*p == ' ') p++;
    if (*p++ != ':') return false;
    while (*p == ' ') p++;
    if (*p < '0' || *p > '9') return false;
    char *end = NULL;
    *out = (uint64_t)strtoull(p, &end, 10);
    return end != p;
}

static void test_metrics_json(void) {
    NexusStore *s = new_store(5000);
    put_str(s, "a", "1");
    put_str(s, "b", "22");
    CHECK_OK(nexus_store_pin(s, KEY("a")));
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get(s, KEY("b"), &v));
    nexus_value_release(v);
    EXPECT(nexus_store_get(s, KEY("zz"), &v), NEXUS_STATUS_NOT_FOUND);

    /* Size query. */
    size_t needed = SENTINEL_SIZE;
    EXPECT(nexus_store_metrics_json(s, NULL, 0, &needed), NEXUS_STATUS_ERR_BUFFER_TOO_SMALL);
    CHECK(needed > 2 && needed < 4096);

    /* One byte short (no room for the NUL): the buffer is left alone. */
    char *buf = malloc(needed + 8);
    CHECK(buf != NULL);
    memset(buf, '#', needed + 8);
    size_t n = SENTINEL_SIZE;
    EXPECT(nexus_store_metrics_json(s, buf, needed - 1, &n), NEXUS_STATUS_ERR_BUFFER_TOO_SMALL);
    CHECK(n == needed);
    for (size_t i = 0; i < needed + 8; i++) CHECK(buf[i] == '#');

    /* Exact size: NUL-terminated, the size counts the NUL. */
    n = SENTINEL_SIZE;
    CHECK_OK(nexus_store_metrics_json(s, buf, needed, &n));
    CHECK(n == needed);
    CHECK(buf[needed - 1] == '\0' && strlen(buf) == needed - 1 && buf[needed] == '#');
    CHECK(buf[0] == '{' && buf[needed - 2] == '}');

    NexusMemoryMetrics m = metrics_of(s);
    static const char *fields[] = {
        "current_usage", "max_usage",      "eviction_count",     "pressure_level",
        "entry_count",   "pinned_count",   "pinned_bytes",       "in_use_bytes",
        "hit_count",     "miss_count",     "insert_count",       "evicted_bytes",
        "load_count",    "load_failure_count", "max_cache_bytes", "effective_budget",
    };
    const uint64_t values[] = {
        m.current_usage, m.max_usage,  m.eviction_count, m.pressure_level,
        m.entry_count,   m.pinned_count, m.pinned_bytes, m.in_use_bytes,
        m.hit_count,     m.miss_count, m.insert_count,   m.evicted_bytes,
        m.load_count,    m.load_failure_count, m.max_cache_bytes, m.effective_budget,
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        uint64_t got = 0;
        CHECK(json_u64(buf, fields[i], &got));
        CHECK(got == values[i]);
    }
    CHECK(m.entry_count == 2 && m.pinned_count == 1 && m.hit_count == 1 && m.miss_count == 1);
    CHECK(m.max_cache_bytes == 5000);

    /* A larger buffer works too, and reports the same size. */
    char big[4096];
    n = 0;
    CHECK_OK(nexus_store_metrics_json(s, big, sizeof big, &n));
    CHECK(n == needed && strcmp(big, buf) == 0);
    free(buf);
    CHECK_OK(nexus_store_free(s));
}

/* ---- entries and value handles --------------------------------------------- */

static void test_put_get_contains_remove_clear(void) {
    NexusStore *s = new_store(0);
    NexusValue *v = NULL;

    put_str(s, "alpha", "one");
    put_str(s, "beta", "two");
    CHECK(has(s, "alpha") && has(s, "beta") && !has(s, "gamma"));
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.entry_count == 2 && m.insert_count == 2);
    CHECK(m.current_usage == charge_of("alpha", 3) + charge_of("beta", 3));
    CHECK(m.max_usage == m.current_usage);
    CHECK(m.hit_count == 0 && m.miss_count == 0); /* contains is not a read */

    CHECK_OK(nexus_store_get(s, KEY("alpha"), &v));
    CHECK(value_is(v, "one"));
    nexus_value_release(v);

    /* Replace: a new value, a new charge, an insert; no eviction. */
    put_str(s, "alpha", "uno-dos");
    CHECK_OK(nexus_store_get(s, KEY("alpha"), &v));
    CHECK(value_is(v, "uno-dos"));
    nexus_value_release(v);
    m = metrics_of(s);
    CHECK(m.entry_count == 2 && m.insert_count == 3 && m.hit_count == 2);
    CHECK(m.current_usage == charge_of("alpha", 7) + charge_of("beta", 3));
    CHECK(m.eviction_count == 0);

    /* Remove. */
    CHECK_OK(nexus_store_remove(s, KEY("beta")));
    CHECK(!has(s, "beta"));
    EXPECT(nexus_store_remove(s, KEY("beta")), NEXUS_STATUS_NOT_FOUND);
    v = SENTINEL_VALUE;
    EXPECT(nexus_store_get(s, KEY("beta"), &v), NEXUS_STATUS_NOT_FOUND);
    CHECK(v == SENTINEL_VALUE);
    m = metrics_of(s);
    CHECK(m.entry_count == 1 && m.miss_count == 1 && m.eviction_count == 0);
    CHECK(m.current_usage == charge_of("alpha", 7));

    /* Keys are byte strings: embedded NULs and prefixes are distinct. */
    const uint8_t k1[] = {'a', 0, 'b'};
    const uint8_t k2[] = {'a', 0, 'c'};
    CHECK_OK(nexus_store_put(s, k1, 3, (const uint8_t *)"x", 1));
    CHECK_OK(nexus_store_put(s, k2, 3, (const uint8_t *)"y", 1));
    CHECK_OK(nexus_store_put(s, k1, 1, (const uint8_t *)"z", 1)); /* "a" */
    CHECK(metrics_of(s).entry_count == 4);
    CHECK_OK(nexus_store_get(s, k2, 3, &v));
    CHECK(value_is(v, "y"));
    nexus_value_release(v);

    /* Clear: every entry, with the count. */
    size_t removed = SENTINEL_SIZE;
    CHECK_OK(nexus_store_clear(s, &removed));
    CHECK(removed == 4);
    m = metrics_of(s);
    CHECK(m.entry_count == 0 && m.current_usage == 0 && m.eviction_count == 0);
    CHECK_OK(nexus_store_clear(s, &removed));
    CHECK(removed == 0);
    CHECK_OK(nexus_store_free(s));
}

static void test_value_handles(void) {
    /* NULL handles. */
    CHECK(nexus_value_data(NULL) == NULL);
    CHECK(nexus_value_len(NULL) == 0);
    CHECK(nexus_value_object(NULL) == NULL);
    nexus_value_release(NULL);

    NexusStore *s = new_store(0);
    put_str(s, "k", "hello");
    NexusValue *h1 = NULL, *h2 = NULL, *h3 = NULL;
    CHECK_OK(nexus_store_get(s, KEY("k"), &h1));
    CHECK(value_is(h1, "hello") && nexus_value_object(h1) == NULL);
    CHECK_OK(nexus_store_get(s, KEY("k"), &h2)); /* two handles on one value */
    CHECK(h1 != h2 && nexus_value_data(h1) == nexus_value_data(h2));
    CHECK(metrics_of(s).in_use_bytes == charge_of("k", 5));
    nexus_value_release(h2);
    CHECK(metrics_of(s).in_use_bytes == charge_of("k", 5));

    /* The handle outlives the removal of its entry... */
    CHECK_OK(nexus_store_remove(s, KEY("k")));
    CHECK(!has(s, "k"));
    CHECK(value_is(h1, "hello"));
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.current_usage == 0 && m.in_use_bytes == charge_of("k", 5));

    /* ...and a replaced value stays as it was in its handle. */
    put_str(s, "r", "first");
    CHECK_OK(nexus_store_get(s, KEY("r"), &h2));
    put_str(s, "r", "second");
    CHECK(value_is(h2, "first"));
    CHECK_OK(nexus_store_get(s, KEY("r"), &h3));
    CHECK(value_is(h3, "second"));

    /* ...and the store's free. */
    CHECK_OK(nexus_store_free(s));
    CHECK(value_is(h1, "hello"));
    CHECK(value_is(h2, "first"));
    CHECK(value_is(h3, "second"));
    nexus_value_release(h1);
    nexus_value_release(h2);
    nexus_value_release(h3);

    /* An in_use value is released from the count when its handle goes. */
    s = new_store(0);
    put_str(s, "k", "v");
    CHECK_OK(nexus_store_get(s, KEY("k"), &h1));
    nexus_value_release(h1);
    CHECK(metrics_of(s).in_use_bytes == 0);
    CHECK_OK(nexus_store_free(s));
}

/* ---- objects and release ----------------------------------------------------- */

static void test_object_values(void) {
    NexusStore *s = new_store(0);
    ReleaseLog rel = {0};
    void *obj = new_obj(7);
    CHECK_OK(nexus_store_put_object(s, KEY("tex"), obj, 4096, release_obj, &rel));
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get(s, KEY("tex"), &v));
    CHECK(nexus_value_object(v) == obj && *(int *)nexus_value_object(v) == 7);
    CHECK(nexus_value_data(v) == NULL && nexus_value_len(v) == 0);
    nexus_value_release(v);
    CHECK(metrics_of(s).current_usage == 4096); /* charged `cost` */
    CHECK(rel.released == 0);

    /* Default estimator for an object (cost 0): key length + overhead. */
    ReleaseLog rel2 = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("obj0"), new_obj(8), 0, release_obj, &rel2));
    CHECK(metrics_of(s).current_usage == 4096 + charge_of("obj0", 0));

    /* A NULL release function: nothing to release. */
    static int not_owned = 9;
    CHECK_OK(nexus_store_put_object(s, KEY("static"), &not_owned, 10, NULL, NULL));
    CHECK_OK(nexus_store_get(s, KEY("static"), &v));
    CHECK(nexus_value_object(v) == &not_owned);
    nexus_value_release(v);
    CHECK_OK(nexus_store_remove(s, KEY("static")));

    /* A NULL object is a valid object too. */
    CHECK_OK(nexus_store_put_object(s, KEY("null"), NULL, 10, NULL, NULL));
    CHECK_OK(nexus_store_get(s, KEY("null"), &v));
    CHECK(nexus_value_object(v) == NULL && nexus_value_data(v) == NULL);
    nexus_value_release(v);

    CHECK_OK(nexus_store_free(s));
    CHECK(rel.released == 1 && rel.last == obj);
    CHECK(rel2.released == 1);
}

static void test_release_runs_once_per_way_out(void) {
    NexusStore *s = new_store(100000);
    size_t n = 0;

    /* remove */
    ReleaseLog a = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("a"), new_obj(1), 100, release_obj, &a));
    CHECK(a.released == 0);
    CHECK_OK(nexus_store_remove(s, KEY("a")));
    CHECK(a.released == 1);

    /* replace (by an object, then by bytes) */
    ReleaseLog b1 = {0}, b2 = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("b"), new_obj(1), 100, release_obj, &b1));
    CHECK_OK(nexus_store_put_object(s, KEY("b"), new_obj(2), 100, release_obj, &b2));
    CHECK(b1.released == 1 && b2.released == 0);
    put_str(s, "b", "bytes now");
    CHECK(b2.released == 1);

    /* eviction */
    ReleaseLog c = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("c"), new_obj(1), 100, release_obj, &c));
    CHECK_OK(nexus_store_evict_lru(s, 10, &n));
    CHECK(n == 2 && c.released == 1); /* "b" and "c" */

    /* clear */
    ReleaseLog d = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("d"), new_obj(1), 100, release_obj, &d));
    CHECK_OK(nexus_store_pin(s, KEY("d"))); /* clear removes pinned entries too */
    CHECK_OK(nexus_store_clear(s, &n));
    CHECK(n == 1 && d.released == 1);
    CHECK_OK(nexus_store_unpin(s, KEY("d")));

    /* the last handle, after removal (and not before) */
    ReleaseLog e = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("e"), new_obj(1), 100, release_obj, &e));
    NexusValue *h1 = NULL, *h2 = NULL;
    CHECK_OK(nexus_store_get(s, KEY("e"), &h1));
    CHECK_OK(nexus_store_get(s, KEY("e"), &h2));
    CHECK_OK(nexus_store_remove(s, KEY("e")));
    CHECK(e.released == 0);
    nexus_value_release(h1);
    CHECK(e.released == 0);
    CHECK(*(int *)nexus_value_object(h2) == 1);
    nexus_value_release(h2);
    CHECK(e.released == 1);

    /* a handle held while its entry is replaced, then released */
    ReleaseLog f = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("f"), new_obj(1), 100, release_obj, &f));
    CHECK_OK(nexus_store_get(s, KEY("f"), &h1));
    put_str(s, "f", "replaced");
    CHECK(f.released == 0);
    nexus_value_release(h1);
    CHECK(f.released == 1);

    /* the store's free: present entries, and a handle that outlives it */
    ReleaseLog g = {0}, h = {0};
    CHECK_OK(nexus_store_put_object(s, KEY("g"), new_obj(1), 100, release_obj, &g));
    CHECK_OK(nexus_store_put_object(s, KEY("h"), new_obj(5), 100, release_obj, &h));
    CHECK_OK(nexus_store_get(s, KEY("h"), &h1));
    CHECK_OK(nexus_store_free(s));
    CHECK(g.released == 1 && h.released == 0);
    CHECK(*(int *)nexus_value_object(h1) == 5);
    nexus_value_release(h1);
    CHECK(h.released == 1);

    /* every count is still exactly one */
    CHECK(a.released == 1 && b1.released == 1 && b2.released == 1 && c.released == 1);
    CHECK(d.released == 1 && e.released == 1 && f.released == 1);
}

static void test_failed_put_object_takes_no_ownership(void) {
    NexusStore *s = new_store(1000);
    ReleaseLog rel = {0};
    void *obj = new_obj(1);

    /* TOO_LARGE: cost above the budget. */
    NexusMemoryMetrics before = metrics_of(s);
    EXPECT(nexus_store_put_object(s, KEY("big"), obj, 1001, release_obj, &rel),
           NEXUS_STATUS_ERR_TOO_LARGE);
    CHECK(rel.released == 0);

    /* OVER_BUDGET: everything pinned. */
    CHECK_OK(nexus_store_pin(s, KEY("p1")));
    CHECK_OK(nexus_store_pin(s, KEY("p2")));
    CHECK_OK(nexus_store_pin(s, KEY("p3")));
    put_charged(s, "p1", 300);
    put_charged(s, "p2", 300);
    put_charged(s, "p3", 300);
    before = metrics_of(s);
    EXPECT(nexus_store_put_object(s, KEY("x"), obj, 200, release_obj, &rel),
           NEXUS_STATUS_ERR_OVER_BUDGET);
    CHECK(rel.released == 0);
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));

    /* Still ours: it can be put elsewhere, or freed by us. */
    CHECK(*(int *)obj == 1);
    free(obj);
    CHECK_OK(nexus_store_free(s));
    CHECK(rel.released == 0);
}

/* ---- the size estimator --------------------------------------------------- */

static NexusStore *store_with_estimator(uint64_t max, Estimator *est) {
    NexusMemoryConfig c = config_with(max);
    c.size_estimator = estimate;
    c.size_estimator_ctx = est;
    c.size_estimator_destroy = estimator_destroy;
    return store_from(&c);
}

static void test_estimator_zero_and_object_input(void) {
    Estimator est = {0};
    est.fixed = 0;
    NexusStore *s = store_with_estimator(1000, &est);
    put_str(s, "k", "value");
    CHECK(est.calls == 1 && est.last_key_len == 1 && est.last_value_len == 5);
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.entry_count == 1 && m.current_usage == 0); /* charged 0 */

    /* cost 0 asks the estimator, which sees the object and length 0. */
    est.fixed = 42;
    ReleaseLog rel = {0};
    void *obj = new_obj(1);
    CHECK_OK(nexus_store_put_object(s, KEY("obj"), obj, 0, release_obj, &rel));
    CHECK(est.calls == 2 && est.last_value == obj && est.last_value_len == 0);
    CHECK(est.last_key_len == 3);
    CHECK(metrics_of(s).current_usage == 42);

    /* A non-zero cost does not ask it. */
    CHECK_OK(nexus_store_put_object(s, KEY("obj2"), new_obj(2), 7, release_obj, &rel));
    CHECK(est.calls == 2);
    CHECK(metrics_of(s).current_usage == 49);

    CHECK(est.destroyed == 0);
    CHECK_OK(nexus_store_free(s));
    CHECK(est.destroyed == 1 && rel.released == 2);
}

static void test_estimator_huge_charge(void) {
    Estimator est = {0};
    est.fixed = 100;
    NexusStore *s = store_with_estimator(1000, &est);
    put_str(s, "keep", "v");
    NexusMemoryMetrics before = metrics_of(s);

    /* A huge charge on a bounded store: TOO_LARGE, nothing changed. */
    EXPECT(nexus_store_put(s, KEY("huge1"), (const uint8_t *)"v", 1), NEXUS_STATUS_ERR_TOO_LARGE);
    ReleaseLog rel = {0};
    void *obj = new_obj(1);
    EXPECT(nexus_store_put_object(s, KEY("huge2"), obj, 0, release_obj, &rel),
           NEXUS_STATUS_ERR_TOO_LARGE);
    CHECK(rel.released == 0);
    free(obj);
    /* Replacing an existing key with a huge estimate keeps the old value. */
    est.huge = true;
    EXPECT(nexus_store_put(s, KEY("keep"), (const uint8_t *)"new", 3), NEXUS_STATUS_ERR_TOO_LARGE);
    est.huge = false;
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK(!has(s, "huge1") && !has(s, "huge2"));
    NexusValue *v = NULL;
    CHECK_OK(nexus_store_get(s, KEY("keep"), &v));
    CHECK(value_is(v, "v"));
    nexus_value_release(v);
    CHECK_OK(nexus_store_free(s));
    CHECK(est.destroyed == 1);

    /* Unbounded: a huge charge fits an empty store, but any further charge would
     * overflow the usage: TOO_LARGE, nothing changed. */
    Estimator est2 = {0};
    est2.fixed = 100;
    s = store_with_estimator(0, &est2);
    put_str(s, "huge", "v");
    CHECK(metrics_of(s).current_usage == (uint64_t)HUGE_CHARGE);
    before = metrics_of(s);
    EXPECT(nexus_store_put(s, KEY("x"), (const uint8_t *)"v", 1), NEXUS_STATUS_ERR_TOO_LARGE);
    after = metrics_of(s);
    CHECK(same_metrics(&before, &after) && !has(s, "x"));
    CHECK_OK(nexus_store_remove(s, KEY("huge")));
    put_str(s, "x", "v");
    CHECK(metrics_of(s).current_usage == 100);
    CHECK_OK(nexus_store_free(s));
    CHECK(est2.destroyed == 1);
}

static void test_estimator_first_estimate_is_kept(void) {
    Estimator est = {0};
    est.growing = true; /* 100, 200, 300, ... for the same input */
    NexusStore *s = store_with_estimator(0, &est);
    put_str(s, "k", "same");
    put_str(s, "j", "same");
    CHECK(metrics_of(s).current_usage == 300);
    CHECK_OK(nexus_store_remove(s, KEY("k"))); /* takes back its 100, not a new estimate */
    CHECK(metrics_of(s).current_usage == 200);
    put_str(s, "j", "same"); /* replaced: 200 out, 300 in */
    CHECK(metrics_of(s).current_usage == 300);
    CHECK_OK(nexus_store_remove(s, KEY("j")));
    CHECK(metrics_of(s).current_usage == 0);
    put_str(s, "e", "same"); /* 400 */
    size_t n = 0;
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(n == 1 && m.current_usage == 0 && m.evicted_bytes == 400);
    CHECK(est.calls == 4); /* once per insertion, never on removal */
    CHECK(est.destroyed == 0);
    CHECK_OK(nexus_store_free(s));
    CHECK(est.destroyed == 1);
}

/* ---- budget refusals ------------------------------------------------------- */

static void test_too_large(void) {
    NexusStore *s = new_store(1000);
    put_charged(s, "a", 300);
    NexusMemoryMetrics before = metrics_of(s);
    EXPECT(nexus_store_put(s, KEY("big"), filler, (size_t)(1001 - charge_of("big", 0))),
           NEXUS_STATUS_ERR_TOO_LARGE);
    EXPECT(nexus_store_put(s, KEY("a"), filler, (size_t)(1001 - charge_of("a", 0))),
           NEXUS_STATUS_ERR_TOO_LARGE);
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK(has(s, "a") && !has(s, "big"));
    CHECK_OK(nexus_store_free(s));
}

static void test_over_budget_everything_pinned(void) {
    NexusStore *s = new_store(1000);
    CHECK_OK(nexus_store_pin(s, KEY("p1")));
    CHECK_OK(nexus_store_pin(s, KEY("p2")));
    CHECK_OK(nexus_store_pin(s, KEY("p3")));
    put_charged(s, "p1", 300);
    put_charged(s, "p2", 300);
    put_charged(s, "p3", 300);
    NexusMemoryMetrics before = metrics_of(s);
    CHECK(before.current_usage == 900 && before.pinned_count == 3 && before.pinned_bytes == 900);

    EXPECT(nexus_store_put(s, KEY("x"), filler, 200), NEXUS_STATUS_ERR_OVER_BUDGET);
    CHECK_OK(nexus_store_pin(s, KEY("p4")));
    EXPECT(nexus_store_put(s, KEY("p4"), filler, 200), NEXUS_STATUS_ERR_OVER_BUDGET);
    CHECK_OK(nexus_store_unpin(s, KEY("p4")));
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK(has(s, "p1") && has(s, "p2") && has(s, "p3") && !has(s, "x"));
    CHECK_OK(nexus_store_free(s));
}

static void test_over_budget_in_use_handle(void) {
    NexusStore *s = new_store(1000);
    put_charged(s, "a", 300);
    NexusValue *h = NULL;
    CHECK_OK(nexus_store_get(s, KEY("a"), &h));
    CHECK_OK(nexus_store_pin(s, KEY("b")));
    CHECK_OK(nexus_store_pin(s, KEY("c")));
    put_charged(s, "b", 300);
    put_charged(s, "c", 300);
    CHECK(has(s, "a")); /* the CRITICAL reaction could not evict it */

    NexusMemoryMetrics before = metrics_of(s);
    CHECK(before.in_use_bytes == 300 && before.current_usage == 900);
    EXPECT(nexus_store_put(s, KEY("x"), filler, 200 - (size_t)charge_of("x", 0)),
           NEXUS_STATUS_ERR_OVER_BUDGET);
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK(has(s, "a") && !has(s, "x"));

    /* Released, "a" is evictable and makes room. */
    nexus_value_release(h);
    put_charged(s, "x", 200);
    CHECK(!has(s, "a") && has(s, "x"));
    CHECK(metrics_of(s).current_usage == 800);
    CHECK_OK(nexus_store_free(s));
}

static void test_over_budget_under_emergency(void) {
    NexusStore *s = new_store(1000);
    CHECK_OK(nexus_store_pin(s, KEY("p")));
    put_charged(s, "p", 200);
    put_charged(s, "a", 200);
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_EMERGENCY));
    CHECK(!has(s, "a") && has(s, "p"));

    NexusMemoryMetrics before = metrics_of(s);
    EXPECT(nexus_store_put(s, KEY("a"), filler, 1), NEXUS_STATUS_ERR_OVER_BUDGET);
    ReleaseLog rel = {0};
    void *obj = new_obj(1);
    EXPECT(nexus_store_put_object(s, KEY("o"), obj, 1, release_obj, &rel),
           NEXUS_STATUS_ERR_OVER_BUDGET);
    CHECK(rel.released == 0);
    free(obj);
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));

    /* A pinned key may still be put within the held budget (350)... */
    put_charged(s, "p", 300);
    CHECK(metrics_of(s).current_usage == 300);
    /* ...but not beyond it. */
    before = metrics_of(s);
    EXPECT(nexus_store_put(s, KEY("p"), filler, (size_t)(400 - charge_of("p", 0))),
           NEXUS_STATUS_ERR_OVER_BUDGET);
    after = metrics_of(s);
    CHECK(same_metrics(&before, &after));

    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    put_charged(s, "a", 200);
    CHECK(has(s, "a"));
    CHECK_OK(nexus_store_free(s));
}

/* ---- pins and key lists -------------------------------------------------------- */

static bool key_at(const NexusKeyList *list, size_t i, const char *expected) {
    size_t n = SENTINEL_SIZE;
    const uint8_t *k = nexus_key_list_get(list, i, &n);
    return k != NULL && n == strlen(expected) && memcmp(k, expected, n) == 0;
}

static void test_pins_and_key_lists(void) {
    NexusStore *s = new_store(0);
    put_str(s, "a", "1");
    put_str(s, "b", "22");
    CHECK_OK(nexus_store_pin(s, KEY("a")));
    CHECK_OK(nexus_store_pin(s, KEY("b")));
    CHECK_OK(nexus_store_pin(s, KEY("c"))); /* absent: the pin waits */
    CHECK_OK(nexus_store_pin(s, KEY("a"))); /* again: keeps its place */
    CHECK_OK(nexus_store_pin(s, NULL, 0));  /* the empty key */
    CHECK(pinned(s, "a") && pinned(s, "c") && pinned(s, "") && !pinned(s, "zz"));

    NexusKeyList *list = NULL;
    CHECK_OK(nexus_store_pinned_ids(s, &list));
    CHECK(nexus_key_list_len(list) == 4);
    CHECK(key_at(list, 0, "a") && key_at(list, 1, "b") && key_at(list, 2, "c"));
    CHECK(key_at(list, 3, "")); /* non-NULL pointer, length 0 */
    size_t n = SENTINEL_SIZE;
    CHECK(nexus_key_list_get(list, 4, &n) == NULL && n == SENTINEL_SIZE);
    CHECK(nexus_key_list_get(list, SIZE_MAX, &n) == NULL && n == SENTINEL_SIZE);
    const uint8_t *k0 = nexus_key_list_get(list, 0, NULL); /* key_len may be NULL */
    CHECK(k0 != NULL && k0[0] == 'a');
    nexus_key_list_free(list);

    CHECK(nexus_key_list_len(NULL) == 0);
    CHECK(nexus_key_list_get(NULL, 0, &n) == NULL && n == SENTINEL_SIZE);
    nexus_key_list_free(NULL);

    /* Metrics count present pinned entries only. */
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.pinned_count == 2 && m.pinned_bytes == charge_of("a", 1) + charge_of("b", 2));
    CHECK(m.hit_count == 0 && m.miss_count == 0); /* pin/is_pinned are not reads */

    /* Unpin: NOT_FOUND when not pinned; one unpin ends it. */
    EXPECT(nexus_store_unpin(s, KEY("zz")), NEXUS_STATUS_NOT_FOUND);
    CHECK_OK(nexus_store_unpin(s, KEY("b")));
    EXPECT(nexus_store_unpin(s, KEY("b")), NEXUS_STATUS_NOT_FOUND);
    CHECK(!pinned(s, "b"));
    CHECK(metrics_of(s).pinned_count == 1);

    /* A pin survives remove and clear, and applies to the next put. */
    CHECK_OK(nexus_store_remove(s, KEY("a")));
    CHECK(pinned(s, "a"));
    CHECK(metrics_of(s).pinned_count == 0);
    put_str(s, "a", "back");
    put_str(s, "c", "arrives");
    m = metrics_of(s);
    CHECK(m.pinned_count == 2 && m.pinned_bytes == charge_of("a", 4) + charge_of("c", 7));
    size_t evicted = SENTINEL_SIZE;
    CHECK_OK(nexus_store_clear_unpinned(s, &evicted));
    CHECK(evicted == 1 && has(s, "a") && has(s, "c") && !has(s, "b"));
    CHECK_OK(nexus_store_clear(s, &evicted));
    CHECK(evicted == 2 && pinned(s, "a") && pinned(s, "c"));

    CHECK_OK(nexus_store_pinned_ids(s, &list));
    CHECK(nexus_key_list_len(list) == 3);
    CHECK(key_at(list, 0, "a") && key_at(list, 1, "c") && key_at(list, 2, ""));
    nexus_key_list_free(list);

    /* No pins: an empty (but real) list. */
    CHECK_OK(nexus_store_unpin(s, KEY("a")));
    CHECK_OK(nexus_store_unpin(s, KEY("c")));
    CHECK_OK(nexus_store_unpin(s, NULL, 0));
    list = SENTINEL_LIST;
    CHECK_OK(nexus_store_pinned_ids(s, &list));
    CHECK(list != SENTINEL_LIST && list != NULL && nexus_key_list_len(list) == 0);
    CHECK(nexus_key_list_get(list, 0, &n) == NULL && n == SENTINEL_SIZE);
    nexus_key_list_free(list);
    CHECK_OK(nexus_store_free(s));
}

/* ---- eviction ---------------------------------------------------------------- */

static NexusStore *store_with_listener(const NexusMemoryConfig *c, Listener *l) {
    NexusStore *s = store_from(c);
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, l, listener_destroy));
    return s;
}

static void test_evict_counts_and_lru_order(void) {
    Listener l = {0};
    NexusMemoryConfig c = config_with(0);
    NexusStore *s = store_with_listener(&c, &l);
    size_t n = SENTINEL_SIZE;
    uint8_t buf[256];
    NexusValue *v = NULL;

    put_charged(s, "k0", 200);
    put_charged(s, "k1", 200);
    put_charged(s, "k2", 200);
    put_charged(s, "k3", 200);
    put_charged(s, "k4", 200);
    CHECK_OK(nexus_store_get(s, KEY("k0"), &v)); /* an access: k0 most recent */
    nexus_value_release(v);
    CHECK(has(s, "k1") && !pinned(s, "k1")); /* not accesses */
    /* A size query is not an access; a get_copy that copies is. */
    EXPECT(nexus_store_get_copy(s, KEY("k2"), buf, 1, &n), NEXUS_STATUS_ERR_BUFFER_TOO_SMALL);
    CHECK_OK(nexus_store_get_copy(s, KEY("k2"), buf, sizeof buf, &n));
    /* order now: k1 k3 k4 k0 k2 */
    CHECK_OK(nexus_store_pin(s, KEY("k3"))); /* out of the order */

    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    CHECK(n == 1 && heard(&l, "k1", NEXUS_EVICTION_REASON_MANUAL));
    CHECK_OK(nexus_store_evict(s, 1, &n));
    CHECK(n == 1 && heard(&l, "k4", NEXUS_EVICTION_REASON_MANUAL));
    CHECK_OK(nexus_store_unpin(s, KEY("k3"))); /* back as the most recent */
    CHECK_OK(nexus_store_evict_lru(s, 2, &n));
    CHECK(n == 2 && heard(&l, "k0,k2", NEXUS_EVICTION_REASON_MANUAL));
    CHECK_OK(nexus_store_evict_lru(s, 0, &n));
    CHECK(n == 0 && l.count == 0);

    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.eviction_count == 4 && m.evicted_bytes == 800 && m.entry_count == 1);
    CHECK(m.current_usage == 200);

    CHECK_OK(nexus_store_clear_unpinned(s, &n));
    CHECK(n == 1 && heard(&l, "k3", NEXUS_EVICTION_REASON_MANUAL));
    CHECK_OK(nexus_store_evict(s, 10, &n));
    CHECK(n == 0);
    CHECK_OK(nexus_store_clear_unpinned(s, &n));
    CHECK(n == 0);

    /* More than there is: as many as are evictable. */
    put_charged(s, "x", 200);
    put_charged(s, "y", 200);
    CHECK_OK(nexus_store_pin(s, KEY("y")));
    CHECK_OK(nexus_store_get(s, KEY("x"), &v)); /* held: not evictable */
    CHECK_OK(nexus_store_evict(s, SIZE_MAX, &n));
    CHECK(n == 0 && has(s, "x") && has(s, "y"));
    nexus_value_release(v);
    CHECK_OK(nexus_store_evict_lru(s, SIZE_MAX, &n));
    CHECK(n == 1 && heard(&l, "x", NEXUS_EVICTION_REASON_MANUAL));
    CHECK_OK(nexus_store_free(s));
    CHECK(l.destroyed == 1);
}

static void test_size_strategy_and_evict_lru(void) {
    Listener l = {0};
    NexusMemoryConfig c = config_with(0);
    c.strategy = NEXUS_EVICTION_STRATEGY_SIZE;
    NexusStore *s = store_with_listener(&c, &l);
    size_t n = 0;
    put_charged(s, "s", 200);
    put_charged(s, "l", 500);
    put_charged(s, "m", 300);
    put_charged(s, "t", 250);
    CHECK_OK(nexus_store_evict(s, 1, &n)); /* largest first */
    CHECK(n == 1 && heard(&l, "l", NEXUS_EVICTION_REASON_MANUAL));
    CHECK_OK(nexus_store_evict_lru(s, 1, &n)); /* least recently used, whatever the strategy */
    CHECK(n == 1 && heard(&l, "s", NEXUS_EVICTION_REASON_MANUAL));
    CHECK_OK(nexus_store_evict(s, 5, &n));
    CHECK(n == 2 && heard(&l, "m,t", NEXUS_EVICTION_REASON_MANUAL));
    CHECK_OK(nexus_store_free(s));
    CHECK(l.destroyed == 1);
}

/* ---- pressure ------------------------------------------------------------------ */

static void test_signal_pressure_levels(void) {
    Listener l = {0};
    NexusMemoryConfig c = config_with(10000); /* working size 7000 */
    NexusStore *s = store_with_listener(&c, &l);
    CHECK_OK(nexus_store_pin(s, KEY("k9")));
    fill(s, 10);
    CHECK(level_of(s) == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(metrics_of(s).current_usage == 2000 && l.count == 0);

    /* MODERATE: shed to 0.75 x usage; hold 0.75 x working size. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(heard(&l, "k0,k1,k2", NEXUS_EVICTION_REASON_PRESSURE));
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.current_usage == 1400 && m.effective_budget == 5250 && m.max_cache_bytes == 10000);
    CHECK(level_of(s) == NEXUS_PRESSURE_LEVEL_MODERATE);
    CHECK(m.pressure_level == NEXUS_PRESSURE_LEVEL_MODERATE);

    /* Repeated: sheds again. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(heard(&l, "k3,k4", NEXUS_EVICTION_REASON_PRESSURE));
    CHECK(metrics_of(s).current_usage == 1000);

    /* CRITICAL: 0.5. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
    CHECK(heard(&l, "k5,k6,k7", NEXUS_EVICTION_REASON_PRESSURE));
    m = metrics_of(s);
    CHECK(m.current_usage == 400 && m.effective_budget == 3500);
    CHECK(level_of(s) == NEXUS_PRESSURE_LEVEL_CRITICAL);

    /* A lower level only changes the held budget. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(l.count == 0);
    m = metrics_of(s);
    CHECK(m.current_usage == 400 && m.effective_budget == 5250);
    CHECK(level_of(s) == NEXUS_PRESSURE_LEVEL_MODERATE);

    /* EMERGENCY: every evictable entry goes; the pinned one stays. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_EMERGENCY));
    CHECK(heard(&l, "k8", NEXUS_EVICTION_REASON_PRESSURE));
    m = metrics_of(s);
    CHECK(m.current_usage == 200 && m.entry_count == 1 && has(s, "k9"));
    CHECK(m.effective_budget == 3500);
    CHECK(level_of(s) == NEXUS_PRESSURE_LEVEL_EMERGENCY);
    CHECK(m.eviction_count == 9 && m.evicted_bytes == 1800);

    /* Out of range: INVALID_ARGUMENT, nothing changed. */
    NexusMemoryMetrics before = metrics_of(s);
    EXPECT(nexus_store_signal_pressure(s, 4), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    EXPECT(nexus_store_signal_pressure(s, 0xFFFFFFFFu), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK(level_of(s) == NEXUS_PRESSURE_LEVEL_EMERGENCY);

    /* NONE: the configured budget again. */
    CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
    m = metrics_of(s);
    CHECK(m.effective_budget == 10000 && m.pressure_level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(level_of(s) == NEXUS_PRESSURE_LEVEL_NONE);
    put_charged(s, "k0", 200);
    CHECK(has(s, "k0") && l.count == 0);
    CHECK_OK(nexus_store_free(s));
}

static void test_signal_pressure_all(void) {
    NexusStore *a = new_store(100000);
    NexusStore *b = new_store(0);
    fill(a, 5);
    fill(b, 5);
    CHECK_OK(nexus_store_pin(a, KEY("k0")));
    CHECK_OK(nexus_store_pin(b, KEY("k4")));

    EXPECT(nexus_signal_pressure_all(4), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    EXPECT(nexus_signal_pressure_all(0xFFFFFFFFu), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(metrics_of(a).entry_count == 5 && metrics_of(b).entry_count == 5);

    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_EMERGENCY));
    CHECK(metrics_of(a).entry_count == 1 && has(a, "k0"));
    CHECK(metrics_of(b).entry_count == 1 && has(b, "k4"));
    CHECK(level_of(a) == NEXUS_PRESSURE_LEVEL_EMERGENCY);
    CHECK(level_of(b) == NEXUS_PRESSURE_LEVEL_EMERGENCY);

    /* A store created now starts at EMERGENCY. */
    NexusStore *c = new_store(1000);
    CHECK(level_of(c) == NEXUS_PRESSURE_LEVEL_EMERGENCY);
    EXPECT(nexus_store_put(c, KEY("x"), filler, 1), NEXUS_STATUS_ERR_OVER_BUDGET);
    CHECK(metrics_of(c).entry_count == 0);

    /* A lower level for all of them: held budget only. */
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(level_of(a) == NEXUS_PRESSURE_LEVEL_MODERATE);
    CHECK(level_of(c) == NEXUS_PRESSURE_LEVEL_MODERATE);
    CHECK(metrics_of(a).effective_budget == 52500);

    /* Reset: every store back to NONE; later stores start at NONE. */
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
    CHECK(level_of(a) == NEXUS_PRESSURE_LEVEL_NONE && level_of(b) == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(level_of(c) == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(metrics_of(a).effective_budget == 100000);
    put_charged(c, "x", 200);
    CHECK(has(c, "x"));
    NexusStore *d = new_store(1000);
    CHECK(level_of(d) == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK_OK(nexus_store_free(a));
    CHECK_OK(nexus_store_free(b));
    CHECK_OK(nexus_store_free(c));
    CHECK_OK(nexus_store_free(d));
}

static void test_set_max_bytes(void) {
    Listener l = {0};
    NexusMemoryConfig c = config_with(0);
    NexusStore *s = store_with_listener(&c, &l);
    fill(s, 10); /* k0..k9, 200 each: 2000 */

    CHECK_OK(nexus_store_set_max_bytes(s, 1000));
    CHECK(heard(&l, "k0,k1,k2,k3,k4", NEXUS_EVICTION_REASON_CAPACITY));
    NexusMemoryMetrics m = metrics_of(s);
    CHECK(m.current_usage == 1000 && m.max_cache_bytes == 1000 && m.effective_budget == 1000);

    /* Pinned bytes alone above the new budget: OVER_BUDGET, nothing changed. */
    CHECK_OK(nexus_store_pin(s, KEY("k5")));
    CHECK_OK(nexus_store_pin(s, KEY("k6")));
    CHECK_OK(nexus_store_pin(s, KEY("k7")));
    NexusMemoryMetrics before = metrics_of(s);
    EXPECT(nexus_store_set_max_bytes(s, 500), NEXUS_STATUS_ERR_OVER_BUDGET);
    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after) && l.count == 0);
    CHECK(has(s, "k8") && has(s, "k9"));

    /* Exactly the pinned bytes: the rest goes. */
    CHECK_OK(nexus_store_set_max_bytes(s, 600));
    CHECK(heard(&l, "k8,k9", NEXUS_EVICTION_REASON_CAPACITY));
    m = metrics_of(s);
    CHECK(m.current_usage == 600 && m.max_cache_bytes == 600);

    /* Larger, then unbounded: nothing evicted. */
    CHECK_OK(nexus_store_set_max_bytes(s, 100000));
    CHECK(level_of(s) == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK_OK(nexus_store_set_max_bytes(s, 0));
    m = metrics_of(s);
    CHECK(m.max_cache_bytes == 0 && m.effective_budget == 0 && m.current_usage == 600);
    CHECK(m.pressure_level == NEXUS_PRESSURE_LEVEL_NONE && l.count == 0);
    CHECK_OK(nexus_store_free(s));
}

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
    CHECK(marker.sequence > 2);

    /* After a poll made room, events queue again; lost ones left a gap. */
    CHECK_OK(nexus_store_evict_lru(s, 1, &n));
    e = poll_ok(s);
    CHECK(e.kind == NEXUS_EVENT_KIND_EVICTION && e.sequence >= 6 && e.sequence > marker.sequence);
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

    /* An object with cost 0: charged by the (default) estimator. */
    l.mode = LOAD_OBJECT;
    l.cost = 0;
    CHECK_OK(nexus_store_get_or_load(s, KEY("o1"), &v));
    CHECK(l.got[0] == NEXUS_STATUS_OK);
    CHECK(nexus_value_object(v) == l.object && nexus_value_data(v) == NULL);
    CHECK(metrics_of(s).current_usage == charge_of("o1", 0));
    CHECK_OK(nexus_store_remove(s, KEY("o1")));
    CHECK(l.rel.released == 0); /* the handle holds it */
    nexus_value_release(v);
    CHECK(l.rel.released == 1);

    /* An explicit cost. */
    l.cost = 777;
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

/* ---- every status ------------------------------------------------------------- */

static void test_every_status_was_provoked(void) {
    for (NexusStatus st = NEXUS_STATUS_NOT_FOUND; st <= NEXUS_STATUS_ERR_PANIC; st++) {
        if (seen_status[st] == 0) fprintf(stderr, "  never provoked: %s\n", nexus_status_str(st));
        CHECK(seen_status[st] > 0);
    }
}

int main(void) {
    RUN(test_version);
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
    RUN(test_null_store);
    RUN(test_stale_handle);
    RUN(test_made_up_handles);
    RUN(test_null_with_length);
    RUN(test_empty_key_and_value);
    RUN(test_lengths_near_size_max);
    RUN(test_huge_length_out_of_memory);
    RUN(test_null_out_pointers);
    RUN(test_out_params_on_other_failures);
    RUN(test_get_copy);
    RUN(test_metrics_json);
    RUN(test_put_get_contains_remove_clear);
    RUN(test_value_handles);
    RUN(test_object_values);
    RUN(test_release_runs_once_per_way_out);
    RUN(test_failed_put_object_takes_no_ownership);
    RUN(test_estimator_zero_and_object_input);
    RUN(test_estimator_huge_charge);
    RUN(test_estimator_first_estimate_is_kept);
    RUN(test_too_large);
    RUN(test_over_budget_everything_pinned);
    RUN(test_over_budget_in_use_handle);
    RUN(test_over_budget_under_emergency);
    RUN(test_pins_and_key_lists);
    RUN(test_evict_counts_and_lru_order);
    RUN(test_size_strategy_and_evict_lru);
    RUN(test_signal_pressure_levels);
    RUN(test_signal_pressure_all);
    RUN(test_set_max_bytes);
    RUN(test_reset_metrics);
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
    RUN(test_every_status_was_provoked);
    FINISH();
}
