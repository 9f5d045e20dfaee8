/* nexus_store quickstart: a budgeted cache, a pin, a pressure signal.
 * Build (after `make install`; the rpath finds the shared library outside
 * /usr/lib, or link `nexus_store-static` instead):
 *   cc -std=c99 quickstart.c $(pkg-config --cflags --libs nexus_store) \
 *      -Wl,-rpath,$(pkg-config --variable=libdir nexus_store) */
#include <stdio.h>
#include <string.h>

#include "nexus_store.h"

#define KEY(s) (const uint8_t *)(s), strlen(s)

static void on_event(void *ctx, const NexusEvent *e) {
    (void)ctx;
    if (e->kind == NEXUS_EVENT_KIND_EVICTION)
        printf("  event #%llu: evicted %llu entries (%llu bytes), usage now %llu\n",
               (unsigned long long)e->sequence, (unsigned long long)e->count,
               (unsigned long long)e->bytes, (unsigned long long)e->usage_bytes);
    else if (e->kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED)
        printf("  event #%llu: level %u -> %u\n", (unsigned long long)e->sequence,
               e->previous_level, e->level);
}

static int check(NexusStatus s, const char *what) {
    if (s != NEXUS_STATUS_OK) {
        fprintf(stderr, "%s: %s (%s)\n", what, nexus_status_str(s), nexus_last_error_message());
        return 1;
    }
    return 0;
}

int main(void) {
    NexusMemoryConfig config;
    nexus_memory_config_init(&config);
    config.max_cache_bytes = 64 * 1024; /* a 64 KiB budget */

    NexusStore *store = NULL;
    if (check(nexus_store_new(&config, &store), "nexus_store_new")) return 1;
    nexus_store_set_event_callback(store, on_event, NULL, NULL);

    /* Fill it: each entry is charged key + value + NEXUS_ENTRY_OVERHEAD_BYTES. */
    char key[32], value[1024];
    memset(value, 'x', sizeof value);
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "thumb:%d", i);
        if (check(nexus_store_put(store, KEY(key), (const uint8_t *)value, sizeof value), "put")) return 1;
        if (i == 0 && check(nexus_store_pin(store, KEY(key)), "pin")) return 1; /* never evicted */
    }

    /* A read handle keeps the bytes valid (and the entry unevictable) until released. */
    NexusValue *v = NULL;
    if (nexus_store_get(store, KEY("thumb:39"), &v) == NEXUS_STATUS_OK) {
        printf("thumb:39 has %zu bytes\n", nexus_value_len(v));
        nexus_value_release(v);
    }

    /* What an OS memory warning does: shed in steps, then hold a lower budget. */
    printf("memory warning (CRITICAL):\n");
    if (check(nexus_store_signal_pressure(store, NEXUS_PRESSURE_LEVEL_CRITICAL), "signal")) return 1;

    bool pinned_present = false;
    nexus_store_contains(store, KEY("thumb:0"), &pinned_present);
    NexusMemoryMetrics m;
    nexus_store_memory_metrics(store, &m);
    printf("after the warning: %llu entries, %llu bytes (budget in force %llu), pinned entry %s\n",
           (unsigned long long)m.entry_count, (unsigned long long)m.current_usage,
           (unsigned long long)m.effective_budget, pinned_present ? "kept" : "LOST");

    nexus_store_signal_pressure(store, NEXUS_PRESSURE_LEVEL_NONE); /* pressure over */

    char json[1024];
    size_t len = 0;
    if (check(nexus_store_metrics_json(store, json, sizeof json, &len), "metrics_json")) return 1;
    printf("%s\n", json);

    if (check(nexus_store_free(store), "nexus_store_free")) return 1;
    printf("nexus_store %s: ok\n", nexus_version());
    return pinned_present ? 0 : 1;
}
