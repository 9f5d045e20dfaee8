/* The budget governor through the C API: lowest priority gives first,
 * floors hold (a store's own signal still sheds it), ceilings, events and
 * metrics, stores freed while members, bad input, callbacks, threads.
 * Every entry is charged exactly ENTRY bytes: a 4-byte key, a value of
 * ENTRY - 4 - NEXUS_ENTRY_OVERHEAD_BYTES bytes. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <time.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "test_util.h"

#define ENTRY 200u
#define VALUE_LEN (ENTRY - 4u - NEXUS_ENTRY_OVERHEAD_BYTES)

static uint8_t value[VALUE_LEN];

static void put(NexusStore *s, int k) {
    char key[5];
    snprintf(key, sizeof key, "k%03d", k);
    CHECK_OK(nexus_store_put(s, (const uint8_t *)key, 4, value, VALUE_LEN));
}

static bool has(NexusStore *s, int k) {
    char key[5];
    snprintf(key, sizeof key, "k%03d", k);
    bool present = false;
    CHECK_OK(nexus_store_contains(s, (const uint8_t *)key, 4, &present));
    return present;
}

static uint64_t usage(NexusStore *s) {
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    return m.current_usage;
}

static uint64_t id_of(NexusStore *s) {
    uint64_t id = 0;
    CHECK_OK(nexus_store_id(s, &id));
    CHECK(id != 0);
    return id;
}

static NexusGovernor *new_governor(uint64_t budget) {
    NexusGovernorConfig c;
    nexus_governor_config_init(&c);
    c.budget_bytes = budget;
    NexusGovernor *g = NULL;
    CHECK_OK(nexus_governor_new(&c, &g));
    CHECK(g != NULL);
    return g;
}

static void join(NexusGovernor *g, NexusStore *s, uint32_t priority, uint64_t floor) {
    NexusGovernorMember m;
    nexus_governor_member_init(&m);
    m.priority = priority;
    m.floor_bytes = floor;
    CHECK_OK(nexus_governor_join(g, s, &m));
}

static void drain(NexusGovernor *g) {
    NexusGovernorEvent e;
    while (nexus_governor_poll_event(g, &e) == NEXUS_STATUS_OK) {
    }
}

/* ---- eviction listener that records reasons ------------------------------- */

typedef struct {
    int governor_evictions;
    int other;
} Reasons;

static void on_evict(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                     uint64_t bytes) {
    (void)key;
    (void)key_len;
    Reasons *r = ctx;
    if (reason == NEXUS_EVICTION_REASON_GOVERNOR && bytes == ENTRY) {
        r->governor_evictions++;
    } else {
        r->other++;
    }
}

static void test_lowest_priority_gives_first(void) {
    NexusGovernor *g = new_governor(30 * ENTRY);
    NexusStore *low = new_store(0), *mid = new_store(0), *high = new_store(0);
    Reasons reasons = {0, 0};
    CHECK_OK(nexus_store_set_eviction_listener(low, on_evict, &reasons, NULL));
    join(g, low, 1, 0);
    join(g, mid, 2, 0);
    join(g, high, 3, 0);
    for (int k = 0; k < 10; k++) {
        put(low, k);
        put(mid, k);
        put(high, k);
    }
    drain(g);
    for (int k = 10; k < 15; k++) put(high, k);
    CHECK(usage(low) == 5 * ENTRY);
    CHECK(usage(mid) == 10 * ENTRY);
    CHECK(usage(high) == 15 * ENTRY);
    CHECK(!has(low, 0) && !has(low, 4) && has(low, 5)); /* its LRU order */
    CHECK(reasons.governor_evictions == 5 && reasons.other == 0);

    NexusGovernorEvent e;
    int sheds = 0;
    while (nexus_governor_poll_event(g, &e) == NEXUS_STATUS_OK) {
        CHECK(e.kind == NEXUS_GOVERNOR_EVENT_KIND_SHED);
        CHECK(e.store_id == id_of(low));
        CHECK(e.cause == NEXUS_SHED_CAUSE_OVER_BUDGET);
        CHECK(e.bytes == ENTRY && e.count == 1);
        CHECK(e.total_usage == 30 * ENTRY);
        CHECK(e.sequence > 0);
        sheds++;
    }
    CHECK(sheds == 5);
    CHECK_STATUS(nexus_governor_poll_event(g, &e), NEXUS_STATUS_EMPTY);

    NexusGovernorMemberMetrics mm;
    CHECK_OK(nexus_governor_member_metrics(g, low, &mm));
    CHECK(mm.store_id == id_of(low) && mm.priority == 1);
    CHECK(mm.shed_bytes_over_budget == 5 * ENTRY && mm.shed_entries == 5);
    CHECK(mm.shed_bytes_pressure == 0 && mm.shed_bytes_ceiling == 0);
    CHECK(mm.usage_bytes == 5 * ENTRY && mm.entry_count == 5);
    CHECK_OK(nexus_governor_member_metrics(g, high, &mm));
    CHECK(mm.shed_entries == 0);
    NexusGovernorMetrics gm;
    CHECK_OK(nexus_governor_metrics(g, &gm));
    CHECK(gm.budget_bytes == 30 * ENTRY && gm.budget_in_force == 30 * ENTRY);
    CHECK(gm.total_usage == 30 * ENTRY && gm.member_count == 3);
    CHECK(gm.shed_bytes == 5 * ENTRY && gm.shed_entries == 5 && gm.unmet_bytes == 0);
    CHECK(strcmp(nexus_shed_cause_str(NEXUS_SHED_CAUSE_OVER_BUDGET), "OVER_BUDGET") == 0);
    CHECK(strcmp(nexus_shed_cause_str(NEXUS_SHED_CAUSE_CEILING), "CEILING") == 0);
    CHECK(strcmp(nexus_shed_cause_str(3), "UNKNOWN") == 0);
    CHECK(strcmp(nexus_governor_event_kind_str(NEXUS_GOVERNOR_EVENT_KIND_UNMET), "UNMET") == 0);
    CHECK(strcmp(nexus_governor_event_kind_str(99), "UNKNOWN") == 0);

    CHECK_OK(nexus_governor_free(g));
    /* Members stay stores, in no governor: no more shedding. */
    for (int k = 20; k < 40; k++) put(low, k);
    CHECK(usage(low) == 25 * ENTRY);
    CHECK_OK(nexus_store_free(low));
    CHECK_OK(nexus_store_free(mid));
    CHECK_OK(nexus_store_free(high));
}

static void test_floors_hold_and_a_direct_signal_still_sheds(void) {
    NexusGovernor *g = new_governor(30 * ENTRY);
    NexusStore *low = new_store(0), *high = new_store(0);
    join(g, low, 1, 4 * ENTRY);
    join(g, high, 2, 2 * ENTRY);
    for (int k = 0; k < 10; k++) {
        put(low, k);
        put(high, k);
    }
    CHECK_OK(nexus_governor_signal_pressure(g, NEXUS_PRESSURE_LEVEL_EMERGENCY));
    CHECK(usage(low) == 4 * ENTRY && usage(high) == 2 * ENTRY);
    NexusGovernorMetrics gm;
    CHECK_OK(nexus_governor_metrics(g, &gm));
    CHECK(gm.level == NEXUS_PRESSURE_LEVEL_EMERGENCY && gm.budget_in_force == 0);
    /* Under the held budget (0), a put is shed back to the floor at once:
     * the oldest entry goes, the new one stays. */
    put(high, 50);
    CHECK(usage(high) == 2 * ENTRY && has(high, 50));
    /* The store's own signal is not the governor's: it goes below. */
    CHECK_OK(nexus_store_signal_pressure(low, NEXUS_PRESSURE_LEVEL_EMERGENCY));
    CHECK(usage(low) == 0);
    CHECK_OK(nexus_store_signal_pressure(low, NEXUS_PRESSURE_LEVEL_NONE));
    /* NONE ends it: room again. */
    CHECK_OK(nexus_governor_signal_pressure(g, NEXUS_PRESSURE_LEVEL_NONE));
    for (int k = 0; k < 10; k++) put(low, k);
    CHECK(usage(low) == 10 * ENTRY);
    NexusGovernorMemberMetrics mm;
    CHECK_OK(nexus_governor_member_metrics(g, low, &mm));
    CHECK(mm.shed_bytes_pressure == 6 * ENTRY && mm.floor_bytes == 4 * ENTRY);
    CHECK_OK(nexus_governor_free(g));
    CHECK_OK(nexus_store_free(low));
    CHECK_OK(nexus_store_free(high));
}

static void test_ceiling_and_set_member(void) {
    NexusGovernor *g = new_governor(100 * ENTRY);
    NexusStore *s = new_store(0);
    NexusGovernorMember m;
    nexus_governor_member_init(&m);
    m.priority = 5;
    m.ceiling_bytes = 3 * ENTRY;
    CHECK_OK(nexus_governor_join(g, s, &m));
    for (int k = 0; k < 6; k++) put(s, k);
    CHECK(usage(s) == 3 * ENTRY);
    NexusGovernorMemberMetrics mm;
    CHECK_OK(nexus_governor_member_metrics(g, s, &mm));
    CHECK(mm.shed_bytes_ceiling == 3 * ENTRY && mm.ceiling_bytes == 3 * ENTRY);
    m.ceiling_bytes = 0; /* no ceiling */
    CHECK_OK(nexus_governor_set_member(g, s, &m));
    for (int k = 6; k < 12; k++) put(s, k);
    CHECK(usage(s) == 9 * ENTRY);
    /* A lower budget is enforced at once. */
    CHECK_OK(nexus_governor_set_budget(g, 4 * ENTRY));
    CHECK(usage(s) == 4 * ENTRY);
    CHECK_OK(nexus_governor_leave(g, s));
    CHECK_STATUS(nexus_governor_leave(g, s), NEXUS_STATUS_NOT_FOUND);
    CHECK_STATUS(nexus_governor_member_metrics(g, s, &mm), NEXUS_STATUS_NOT_FOUND);
    CHECK_OK(nexus_governor_free(g));
    CHECK_OK(nexus_store_free(s));
}

static void test_a_freed_store_leaves(void) {
    NexusGovernor *g = new_governor(10 * ENTRY);
    NexusStore *a = new_store(0), *b = new_store(0);
    join(g, a, 1, 5 * ENTRY);
    join(g, b, 1, 5 * ENTRY);
    uint64_t a_id = id_of(a);
    put(a, 1);
    drain(g);
    CHECK_OK(nexus_store_free(a));
    NexusGovernorEvent e;
    CHECK_OK(nexus_governor_poll_event(g, &e));
    CHECK(e.kind == NEXUS_GOVERNOR_EVENT_KIND_LEFT && e.store_id == a_id);
    NexusGovernorMetrics gm;
    CHECK_OK(nexus_governor_metrics(g, &gm));
    CHECK(gm.member_count == 1);
    /* Its floor no longer counts against the budget. */
    CHECK_OK(nexus_governor_set_budget(g, 5 * ENTRY));
    CHECK_STATUS(nexus_governor_join(g, a, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    NexusGovernorMember m;
    nexus_governor_member_init(&m);
    CHECK_STATUS(nexus_governor_join(g, a, &m), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_OK(nexus_store_free(b));
    CHECK_OK(nexus_governor_free(g));
    CHECK_STATUS(nexus_governor_free(g), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_governor_enforce(g), NEXUS_STATUS_ERR_INVALID_HANDLE);
}

static void test_bad_input(void) {
    NexusGovernorConfig c;
    nexus_governor_config_init(&c);
    CHECK(c.struct_size == sizeof c && c.signal_moderate_keep == 0.75);
    NexusGovernor *g = NULL;
    CHECK_STATUS(nexus_governor_new(&c, &g), NEXUS_STATUS_ERR_INVALID_ARGUMENT); /* budget 0 */
    CHECK(g == NULL);
    c.budget_bytes = 10 * ENTRY;
    c.struct_size = sizeof c + 8;
    CHECK_STATUS(nexus_governor_new(&c, &g), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "struct_size") != NULL);
    c.struct_size = offsetof(NexusGovernorConfig, event_queue_capacity) + 1;
    CHECK_STATUS(nexus_governor_new(&c, &g), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "NexusGovernorConfig.event_queue_capacity") != NULL);
    CHECK(g == NULL);
    /* An older caller's shorter struct: the rest keeps its defaults. */
    c.struct_size = sizeof(size_t) + sizeof(uint64_t);
    c.event_queue_capacity = 0; /* beyond its struct_size: not read */
    CHECK_OK(nexus_governor_new(&c, &g));
    NexusStore *s = new_store(0);
    NexusGovernorMember m;
    nexus_governor_member_init(&m);
    m.floor_bytes = 5 * ENTRY;
    m.ceiling_bytes = ENTRY;
    CHECK_STATUS(nexus_governor_join(g, s, &m), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "below the floor") != NULL);
    m.ceiling_bytes = 0;
    m.floor_bytes = 11 * ENTRY;
    CHECK_STATUS(nexus_governor_join(g, s, &m), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    m.floor_bytes = 0;
    /* A struct_size that ends inside a field is no header's size: refused,
     * the field named, rather than read as half a count. */
    m.struct_size = offsetof(NexusGovernorMember, floor_bytes) + 4;
    CHECK_STATUS(nexus_governor_join(g, s, &m), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "NexusGovernorMember.floor_bytes") != NULL);
    m.struct_size = sizeof m;
    CHECK_OK(nexus_governor_join(g, s, &m));
    CHECK_STATUS(nexus_governor_join(g, s, &m), NEXUS_STATUS_ERR_BUSY);
    NexusGovernor *other = new_governor(ENTRY);
    CHECK_STATUS(nexus_governor_join(other, s, &m), NEXUS_STATUS_ERR_BUSY);
    CHECK_STATUS(nexus_governor_signal_pressure(g, 7), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nexus_governor_set_budget(g, 0), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nexus_governor_metrics(g, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK_STATUS(nexus_governor_metrics(NULL, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK_OK(nexus_governor_free(NULL));
    CHECK_OK(nexus_governor_free_deferred(NULL));
    CHECK_OK(nexus_governor_free_deferred(other));
    CHECK_STATUS(nexus_governor_free_deferred(other), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_governor_free(other), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_OK(nexus_governor_free(g));
    CHECK_OK(nexus_store_free(s));
}

/* ---- callbacks ----------------------------------------------------------- */

typedef struct {
    NexusGovernor *g;
    NexusStore *other;
    int events;
    int sheds;
    int destroyed;
    NexusStatus free_status;
    uint64_t last_sequence;
    bool in_order;
} Heard;

static void on_event(void *ctx, const NexusGovernorEvent *e) {
    Heard *h = ctx;
    h->events++;
    if (h->last_sequence != 0 && e->sequence != h->last_sequence + 1) h->in_order = false;
    h->last_sequence = e->sequence;
    if (e->kind == NEXUS_GOVERNOR_EVENT_KIND_SHED) {
        h->sheds++;
        /* Calls back in: a free of the governor from here waits for
         * itself, so it is refused; a put into a member is fine. */
        h->free_status = nexus_governor_free(h->g);
        if (h->sheds == 1) put(h->other, 999);
    }
}

static void on_destroy(void *ctx) { ((Heard *)ctx)->destroyed++; }

/* A put into `putter` makes the governor shed `shed`, whose listener then
 * tries to free `putter`: that free would wait for the put it runs inside,
 * so it is refused with BUSY (and the put completes). The deferred free is
 * always possible from there. */
typedef struct {
    NexusStore *putter;
    NexusStatus free_status;
    NexusStatus deferred_status;
    int calls;
} FreesPutter;

static void free_putter_on_evict(void *ctx, const uint8_t *key, size_t key_len,
                                 NexusEvictionReason reason, uint64_t bytes) {
    (void)key;
    (void)key_len;
    (void)bytes;
    FreesPutter *f = ctx;
    if (reason != NEXUS_EVICTION_REASON_GOVERNOR) return;
    if (f->calls++ == 0) {
        f->free_status = nexus_store_free(f->putter);
        f->deferred_status = nexus_store_free_deferred(f->putter);
    }
}

static void test_free_of_the_putting_store_from_a_shed_listener_is_busy(void) {
    NexusGovernor *g = new_governor(4 * ENTRY);
    NexusStore *shed = new_store(0), *putter = new_store(0);
    FreesPutter f = {putter, NEXUS_STATUS_OK, NEXUS_STATUS_ERR_PANIC, 0};
    CHECK_OK(nexus_store_set_eviction_listener(shed, free_putter_on_evict, &f, NULL));
    join(g, shed, 1, 0);
    join(g, putter, 2, 0);
    for (int k = 0; k < 4; k++) put(shed, k);
    drain(g);
    put(putter, 0); /* sheds one entry of `shed`: the listener runs */
    CHECK(f.calls == 1);
    CHECK_STATUS(f.free_status, NEXUS_STATUS_ERR_BUSY);
    CHECK_OK(f.deferred_status);
    CHECK(usage(shed) == 3 * ENTRY);
    /* The deferred free took effect once the put returned. */
    CHECK_STATUS(nexus_store_put(putter, (const uint8_t *)"k001", 4, value, VALUE_LEN),
                 NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_OK(nexus_governor_free(g));
    CHECK_OK(nexus_store_free(shed));
}

static void test_event_callback(void) {
    NexusGovernor *g = new_governor(10 * ENTRY);
    NexusStore *a = new_store(0), *b = new_store(0);
    join(g, a, 1, 0);
    join(g, b, 2, 0);
    drain(g);
    Heard h = {g, b, 0, 0, 0, NEXUS_STATUS_OK, 0, true};
    CHECK_OK(nexus_governor_set_event_callback(g, on_event, &h, on_destroy));
    for (int k = 0; k < 8; k++) put(a, k);
    for (int k = 0; k < 4; k++) put(b, k);
    CHECK(h.sheds >= 2);
    CHECK(h.free_status == NEXUS_STATUS_ERR_BUSY);
    CHECK(has(b, 999));
    CHECK(usage(a) + usage(b) <= 10 * ENTRY);
    CHECK(h.in_order);
    NexusGovernorEvent e;
    CHECK_STATUS(nexus_governor_poll_event(g, &e), NEXUS_STATUS_EMPTY);
    CHECK(h.destroyed == 0);
    CHECK_OK(nexus_governor_free(g));
    CHECK(h.destroyed == 1);
    CHECK_OK(nexus_store_free(a));
    CHECK_OK(nexus_store_free(b));
}

/* ---- threads ------------------------------------------------------------- */

typedef struct {
    NexusStore *s;
    int base;
} Worker;

static void *worker(void *arg) {
    Worker *w = arg;
    uint8_t v[64];
    memset(v, 7, sizeof v);
    for (int i = 0; i < 300; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "w%d-%d", w->base, i % 97);
        nexus_store_put(w->s, (const uint8_t *)key, (size_t)n, v, sizeof v);
    }
    return NULL;
}

static void test_threads_share_one_budget(void) {
    NexusGovernor *g = new_governor(40 * ENTRY);
    NexusStore *stores[3] = {new_store(0), new_store(0), new_store(0)};
    for (uint32_t i = 0; i < 3; i++) join(g, stores[i], i, ENTRY);
    pthread_t t[6];
    Worker w[6];
    for (int i = 0; i < 6; i++) {
        w[i].s = stores[i % 3];
        w[i].base = i;
        CHECK(pthread_create(&t[i], NULL, worker, &w[i]) == 0);
    }
    /* A store freed and signals sent while the others put. */
    CHECK_OK(nexus_governor_signal_pressure(g, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK_OK(nexus_governor_signal_pressure(g, NEXUS_PRESSURE_LEVEL_NONE));
    for (int i = 0; i < 6; i++) CHECK(pthread_join(t[i], NULL) == 0);
    CHECK_OK(nexus_governor_enforce(g));
    NexusGovernorMetrics gm;
    CHECK_OK(nexus_governor_metrics(g, &gm));
    CHECK(gm.total_usage <= 40 * ENTRY);
    CHECK(gm.total_usage == usage(stores[0]) + usage(stores[1]) + usage(stores[2]));
    CHECK(gm.shed_bytes > 0);
    for (int i = 0; i < 3; i++) CHECK_OK(nexus_store_free(stores[i]));
    CHECK_OK(nexus_governor_metrics(g, &gm));
    CHECK(gm.member_count == 0);
    CHECK_OK(nexus_governor_free(g));
}

/* ---- audit 19 -------------------------------------------------------------- */

/* A governor freed with nexus_governor_free_deferred from its own event
 * callback (as a C++ destructor or a finalizer may): its members are in
 * no governor from then on, as the header says, although the call that
 * runs the callback keeps the governor alive until it returns. Joining
 * another governor was BUSY ("a member of a governor already", and
 * leaving the freed one is INVALID_HANDLE), and the dying governor's pass
 * went on to shed the store that had left it. */
typedef struct {
    NexusGovernor *g, *g2;
    NexusStore *s;
    int calls;
    NexusStatus free_status, join_status;
} Retires;

static void free_and_join_elsewhere(void *ctx, const NexusGovernorEvent *e) {
    Retires *r = ctx;
    (void)e;
    if (r->calls++ != 0) return;
    r->free_status = nexus_governor_free_deferred(r->g);
    NexusGovernorMember m;
    nexus_governor_member_init(&m);
    r->join_status = nexus_governor_join(r->g2, r->s, &m);
}

static void test_members_of_a_governor_freed_deferred_are_in_no_governor(void) {
    NexusGovernor *g = new_governor(10 * ENTRY), *g2 = new_governor(10 * ENTRY);
    NexusStore *s = new_store(0);
    join(g, s, 0, 0);
    for (int k = 0; k < 4; k++) put(s, k);
    Retires r = {g, g2, s, 0, NEXUS_STATUS_ERR_PANIC, NEXUS_STATUS_ERR_PANIC};
    CHECK_OK(nexus_governor_set_event_callback(g, free_and_join_elsewhere, &r, NULL));
    /* LEVEL_CHANGED reaches the callback, then the signal's pass runs. */
    CHECK_OK(nexus_governor_signal_pressure(g, NEXUS_PRESSURE_LEVEL_MODERATE));
    CHECK(r.calls >= 1);
    CHECK_OK(r.free_status);
    CHECK_OK(r.join_status);
    CHECK(usage(s) == 4 * ENTRY); /* the freed governor took nothing */
    NexusGovernorMemberMetrics mm;
    CHECK_OK(nexus_governor_member_metrics(g2, s, &mm));
    CHECK(mm.store_id == id_of(s));
    CHECK_STATUS(nexus_governor_enforce(g), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_OK(nexus_governor_free(g2));
    CHECK_OK(nexus_store_free(s));
}

/* A put that finds another thread's pass running takes its growth at once
 * from the lowest priority: it reads every member's usage, which drops
 * their expired entries and runs their listeners, on the putting thread.
 * Those listeners ran outside the governor's scope: a nexus_governor_free
 * from one was not BUSY but waited for the governor's last user, the very
 * put it ran inside, for good. Now it is BUSY, as from a pass.
 * Thread 2's pass (a lower budget) is held inside `c`'s listener while the
 * main thread puts into `a`. */
#define AL(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define AS(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
static int c_blocked, release_c, free_entered, growth_done;
static NexusStatus expired_free_status = NEXUS_STATUS_ERR_PANIC;
static NexusGovernor *growth_g;

static void sleep_a_ms(void) {
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
}

static void block_on_governor_shed(void *ctx, const uint8_t *key, size_t key_len,
                                   NexusEvictionReason reason, uint64_t bytes) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)bytes;
    if (reason != NEXUS_EVICTION_REASON_GOVERNOR || AL(&c_blocked)) return;
    AS(&c_blocked, 1);
    for (int i = 0; i < 20000 && !AL(&release_c); i++) sleep_a_ms();
}

static void free_governor_on_expiry(void *ctx, const uint8_t *key, size_t key_len,
                                    NexusEvictionReason reason, uint64_t bytes) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)bytes;
    if (reason != NEXUS_EVICTION_REASON_EXPIRED || AL(&free_entered)) return;
    AS(&free_entered, 1);
    expired_free_status = nexus_governor_free(growth_g);
}

static void *lower_the_budget(void *arg) {
    (void)arg;
    nexus_governor_set_budget(growth_g, 5 * ENTRY);
    return NULL;
}

static NexusStore *growth_a;
static void *put_big(void *arg) {
    static uint8_t big[30000];
    (void)arg;
    nexus_store_put(growth_a, (const uint8_t *)"big", 3, big, sizeof big);
    AS(&growth_done, 1);
    return NULL;
}

static void test_a_free_from_a_listener_run_by_a_put_taking_its_growth_is_busy(void) {
    growth_g = new_governor(100 * ENTRY);
    NexusStore *a = new_store(0), *b = new_store(0), *c = new_store(0);
    growth_a = a;
    CHECK_OK(nexus_store_set_eviction_listener(b, free_governor_on_expiry, NULL, NULL));
    CHECK_OK(nexus_store_set_eviction_listener(c, block_on_governor_shed, NULL, NULL));
    join(growth_g, a, 2, 0);
    join(growth_g, b, 1, 0);
    join(growth_g, c, 0, 0);
    put(a, 0);
    CHECK_OK(nexus_store_put_ttl(b, (const uint8_t *)"k000", 4, value, VALUE_LEN, 300));
    for (int k = 0; k < 10; k++) put(c, k);
    pthread_t pass, putter;
    CHECK(pthread_create(&pass, NULL, lower_the_budget, NULL) == 0);
    for (int i = 0; i < 10000 && !AL(&c_blocked); i++) sleep_a_ms();
    CHECK(AL(&c_blocked)); /* thread 2's pass is inside c's listener */
    for (int i = 0; i < 400; i++) sleep_a_ms(); /* b's entry expires */
    CHECK(pthread_create(&putter, NULL, put_big, NULL) == 0);
    for (int i = 0; i < 10000 && !AL(&free_entered); i++) sleep_a_ms();
    CHECK(AL(&free_entered));
    AS(&release_c, 1);
    for (int i = 0; i < 10000 && !AL(&growth_done); i++) sleep_a_ms();
    CHECK(AL(&growth_done)); /* else the free waits for the put for good */
    CHECK(pthread_join(putter, NULL) == 0);
    CHECK(pthread_join(pass, NULL) == 0);
    CHECK_STATUS(expired_free_status, NEXUS_STATUS_ERR_BUSY);
    CHECK_OK(nexus_governor_free(growth_g));
    CHECK_OK(nexus_store_free(a));
    CHECK_OK(nexus_store_free(b));
    CHECK_OK(nexus_store_free(c));
}

/* The blocking nexus_governor_free waits for calls in flight; meanwhile
 * (its handle already invalid) the members are in no governor either: a
 * listener that the pass in flight runs may move its store to another
 * governor. It got BUSY ("a member of a governor already") until the free
 * returned, which needed that listener to return first. */
static int c2_in, c2_done;
static NexusStatus c2_join = NEXUS_STATUS_ERR_PANIC, c2_free = NEXUS_STATUS_ERR_PANIC;
static NexusGovernor *c2_g, *c2_g2;
static NexusStore *c2_store;

static void move_on_governor_shed(void *ctx, const uint8_t *key, size_t key_len,
                                  NexusEvictionReason reason, uint64_t bytes) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)bytes;
    if (reason != NEXUS_EVICTION_REASON_GOVERNOR || AL(&c2_in)) return;
    AS(&c2_in, 1);
    NexusGovernorMember m;
    nexus_governor_member_init(&m);
    /* Until the free (started once we are in here) lets the store go. */
    for (int i = 0; i < 5000; i++) {
        c2_join = nexus_governor_join(c2_g2, c2_store, &m);
        if (c2_join == NEXUS_STATUS_OK) break;
        sleep_a_ms();
    }
}

static void *lower_c2_budget(void *arg) {
    (void)arg;
    nexus_governor_set_budget(c2_g, 2 * ENTRY);
    AS(&c2_done, 1);
    return NULL;
}

static void *free_c2(void *arg) {
    (void)arg;
    c2_free = nexus_governor_free(c2_g);
    return NULL;
}

static void test_members_of_a_governor_being_freed_are_in_no_governor(void) {
    c2_g = new_governor(100 * ENTRY);
    c2_g2 = new_governor(100 * ENTRY);
    NexusStore *c = new_store(0);
    c2_store = c;
    CHECK_OK(nexus_store_set_eviction_listener(c, move_on_governor_shed, NULL, NULL));
    join(c2_g, c, 0, 0);
    for (int k = 0; k < 10; k++) put(c, k);
    pthread_t pass, freer;
    CHECK(pthread_create(&pass, NULL, lower_c2_budget, NULL) == 0);
    for (int i = 0; i < 10000 && !AL(&c2_in); i++) sleep_a_ms();
    CHECK(AL(&c2_in));
    CHECK(pthread_create(&freer, NULL, free_c2, NULL) == 0);
    CHECK(pthread_join(freer, NULL) == 0);
    CHECK(pthread_join(pass, NULL) == 0);
    CHECK_OK(c2_free);
    CHECK_OK(c2_join);
    NexusGovernorMemberMetrics mm;
    CHECK_OK(nexus_governor_member_metrics(c2_g2, c, &mm));
    CHECK_OK(nexus_governor_free(c2_g2));
    CHECK_OK(nexus_store_free(c));
}

int main(void) {
    memset(value, 1, sizeof value);
    RUN(test_lowest_priority_gives_first);
    RUN(test_floors_hold_and_a_direct_signal_still_sheds);
    RUN(test_ceiling_and_set_member);
    RUN(test_a_freed_store_leaves);
    RUN(test_bad_input);
    RUN(test_event_callback);
    RUN(test_free_of_the_putting_store_from_a_shed_listener_is_busy);
    RUN(test_threads_share_one_budget);
    RUN(test_members_of_a_governor_freed_deferred_are_in_no_governor);
    RUN(test_a_free_from_a_listener_run_by_a_put_taking_its_growth_is_busy);
    RUN(test_members_of_a_governor_being_freed_are_in_no_governor);
    FINISH();
}
