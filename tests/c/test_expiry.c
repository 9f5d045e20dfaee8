/* Expiry through the C API: the config's ttl_ms / tti_ms (appended to
 * NexusMemoryConfig), nexus_store_put_ttl, nexus_store_put_object_ttl and
 * nexus_store_sweep_expired.
 * The C API runs on the monotonic clock: entries meant to live use a TTL of
 * an hour, entries meant to expire a TTL of 1 ms followed by a sleep of
 * 20 ms (the clock is monotonic, so they have expired whatever the load). */
#define _POSIX_C_SOURCE 199309L
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "api_support.h"

#define HOUR_MS 3600000u

static void sleep_ms(long ms) {
    struct timespec t = {0, ms * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

static NexusStore *store_with(uint64_t ttl_ms, uint64_t tti_ms) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.ttl_ms = ttl_ms;
    c.tti_ms = tti_ms;
    NexusStore *s = NULL;
    CHECK_OK(nexus_store_new(&c, &s));
    return s;
}

static void test_put_ttl_expires_and_the_sweep_removes(void) {
    NexusStore *s = store_with(HOUR_MS, 0);
    Listener listener = {0};
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, &listener, NULL));
    const uint8_t v[3] = {1, 2, 3};
    CHECK_OK(nexus_store_put(s, KEY("lives"), v, 3));
    CHECK_OK(nexus_store_put_ttl(s, KEY("brief"), v, 3, 1));
    CHECK_OK(nexus_store_put_ttl(s, KEY("brief2"), v, 3, 1));
    sleep_ms(20);
    CHECK(has(s, "lives"));
    CHECK(!has(s, "brief"));
    NexusValue *out = NULL;
    CHECK_STATUS(nexus_store_get(s, KEY("brief"), &out), NEXUS_STATUS_NOT_FOUND);
    CHECK(out == NULL);
    size_t n = 99;
    CHECK_OK(nexus_store_sweep_expired(s, &n));
    /* The get saw "brief" and the sweep's own call removed it first: the
     * sweep counts both. */
    CHECK(n == 2);
    CHECK(heard_for(&listener, NEXUS_EVICTION_REASON_EXPIRED) == 2 && listener.count == 2);
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    CHECK(m.entry_count == 1);
    CHECK_OK(nexus_store_sweep_expired(s, &n));
    CHECK(n == 0);
    CHECK_STATUS(nexus_store_put_ttl(s, KEY("zero"), v, 3, 0), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nexus_store_sweep_expired(s, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK_OK(nexus_store_free(s));
}

static void test_config_ttl_and_tti(void) {
    NexusStore *s = store_with(1, 0);
    const uint8_t v[1] = {7};
    CHECK_OK(nexus_store_put(s, KEY("a"), v, 1));
    CHECK_OK(nexus_store_put_ttl(s, KEY("b"), v, 1, HOUR_MS));
    sleep_ms(20);
    CHECK(!has(s, "a") && has(s, "b"));
    CHECK_OK(nexus_store_free(s));
    s = store_with(0, 1);
    CHECK_OK(nexus_store_put(s, KEY("idle"), v, 1));
    sleep_ms(20);
    CHECK(!has(s, "idle"));
    CHECK_OK(nexus_store_free(s));
    s = store_with(0, HOUR_MS);
    CHECK_OK(nexus_store_put(s, KEY("read"), v, 1));
    CHECK(has(s, "read"));
    CHECK_OK(nexus_store_free(s));
}

static void test_pinned_expire_once_unpinned(void) {
    /* Pinned well before its TTL ends (a pin of an entry that already
     * expired finds it gone), then kept past it. */
    NexusStore *s = store_with(200, 0);
    const uint8_t v[1] = {7};
    CHECK_OK(nexus_store_put(s, KEY("p"), v, 1));
    CHECK_OK(nexus_store_pin(s, KEY("p")));
    sleep_ms(300);
    CHECK(has(s, "p"));
    size_t n = 0;
    CHECK_OK(nexus_store_sweep_expired(s, &n));
    CHECK(n == 0);
    CHECK_OK(nexus_store_unpin(s, KEY("p")));
    CHECK_OK(nexus_store_sweep_expired(s, &n));
    CHECK(n == 1 && !has(s, "p"));
    CHECK_OK(nexus_store_free(s));
}

static int released;

static void count_release(void *ctx, void *object) {
    (void)ctx;
    (void)object;
    released++;
}

static void test_put_object_ttl(void) {
    NexusStore *s = store_with(0, 0);
    Listener listener = {0};
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, &listener, NULL));
    static int brief, lasting, refused;
    released = 0;
    CHECK_OK(nexus_store_put_object_ttl(s, KEY("brief"), &brief, 100, count_release, NULL, 1));
    CHECK_OK(nexus_store_put_object_ttl(s, KEY("lasting"), &lasting, 100, count_release, NULL, HOUR_MS));
    /* Refused calls take no ownership: the object is not released. */
    CHECK_STATUS(nexus_store_put_object_ttl(s, KEY("zero"), &refused, 100, count_release, NULL, 0),
                 NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nexus_store_put_object_ttl(s, KEY("free"), &refused, 0, count_release, NULL, HOUR_MS),
                 NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nexus_store_put_object_ttl(NULL, KEY("x"), &refused, 100, count_release, NULL, 1),
                 NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(released == 0);
    sleep_ms(20);
    NexusValue *out = NULL;
    CHECK_STATUS(nexus_store_get(s, KEY("brief"), &out), NEXUS_STATUS_NOT_FOUND);
    CHECK(released == 0); /* the read removes nothing; the next call does */
    size_t n = 99;
    CHECK_OK(nexus_store_sweep_expired(s, &n));
    CHECK(n == 1 && released == 1 && heard_for(&listener, NEXUS_EVICTION_REASON_EXPIRED) == 1 &&
          listener.count == 1);
    CHECK_OK(nexus_store_get(s, KEY("lasting"), &out));
    CHECK(nexus_value_object(out) == &lasting);
    nexus_value_release(out);
    CHECK_OK(nexus_store_free(s));
    CHECK(released == 2);
}

/* A read that removes an expired entry calls the listener; a free from
 * there is BUSY (a read keeps no entry on the thread's list of calls: the
 * store's own callback record refuses it). */
static void test_free_from_a_listener_a_read_calls_is_busy(void) {
    NexusStore *s = store_with(0, 0);
    Listener f = {0};
    f.free_me = s;
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, &f, NULL));
    const uint8_t v[1] = {7};
    CHECK_OK(nexus_store_put_ttl(s, KEY("a"), v, 1, 1));
    CHECK_OK(nexus_store_put_ttl(s, KEY("b"), v, 1, 1));
    sleep_ms(20);
    uint8_t buf[8];
    size_t n = 0;
    /* The first read finds "a" expired; the second removes it first. */
    CHECK_STATUS(nexus_store_get_copy(s, KEY("a"), buf, sizeof buf, &n), NEXUS_STATUS_NOT_FOUND);
    CHECK(f.count == 0);
    CHECK_STATUS(nexus_store_get_copy(s, KEY("b"), buf, sizeof buf, &n), NEXUS_STATUS_NOT_FOUND);
    CHECK(f.count == 1 && f.free_status == NEXUS_STATUS_ERR_BUSY);
    CHECK_OK(nexus_store_free(s));
}

static void test_older_config_has_no_expiry(void) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    CHECK(c.ttl_ms == 0 && c.tti_ms == 0);
    c.ttl_ms = 1;
    c.struct_size = offsetof(NexusMemoryConfig, ttl_ms);
    NexusStore *s = NULL;
    CHECK_OK(nexus_store_new(&c, &s));
    const uint8_t v[1] = {7};
    CHECK_OK(nexus_store_put(s, KEY("a"), v, 1));
    sleep_ms(20);
    CHECK(has(s, "a"));
    CHECK_OK(nexus_store_free(s));
}

/* Only a read that succeeds restarts the time to idle: a get_copy size
 * query ("not an access") and a get_copy of an object (INVALID_ARGUMENT)
 * leave the idle clock alone (audit 12: they kept idle entries alive). */
static void test_only_a_successful_read_restarts_the_idle_clock(void) {
    NexusStore *s = store_with(0, 400);
    const uint8_t v[4] = {1, 2, 3, 4};
    static int object;
    CHECK_OK(nexus_store_put(s, KEY("sized"), v, sizeof v));
    CHECK_OK(nexus_store_put(s, KEY("copied"), v, sizeof v));
    CHECK_OK(nexus_store_put_object(s, KEY("object"), &object, 100, NULL, NULL));
    for (int step = 0; step < 24; step++) { /* 1.2 s, three times the TTI */
        size_t len = 0;
        uint8_t out[4];
        /* Each fails as it should until the entry expired, then NOT_FOUND. */
        NexusStatus st = nexus_store_get_copy(s, KEY("sized"), NULL, 0, &len);
        CHECK(st == NEXUS_STATUS_ERR_BUFFER_TOO_SMALL || st == NEXUS_STATUS_NOT_FOUND);
        CHECK(st != NEXUS_STATUS_ERR_BUFFER_TOO_SMALL || len == sizeof v);
        st = nexus_store_get_copy(s, KEY("object"), out, sizeof out, &len);
        CHECK(st == NEXUS_STATUS_ERR_INVALID_ARGUMENT || st == NEXUS_STATUS_NOT_FOUND);
        CHECK_OK(nexus_store_get_copy(s, KEY("copied"), out, sizeof out, &len));
        sleep_ms(50);
    }
    CHECK(!has(s, "sized"));
    CHECK(!has(s, "object"));
    CHECK(has(s, "copied"));
    CHECK_OK(nexus_store_free(s));
}

/* A new key into a full store (max_entries) takes the place of an expired
 * entry before any live one's: the live entries have no TTL, so this holds
 * however slow the run is (before, the least recently used live entry was
 * evicted and the expired one, read most recently, stayed). */
static void test_a_full_store_makes_room_from_expired_entries_first(void) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.max_entries = 3;
    NexusStore *s = NULL;
    CHECK_OK(nexus_store_new(&c, &s));
    Listener listener = {0};
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, &listener, NULL));
    const uint8_t v[3] = {1, 2, 3};
    CHECK_OK(nexus_store_put(s, KEY("x"), v, 3));
    CHECK_OK(nexus_store_put(s, KEY("y"), v, 3));
    CHECK_OK(nexus_store_put_ttl(s, KEY("brief"), v, 3, 1));
    sleep_ms(20);
    CHECK_OK(nexus_store_put(s, KEY("z"), v, 3));
    CHECK(heard_for(&listener, NEXUS_EVICTION_REASON_EXPIRED) == 1 && listener.count == 1);
    CHECK(has(s, "x") && has(s, "y") && has(s, "z"));
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    CHECK(m.entry_count == 3 && m.eviction_count == 0);
    CHECK_OK(nexus_store_free(s));
}

int main(void) {
    RUN(test_put_ttl_expires_and_the_sweep_removes);
    RUN(test_config_ttl_and_tti);
    RUN(test_pinned_expire_once_unpinned);
    RUN(test_put_object_ttl);
    RUN(test_free_from_a_listener_a_read_calls_is_busy);
    RUN(test_older_config_has_no_expiry);
    RUN(test_only_a_successful_read_restarts_the_idle_clock);
    RUN(test_a_full_store_makes_room_from_expired_entries_first);
    FINISH();
}
