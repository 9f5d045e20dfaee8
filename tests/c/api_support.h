/* Helpers shared by the test_api_*.c programs (the tests of every function
 * of nexus_store.h, one program per section of the header): status checks,
 * store and metrics helpers, and recording callback contexts. */
#ifndef NEXUS_API_SUPPORT_H
#define NEXUS_API_SUPPORT_H

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

/* ---- helpers ------------------------------------------------------------ */

static int seen_status[NEXUS_STATUS_ERR_PANIC + 1] __attribute__((unused));

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

static uint8_t filler[4096] __attribute__((unused));

static inline NexusMemoryConfig config_with(uint64_t max) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.max_cache_bytes = max;
    return c;
}

static inline int same_metrics(const NexusMemoryMetrics *a, const NexusMemoryMetrics *b) {
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
static inline uint64_t charge_of(const char *key, size_t value_len) {
    return (uint64_t)strlen(key) + value_len + OVERHEAD;
}

/* Puts `key` with a value sized so that the default estimator charges `charge`. */
static inline void put_charged(NexusStore *s, const char *key, uint64_t charge) {
    CHECK(charge >= charge_of(key, 0) && charge - charge_of(key, 0) <= sizeof filler);
    CHECK_OK(nexus_store_put(s, KEY(key), filler, (size_t)(charge - charge_of(key, 0))));
}

/* Puts k0..k(n-1), each charged 200 by the default estimator. */
static inline void fill(NexusStore *s, int n) {
    char key[16];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_charged(s, key, 200);
    }
}

static inline void put_str(NexusStore *s, const char *key, const char *value) {
    CHECK_OK(nexus_store_put(s, KEY(key), (const uint8_t *)value, strlen(value)));
}

static inline bool has(NexusStore *s, const char *key) {
    bool b = false;
    CHECK_OK(nexus_store_contains(s, KEY(key), &b));
    return b;
}

static inline bool pinned(NexusStore *s, const char *key) {
    bool b = false;
    CHECK_OK(nexus_store_is_pinned(s, KEY(key), &b));
    return b;
}

static inline NexusPressureLevel level_of(NexusStore *s) {
    NexusPressureLevel l = 99;
    CHECK_OK(nexus_store_pressure_level(s, &l));
    return l;
}

/* Whether a value handle holds exactly the bytes of `str`. */
static inline bool value_is(const NexusValue *v, const char *str) {
    size_t n = strlen(str);
    return v != NULL && nexus_value_len(v) == n && nexus_value_data(v) != NULL &&
           memcmp(nexus_value_data(v), str, n) == 0;
}

/* ---- callback contexts ----------------------------------------------------- */

typedef struct {
    int destroyed;
} Destroyed;

static inline void count_destroy(void *ctx) { ((Destroyed *)ctx)->destroyed++; }

/* Objects are malloc'd ints; release frees them, so a missing release is a
 * leak and a double release a double free (both caught by ASan/valgrind). */
typedef struct {
    int released;
    void *last;
} ReleaseLog;

static inline void release_obj(void *ctx, void *object) {
    ReleaseLog *log = ctx;
    log->released++;
    log->last = object;
    free(object);
}

static inline void *new_obj(int tag) {
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

static inline size_t estimate(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                       size_t value_len) {
    Estimator *e = ctx;
    e->calls++;
    e->last_value = value;
    e->last_value_len = value_len;
    e->last_key_len = key_len;
    if (e->huge || (key_len >= 4 && memcmp(key, "huge", 4) == 0)) return HUGE_CHARGE;
    return e->growing ? (size_t)e->calls * 100 : e->fixed;
}

static inline void estimator_destroy(void *ctx) { ((Estimator *)ctx)->destroyed++; }

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

static inline void on_evicted(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
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

static inline void listener_destroy(void *ctx) { ((Listener *)ctx)->destroyed++; }

/* Whether the listener heard exactly `keys` ("a,b,c"), all for `reason`;
 * then forgets them. */
static inline bool heard(Listener *l, const char *keys, NexusEvictionReason reason) {
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

/* How many of the evictions the listener logged were for `reason`. */
static inline int heard_for(const Listener *l, NexusEvictionReason reason) {
    int n = 0;
    for (int i = 0; i < l->count && i < LOG_MAX; i++) n += l->reasons[i] == reason;
    return n;
}

typedef struct {
    int count;
    NexusEvent last;
    int destroyed;
} EventLog;

static inline void on_event(void *ctx, const NexusEvent *e) {
    EventLog *log = ctx;
    log->count++;
    log->last = *e;
}

static inline void event_log_destroy(void *ctx) { ((EventLog *)ctx)->destroyed++; }

/* A store with `l` as its eviction listener. */
static inline NexusStore *store_with_listener(const NexusMemoryConfig *c, Listener *l) {
    NexusStore *s = store_from(c);
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, l, listener_destroy));
    return s;
}

#endif
