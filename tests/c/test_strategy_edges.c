/* Edges of the eviction strategies through the C API (audit 21): TINY_LFU
 * with one to three entries, all pinned, scans of unique keys; a listener
 * that changes the store; values at and beyond the budget; a budget
 * lowered under one entry; pin churn; time to idle with every strategy. */
#define _POSIX_C_SOURCE 199309L
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "api_support.h"

static const NexusEvictionStrategy STRATEGIES[4] = {
    NEXUS_EVICTION_STRATEGY_LRU, NEXUS_EVICTION_STRATEGY_LFU, NEXUS_EVICTION_STRATEGY_SIZE,
    NEXUS_EVICTION_STRATEGY_TINY_LFU};
#define FOR_EACH_STRATEGY(st) for (int st_i_ = 0; st_i_ < 5 && ((st) = st_i_ < 4 ? STRATEGIES[st_i_] : NEXUS_EVICTION_STRATEGY_LFU, 1); st_i_++)

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

static NexusStore *store_of(NexusEvictionStrategy st, bool history, uint64_t max,
                            uint64_t max_entries, Listener *l) {
    NexusMemoryConfig c = config_with(max);
    c.strategy = st;
    c.lfu_history = history;
    c.max_entries = max_entries;
    NexusStore *s = NULL;
    CHECK_OK(nexus_store_new(&c, &s));
    if (l != NULL) CHECK_OK(nexus_store_set_eviction_listener(s, on_evicted, l, NULL));
    return s;
}

/* A cache of one, two and three entries (by max_entries and by bytes):
 * every put of a new key succeeds, the new key is present, the others
 * left as CAPACITY, and the limit holds. */
static void test_tiny_lfu_with_one_two_three_entries(void) {
    for (int n = 1; n <= 3; n++) {
        for (int by_bytes = 0; by_bytes <= 1; by_bytes++) {
            Listener l = {0};
            NexusStore *s = by_bytes ? store_of(NEXUS_EVICTION_STRATEGY_TINY_LFU, false,
                                                (uint64_t)n * 200 + 50, 0, &l)
                                     : store_of(NEXUS_EVICTION_STRATEGY_TINY_LFU, false, 0,
                                                (uint64_t)n, &l);
            char key[16];
            int evicted = 0;
            for (int i = 0; i < 500; i++) {
                /* a hot key among unique ones */
                snprintf(key, sizeof key, i % 3 == 0 ? "hot" : "k%d", i);
                put_charged(s, key, 200);
                CHECK(has(s, key));
                NexusMemoryMetrics m = metrics_of(s);
                if (by_bytes)
                    CHECK(m.current_usage <= (uint64_t)n * 200 + 50);
                else
                    CHECK(m.entry_count <= (uint64_t)n);
                evicted += l.count;
                for (int j = 0; j < l.count && j < LOG_MAX; j++)
                    CHECK(l.reasons[j] == NEXUS_EVICTION_REASON_CAPACITY ||
                          l.reasons[j] == NEXUS_EVICTION_REASON_REPLACED);
                l.count = 0;
            }
            NexusMemoryMetrics m = metrics_of(s);
            CHECK(m.entry_count >= 1);
            CHECK_OK(nexus_store_free(s));
        }
    }
}

/* Every entry pinned: a put of a new key that needs room is OVER_BUDGET and
 * changes nothing; evict and clear_unpinned evict nothing; a signal sheds
 * nothing; after the unpins, eviction works again. */
static void test_every_entry_pinned(void) {
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        Listener l = {0};
        NexusStore *s = store_of(st, st_i_ == 4, 1000, 0, &l);
        fill(s, 3); /* 600 of 1000: under the working size */
        NexusMemoryMetrics m = metrics_of(s);
        int present = (int)m.entry_count;
        CHECK(present == 3);
        char key[16];
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "k%d", i);
            CHECK_OK(nexus_store_pin(s, KEY(key)));
        }
        l.count = 0;
        put_charged(s, "k0", 200); /* replace of a pinned key: allowed */
        CHECK_STATUS(nexus_store_put(s, KEY("new"), filler, 500), NEXUS_STATUS_ERR_OVER_BUDGET);
        size_t n = 99;
        CHECK_OK(nexus_store_evict(s, 10, &n));
        CHECK(n == 0);
        CHECK_OK(nexus_store_evict_lru(s, 10, &n));
        CHECK(n == 0);
        CHECK_OK(nexus_store_clear_unpinned(s, &n));
        CHECK(n == 0);
        CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_EMERGENCY));
        CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
        m = metrics_of(s);
        CHECK((int)m.entry_count == present);
        CHECK(heard(&l, "k0", NEXUS_EVICTION_REASON_REPLACED));
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "k%d", i);
            CHECK_OK(nexus_store_unpin(s, KEY(key)));
        }
        CHECK_OK(nexus_store_put(s, KEY("new"), filler, 500));
        CHECK(has(s, "new"));
        m = metrics_of(s);
        CHECK(m.current_usage <= 1000);
        CHECK_OK(nexus_store_free(s));
    }
}

/* A scan of unique keys does not push out keys used often (README,
 * TINY_LFU: "Scans and one-hit keys therefore go without pushing out
 * frequent keys"); every other strategy keeps its budget through it. */
static void test_a_scan_of_unique_keys(void) {
    int scan = under_valgrind() ? 3000 : 40000;
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        NexusStore *s = store_of(st, st_i_ == 4, 0, 100, NULL);
        char key[24];
        for (int round = 0; round < 8; round++)
            for (int h = 0; h < 20; h++) {
                snprintf(key, sizeof key, "hot%d", h);
                NexusValue *v = NULL;
                if (nexus_store_get(s, KEY(key), &v) == NEXUS_STATUS_OK)
                    nexus_value_release(v);
                else
                    put_str(s, key, "hot");
            }
        int hot_hits = 0, hot_reads = 0;
        for (int i = 0; i < scan; i++) {
            snprintf(key, sizeof key, "scan%d", i);
            put_str(s, key, "once");
            if (i % 50 == 0) {
                snprintf(key, sizeof key, "hot%d", (i / 50) % 20);
                NexusValue *v = NULL;
                hot_reads++;
                if (nexus_store_get(s, KEY(key), &v) == NEXUS_STATUS_OK) {
                    hot_hits++;
                    nexus_value_release(v);
                } else {
                    put_str(s, key, "hot");
                }
            }
        }
        NexusMemoryMetrics m = metrics_of(s);
        CHECK(m.entry_count <= 100);
        if (st == NEXUS_EVICTION_STRATEGY_TINY_LFU) {
            if (hot_hits * 10 < hot_reads * 9)
                fprintf(stderr, "  TINY_LFU: %d of %d hot reads hit during the scan\n", hot_hits,
                        hot_reads);
            CHECK(hot_hits * 10 >= hot_reads * 9);
        }
        CHECK_OK(nexus_store_free(s));
    }
}

/* A listener that changes the store (puts a key of its own, removes
 * another, pins and unpins) while evictions run: every contract still
 * holds when the calls return. */
typedef struct {
    NexusStore *s;
    int calls;
    int depth;
    int max_depth;
} Meddler;

static void meddle(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                   uint64_t bytes) {
    Meddler *m = ctx;
    (void)bytes;
    m->calls++;
    m->depth++;
    if (m->depth > m->max_depth) m->max_depth = m->depth;
    if (m->depth < 4 && (reason == NEXUS_EVICTION_REASON_CAPACITY ||
                         reason == NEXUS_EVICTION_REASON_PRESSURE)) {
        char own[24];
        snprintf(own, sizeof own, "own%d", m->calls % 5);
        CHECK_OK(nexus_store_put(m->s, KEY(own), filler, 50));
        NexusStatus st = nexus_store_remove(m->s, KEY("k1"));
        CHECK(st == NEXUS_STATUS_OK || st == NEXUS_STATUS_NOT_FOUND);
        CHECK_OK(nexus_store_pin(m->s, key, key_len)); /* the pin waits for its next put */
        CHECK_OK(nexus_store_unpin(m->s, key, key_len));
        bool b = true;
        CHECK_OK(nexus_store_contains(m->s, key, key_len, &b));
        CHECK(!b || (key_len > 3 && memcmp(key, "own", 3) == 0)); /* maybe put back above */
    }
    m->depth--;
}

static void test_a_listener_that_changes_the_store(void) {
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        NexusMemoryConfig c = config_with(2000);
        c.strategy = st;
        c.lfu_history = st_i_ == 4;
        NexusStore *s = NULL;
        CHECK_OK(nexus_store_new(&c, &s));
        Meddler md = {s, 0, 0, 0};
        CHECK_OK(nexus_store_set_eviction_listener(s, meddle, &md, NULL));
        char key[16];
        for (int i = 0; i < (under_valgrind() ? 200 : 2000); i++) {
            snprintf(key, sizeof key, "k%d", i % 37);
            CHECK_OK(nexus_store_put(s, KEY(key), filler, (size_t)(i * 7 % 300)));
            NexusMemoryMetrics m = metrics_of(s);
            CHECK(m.current_usage <= 2000);
            if (i % 97 == 0) CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_CRITICAL));
            if (i % 97 == 50) CHECK_OK(nexus_store_signal_pressure(s, NEXUS_PRESSURE_LEVEL_NONE));
        }
        CHECK(md.calls > 0 && md.depth == 0);
        NexusKeyList *pins = NULL;
        CHECK_OK(nexus_store_pinned_ids(s, &pins));
        CHECK(nexus_key_list_len(pins) == 0);
        nexus_key_list_free(pins);
        CHECK_OK(nexus_store_free(s));
    }
}

/* A value charged exactly the budget is stored (alone); one byte more is
 * TOO_LARGE and changes nothing; a replace that grows a pinned key past
 * what the others leave is OVER_BUDGET and keeps the old value. */
static void test_values_at_and_beyond_the_budget(void) {
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        Listener l = {0};
        NexusStore *s = store_of(st, st_i_ == 4, 1000, 0, &l);
        fill(s, 3);
        put_charged(s, "whole", 1000);
        NexusMemoryMetrics m = metrics_of(s);
        CHECK(m.entry_count == 1 && m.current_usage == 1000 && has(s, "whole"));
        CHECK(m.pressure_level == NEXUS_PRESSURE_LEVEL_CRITICAL);
        l.count = 0;
        CHECK_STATUS(nexus_store_put(s, KEY("more"), filler, 1000 - charge_of("more", 0) + 1),
                     NEXUS_STATUS_ERR_TOO_LARGE);
        CHECK_STATUS(nexus_store_put(s, KEY("whole"), filler, 1000 - charge_of("whole", 0) + 1),
                     NEXUS_STATUS_ERR_TOO_LARGE);
        CHECK(l.count == 0 && has(s, "whole"));
        CHECK_OK(nexus_store_remove(s, KEY("whole")));
        l.count = 0;
        put_charged(s, "p", 400);
        CHECK_OK(nexus_store_pin(s, KEY("p")));
        put_charged(s, "q", 400);
        CHECK_OK(nexus_store_pin(s, KEY("q")));
        /* p may grow to 600 (evicting nothing: q is pinned), not to 601 */
        CHECK_STATUS(nexus_store_put(s, KEY("p"), filler, 601 - charge_of("p", 0)),
                     NEXUS_STATUS_ERR_OVER_BUDGET);
        m = metrics_of(s);
        CHECK(m.current_usage == 800 && l.count == 0);
        put_charged(s, "p", 600);
        m = metrics_of(s);
        CHECK(m.current_usage == 1000 && m.pinned_bytes == 1000);
        CHECK(heard(&l, "p", NEXUS_EVICTION_REASON_REPLACED));
        CHECK_OK(nexus_store_free(s));
    }
}

/* set_max_bytes below one entry's charge: it goes (CAPACITY); below a
 * pinned one's: OVER_BUDGET, nothing changed; 0: unbounded. */
static void test_budget_lowered_under_one_entry(void) {
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        Listener l = {0};
        NexusStore *s = store_of(st, st_i_ == 4, 1000, 0, &l);
        put_charged(s, "a", 300);
        put_charged(s, "b", 300);
        CHECK_OK(nexus_store_pin(s, KEY("b")));
        CHECK_STATUS(nexus_store_set_max_bytes(s, 299), NEXUS_STATUS_ERR_OVER_BUDGET);
        NexusMemoryMetrics m = metrics_of(s);
        CHECK(m.max_cache_bytes == 1000 && m.entry_count == 2 && l.count == 0);
        CHECK_OK(nexus_store_set_max_bytes(s, 300));
        CHECK(heard(&l, "a", NEXUS_EVICTION_REASON_CAPACITY));
        m = metrics_of(s);
        CHECK(m.current_usage == 300 && m.effective_budget == 300 && m.eviction_count == 1);
        CHECK_STATUS(nexus_store_put(s, KEY("c"), filler, 10), NEXUS_STATUS_ERR_OVER_BUDGET);
        CHECK_OK(nexus_store_set_max_bytes(s, 0));
        put_charged(s, "c", 5000 > sizeof filler ? 4000 : 5000);
        m = metrics_of(s);
        CHECK(m.entry_count == 2 && m.effective_budget == 0);
        CHECK_OK(nexus_store_free(s));
    }
}

/* An entry just released from a pin is not the next victim among its
 * peers (README: "unpin puts the entry back as the most recently used of
 * its peers"). Equal charges and equal counts, so every strategy's peers
 * are all of them. */
static void test_an_unpinned_entry_is_not_the_next_victim(void) {
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        for (int churn = 1; churn <= 3; churn++) {
            Listener l = {0};
            NexusStore *s = store_of(st, st_i_ == 4, 0, 0, &l);
            fill(s, 8);
            for (int c = 0; c < churn; c++) {
                CHECK_OK(nexus_store_pin(s, KEY("k0")));
                CHECK_OK(nexus_store_unpin(s, KEY("k0")));
            }
            size_t n = 0;
            CHECK_OK(nexus_store_evict(s, 1, &n));
            CHECK(n == 1 && l.count == 1);
            if (strcmp(l.keys[0], "k0") == 0)
                fprintf(stderr, "  %s: k0, just unpinned, was the next victim\n",
                        nexus_eviction_strategy_str(st));
            CHECK(strcmp(l.keys[0], "k0") != 0);
            CHECK_OK(nexus_store_free(s));
        }
    }
}

/* Time to idle with every strategy: reads keep an entry, an entry not
 * read expires (EXPIRED, not counted as an eviction) and is never
 * returned. */
static void test_time_to_idle_with_every_strategy(void) {
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        NexusMemoryConfig c = config_with(100000);
        c.strategy = st;
        c.lfu_history = st_i_ == 4;
        c.tti_ms = 150;
        Listener l = {0};
        NexusStore *s = store_with_listener(&c, &l);
        put_str(s, "read", "r");
        put_str(s, "idle", "i");
        for (int i = 0; i < 8; i++) {
            sleep_ms(50);
            NexusValue *v = NULL;
            CHECK_OK(nexus_store_get(s, KEY("read"), &v));
            nexus_value_release(v);
        }
        NexusValue *v = NULL;
        CHECK_STATUS(nexus_store_get(s, KEY("idle"), &v), NEXUS_STATUS_NOT_FOUND);
        size_t n = 0;
        CHECK_OK(nexus_store_sweep_expired(s, &n));
        CHECK(n == 1);
        CHECK(heard(&l, "idle", NEXUS_EVICTION_REASON_EXPIRED));
        NexusMemoryMetrics m = metrics_of(s);
        CHECK(m.eviction_count == 0 && m.entry_count == 1);
        CHECK_OK(nexus_store_free(s));
    }
}


/* ---- loads ---------------------------------------------------------------- */

static size_t load_len; /* the loader gives this many bytes */

static NexusStatus load_bytes(void *ctx, const uint8_t *key, size_t key_len,
                              NexusLoadSink *sink) {
    (void)ctx, (void)key, (void)key_len;
    return nexus_load_sink_put_bytes(sink, filler, load_len);
}

/* A loaded value that cannot be cached (larger than the budget, or no
 * room beside pinned entries, or EMERGENCY) is still returned, counted as
 * in use while held, and not as an insert; one that is cached is held by
 * the handle the load returned, so never evicted while it is held. */
static void test_loads_with_every_strategy(void) {
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        Listener l = {0};
        NexusStore *s = store_of(st, st_i_ == 4, 1000, 0, &l);
        CHECK_OK(nexus_store_set_loader(s, load_bytes, NULL, NULL));
        NexusValue *v = NULL;
        load_len = 2000;
        CHECK_OK(nexus_store_get_or_load(s, KEY("big"), &v));
        CHECK(nexus_value_len(v) == 2000 && !has(s, "big"));
        NexusMemoryMetrics m = metrics_of(s);
        CHECK(m.in_use_bytes == charge_of("big", 2000) && m.insert_count == 0);
        CHECK(m.load_count == 1 && m.load_failure_count == 0 && m.current_usage == 0);
        nexus_value_release(v);
        m = metrics_of(s);
        CHECK(m.in_use_bytes == 0);
        /* room only beside pinned entries */
        put_charged(s, "p", 500);
        CHECK_OK(nexus_store_pin(s, KEY("p")));
        put_charged(s, "q", 400);
        CHECK_OK(nexus_store_pin(s, KEY("q")));
        load_len = 200;
        CHECK_OK(nexus_store_get_or_load(s, KEY("late"), &v));
        CHECK(nexus_value_len(v) == 200 && !has(s, "late"));
        nexus_value_release(v);
        CHECK_OK(nexus_store_unpin(s, KEY("q")));
        /* cached (its insert at CRITICAL evicts q toward the working
         * size), and held: a put that needs room evicts nothing else */
        load_len = 100;
        l.count = 0;
        CHECK_OK(nexus_store_get_or_load(s, KEY("held"), &v));
        CHECK(has(s, "held") && !has(s, "q"));
        CHECK(heard(&l, "q", NEXUS_EVICTION_REASON_CAPACITY));
        put_charged(s, "r", 300);
        CHECK(has(s, "held") && has(s, "r") && l.count == 0);
        CHECK_OK(nexus_store_put(s, KEY("x"), filler, 200)); /* evicts r, not it */
        CHECK(heard(&l, "r", NEXUS_EVICTION_REASON_CAPACITY) && has(s, "held"));
        CHECK_STATUS(nexus_store_put(s, KEY("y"), filler, 600), NEXUS_STATUS_ERR_OVER_BUDGET);
        nexus_value_release(v);
        m = metrics_of(s);
        CHECK(m.current_usage <= 1000);
        CHECK_OK(nexus_store_free(s));
    }
}

/* lfu_history: a get_or_load insert of a key evicted recently starts at
 * its remembered count + 1, as a put does (README, "LFU with history"). */
static void test_lfu_history_counts_a_loaded_key(void) {
    for (int by_load = 0; by_load <= 1; by_load++) {
        Listener l = {0};
        NexusStore *s = store_of(NEXUS_EVICTION_STRATEGY_LFU, true, 0, 3, &l);
        CHECK_OK(nexus_store_set_loader(s, load_bytes, NULL, NULL));
        load_len = 10;
        put_str(s, "a", "a");
        for (int i = 0; i < 5; i++) {
            NexusValue *v = NULL;
            CHECK_OK(nexus_store_get(s, KEY("a"), &v));
            nexus_value_release(v);
        }
        put_str(s, "b", "b");
        put_str(s, "c", "c");
        size_t n = 0;
        CHECK_OK(nexus_store_evict_lru(s, 1, &n)); /* a, count 6, remembered */
        CHECK(n == 1 && heard(&l, "a", NEXUS_EVICTION_REASON_MANUAL));
        if (by_load) {
            NexusValue *v = NULL;
            CHECK_OK(nexus_store_get_or_load(s, KEY("a"), &v));
            nexus_value_release(v);
        } else {
            put_str(s, "a", "a");
        }
        put_str(s, "d", "d"); /* full: the victim is b (count 1), not a (7) */
        CHECK(heard(&l, "b", NEXUS_EVICTION_REASON_CAPACITY));
        put_str(s, "e", "e");
        CHECK(heard(&l, "c", NEXUS_EVICTION_REASON_CAPACITY));
        CHECK(has(s, "a"));
        CHECK_OK(nexus_store_free(s));
    }
}


/* ---- a governed store ------------------------------------------------------ */

/* The pass a put runs in its governor takes the entry just put last, as
 * the store's own reactions never take it: before, a SIZE member gave its
 * new entry first whenever it was its largest, and an LFU member whose
 * entries had been read gave every new key back at once (count 1, first
 * in its order), the put returning OK with the entry gone. An entry the
 * others cannot make room for still goes, last, so the budget holds. */
static void test_a_governed_put_keeps_its_entry(void) {
    NexusEvictionStrategy st;
    FOR_EACH_STRATEGY(st) {
        Listener l = {0};
        NexusStore *s = store_of(st, st_i_ == 4, 10000, 0, &l);
        NexusGovernorConfig gc;
        nexus_governor_config_init(&gc);
        gc.budget_bytes = 1500;
        NexusGovernor *g = NULL;
        CHECK_OK(nexus_governor_new(&gc, &g));
        NexusGovernorMember mc;
        nexus_governor_member_init(&mc);
        CHECK_OK(nexus_governor_join(g, s, &mc));
        fill(s, 7); /* 1400 */
        char key[16];
        for (int round = 0; round < 3; round++)
            for (int i = 0; i < 7; i++) {
                snprintf(key, sizeof key, "k%d", i);
                NexusValue *v = NULL;
                CHECK_OK(nexus_store_get(s, KEY(key), &v));
                nexus_value_release(v);
            }
        for (int i = 0; i < 10; i++) {
            snprintf(key, sizeof key, "n%d", i);
            l.count = 0;
            put_charged(s, key, 200 + (uint64_t)i * 10); /* each the largest */
            if (!has(s, key))
                fprintf(stderr, "  %s: the governor took %s, just put\n",
                        nexus_eviction_strategy_str(st), key);
            CHECK(has(s, key));
            CHECK(l.count >= 1 && heard_for(&l, NEXUS_EVICTION_REASON_GOVERNOR) == l.count);
            CHECK(metrics_of(s).current_usage <= 1500);
        }
        /* a cached load stays too (its handle holds it while the pass runs) */
        CHECK_OK(nexus_store_set_loader(s, load_bytes, NULL, NULL));
        load_len = 150;
        NexusValue *loaded = NULL;
        CHECK_OK(nexus_store_get_or_load(s, KEY("loaded"), &loaded));
        nexus_value_release(loaded);
        CHECK(has(s, "loaded"));
        /* larger than the governor's budget: the others first, then it */
        l.count = 0;
        put_charged(s, "huge", 1600);
        CHECK(!has(s, "huge") && metrics_of(s).entry_count == 0);
        CHECK(l.count >= 2 && strcmp(l.keys[l.count - 1], "huge") == 0);
        CHECK_OK(nexus_store_free(s));
        CHECK_OK(nexus_governor_free(g));
    }
}

int main(void) {
    RUN(test_tiny_lfu_with_one_two_three_entries);
    RUN(test_every_entry_pinned);
    RUN(test_a_scan_of_unique_keys);
    RUN(test_a_listener_that_changes_the_store);
    RUN(test_values_at_and_beyond_the_budget);
    RUN(test_budget_lowered_under_one_entry);
    RUN(test_an_unpinned_entry_is_not_the_next_victim);
    RUN(test_time_to_idle_with_every_strategy);
    RUN(test_loads_with_every_strategy);
    RUN(test_lfu_history_counts_a_loaded_key);
    RUN(test_a_governed_put_keeps_its_entry);
    FINISH();
}
