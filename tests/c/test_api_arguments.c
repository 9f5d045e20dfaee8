/* test_api_arguments.c: keys, values and lengths (NULL, empty, near SIZE_MAX); out-pointers; get_copy and metrics_json buffers.
 * Part of the tests of every function of nexus_store.h, one program per
 * section of the header; EXPECT() checks a status and that a message was
 * left for nexus_last_error_message(). */
#define _POSIX_C_SOURCE 200809L

#include "api_support.h"

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
    /* get_copy of the empty key, NULL with length 0: found, and a size query
     * with a NULL buffer too. */
    uint8_t copied[4] = {0};
    CHECK_OK(nexus_store_get_copy(s, NULL, 0, copied, sizeof copied, &n));
    CHECK(n == 2 && memcmp(copied, "v0", 2) == 0);
    n = SENTINEL_SIZE;
    EXPECT(nexus_store_get_copy(s, NULL, 0, NULL, 0, &n), NEXUS_STATUS_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 2);

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
    /* NULL with a non-zero length is NULL_ARGUMENT in every function, checked
     * before the length (it was INVALID_ARGUMENT in the readers). */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = bad[i];
        const NexusStatus null_arg = NEXUS_STATUS_ERR_NULL_ARGUMENT;
        EXPECT(nexus_store_put(s, NULL, len, small, 1), null_arg);
        EXPECT(nexus_store_put(s, small, 1, NULL, len), null_arg);
        ReleaseLog rel = {0};
        void *obj = new_obj(3);
        EXPECT(nexus_store_put_object(s, NULL, len, obj, 10, release_obj, &rel), null_arg);
        CHECK(rel.released == 0);
        free(obj);
        EXPECT(nexus_store_get(s, NULL, len, &v), null_arg);
        EXPECT(nexus_store_get_copy(s, NULL, len, buf, sizeof buf, &n), null_arg);
        EXPECT(nexus_store_get_copy(s, KEY("k"), NULL, len, &n), null_arg);
        EXPECT(nexus_store_contains(s, NULL, len, &b), null_arg);
        EXPECT(nexus_store_remove(s, NULL, len), null_arg);
        EXPECT(nexus_store_pin(s, NULL, len), null_arg);
        EXPECT(nexus_store_unpin(s, NULL, len), null_arg);
        EXPECT(nexus_store_is_pinned(s, NULL, len, &b), null_arg);
        EXPECT(nexus_store_get_or_load(s, NULL, len, &v), null_arg);
        EXPECT(nexus_store_metrics_json(s, NULL, len, &n), null_arg);
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

/* In a bounded store with the default estimator the charge follows from the
 * lengths: an entry above the whole budget is TOO_LARGE, as any too-large
 * put, before anything of that size is allocated or read (the argument
 * rules first, in the documented order). Nothing is lost. */
static void test_huge_length_in_a_bounded_store_is_too_large(void) {
    NexusStore *s = new_store(1 << 20);
    put_str(s, "k", "value");
    NexusMemoryMetrics before = metrics_of(s);
    const uint8_t small[8] = "smallbuf";

    EXPECT(nexus_store_put(s, KEY("k"), small, HUGE_LEN), NEXUS_STATUS_ERR_TOO_LARGE);
    CHECK(strstr(nexus_last_error_message(), "exceeds the budget of 1048576 bytes") != NULL);
    EXPECT(nexus_store_put(s, KEY("other"), small, HUGE_LEN), NEXUS_STATUS_ERR_TOO_LARGE);
    EXPECT(nexus_store_put(s, small, HUGE_LEN, small, 1), NEXUS_STATUS_ERR_TOO_LARGE);
    EXPECT(nexus_store_put(s, small, HUGE_LEN, small, HUGE_LEN), NEXUS_STATUS_ERR_TOO_LARGE);
    /* A bit over the budget, long enough to be checked before the copy. */
    size_t over = (1 << 20) + 1;
    uint8_t *big = calloc(1, over);
    CHECK(big != NULL);
    EXPECT(nexus_store_put(s, KEY("big"), big, over), NEXUS_STATUS_ERR_TOO_LARGE);
    EXPECT(nexus_store_put(s, big, 100000, big, 1000000), NEXUS_STATUS_ERR_TOO_LARGE);
    free(big);
    /* The argument rules still come first. */
    EXPECT(nexus_store_put(s, KEY("other"), NULL, HUGE_LEN), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_put(s, NULL, HUGE_LEN, small, HUGE_LEN), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_put(s, small, HUGE_LEN, NULL, HUGE_LEN), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    EXPECT(nexus_store_put(s, small, SIZE_MAX, small, 1), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    EXPECT(nexus_store_put(s, KEY("other"), small, SIZE_MAX), NEXUS_STATUS_ERR_INVALID_ARGUMENT);

    NexusMemoryMetrics after = metrics_of(s);
    CHECK(same_metrics(&before, &after));
    CHECK(has(s, "k"));
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

    /* `out_len` inside `buf` (a careless caller): the length is written
     * after the copy, so it is what the caller finds there. */
    union {
        size_t len;
        uint8_t bytes[16];
    } shared;
    put_str(s, "eight", "ABCDEFGH");
    memset(shared.bytes, '#', sizeof shared.bytes);
    CHECK_OK(nexus_store_get_copy(s, KEY("eight"), shared.bytes, sizeof shared.bytes, &shared.len));
    CHECK(shared.len == 8);
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

    /* `out_len` inside the buffer: the size is written after the JSON. */
    union {
        size_t len;
        char text[4096];
    } shared;
    CHECK_OK(nexus_store_metrics_json(s, shared.text, sizeof shared.text, &shared.len));
    CHECK(shared.len == needed);
    free(buf);
    CHECK_OK(nexus_store_free(s));
}

int main(void) {
    RUN(test_null_with_length);
    RUN(test_empty_key_and_value);
    RUN(test_lengths_near_size_max);
    RUN(test_huge_length_out_of_memory);
    RUN(test_huge_length_in_a_bounded_store_is_too_large);
    RUN(test_null_out_pointers);
    RUN(test_out_params_on_other_failures);
    RUN(test_get_copy);
    RUN(test_metrics_json);
    FINISH();
}
