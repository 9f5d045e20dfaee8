/* Every eviction strategy's contract through the C API, as a hostile user
 * drives it: seeded random sequences of put (sizes from tiny to beyond the
 * budget, replaces that change the charge), get (some handles held for a
 * while), remove, pin/unpin churn, evict / evict_lru / clear_unpinned,
 * pressure signals, set_max_bytes, against a model of what is present.
 *
 * After every call it checks what the header and README promise of every
 * strategy (LRU, LFU, LFU with history, SIZE, TINY_LFU; with and without
 * max_entries):
 * - usage and entry, pinned, in-use, eviction, hit/miss/insert metrics
 *   equal the model's (the model learns removals from the listener only);
 * - `contains` agrees with the model for every key;
 * - the budget: a put that succeeds leaves usage within the budget in
 *   force, and usage above it means nothing left is evictable; a refused
 *   put changed nothing and really could not fit;
 * - the working size reactions of a put (CRITICAL: below the working size
 *   or nothing else evictable; MODERATE: at least eviction_batch_size
 *   victims or nothing else evictable);
 * - pinned entries and entries held by a read handle are never evicted;
 *   the entry just put is never its own victim;
 * - the listener is called once per removed entry, with the right reason
 *   and charge, never under a lock (it calls back into the store);
 * - for LRU, LFU and SIZE the victim is exactly the documented one;
 * - the same calls give the same victims in the same order (each sequence
 *   runs twice, in two stores alive at once). */
#define _POSIX_C_SOURCE 199309L
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "api_support.h"

#define NKEYS 40
#define MAX_HELD 6
#define LOGCAP 200000

typedef struct {
    bool present;
    uint64_t charge;
    bool pinned;
    int handles;
    uint64_t stamp; /* recency: larger is newer */
    uint64_t count; /* LFU access count */
    uint64_t gen;   /* which entry of the key: handles hold one entry */
    bool expired;   /* its TTL ran out (it still lives while pinned) */
    uint64_t ghost; /* lfu_history: its count when last evicted, 0 none */
    bool object;    /* an object value (put_object) */
    int *obj;       /* that object: obj[1] is set once the listener heard it */
    bool found;     /* a read saw it expired (the next call removes it) */
} KeyState;

typedef struct {
    NexusValue *v;
    int key;
    uint64_t charge;
    uint64_t gen;
} Held;

typedef struct Run {
    NexusStore *s;
    NexusEvictionStrategy strategy;
    bool history;
    uint64_t max;      /* configured budget */
    uint64_t max_entries;
    size_t batch;
    KeyState k[NKEYS];
    Held held[MAX_HELD];
    int nheld;
    uint64_t clock;
    NexusPressureLevel signalled;
    /* counters the metrics must equal */
    uint64_t evictions, evicted_bytes, hits, misses, inserts;
    /* listener log of this run (for determinism) */
    int *log;
    int nlog;
    /* per call */
    int call_evictions; /* CAPACITY/PRESSURE/MANUAL heard during the call */
    int call_events;    /* any reason */
    uint64_t last_victim; /* charge of the last eviction heard in the call */
    uint64_t replaced;    /* charge of the value a put replaced */
    int put_key;        /* the key a put in progress is putting, or -1 */
    bool exact;         /* check the exact victim */
    bool expiry;        /* some puts have a TTL of 1 ms */
    bool sharded;       /* shards > 1: the budget checks hold per shard */
    bool by_len;        /* an estimator charging the value's length */
    int call_expired;   /* EXPIRED heard during the call */
    int call_unfound;   /* of those, entries no read had found expired */
    int call_runs[8];   /* EVICTION events during the call, by reason */
    bool put_taken;     /* a governor took the entry a put has just put */
    int *put_obj;       /* the object that put is putting, if any */
    bool manual;        /* the call is evict or evict_lru */
    const char *what;
    /* listener and EVICTION events, by reason: counts and bytes */
    uint64_t heard_n[8], heard_bytes[8], event_n[8], event_bytes[8];
    uint64_t last_sequence;
    uint64_t objects, released; /* objects the store took, and released */
    bool freeing;
    NexusGovernor *gov; /* a governor with this store as its one member */
    uint64_t gov_budget, floor;
    uint64_t gov_in_force;          /* the governor's budget in force */
    NexusPressureLevel gov_level;   /* the level signalled to it */
    uint64_t max_ever;  /* the highest configured budget so far */
    uint64_t peak;      /* the highest usage seen between calls */
    NexusPressureLevel last_level;
    uint64_t seed;
    int op;
} Run;

static void fail(Run *r, int line, const char *why) {
    fprintf(stderr,
            "test_strategy_contracts.c:%d: [%s] strategy %s%s max %llu max_entries %llu "
            "seed %llu op %d (%s): %s\n",
            line, nexus_test_name, nexus_eviction_strategy_str(r->strategy),
            r->history ? "+history" : "", (unsigned long long)r->max,
            (unsigned long long)r->max_entries, (unsigned long long)r->seed, r->op, r->what,
            why);
    exit(1);
}
#define MUST(r, cond)                                                                 \
    do {                                                                              \
        nexus_test_checks++;                                                          \
        if (!(cond)) fail((r), __LINE__, #cond);                                      \
    } while (0)

static uint64_t rng_state;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static uint64_t below(uint64_t n) { return rnd() % n; }

static void key_name(int i, char *buf) {
    buf[0] = 'k';
    buf[1] = (char)('0' + i / 10);
    buf[2] = (char)('0' + i % 10);
    buf[3] = '\0';
}

static int key_index(const uint8_t *key, size_t len) {
    if (len != 3 || key[0] != 'k') return -1;
    return (key[1] - '0') * 10 + (key[2] - '0');
}

static bool evictable(const Run *r, int i) {
    return r->k[i].present && !r->k[i].pinned && r->k[i].handles == 0;
}

/* Present and expired (a pinned entry expires only once unpinned). */
static bool dead(const Run *r, int i) {
    return r->k[i].present && r->k[i].expired && !r->k[i].pinned;
}

/* Evictable, or expired: an expired entry held by a read handle leaves
 * the store too (the handle keeps its value). */
static bool removable(const Run *r, int i) { return evictable(r, i) || dead(r, i); }

static bool is_eviction(NexusEvictionReason reason) {
    return reason == NEXUS_EVICTION_REASON_CAPACITY || reason == NEXUS_EVICTION_REASON_PRESSURE ||
           reason == NEXUS_EVICTION_REASON_MANUAL || reason == NEXUS_EVICTION_REASON_GOVERNOR;
}

/* The documented victim of LRU, LFU and SIZE among the evictable entries
 * (the key a put is putting excluded), or -1. */
static int expected_victim(const Run *r, bool lru) {
    int best = -1;
    for (int i = 0; i < NKEYS; i++) {
        if (!evictable(r, i) || i == r->put_key) continue;
        if (dead(r, i) && !r->manual) continue; /* expired entries go first */
        if (best < 0) {
            best = i;
            continue;
        }
        const KeyState *a = &r->k[i], *b = &r->k[best];
        bool better;
        if (lru || r->strategy == NEXUS_EVICTION_STRATEGY_LRU) {
            better = a->stamp < b->stamp;
        } else if (r->strategy == NEXUS_EVICTION_STRATEGY_LFU) {
            better = a->count < b->count || (a->count == b->count && a->stamp < b->stamp);
        } else { /* SIZE */
            better = a->charge > b->charge || (a->charge == b->charge && a->stamp < b->stamp);
        }
        if (better) best = i;
    }
    return best;
}

static bool lru_call; /* the call in progress is evict_lru */
static bool any_evictable_but(const Run *r, int except);

static void listener(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                     uint64_t bytes) {
    Run *r = ctx;
    int i = key_index(key, key_len);
    MUST(r, i >= 0 && i < NKEYS);
    /* Never under a lock: calls back into the store (a deadlock here
     * would be caught by the alarm). */
    bool there = true;
    CHECK_OK(nexus_store_contains(r->s, key, key_len, &there));
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(r->s, &m));
    r->call_events++;
    r->heard_n[reason]++;
    r->heard_bytes[reason] += bytes;
    if (r->nlog < LOGCAP) r->log[r->nlog++] = i * 8 + (int)reason;
    KeyState *e = &r->k[i];
    /* heard before its release (not the value a put has just put, which
     * the model does not hold yet) */
    bool just_put = i == r->put_key && reason == NEXUS_EVICTION_REASON_GOVERNOR;
    if (e->present && e->object && !just_put) e->obj[1] = 1;
    if (reason == NEXUS_EVICTION_REASON_REPLACED) {
        /* the old value of the key a put is replacing */
        MUST(r, i == r->put_key);
        MUST(r, !dead(r, i)); /* an expired one leaves as EXPIRED */
        MUST(r, e->present && bytes == e->charge);
        MUST(r, there);
        r->replaced = bytes;
        return;
    }

    if (i == r->put_key && reason == NEXUS_EVICTION_REASON_GOVERNOR && !r->put_taken) {
        /* the pass a put runs takes the entry just put last: only once
         * every other evictable entry went */
        MUST(r, r->gov != NULL && (!any_evictable_but(r, i) || r->floor > 0));
        r->put_taken = true;
        if (r->put_obj != NULL) r->put_obj[1] = 1;
        r->evictions++;
        r->evicted_bytes += bytes;
        r->call_evictions++;
        return;
    }
    MUST(r, e->present);
    MUST(r, bytes == e->charge);
    /* gone, unless it is the expired value of the key a put is putting */
    MUST(r, !there || (i == r->put_key && reason == NEXUS_EVICTION_REASON_EXPIRED));
    if (reason == NEXUS_EVICTION_REASON_EXPIRED) {
        MUST(r, dead(r, i));
        r->call_expired++;
        r->call_unfound += !e->found;
    } else if (is_eviction(reason)) {
        MUST(r, !e->pinned);
        /* expired entries leave before live ones, as EXPIRED; only
         * evict(n) and evict_lru(n) may take one as MANUAL */
        if (dead(r, i)) MUST(r, r->manual && reason == NEXUS_EVICTION_REASON_MANUAL);
        MUST(r, e->handles == 0);
        MUST(r, i != r->put_key); /* never its own victim */
        if (r->exact || (lru_call && !r->sharded)) {
            int want = expected_victim(r, lru_call);
            if (want != i) {
                char msg[120];
                snprintf(msg, sizeof msg, "evicted k%02d, the documented victim is k%02d", i,
                         want);
                fail(r, __LINE__, msg);
            }
        }
        r->evictions++;
        r->evicted_bytes += bytes;
        e->ghost = e->count; /* lfu_history remembers evictions only */
        r->call_evictions++;
        r->last_victim = bytes;
    } else {
        MUST(r, reason == NEXUS_EVICTION_REASON_REMOVED);
    }
    e->present = false;
    e->found = false;
    e->handles = 0;
    e->gen++;
}

static void on_store_event(void *ctx, const NexusEvent *e) {
    Run *r = ctx;
    MUST(r, e->sequence == r->last_sequence + 1); /* single thread, no mask */
    r->last_sequence = e->sequence;
    if (e->kind == NEXUS_EVENT_KIND_EVICTION) {
        MUST(r, e->reason <= NEXUS_EVICTION_REASON_EXPIRED);
        MUST(r, e->count > 0);
        r->event_n[e->reason] += e->count;
        r->call_runs[e->reason]++;
        r->event_bytes[e->reason] += e->bytes;
    } else if (e->kind == NEXUS_EVENT_KIND_PRESSURE_CHANGED) {
        MUST(r, e->previous_level == r->last_level && e->level != e->previous_level);
        r->last_level = e->level;
    }
}

static uint64_t usage_of(const Run *r, bool only_nonevictable, int except) {
    uint64_t u = 0;
    for (int i = 0; i < NKEYS; i++) {
        if (!r->k[i].present || i == except) continue;
        if (only_nonevictable && removable(r, i)) continue;
        u += r->k[i].charge;
    }
    return u;
}

static int count_of(const Run *r, bool only_nonevictable, int except) {
    int n = 0;
    for (int i = 0; i < NKEYS; i++) {
        if (!r->k[i].present || i == except) continue;
        if (only_nonevictable && removable(r, i)) continue;
        n++;
    }
    return n;
}

static bool any_evictable_but(const Run *r, int except) {
    for (int i = 0; i < NKEYS; i++)
        if (i != except && removable(r, i)) return true;
    return false;
}

static NexusMemoryMetrics metrics(Run *r) {
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(r->s, &m));
    return m;
}

static void check_state(Run *r, bool full) {
    NexusMemoryMetrics m = metrics(r);
    uint64_t pinned_bytes = 0, in_use = 0, pinned_n = 0;
    for (int i = 0; i < NKEYS; i++)
        if (r->k[i].present && r->k[i].pinned) pinned_bytes += r->k[i].charge, pinned_n++;
    for (int h = 0; h < r->nheld; h++) {
        bool dup = false; /* a value held twice counts once */
        for (int g = 0; g < h; g++)
            dup = dup || (r->held[g].key == r->held[h].key && r->held[g].gen == r->held[h].gen);
        if (!dup) in_use += r->held[h].charge;
    }
    MUST(r, m.current_usage == usage_of(r, false, -1));
    MUST(r, m.entry_count == (uint64_t)count_of(r, false, -1));
    MUST(r, m.pinned_count == pinned_n);
    MUST(r, m.pinned_bytes == pinned_bytes);
    MUST(r, m.in_use_bytes == in_use);
    MUST(r, m.eviction_count == r->evictions);
    MUST(r, m.evicted_bytes == r->evicted_bytes);
    MUST(r, m.hit_count == r->hits);
    MUST(r, m.miss_count == r->misses);
    MUST(r, m.insert_count == r->inserts);
    MUST(r, m.max_cache_bytes == r->max);
    MUST(r, m.max_usage >= m.current_usage);
    /* the peak: never below what was seen, never above the budget */
    if (m.current_usage > r->peak) r->peak = m.current_usage;
    MUST(r, m.max_usage >= r->peak);
    MUST(r, m.max_usage <= r->max_ever);
    /* usage above the budget in force: nothing left that could go */
    if (m.current_usage > m.effective_budget && !r->sharded) MUST(r, !any_evictable_but(r, -1));
    if (r->max_entries != 0 && m.entry_count > r->max_entries && !r->sharded)
        MUST(r, !any_evictable_but(r, -1));
    if (r->signalled == NEXUS_PRESSURE_LEVEL_NONE) MUST(r, m.effective_budget == r->max);
    /* one EVICTION event per run reports what the listener heard */
    for (int reason = 0; reason <= NEXUS_EVICTION_REASON_EXPIRED; reason++) {
        if (reason == NEXUS_EVICTION_REASON_REPLACED || reason == NEXUS_EVICTION_REASON_REMOVED)
            continue;
        MUST(r, r->event_n[reason] == r->heard_n[reason]);
        MUST(r, r->event_bytes[reason] == r->heard_bytes[reason]);
    }
    /* the chain of PRESSURE_CHANGED ends at the store's level */
    MUST(r, r->last_level == m.pressure_level);
    if (full) {
        char name[8];
        for (int i = 0; i < NKEYS; i++) {
            key_name(i, name);
            bool b = !r->k[i].present;
            CHECK_OK(nexus_store_contains(r->s, KEY(name), &b));
            MUST(r, b == (r->k[i].present && !dead(r, i)));
            if (dead(r, i)) r->k[i].found = true; /* contains may count as a read */
            CHECK_OK(nexus_store_is_pinned(r->s, KEY(name), &b));
            MUST(r, b == r->k[i].pinned);
        }
    }
}

static void touch(Run *r, int i) {
    r->k[i].stamp = ++r->clock;
    if (r->k[i].count < UINT32_MAX) r->k[i].count++;
}

static void begin(Run *r, const char *what) {
    r->what = what;
    r->call_evictions = 0;
    r->call_events = 0;
    r->call_expired = 0;
    r->call_unfound = 0;
    r->put_taken = false;
    r->put_obj = NULL;
    memset(r->call_runs, 0, sizeof r->call_runs);
    r->manual = false;
    r->last_victim = 0;
    r->replaced = 0;
    r->put_key = -1;
    lru_call = false;
}

static size_t value_len_for(uint64_t max) {
    uint64_t p = below(100);
    if (p < 70) return (size_t)below(100);       /* charge 84..183 */
    if (p < 92) return (size_t)(200 + below(600)); /* medium */
    if (p < 97) return (size_t)(max / 2 + below(max / 3));
    return (size_t)(max + below(200)) - 100; /* at the budget, or beyond it */
}

static uint8_t big[1 << 15];

static double ceil_d(double x) {
    double t = (double)(uint64_t)x;
    return t < x ? t + 1 : t;
}

static void sleep_ms(long ms) {
    struct timespec t = {0, ms * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* An object's release: exactly once (ASan and valgrind see a double free
 * or a leak), never under a lock (it calls into the store). */
static void release_object(void *ctx, void *object) {
    Run *r = ctx;
    r->released++;
    /* the listener heard its entry leave first (not when the store is
     * freed: then no listener runs) */
    if (!r->freeing) MUST(r, ((int *)object)[1] == 1);
    free(object);
    if (!r->freeing) {
        bool b;
        CHECK_OK(nexus_store_contains(r->s, KEY("k00"), &b));
    }
}

static int *last_obj;

static bool do_put(Run *r, int i, bool ttl) {
    char name[8];
    key_name(i, name);
    size_t len = value_len_for(r->max);
    if (len > sizeof big) len = sizeof big;
    uint64_t charge = r->by_len ? len : 3 + len + OVERHEAD;
    begin(r, "put");
    r->put_key = i;
    NexusMemoryMetrics before = metrics(r);
    /* could it fit after evicting every evictable entry but the old value? */
    bool was_present = r->k[i].present;
    uint64_t fixed = usage_of(r, true, i);
    int fixed_n = count_of(r, true, i);
    bool emergency_refused =
        r->signalled == NEXUS_PRESSURE_LEVEL_EMERGENCY && !r->k[i].pinned;
    bool fits = fixed + charge <= before.effective_budget &&
                (r->max_entries == 0 || (uint64_t)fixed_n + 1 <= r->max_entries);
    bool object = below(6) == 0;
    NexusStatus st;
    if (object) {
        /* charged its cost (cost 0 asks the estimator: by_len says 0) */
        int *obj = malloc(2 * sizeof *obj);
        CHECK(obj != NULL);
        obj[0] = i;
        obj[1] = 0;
        r->put_obj = obj;
        size_t cost = (size_t)charge;
        st = ttl ? nexus_store_put_object_ttl(r->s, KEY(name), obj, cost, release_object, r, 1)
                 : nexus_store_put_object(r->s, KEY(name), obj, cost, release_object, r);
        last_obj = obj;
        if (st == NEXUS_STATUS_OK)
            r->objects++;
        else
            free(obj); /* a refused put takes no ownership */
        if (cost == 0 && !r->by_len) MUST(r, st == NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    } else {
        st = ttl ? nexus_store_put_ttl(r->s, KEY(name), big, len, 1)
                 : nexus_store_put(r->s, KEY(name), big, len);
    }
    if (r->sharded) fits = true; /* each shard has its share */
    if (st == NEXUS_STATUS_OK) {
        r->k[i].object = object;
        if (object) r->k[i].obj = last_obj;
        if (ttl) sleep_ms(2); /* it has expired */
        r->k[i].expired = ttl;
        MUST(r, charge <= r->max);
        MUST(r, !emergency_refused);
        MUST(r, fits);
        r->k[i].present = true;
        r->k[i].charge = charge;
        r->k[i].handles = 0; /* a new entry: handles hold the old value */
        r->k[i].gen++;
        r->inserts++;
        if (r->put_taken) r->k[i].present = false;
        /* a put that needed room removed every expired entry before
         * evicting a live one */
        if (r->call_evictions > 0)
            for (int j = 0; j < NKEYS; j++) MUST(r, j == i || !dead(r, j));
        NexusMemoryMetrics m = metrics(r);
        bool b = false;
        CHECK_OK(nexus_store_contains(r->s, KEY(name), &b));
        MUST(r, b == (!dead(r, i) && !r->put_taken)); /* the entry just put is there */
        if (!r->sharded) {
            MUST(r, m.current_usage <= m.effective_budget);
            if (r->max_entries != 0) MUST(r, m.entry_count <= r->max_entries);
        } else {
            /* within the shards' budgets, pinned and in-use entries aside */
            MUST(r, m.current_usage <= m.effective_budget + usage_of(r, true, -1));
            if (r->max_entries != 0)
                MUST(r, m.entry_count <= r->max_entries + (uint64_t)count_of(r, true, -1));
        }
        if (r->gov != NULL && m.current_usage > r->gov_in_force) {
            /* the governor took in strategy order down to its budget,
             * stopping at the first victim that would cross the floor */
            if (r->floor == 0 || !r->exact) {
                if (r->floor == 0) MUST(r, !any_evictable_but(r, -1));
            } else {
                int v = expected_victim(r, false);
                if (v >= 0) MUST(r, m.current_usage - r->k[v].charge < r->floor);
            }
        }
        if (r->signalled == NEXUS_PRESSURE_LEVEL_NONE && !r->sharded) {
            uint64_t ws = (uint64_t)ceil_d((double)r->max * 0.7);
            uint64_t crit = (uint64_t)ceil_d((double)r->max * 0.9);
            if (m.current_usage >= crit) MUST(r, !any_evictable_but(r, i));
            if (m.current_usage >= ws)
                MUST(r, (size_t)r->call_evictions >= r->batch || !any_evictable_but(r, i));
            /* no more evicted than needed: the last victim went while usage
             * was at the working size or the put did not fit (or, with
             * max_entries, to make room for a new key) */
            /* MODERATE after the insert (it needed no room): at most
             * eviction_batch_size victims */
            uint64_t old = was_present && !r->expiry ? r->replaced : 0;
            uint64_t pre = before.current_usage - old + charge;
            if (!r->expiry && r->gov == NULL && r->max_entries == 0 && pre <= r->max && pre < crit)
                MUST(r, (size_t)r->call_evictions <= r->batch);
            if (r->call_evictions > 0 && !(r->max_entries != 0 && !was_present) && r->gov == NULL)
                MUST(r, m.current_usage + r->last_victim + r->replaced >= ws);
        }
    } else {
        MUST(r, st == NEXUS_STATUS_ERR_TOO_LARGE || st == NEXUS_STATUS_ERR_OVER_BUDGET);
        /* with shards: more than a shard's share */
        if (st == NEXUS_STATUS_ERR_TOO_LARGE) MUST(r, charge > r->max / (r->sharded ? 4 : 1));
        if (st == NEXUS_STATUS_ERR_OVER_BUDGET && !r->sharded)
            MUST(r, emergency_refused || !fits);
        /* a refused put changes nothing: it removes only the expired
         * entries a read had found (the store's next call removes those) */
        MUST(r, r->call_events == r->call_expired && r->call_unfound == 0);
        NexusMemoryMetrics m = metrics(r);
        if (r->call_expired == 0)
            MUST(r, m.current_usage == before.current_usage && m.entry_count == before.entry_count);
    }
    return st == NEXUS_STATUS_OK;
}

static void fix_model_after_put(Run *r, int i, bool was_present, bool ok) {
    if (!ok) return;
    /* LFU: a new entry starts at 1 (with lfu_history, at its remembered
     * count + 1, taking the ghost), a replace adds 1 (an access) */
    if (!was_present) {
        r->k[i].count = r->history ? r->k[i].ghost : 0;
        r->k[i].ghost = 0;
    }
    touch(r, i);
    if (r->put_taken) r->k[i].ghost = r->k[i].count; /* evicted: remembered */
}

static void release_held(Run *r, int h) {
    Held x = r->held[h];
    r->held[h] = r->held[--r->nheld];
    if (x.gen == r->k[x.key].gen) r->k[x.key].handles--;
    begin(r, "release");
    nexus_value_release(x.v);
}

static void step(Run *r) {
    char name[8];
    int i = (int)below(NKEYS);
    /* a skewed key choice: low keys are hot */
    if (below(2) == 0) i = (int)below(NKEYS / 5);
    key_name(i, name);
    uint64_t p = below(1000);
    if (p < 420) {
        bool was = r->k[i].present && !dead(r, i); /* else a new entry */
        fix_model_after_put(r, i, was, do_put(r, i, r->expiry && below(8) == 0));
    } else if (p < 760) {
        begin(r, "get");
        NexusValue *v = NULL;
        NexusStatus st = nexus_store_get(r->s, KEY(name), &v);
        if (r->k[i].present && !dead(r, i)) {
            MUST(r, st == NEXUS_STATUS_OK);
            r->hits++;
            touch(r, i);
            if (r->nheld < MAX_HELD && below(4) == 0) {
                r->held[r->nheld++] = (Held){v, i, r->k[i].charge, r->k[i].gen};
                r->k[i].handles++;
            } else {
                nexus_value_release(v);
            }
        } else {
            MUST(r, st == NEXUS_STATUS_NOT_FOUND);
            r->misses++;
            if (dead(r, i)) r->k[i].found = true;
        }
    } else if (p < 800) {
        if (r->nheld > 0) release_held(r, (int)below((uint64_t)r->nheld));
    } else if (p < 840) {
        begin(r, "remove");
        bool was = r->k[i].present && !dead(r, i);
        NexusStatus st = nexus_store_remove(r->s, KEY(name));
        MUST(r, st == (was ? NEXUS_STATUS_OK : NEXUS_STATUS_NOT_FOUND));
        MUST(r, !r->k[i].present);
    } else if (p < 880) {
        begin(r, "pin");
        bool gone = dead(r, i);
        CHECK_OK(nexus_store_pin(r->s, KEY(name)));
        /* a pin of an expired entry finds it gone */
        MUST(r, r->call_events == r->call_expired && !dead(r, i));
        if (gone) MUST(r, !r->k[i].present);
        r->k[i].pinned = true;
    } else if (p < 920) {
        begin(r, "unpin");
        bool was = r->k[i].pinned;
        r->k[i].pinned = false;
        if (was && r->k[i].present) r->k[i].stamp = ++r->clock; /* newest of its peers */
        NexusStatus st = nexus_store_unpin(r->s, KEY(name));
        MUST(r, st == (was ? NEXUS_STATUS_OK : NEXUS_STATUS_NOT_FOUND));
    } else if (p < 940) {
        size_t n = (size_t)below(4), got = 99;
        int could = 0;
        for (int j = 0; j < NKEYS; j++) could += evictable(r, j);
        bool lru = below(2) == 0;
        begin(r, lru ? "evict_lru" : "evict");
        lru_call = lru;
        r->manual = true;
        CHECK_OK(lru ? nexus_store_evict_lru(r->s, n, &got) : nexus_store_evict(r->s, n, &got));
        could -= r->call_expired; /* those a read found went first */
        MUST(r, got == (n < (size_t)could ? n : (size_t)could));
        MUST(r, (size_t)r->call_evictions == got);
        if (!r->sharded) MUST(r, r->call_runs[NEXUS_EVICTION_REASON_MANUAL] == (got > 0));
    } else if (p < 945) {
        size_t got = 99;
        int could = 0;
        for (int j = 0; j < NKEYS; j++) could += evictable(r, j) && !dead(r, j);
        begin(r, "clear_unpinned");
        bool exact = r->exact;
        r->exact = false; /* documented: storage order in one pass */
        CHECK_OK(nexus_store_clear_unpinned(r->s, &got));
        r->exact = exact;
        MUST(r, got == (size_t)could && r->call_evictions == could);
        if (!r->sharded) {
            /* one EVICTION event for the evicted, one for the expired */
            MUST(r, r->call_runs[NEXUS_EVICTION_REASON_MANUAL] == (got > 0));
            MUST(r, r->call_runs[NEXUS_EVICTION_REASON_EXPIRED] == (r->call_expired > 0));
        }
        MUST(r, !any_evictable_but(r, -1));
    } else if (p < 965) {
        NexusPressureLevel lv = (NexusPressureLevel)below(4);
        if (below(2) == 0) lv = NEXUS_PRESSURE_LEVEL_NONE;
        begin(r, "signal");
        NexusMemoryMetrics before = metrics(r);
        NexusPressureLevel prior = r->signalled;
        CHECK_OK(nexus_store_signal_pressure(r->s, lv));
        r->signalled = lv;
        NexusMemoryMetrics m = metrics(r);
        /* one EVICTION event reports the whole run */
        if (!r->sharded)
            MUST(r, r->call_runs[NEXUS_EVICTION_REASON_PRESSURE] == (r->call_evictions > 0));
        if (lv == NEXUS_PRESSURE_LEVEL_EMERGENCY) MUST(r, !any_evictable_but(r, -1));
        if (!r->sharded) {
            /* the held budget: floor(keep x moderate_threshold x max) */
            double keep = lv == NEXUS_PRESSURE_LEVEL_MODERATE ? 0.75 : 0.5;
            uint64_t held = lv == NEXUS_PRESSURE_LEVEL_NONE
                                ? r->max
                                : (uint64_t)(((double)r->max * 0.7) * keep);
            MUST(r, m.effective_budget == held);
            if (lv != NEXUS_PRESSURE_LEVEL_NONE && lv != NEXUS_PRESSURE_LEVEL_EMERGENCY &&
                lv >= prior) {
                /* at or above the level in force: shed to keep x the usage
                 * at the signal and the held budget, no further */
                double target = (double)before.current_usage * keep;
                if ((double)held < target) target = (double)held;
                if (any_evictable_but(r, -1)) MUST(r, (double)m.current_usage <= target);
                if (r->call_evictions > 0)
                    MUST(r, (double)(m.current_usage + r->last_victim) > target);
            } else if (lv < prior && lv != NEXUS_PRESSURE_LEVEL_NONE) {
                MUST(r, r->call_evictions == 0); /* a lower one only changes the budget */
            }
        }
    } else if (p < 975) {
        uint64_t choices[3] = {r->max / 2, r->max, r->max + r->max / 2};
        uint64_t nm = choices[below(3)];
        if (nm < 150) nm = 150;
        if (nm > 20000) nm = 20000;
        begin(r, "set_max_bytes");
        uint64_t fixed = usage_of(r, true, -1);
        NexusStatus st = nexus_store_set_max_bytes(r->s, nm);
        if (st == NEXUS_STATUS_OK) {
            MUST(r, fixed <= nm);
            r->max = nm;
            if (nm > r->max_ever) r->max_ever = nm;
            NexusMemoryMetrics m = metrics(r);
            if (!r->sharded)
                MUST(r, m.current_usage <= m.effective_budget || !any_evictable_but(r, -1));
        } else {
            MUST(r, st == NEXUS_STATUS_ERR_OVER_BUDGET);
            if (!r->sharded) MUST(r, fixed > nm);
            MUST(r, r->call_events == 0);
        }
    } else if (p < 972 && r->gov != NULL) {
        /* a signal to the governor: MODERATE / CRITICAL shed the total to
         * keep x itself and hold the budget at keep x the budget, EMERGENCY
         * takes the member to its floor */
        NexusPressureLevel lv = (NexusPressureLevel)below(4);
        begin(r, "governor signal");
        uint64_t before = metrics(r).current_usage;
        NexusPressureLevel prior = r->gov_level;
        CHECK_OK(nexus_governor_signal_pressure(r->gov, lv));
        r->gov_level = lv;
        double keep = lv == NEXUS_PRESSURE_LEVEL_MODERATE ? 0.75 : 0.5;
        r->gov_in_force = lv == NEXUS_PRESSURE_LEVEL_NONE        ? r->gov_budget
                          : lv == NEXUS_PRESSURE_LEVEL_EMERGENCY ? 0
                                                                 : (uint64_t)((double)r->gov_budget * keep);
        uint64_t target = r->gov_in_force;
        if (lv != NEXUS_PRESSURE_LEVEL_NONE && lv != NEXUS_PRESSURE_LEVEL_EMERGENCY && lv >= prior &&
            (uint64_t)((double)before * keep) < target)
            target = (uint64_t)((double)before * keep);
        uint64_t usage = metrics(r).current_usage;
        if (usage > target) {
            if (r->floor == 0)
                MUST(r, !any_evictable_but(r, -1));
            else if (r->exact) {
                int v = expected_victim(r, false);
                if (v >= 0) MUST(r, usage - r->k[v].charge < r->floor);
            }
        }
    } else if (p < 978) {
        begin(r, "sweep");
        size_t n = 999;
        CHECK_OK(nexus_store_sweep_expired(r->s, &n));
        MUST(r, n == (size_t)r->call_expired && r->call_events == r->call_expired);
        /* one EVICTION event (EXPIRED) per shard that removed any */
        if (!r->sharded) MUST(r, r->call_runs[NEXUS_EVICTION_REASON_EXPIRED] == (n > 0));
        for (int j = 0; j < NKEYS; j++) MUST(r, !dead(r, j));
    } else if (p < 980) {
        /* clear: everything goes, pins stay; expired entries go first as
         * EXPIRED and are not counted */
        int live = 0, pins = 0;
        for (int j = 0; j < NKEYS; j++) {
            live += r->k[j].present && !dead(r, j);
            pins += r->k[j].pinned;
        }
        begin(r, "clear");
        size_t got = 999;
        CHECK_OK(nexus_store_clear(r->s, &got));
        MUST(r, got == (size_t)live && r->call_events == live + r->call_expired);
        for (int j = 0; j < NKEYS; j++) MUST(r, !r->k[j].present);
        NexusMemoryMetrics m = metrics(r);
        MUST(r, m.entry_count == 0 && m.current_usage == 0);
        (void)pins;
    } else {
        /* a key the model tracks must not show up unless present */
        begin(r, "get_copy");
        size_t out = 0;
        NexusStatus st = nexus_store_get_copy(r->s, KEY(name), NULL, 0, &out);
        if (r->k[i].present && !dead(r, i) && r->k[i].object)
            MUST(r, st == NEXUS_STATUS_ERR_INVALID_ARGUMENT); /* not a hit, not a miss */
        else if (r->k[i].present && !dead(r, i))
            MUST(r, st == NEXUS_STATUS_ERR_BUFFER_TOO_SMALL || (st == NEXUS_STATUS_OK && out == 0));
        else
            MUST(r, st == NEXUS_STATUS_NOT_FOUND);
        if (st == NEXUS_STATUS_OK) r->hits++, touch(r, i);
        if (st == NEXUS_STATUS_NOT_FOUND) r->misses++;
        if (dead(r, i)) r->k[i].found = true;
    }
}

static bool with_expiry;
static uint64_t with_governor, with_floor;
static uint32_t with_shards = 1;
static bool with_len_estimator;

static size_t by_len(void *ctx, const uint8_t *key, size_t key_len, const void *value,
                     size_t value_len) {
    (void)ctx, (void)key, (void)key_len, (void)value;
    return value_len;
}

static void run_init(Run *r, NexusEvictionStrategy strategy, bool history, uint64_t max,
                     uint64_t max_entries, uint64_t seed, int *log) {
    memset(r, 0, sizeof *r);
    r->strategy = strategy;
    r->history = history;
    r->max = max;
    r->max_ever = max;
    r->max_entries = max_entries;
    r->batch = 2;
    r->seed = seed;
    r->log = log;
    r->exact = strategy != NEXUS_EVICTION_STRATEGY_TINY_LFU;
    r->expiry = with_expiry;
    r->sharded = with_shards > 1;
    r->by_len = with_len_estimator;
    if (r->sharded) r->exact = false;
    NexusMemoryConfig c = config_with(max);
    c.strategy = strategy;
    c.lfu_history = history;
    c.max_entries = max_entries;
    c.eviction_batch_size = r->batch;
    c.shards = with_shards;
    if (with_len_estimator) c.size_estimator = by_len;
    CHECK_OK(nexus_store_new(&c, &r->s));
    CHECK_OK(nexus_store_set_eviction_listener(r->s, listener, r, NULL));
    CHECK_OK(nexus_store_set_event_callback(r->s, on_store_event, r, NULL));
    if (with_governor != 0) {
        NexusGovernorConfig gc;
        nexus_governor_config_init(&gc);
        gc.budget_bytes = with_governor;
        CHECK_OK(nexus_governor_new(&gc, &r->gov));
        NexusGovernorMember mc;
        nexus_governor_member_init(&mc);
        mc.priority = 1;
        mc.floor_bytes = with_floor;
        CHECK_OK(nexus_governor_join(r->gov, r->s, &mc));
        r->gov_budget = with_governor;
        r->gov_in_force = with_governor;
        r->floor = with_floor;
    }
}

static void run_end(Run *r) {
    while (r->nheld > 0) release_held(r, r->nheld - 1);
    check_state(r, true);
    r->freeing = true;
    CHECK_OK(nexus_store_free(r->s));
    if (r->gov != NULL) CHECK_OK(nexus_governor_free(r->gov));
    MUST(r, r->released == r->objects);
}

static int log_a[LOGCAP], log_b[LOGCAP];

static void run_pair(NexusEvictionStrategy strategy, bool history, uint64_t max,
                     uint64_t max_entries, uint64_t seed, int ops) {
    static Run a, b;
    run_init(&a, strategy, history, max, max_entries, seed, log_a);
    run_init(&b, strategy, history, max, max_entries, seed, log_b);
    uint64_t rs = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int op = 0; op < ops; op++) {
        a.op = b.op = op;
        rng_state = rs;
        step(&a);
        check_state(&a, op % 4 == 0);
        uint64_t after = rng_state;
        rng_state = rs;
        step(&b);
        check_state(&b, false);
        rs = after;
        if (!a.sharded) { /* a per-store random seed picks the shards */
            MUST(&a, a.nlog == b.nlog);
            if (a.nlog > 0) MUST(&a, log_a[a.nlog - 1] == log_b[b.nlog - 1]);
        }
    }
    if (getenv("TSC_DEBUG"))
        fprintf(stderr, "%s%s max %llu ents %llu: evictions %llu log %d hits %llu\n",
                nexus_eviction_strategy_str(strategy), history ? "+h" : "",
                (unsigned long long)max, (unsigned long long)max_entries,
                (unsigned long long)a.evictions, a.nlog, (unsigned long long)a.hits);
    run_end(&a);
    run_end(&b);
    if (!a.sharded) MUST(&a, a.nlog == b.nlog && memcmp(log_a, log_b, sizeof(int) * (size_t)a.nlog) == 0);
}

static const NexusEvictionStrategy STRATEGIES[4] = {
    NEXUS_EVICTION_STRATEGY_LRU, NEXUS_EVICTION_STRATEGY_LFU, NEXUS_EVICTION_STRATEGY_SIZE,
    NEXUS_EVICTION_STRATEGY_TINY_LFU};

static int ops_per_run(void) { return under_valgrind() ? 300 : 2500; }
static int seeds(void) {
    if (getenv("TSC_SEEDS")) return atoi(getenv("TSC_SEEDS"));
    return under_valgrind() ? 2 : 6;
}

static void test_random_sequences_keep_every_contract(void) {
    for (int st = 0; st < 4; st++)
        for (int seed = 1; seed <= seeds(); seed++)
            run_pair(STRATEGIES[st], false, 3000, 0, (uint64_t)seed, ops_per_run());
}

static void test_lfu_history_keeps_every_contract(void) {
    for (int seed = 1; seed <= seeds(); seed++)
        run_pair(NEXUS_EVICTION_STRATEGY_LFU, true, 3000, 0, (uint64_t)seed, ops_per_run());
}

static void test_entry_limit_keeps_every_contract(void) {
    for (int st = 0; st < 4; st++)
        for (int seed = 1; seed <= seeds(); seed++)
            run_pair(STRATEGIES[st], false, 6000, 7, (uint64_t)seed + 100, ops_per_run());
}

static void test_tiny_budgets(void) {
    /* a budget for one to three small entries: the smallest caches */
    for (int st = 0; st < 4; st++)
        for (int seed = 1; seed <= seeds(); seed++) {
            run_pair(STRATEGIES[st], false, 200, 0, (uint64_t)seed + 200, ops_per_run() / 2);
            run_pair(STRATEGIES[st], false, 600, 3, (uint64_t)seed + 300, ops_per_run() / 2);
            run_pair(STRATEGIES[st], false, 6000, 1, (uint64_t)seed + 400, ops_per_run() / 2);
            run_pair(STRATEGIES[st], false, 6000, 2, (uint64_t)seed + 500, ops_per_run() / 2);
        }
}

/* Shards: the contract per shard (each its own order and share), the
 * metrics summed; and an estimator that charges the value's length (empty
 * values charged 0). */
static void test_shards_and_zero_charges(void) {
    int n = getenv("TSC_SEEDS") ? atoi(getenv("TSC_SEEDS")) : under_valgrind() ? 1 : 3;
    for (int seed = 1; seed <= n; seed++)
        for (int st = 0; st < 4; st++) {
            with_shards = 4;
            run_pair(STRATEGIES[st], false, 6000, 0, (uint64_t)seed + 900, ops_per_run());
            run_pair(STRATEGIES[st], false, 12000, 8, (uint64_t)seed + 950, ops_per_run() / 2);
            with_shards = 1;
            with_len_estimator = true;
            run_pair(STRATEGIES[st], false, 3000, 0, (uint64_t)seed + 1000, ops_per_run());
            run_pair(STRATEGIES[st], false, 600, 0, (uint64_t)seed + 1100, ops_per_run() / 2);
            with_len_estimator = false;
        }
    with_len_estimator = true;
    run_pair(NEXUS_EVICTION_STRATEGY_LFU, true, 3000, 0, 1200, ops_per_run());
    with_len_estimator = false;
}

/* A governor with the store as its one member, a budget under the
 * store's and a floor: after a put, the governor's takes (GOVERNOR, in
 * strategy order) leave it within its budget, or at the floor, or with
 * nothing evictable. */
static void test_a_governed_store(void) {
    int n = getenv("TSC_SEEDS") ? atoi(getenv("TSC_SEEDS")) : under_valgrind() ? 1 : 3;
    for (int seed = 1; seed <= n; seed++)
        for (int st = 0; st < 5; st++) {
            NexusEvictionStrategy strategy = st < 4 ? STRATEGIES[st] : NEXUS_EVICTION_STRATEGY_LFU;
            with_governor = 1500;
            with_floor = 0;
            run_pair(strategy, st == 4, 3000, 0, (uint64_t)seed + 1300, ops_per_run());
            with_floor = 500;
            run_pair(strategy, st == 4, 3000, 0, (uint64_t)seed + 1400, ops_per_run());
            with_expiry = true;
            run_pair(strategy, st == 4, 3000, 0, (uint64_t)seed + 1500, ops_per_run() / 3);
            with_expiry = false;
            /* shards: the entry just put is taken last across them all */
            with_floor = 0;
            with_shards = 4;
            run_pair(strategy, st == 4, 12000, 0, (uint64_t)seed + 1600, ops_per_run());
            with_shards = 1;
        }
    with_governor = 0;
    with_floor = 0;
}

/* The same with some puts of a TTL of 1 ms (each followed by a sleep of
 * 2 ms, so the entry has expired when the model says so). */
static void test_expiry_with_every_strategy(void) {
    with_expiry = true;
    int ops = under_valgrind() ? 200 : 1000;
    int n = getenv("TSC_SEEDS") ? atoi(getenv("TSC_SEEDS")) / 4 : under_valgrind() ? 1 : 2;
    for (int seed = 1; seed <= n; seed++) {
        for (int st = 0; st < 4; st++) {
            run_pair(STRATEGIES[st], false, 3000, 0, (uint64_t)seed + 600, ops);
            run_pair(STRATEGIES[st], false, 6000, 4, (uint64_t)seed + 700, ops / 2);
        }
        run_pair(NEXUS_EVICTION_STRATEGY_LFU, true, 3000, 0, (uint64_t)seed + 800, ops);
    }
    with_expiry = false;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_strategy_contracts: timed out (a listener deadlock?)\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(2);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(under_valgrind() ? 600 : 120);
    RUN(test_random_sequences_keep_every_contract);
    RUN(test_lfu_history_keeps_every_contract);
    RUN(test_entry_limit_keeps_every_contract);
    RUN(test_tiny_budgets);
    RUN(test_expiry_with_every_strategy);
    RUN(test_shards_and_zero_charges);
    RUN(test_a_governed_store);
    FINISH();
}
