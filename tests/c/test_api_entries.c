/* test_api_entries.c: entries and value handles; object values and their release; the size estimator; budget refusals.
 * Part of the tests of every function of nexus_store.h, one program per
 * section of the header; EXPECT() checks a status and that a message was
 * left for nexus_last_error_message(). */
#define _POSIX_C_SOURCE 200809L

#include "api_support.h"

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

    /* Cost 0 and no size estimator: nothing could size the object, so it is
     * refused with a message saying what to pass (no silent default charge),
     * and the caller keeps it. */
    ReleaseLog rel2 = {0};
    void *obj0 = new_obj(8);
    EXPECT(nexus_store_put_object(s, KEY("obj0"), obj0, 0, release_obj, &rel2),
           NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "cost") != NULL);
    CHECK(rel2.released == 0 && !has(s, "obj0"));
    CHECK(metrics_of(s).current_usage == 4096);
    free(obj0);

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
    CHECK(rel2.released == 0); /* never taken */
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

int main(void) {
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
    FINISH();
}
