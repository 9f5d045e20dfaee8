/* test_api_pins_pressure.c: pins and key lists; eviction on demand; pressure signals and set_max_bytes.
 * Part of the tests of every function of nexus_store.h, one program per
 * section of the header; EXPECT() checks a status and that a message was
 * left for nexus_last_error_message(). */
#define _POSIX_C_SOURCE 200809L

#include "api_support.h"

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

int main(void) {
    RUN(test_pins_and_key_lists);
    RUN(test_evict_counts_and_lru_order);
    RUN(test_size_strategy_and_evict_lru);
    RUN(test_signal_pressure_levels);
    RUN(test_signal_pressure_all);
    RUN(test_set_max_bytes);
    FINISH();
}
