/* NexusMemoryConfig.max_entries: the entry-count limit beside the byte
 * budget (appended to the config: read only when struct_size covers it). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_support.h"

static NexusStore *store_with_limit(uint64_t max_entries, uint32_t shards) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.max_entries = max_entries;
    c.shards = shards;
    NexusStore *s = NULL;
    CHECK_OK(nexus_store_new(&c, &s));
    return s;
}

static uint64_t entries(NexusStore *s) {
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    return m.entry_count;
}

static void test_lru_victim_and_reason(void) {
    NexusStore *s = store_with_limit(3, 1);
    Listener listener = {0};
    CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, &listener, NULL));
    const uint8_t v[4] = {1, 2, 3, 4};
    CHECK_OK(nexus_store_put(s, KEY("a"), v, 4));
    CHECK_OK(nexus_store_put(s, KEY("b"), v, 4));
    CHECK_OK(nexus_store_put(s, KEY("c"), v, 4));
    CHECK_OK(nexus_store_put(s, KEY("a"), v, 2)); /* a replace: no eviction, a is recent */
    CHECK(heard_for(&listener, NEXUS_EVICTION_REASON_CAPACITY) == 0);
    CHECK_OK(nexus_store_put(s, KEY("d"), v, 4));
    CHECK(!has(s, "b") && has(s, "a") && has(s, "c") && has(s, "d"));
    CHECK(entries(s) == 3 && heard_for(&listener, NEXUS_EVICTION_REASON_CAPACITY) == 1 &&
          listener.count == 2); /* the other: the REPLACED a */
    CHECK_OK(nexus_store_free(s));
}

static void test_pins_fill_it(void) {
    NexusStore *s = store_with_limit(2, 1);
    const uint8_t v[1] = {9};
    CHECK_OK(nexus_store_put(s, KEY("p1"), v, 1));
    CHECK_OK(nexus_store_put(s, KEY("p2"), v, 1));
    CHECK_OK(nexus_store_pin(s, KEY("p1")));
    NexusValue *held = NULL;
    CHECK_OK(nexus_store_get(s, KEY("p2"), &held));
    CHECK_STATUS(nexus_store_put(s, KEY("x"), v, 1), NEXUS_STATUS_ERR_OVER_BUDGET);
    CHECK(strstr(nexus_last_error_message(), "limit of 2 entries") != NULL);
    CHECK(has(s, "p1") && has(s, "p2") && !has(s, "x"));
    nexus_value_release(held);
    CHECK_OK(nexus_store_put(s, KEY("x"), v, 1));
    CHECK(has(s, "p1") && !has(s, "p2") && has(s, "x"));
    CHECK_OK(nexus_store_free(s));
}

static void test_config_rules_and_versions(void) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    CHECK(c.max_entries == 0);
    c.shards = 4;
    c.max_entries = 3;
    CHECK_STATUS(nexus_memory_config_validate(&c), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "max_entries") != NULL);
    c.max_entries = 4;
    CHECK_OK(nexus_memory_config_validate(&c));
    /* A caller built against the header before max_entries: not read. */
    c.shards = 1;
    c.max_entries = 1;
    c.struct_size = offsetof(NexusMemoryConfig, max_entries);
    NexusStore *s = NULL;
    CHECK_OK(nexus_store_new(&c, &s));
    const uint8_t v[1] = {0};
    for (int i = 0; i < 5; i++) {
        char k[4] = {'k', (char)('0' + i), 0, 0};
        CHECK_OK(nexus_store_put(s, (const uint8_t *)k, 2, v, 1));
    }
    CHECK(entries(s) == 5);
    CHECK_OK(nexus_store_free(s));
    /* Sharded: each shard holds its share. */
    s = store_with_limit(8, 4);
    for (int i = 0; i < 100; i++) {
        char k[8];
        int n = snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(nexus_store_put(s, (const uint8_t *)k, (size_t)n, v, 1));
    }
    CHECK(entries(s) == 8);
    CHECK_OK(nexus_store_free(s));
}

int main(void) {
    RUN(test_lru_victim_and_reason);
    RUN(test_pins_fill_it);
    RUN(test_config_rules_and_versions);
    FINISH();
}
