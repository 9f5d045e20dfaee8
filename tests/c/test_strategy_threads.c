/* Long eviction runs (chunks of 128 with the lock handed over between
 * them) while other threads put, read, hold handles, pin, unpin and
 * remove, for every strategy (audit 21). Pinned keys and keys whose
 * handle a reader holds are never evicted; the listener hears every
 * removal once; the metrics add up when the threads are done. */
#define _POSIX_C_SOURCE 199309L
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_support.h"
#include "test_sync.h"

#define NK 6000
#define NPINNED 50
/* keys NPINNED..NFIXED-1: put once, then only read (some handles held) */
#define NFIXED 100

typedef struct {
    NexusStore *s;
    int present_delta; /* unused */
    uint64_t heard_evictions, heard_bytes;
    int bad_pinned, bad_held, bad_bytes;
    int held[NK]; /* handles the reader holds now, by key */
    int pinned_forever[NK];
    int stop;
} Shared;

static size_t len_of(int k) { return (size_t)(k % 97); }
static uint64_t charge_of_key(int k) {
    char key[16];
    snprintf(key, sizeof key, "k%d", k);
    return (uint64_t)strlen(key) + len_of(k) + OVERHEAD;
}

static int key_of(const uint8_t *key, size_t len) {
    int k = 0;
    for (size_t i = 1; i < len; i++) k = k * 10 + (key[i] - '0');
    return k;
}

static void listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                     uint64_t bytes) {
    Shared *sh = ctx;
    int k = key_of(key, key_len);
    if (reason == NEXUS_EVICTION_REASON_CAPACITY || reason == NEXUS_EVICTION_REASON_PRESSURE ||
        reason == NEXUS_EVICTION_REASON_MANUAL || reason == NEXUS_EVICTION_REASON_GOVERNOR) {
        if (ALOAD(&sh->pinned_forever[k])) AINC(&sh->bad_pinned);
        if (ALOAD(&sh->held[k])) AINC(&sh->bad_held);
        __atomic_add_fetch(&sh->heard_evictions, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&sh->heard_bytes, bytes, __ATOMIC_SEQ_CST);
    }
    if (bytes != charge_of_key(k)) AINC(&sh->bad_bytes);
}

static void put_key(NexusStore *s, int k) {
    char key[16];
    if (k >= NPINNED && k < NFIXED) return;
    snprintf(key, sizeof key, "k%d", k);
    NexusStatus st = nexus_store_put(s, KEY(key), filler, len_of(k));
    CHECK(st == NEXUS_STATUS_OK || st == NEXUS_STATUS_ERR_OVER_BUDGET);
}

static uint64_t rng(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void *worker(void *arg) {
    Shared *sh = arg;
    uint64_t x = (uint64_t)(uintptr_t)arg | 1;
    char key[16];
    NexusValue *hold = NULL;
    int hold_key = -1;
    while (!ALOAD(&sh->stop)) {
        int k = (int)(rng(&x) % NK);
        snprintf(key, sizeof key, "k%d", k);
        switch (rng(&x) % 8) {
        case 0:
        case 1:
        case 2:
            put_key(sh->s, k);
            break;
        case 3:
        case 4: {
            NexusValue *v = NULL;
            if (rng(&x) % 2 == 0) {
                k = NPINNED + (int)(rng(&x) % (NFIXED - NPINNED));
                snprintf(key, sizeof key, "k%d", k);
            }
            if (nexus_store_get(sh->s, KEY(key), &v) == NEXUS_STATUS_OK) {
                if (hold == NULL && k >= NPINNED && k < NFIXED) {
                    /* marked before the handle could be evicted: the
                     * handle already holds it */
                    AINC(&sh->held[k]);
                    hold = v;
                    hold_key = k;
                } else {
                    nexus_value_release(v);
                }
            }
            break;
        }
        case 5:
            if (hold != NULL) {
                ADEC(&sh->held[hold_key]);
                nexus_value_release(hold);
                hold = NULL;
            }
            break;
        case 6:
            if (!sh->pinned_forever[k]) {
                CHECK_OK(nexus_store_pin(sh->s, KEY(key)));
                NexusStatus st = nexus_store_unpin(sh->s, KEY(key));
                /* the other worker may have ended the pin first */
                CHECK(st == NEXUS_STATUS_OK || st == NEXUS_STATUS_NOT_FOUND);
            }
            break;
        default: {
            if (k < NFIXED) break;
            NexusStatus st = nexus_store_remove(sh->s, KEY(key));
            CHECK(st == NEXUS_STATUS_OK || st == NEXUS_STATUS_NOT_FOUND);
        }
        }
    }
    if (hold != NULL) {
        ADEC(&sh->held[hold_key]);
        nexus_value_release(hold);
    }
    return NULL;
}

static void run(NexusEvictionStrategy st, bool history, bool governed) {
    static Shared sh;
    memset(&sh, 0, sizeof sh);
    uint64_t budget = 200000;
    NexusMemoryConfig c = config_with(budget);
    c.strategy = st;
    c.lfu_history = history;
    CHECK_OK(nexus_store_new(&c, &sh.s));
    CHECK_OK(nexus_store_set_eviction_listener(sh.s, listener, &sh, NULL));
    /* governed: a governor of 120,000 bytes takes from it as the threads
     * put (its passes run on their threads) */
    NexusGovernor *g = NULL;
    if (governed) {
        NexusGovernorConfig gc;
        nexus_governor_config_init(&gc);
        gc.budget_bytes = 120000;
        CHECK_OK(nexus_governor_new(&gc, &g));
        NexusGovernorMember mc;
        nexus_governor_member_init(&mc);
        CHECK_OK(nexus_governor_join(g, sh.s, &mc));
    }
    char key[16];
    for (int k = 0; k < NPINNED; k++) {
        sh.pinned_forever[k] = 1;
        snprintf(key, sizeof key, "k%d", k);
        CHECK_OK(nexus_store_pin(sh.s, KEY(key)));
    }
    for (int k = NPINNED; k < NFIXED; k++) {
        snprintf(key, sizeof key, "k%d", k);
        CHECK_OK(nexus_store_put(sh.s, KEY(key), filler, len_of(k)));
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, worker, &sh) == 0);
    int rounds = under_valgrind() ? 4 : 40;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2000; k++) put_key(sh.s, (r * 2000 + k) % NK);
        size_t n = 0;
        switch (r % 5) {
        case 0:
            CHECK_OK(nexus_store_signal_pressure(sh.s, NEXUS_PRESSURE_LEVEL_CRITICAL));
            break;
        case 1:
            CHECK_OK(nexus_store_signal_pressure(sh.s, NEXUS_PRESSURE_LEVEL_NONE));
            CHECK_OK(nexus_store_evict(sh.s, 700, &n));
            break;
        case 2:
            CHECK_OK(nexus_store_clear_unpinned(sh.s, &n));
            break;
        case 3:
            CHECK_OK(nexus_store_signal_pressure(sh.s, NEXUS_PRESSURE_LEVEL_EMERGENCY));
            CHECK_OK(nexus_store_signal_pressure(sh.s, NEXUS_PRESSURE_LEVEL_NONE));
            break;
        default:
            CHECK_OK(nexus_store_evict_lru(sh.s, 500, &n));
            CHECK_OK(nexus_store_set_max_bytes(sh.s, r % 2 ? budget / 2 : budget));
        }
    }
    ASTORE(&sh.stop, 1);
    for (int i = 0; i < 2; i++) CHECK(pthread_join(t[i], NULL) == 0);
    CHECK(ALOAD(&sh.bad_pinned) == 0);
    CHECK(ALOAD(&sh.bad_held) == 0);
    CHECK(ALOAD(&sh.bad_bytes) == 0);
    CHECK_OK(nexus_store_set_max_bytes(sh.s, budget));
    /* the metrics add up: usage is the charges of what is present */
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(sh.s, &m));
    uint64_t usage = 0, entries = 0, pinned = 0;
    for (int k = 0; k < NK; k++) {
        bool b = false;
        snprintf(key, sizeof key, "k%d", k);
        CHECK_OK(nexus_store_contains(sh.s, KEY(key), &b));
        if (b) usage += charge_of_key(k), entries++, pinned += k < NPINNED;
    }
    CHECK(m.current_usage == usage && m.entry_count == entries && m.pinned_count == pinned);
    CHECK(m.in_use_bytes == 0);
    CHECK(m.eviction_count == sh.heard_evictions && m.evicted_bytes == sh.heard_bytes);
    CHECK(m.current_usage <= budget);
    size_t n = 0;
    CHECK_OK(nexus_store_clear_unpinned(sh.s, &n));
    CHECK_OK(nexus_store_memory_metrics(sh.s, &m));
    CHECK(m.entry_count == pinned);
    if (g != NULL) {
        CHECK_OK(nexus_governor_enforce(g));
        NexusGovernorMetrics gm;
        CHECK_OK(nexus_governor_metrics(g, &gm));
        CHECK(gm.total_usage <= gm.budget_in_force);
    }
    CHECK_OK(nexus_store_free(sh.s));
    if (g != NULL) CHECK_OK(nexus_governor_free(g));
}

static void test_long_runs_beside_other_threads(void) {
    for (int i = 0; i < 4; i++) {
        static const NexusEvictionStrategy all[4] = {
            NEXUS_EVICTION_STRATEGY_LRU, NEXUS_EVICTION_STRATEGY_LFU,
            NEXUS_EVICTION_STRATEGY_SIZE, NEXUS_EVICTION_STRATEGY_TINY_LFU};
        run(all[i], false, false);
        run(all[i], false, true);
    }
    run(NEXUS_EVICTION_STRATEGY_LFU, true, false);
    run(NEXUS_EVICTION_STRATEGY_LFU, true, true);
}

int main(void) {
    watchdog_secs(60, 900);
    RUN(test_long_runs_beside_other_threads);
    FINISH();
}
