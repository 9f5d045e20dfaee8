/* The process-wide OS pressure monitor through the C API: config checks,
 * start twice / stop twice, a fake cgroup v1 tree (in a temp folder) that
 * moves a store to CRITICAL and back to NONE, stop from a store callback on
 * the monitor thread, the budget callback and its ctx, the real host's
 * files, and process exit with the monitor still running. */
#define _XOPEN_SOURCE 700
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <ftw.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ALOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ASTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define AINC(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* A wait that never ends fails the program instead of hanging it. */
static void on_alarm(int sig) {
    static const char msg[] = "watchdog: test_monitor did not finish in time\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(3);
}

static char tree[256];

static void put_file(const char *rel, const char *text) {
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/%s", tree, rel);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    CHECK(rename(tmp, path) == 0); /* the monitor never reads half a file */
}

static void make_dirs(void) {
    const char *dirs[] = {"proc", "proc/self", "sys", "sys/fs", "sys/fs/cgroup",
                          "sys/fs/cgroup/memory", "sys/fs/cgroup/memory/job"};
    char path[512];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tree, dirs[i]);
        CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    }
}

static void set_usage_mib(unsigned mib) {
    char text[64];
    snprintf(text, sizeof text, "%llu\n", (unsigned long long)mib << 20);
    put_file("sys/fs/cgroup/memory/job/memory.usage_in_bytes", text);
}

/* A fake host: cgroup v1 with a 100 MiB limit, plenty of RAM, no PSI. */
static void fake_host(unsigned usage_mib) {
    make_dirs();
    put_file("proc/self/cgroup", "4:memory:/job\n0::/\n");
    put_file("proc/meminfo", "MemTotal: 16000000 kB\nMemAvailable: 15000000 kB\n");
    put_file("sys/fs/cgroup/memory/job/memory.limit_in_bytes", "104857600\n");
    set_usage_mib(usage_mib);
}

static NexusMonitorConfig fast_config(void) {
    NexusMonitorConfig c;
    nexus_monitor_config_init(&c);
    c.fs_root = tree;
    c.sample_interval_ms = 10;
    c.min_level_ms = 50;
    c.resignal_ms = 0;
    return c;
}

static NexusMonitorStatus status_now(void) {
    NexusMonitorStatus s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(nexus_monitor_status(&s));
    CHECK(s.struct_size == sizeof s);
    return s;
}

static NexusPressureLevel level_of(NexusStore *store) {
    NexusPressureLevel l = 99;
    CHECK_OK(nexus_store_pressure_level(store, &l));
    return l;
}

static uint64_t entries_of(NexusStore *store) {
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(store, &m));
    return m.entry_count;
}

static void fill(NexusStore *store, int n) {
    char key[32], value[1000];
    memset(value, 'v', sizeof value);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK_OK(nexus_store_put(store, KEY(key), (const uint8_t *)value, sizeof value));
    }
}

static int destroyed = 0;
static void count_destroy(void *ctx) {
    (void)ctx;
    AINC(&destroyed);
}

static void test_config_checks(void) {
    NexusMonitorConfig c;
    nexus_monitor_config_init(&c);
    CHECK(c.struct_size == sizeof c);
    CHECK(c.sample_interval_ms == 1000 && c.min_level_ms == 5000 && c.resignal_ms == 5000);
    CHECK(c.psi_enabled && !c.psi_poll_only && c.cgroup_enabled && c.headroom_enabled);
    CHECK(c.psi_moderate.stall == NEXUS_PSI_STALL_SOME && c.psi_moderate.stall_us == 70000);
    CHECK(c.psi_emergency.stall == NEXUS_PSI_STALL_FULL && c.psi_emergency.window_us == 2000000);
    CHECK(c.fs_root == NULL && c.budget_fn == NULL && !c.budget_apply_to_stores);
    nexus_monitor_config_init(NULL); /* does nothing */

    CHECK_STATUS(nexus_monitor_start(NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    c.sample_interval_ms = 0;
    c.budget_ctx = &destroyed;
    c.budget_ctx_destroy = count_destroy;
    destroyed = 0;
    CHECK_STATUS(nexus_monitor_start(&c), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "sample_interval_ms") != NULL);
    CHECK(ALOAD(&destroyed) == 1); /* a failed start destroys the ctx at once */
    nexus_monitor_config_init(&c);
    c.struct_size = 3;
    CHECK_STATUS(nexus_monitor_start(&c), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "too small") != NULL);
    /* A struct_size that ends inside the destroy pointer: refused, and the
     * half-covered pointer is never called (the ctx, which lies within,
     * has no destroy: nothing is destroyed). */
    nexus_monitor_config_init(&c);
    c.budget_ctx = &destroyed;
    c.budget_ctx_destroy = count_destroy;
    c.struct_size = offsetof(NexusMonitorConfig, budget_ctx_destroy) + 3;
    destroyed = 0;
    CHECK_STATUS(nexus_monitor_start(&c), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK(strstr(nexus_last_error_message(), "NexusMonitorConfig.budget_ctx_destroy") != NULL);
    CHECK(ALOAD(&destroyed) == 0);
    nexus_monitor_config_init(&c);
    c.cgroup_critical = 0.5; /* below moderate */
    CHECK_STATUS(nexus_monitor_start(&c), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    nexus_monitor_config_init(&c);
    c.psi_critical.stall = 9;
    CHECK_STATUS(nexus_monitor_start(&c), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nexus_monitor_stop(), NEXUS_STATUS_NOT_FOUND);

    NexusMonitorStatus s;
    CHECK_STATUS(nexus_monitor_status(NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    s.struct_size = 0;
    CHECK_STATUS(nexus_monitor_status(&s), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    size_t len = 0;
    CHECK_STATUS(nexus_monitor_source_detail(7, NULL, 0, &len), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(nexus_monitor_source_detail(0, NULL, 0, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
}

/* A run stops only itself: an owner whose run someone else stopped, and
 * someone restarted, stops nothing (nexus::Monitor relies on it). */
static void test_a_run_stops_only_itself(void) {
    fake_host(1);
    NexusMonitorConfig c = fast_config();
    uint64_t first = 0, second = 0, unwritten = 77;
    CHECK_STATUS(nexus_monitor_start_run(&c, NULL), NEXUS_STATUS_ERR_NULL_ARGUMENT);
    CHECK(!status_now().running);
    CHECK_OK(nexus_monitor_start_run(&c, &first));
    CHECK(first != 0);
    CHECK_STATUS(nexus_monitor_start_run(&c, &unwritten), NEXUS_STATUS_ERR_BUSY);
    CHECK(unwritten == 77);
    CHECK_OK(nexus_monitor_stop());
    CHECK_STATUS(nexus_monitor_stop_run(first), NEXUS_STATUS_NOT_FOUND);
    CHECK_OK(nexus_monitor_start_run(&c, &second));
    CHECK(second > first);
    CHECK_STATUS(nexus_monitor_stop_run(first), NEXUS_STATUS_NOT_FOUND);
    CHECK(strstr(nexus_last_error_message(), "is not running") != NULL);
    CHECK(status_now().running);
    CHECK_OK(nexus_monitor_stop_run(second));
    CHECK(!status_now().running);
    CHECK_STATUS(nexus_monitor_stop_run(second), NEXUS_STATUS_NOT_FOUND);
}

static void test_start_twice_stop_twice(void) {
    fake_host(1);
    NexusMonitorConfig c = fast_config();
    CHECK_OK(nexus_monitor_start(&c));
    destroyed = 0;
    c.budget_ctx = &destroyed;
    c.budget_ctx_destroy = count_destroy;
    CHECK_STATUS(nexus_monitor_start(&c), NEXUS_STATUS_ERR_BUSY);
    CHECK(strstr(nexus_last_error_message(), "already running") != NULL);
    CHECK(ALOAD(&destroyed) == 1);
    CHECK(status_now().running);
    CHECK_OK(nexus_monitor_stop());
    CHECK_STATUS(nexus_monitor_stop(), NEXUS_STATUS_NOT_FOUND);
    NexusMonitorStatus s = status_now();
    CHECK(!s.running);
    /* An older header's smaller struct gets only what it knows. */
    NexusMonitorStatus small;
    memset(&small, 0xAB, sizeof small);
    small.struct_size = offsetof(NexusMonitorStatus, signals);
    CHECK_OK(nexus_monitor_status(&small));
    CHECK(small.struct_size == offsetof(NexusMonitorStatus, signals));
    CHECK(small.running == false);
    CHECK(small.samples == 0xABABABABABABABABull); /* untouched */
    /* A size that ends inside a field is no header's: refused, nothing
     * written (audit 7: it was accepted and the field torn). */
    const size_t torn[] = {offsetof(NexusMonitorStatus, raw_level) + 2,
                           offsetof(NexusMonitorStatus, sources) + 3, sizeof(NexusMonitorStatus) - 1};
    for (size_t i = 0; i < sizeof torn / sizeof torn[0]; i++) {
        memset(&small, 0xAB, sizeof small);
        small.struct_size = torn[i];
        CHECK_STATUS(nexus_monitor_status(&small), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
        CHECK(strstr(nexus_last_error_message(), "ends inside NexusMonitorStatus.") != NULL);
        CHECK(small.struct_size == torn[i]);
        CHECK(small.samples == 0xABABABABABABABABull);
    }
}

/* A budget_ctx with a destroy but no budget_fn lives until the monitor
 * thread ends, as the field's doc says (audit 7: it was destroyed before
 * nexus_monitor_start returned). */
static void test_a_budget_ctx_without_budget_fn_lives_until_stop(void) {
    fake_host(1);
    NexusMonitorConfig c = fast_config();
    destroyed = 0;
    c.budget_ctx = &destroyed;
    c.budget_ctx_destroy = count_destroy;
    CHECK(c.budget_fn == NULL);
    CHECK_OK(nexus_monitor_start(&c));
    CHECK(ALOAD(&destroyed) == 0);
    CHECK(status_now().running);
    CHECK_OK(nexus_monitor_stop());
    CHECK(ALOAD(&destroyed) == 1);
}

static void test_fake_cgroup_moves_a_store_up_and_back(void) {
    fake_host(10);
    NexusStore *store = new_store(64u << 20);
    fill(store, 100);
    NexusMonitorConfig c = fast_config();
    CHECK_OK(nexus_monitor_start(&c));
    NexusMonitorStatus s = status_now();
    CHECK(s.running);
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_PSI].state == NEXUS_MONITOR_SOURCE_ABSENT);
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_CGROUP_V2].state == NEXUS_MONITOR_SOURCE_ABSENT);
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_CGROUP_V1].state == NEXUS_MONITOR_SOURCE_ACTIVE);
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_HEADROOM].state == NEXUS_MONITOR_SOURCE_ACTIVE);

    size_t len = 0;
    CHECK_STATUS(nexus_monitor_source_detail(NEXUS_MONITOR_SOURCE_PSI, NULL, 0, &len),
                 NEXUS_STATUS_ERR_BUFFER_TOO_SMALL);
    char detail[512];
    CHECK(len > 1 && len <= sizeof detail);
    CHECK_OK(nexus_monitor_source_detail(NEXUS_MONITOR_SOURCE_PSI, detail, sizeof detail, &len));
    CHECK(strstr(detail, "missing") != NULL);

    set_usage_mib(91);
    while (level_of(store) != NEXUS_PRESSURE_LEVEL_CRITICAL) sleep_ms(2);
    CHECK(entries_of(store) < 100);
    s = status_now();
    CHECK(s.level == NEXUS_PRESSURE_LEVEL_CRITICAL);
    CHECK(s.signal_levels[NEXUS_MONITOR_SOURCE_CGROUP_V1] == NEXUS_PRESSURE_LEVEL_CRITICAL);
    CHECK(s.signal_levels[NEXUS_MONITOR_SOURCE_PSI] == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_CGROUP_V1].usage_bytes == 91ull << 20);
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_CGROUP_V1].limit_bytes == 100ull << 20);

    set_usage_mib(5);
    while (level_of(store) != NEXUS_PRESSURE_LEVEL_NONE) sleep_ms(2);
    CHECK(status_now().signals >= 2);
    CHECK_OK(nexus_monitor_stop());
    CHECK_OK(nexus_store_free(store));
}

static int stop_status = -1;
static void stop_on_pressure_eviction(void *ctx, const NexusEvent *e) {
    (void)ctx;
    if (e->kind == NEXUS_EVENT_KIND_EVICTION && e->reason == NEXUS_EVICTION_REASON_PRESSURE &&
        ALOAD(&stop_status) == -1) {
        ASTORE(&stop_status, (int)nexus_monitor_stop());
    }
}

static void test_stop_from_a_callback(void) {
    fake_host(1);
    NexusStore *store = new_store(64u << 20);
    fill(store, 10);
    stop_status = -1;
    CHECK_OK(nexus_store_set_event_callback(store, stop_on_pressure_eviction, NULL, NULL));
    NexusMonitorConfig c = fast_config();
    CHECK_OK(nexus_monitor_start(&c));
    set_usage_mib(99);
    while (ALOAD(&stop_status) == -1) sleep_ms(2);
    CHECK(ALOAD(&stop_status) == NEXUS_STATUS_OK);
    while (status_now().running) sleep_ms(2);
    CHECK_STATUS(nexus_monitor_stop(), NEXUS_STATUS_NOT_FOUND);
    CHECK(level_of(store) == NEXUS_PRESSURE_LEVEL_EMERGENCY);
    CHECK_OK(nexus_store_free(store));
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
}

static uint64_t last_budget = 0;
static void on_budget(void *ctx, uint64_t bytes) {
    (void)ctx;
    __atomic_store_n(&last_budget, bytes, __ATOMIC_SEQ_CST);
}

static void test_budget_callback_and_its_ctx(void) {
    fake_host(60);
    NexusMonitorConfig c = fast_config();
    c.budget_fraction = 0.5;
    c.budget_floor_bytes = 4u << 20;
    c.budget_fn = on_budget;
    c.budget_ctx = &destroyed;
    c.budget_ctx_destroy = count_destroy;
    destroyed = 0;
    last_budget = 0;
    CHECK_OK(nexus_monitor_start(&c));
    while (__atomic_load_n(&last_budget, __ATOMIC_SEQ_CST) != 20u << 20) sleep_ms(2);
    set_usage_mib(98);
    while (__atomic_load_n(&last_budget, __ATOMIC_SEQ_CST) != 4u << 20) sleep_ms(2);
    CHECK(ALOAD(&destroyed) == 0);
    CHECK_OK(nexus_monitor_stop());
    CHECK(ALOAD(&destroyed) == 1); /* after the thread ended */
}

/* The budget callback is a callback like the stores' ones: replacing a
 * store's callback from it returns at once. Here it replaces an eviction
 * listener that another thread is inside, and that thread stops the monitor
 * (joining the monitor thread): waiting for that thread, as a replace
 * outside callbacks does, hung both for good. */
static NexusStore *g_replaced_store;
static int g_in_budget_fn, g_in_listener, g_dance;
static NexusStatus g_replace_status = 99, g_stop_status = 99;

static void budget_replaces_the_listener(void *ctx, uint64_t bytes) {
    (void)ctx;
    (void)bytes;
    if (!__atomic_exchange_n(&g_dance, 0, __ATOMIC_SEQ_CST)) return;
    ASTORE(&g_in_budget_fn, 1);
    while (!ALOAD(&g_in_listener)) sleep_ms(1);
    ASTORE(&g_replace_status, nexus_store_set_eviction_listener(g_replaced_store, NULL, NULL, NULL));
}

static void listener_stops_the_monitor(void *ctx, const uint8_t *key, size_t key_len, NexusEvictionReason reason,
                                       uint64_t bytes) {
    (void)ctx;
    (void)key;
    (void)key_len;
    (void)reason;
    (void)bytes;
    ASTORE(&g_in_listener, 1);
    while (!ALOAD(&g_in_budget_fn)) sleep_ms(1);
    ASTORE(&g_stop_status, nexus_monitor_stop());
}

static void *remove_a_key(void *arg) {
    CHECK_OK(nexus_store_remove((NexusStore *)arg, KEY("k0")));
    return NULL;
}

static void test_budget_fn_replacing_a_callback_does_not_wait(void) {
    fake_host(60);
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE)); /* what the last test left */
    NexusStore *store = new_store(64u << 20);
    fill(store, 3);
    g_replaced_store = store;
    destroyed = 0;
    CHECK_OK(nexus_store_set_eviction_listener(store, listener_stops_the_monitor, NULL, count_destroy));
    NexusMonitorConfig c = fast_config();
    c.budget_fraction = 0.5;
    c.budget_fn = budget_replaces_the_listener;
    ASTORE(&g_dance, 1);
    CHECK_OK(nexus_monitor_start(&c));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, remove_a_key, store) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(ALOAD(&g_replace_status) == NEXUS_STATUS_OK);
    CHECK(ALOAD(&g_stop_status) == NEXUS_STATUS_OK);
    CHECK(ALOAD(&destroyed) == 1); /* the old listener's destroy, once its call returned */
    CHECK(!status_now().running);
    CHECK_OK(nexus_store_free(store));
}

/* With budget_apply_to_stores the monitor sets the stores' budgets itself. */
static void test_budget_applied_to_stores(void) {
    fake_host(60);
    NexusStore *s = new_store(64u << 20);
    NexusMonitorConfig c = fast_config();
    c.budget_fraction = 0.5;
    c.budget_floor_bytes = 4u << 20;
    c.budget_apply_to_stores = true;
    CHECK_OK(nexus_monitor_start(&c));
    NexusMemoryMetrics m;
    do {
        sleep_ms(2);
        CHECK_OK(nexus_store_memory_metrics(s, &m));
    } while (m.max_cache_bytes != 20u << 20); /* half of the 40 MiB room */
    set_usage_mib(98);
    do {
        sleep_ms(2);
        CHECK_OK(nexus_store_memory_metrics(s, &m));
    } while (m.max_cache_bytes != 4u << 20); /* the floor */
    CHECK_OK(nexus_monitor_stop());
    CHECK_OK(nexus_store_free(s));
}

/* A child forked while the monitor runs has no monitor thread: it reads as
 * stopped there, and the child may start its own. The parent's runs on.
 * The child reports through a pipe and ends by exec'ing /bin/true: the
 * parent's monitor thread's memory is unreachable in a forked child by
 * nature, and a leak check at the child's exit (ASan, valgrind) would
 * count it; an exec runs none. */
static void test_fork_while_running(void) {
    fake_host(1);
    NexusMonitorConfig c = fast_config();
    CHECK_OK(nexus_monitor_start(&c));
    fflush(stdout);
    int report[2];
    CHECK(pipe(report) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        NexusMonitorStatus s;
        memset(&s, 0, sizeof s);
        s.struct_size = sizeof s;
        int ok = nexus_monitor_status(&s) == NEXUS_STATUS_OK && !s.running &&
                 nexus_monitor_stop() == NEXUS_STATUS_NOT_FOUND &&
                 nexus_monitor_start(&c) == NEXUS_STATUS_OK &&
                 nexus_monitor_stop() == NEXUS_STATUS_OK;
        char verdict = ok ? 'y' : 'n';
        if (write(report[1], &verdict, 1) != 1) {
        }
        execl("/bin/true", "true", (char *)NULL);
        _exit(1);
    }
    close(report[1]);
    char verdict = 0;
    CHECK(read(report[0], &verdict, 1) == 1);
    close(report[0]);
    CHECK(verdict == 'y');
    int wstatus = 0;
    CHECK(waitpid(pid, &wstatus, 0) == pid);
    CHECK(status_now().running);
    CHECK_OK(nexus_monitor_stop());
}

static void test_real_host(void) {
    NexusMonitorConfig c;
    nexus_monitor_config_init(&c);
    c.sample_interval_ms = 20;
    CHECK_OK(nexus_monitor_start(&c));
    while (status_now().samples < 2) sleep_ms(2);
    NexusMonitorStatus s = status_now();
    static const char *states[] = {"absent", "active", "polling", "failed"};
    for (unsigned k = 0; k < NEXUS_MONITOR_SOURCE_COUNT; k++) {
        char detail[1024];
        size_t len = 0;
        CHECK_OK(nexus_monitor_source_detail(k, detail, sizeof detail, &len));
        CHECK(s.sources[k].state != NEXUS_MONITOR_SOURCE_FAILED);
        printf("  source %u: %s (%s)\n", k, states[s.sources[k].state], detail);
    }
    struct stat st;
    if (stat("/proc/pressure/memory", &st) == 0) {
        unsigned psi = s.sources[NEXUS_MONITOR_SOURCE_PSI].state;
        CHECK(psi == NEXUS_MONITOR_SOURCE_ACTIVE || psi == NEXUS_MONITOR_SOURCE_POLLING);
    }
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_HEADROOM].total_bytes > 0);
    CHECK_OK(nexus_monitor_stop());
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
}

/* Last: the process exits with the monitor running (ASan and valgrind
 * check that nothing leaks or faults on the way out). */
static void test_exit_with_the_monitor_running(void) {
    NexusMonitorConfig c = fast_config();
    CHECK_OK(nexus_monitor_start(&c));
    CHECK(status_now().running);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(void) { nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- audit 19: hostile trees and a stop from a callback -------------------- */

/* A tree of its own below `tree` (the fake host of the other tests stays
 * as it is): `sub`'s folders. */
static void make_sub_dirs(const char *sub, const char *const *dirs, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tree, sub);
    CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s/%s", tree, sub, dirs[i]);
        CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
    }
}

static NexusMonitorStatus status_after_samples(uint64_t samples) {
    NexusMonitorStatus s = status_now();
    while (s.samples < samples) {
        sleep_ms(2);
        s = status_now();
    }
    return s;
}

/* MemTotal 0 is no reading (a real kernel never says it): the source
 * FAILED, its level NONE; it read as no memory at all, EMERGENCY, and every
 * store shed everything it could. */
static void test_a_meminfo_total_of_zero_is_malformed(void) {
    static const char *const dirs[] = {"proc"};
    make_sub_dirs("zero", dirs, 1);
    put_file("zero/proc/meminfo", "MemTotal: 0 kB\nMemAvailable: 0 kB\n");
    char root[300];
    snprintf(root, sizeof root, "%s/zero", tree);
    NexusStore *store = new_store(64u << 20);
    fill(store, 10);
    NexusMonitorConfig c = fast_config();
    c.fs_root = root;
    c.psi_enabled = false;
    c.cgroup_enabled = false;
    CHECK_OK(nexus_monitor_start(&c));
    NexusMonitorStatus s = status_after_samples(3);
    CHECK_OK(nexus_monitor_stop());
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_HEADROOM].state == NEXUS_MONITOR_SOURCE_FAILED);
    CHECK(s.sources[NEXUS_MONITOR_SOURCE_HEADROOM].level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(s.level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(level_of(store) == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(entries_of(store) == 10);
    CHECK_OK(nexus_store_free(store));
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
}

/* PSI's avg10 is a percentage: "inf", "nan" or 1e300 (Rust's float parser
 * takes them all) is a malformed file, FAILED at NONE. The first sample
 * (no history yet) projected inf% of the window as stall: EMERGENCY. */
static void test_a_psi_average_out_of_range_is_malformed(void) {
    static const char *const dirs[] = {"proc", "proc/pressure"};
    make_sub_dirs("psi", dirs, 2);
    char root[300];
    snprintf(root, sizeof root, "%s/psi", tree);
    static const char *const texts[] = {
        "some avg10=inf avg60=0.00 avg300=0.00 total=0\nfull avg10=inf avg60=0.00 avg300=0.00 total=0\n",
        "some avg10=1e300 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        "some avg10=nan avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        put_file("psi/proc/pressure/memory", texts[i]);
        NexusMonitorConfig c = fast_config();
        c.fs_root = root;
        c.cgroup_enabled = false;
        c.headroom_enabled = false;
        CHECK_OK(nexus_monitor_start(&c));
        NexusMonitorStatus s = status_after_samples(2);
        CHECK_OK(nexus_monitor_stop());
        const NexusMonitorSource *psi = &s.sources[NEXUS_MONITOR_SOURCE_PSI];
        CHECK(psi->state == NEXUS_MONITOR_SOURCE_FAILED);
        CHECK(psi->level == NEXUS_PRESSURE_LEVEL_NONE);
        CHECK(psi->some_avg10 == psi->some_avg10); /* never NaN */
        CHECK(s.level == NEXUS_PRESSURE_LEVEL_NONE);
    }
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
}

/* A FIFO where a source reads a file (a fake tree gone wrong): opening it
 * blocked until a writer came, so nexus_monitor_start never returned (and
 * held the lock every other monitor call takes). Now it is no regular file:
 * that source FAILED. Run on a thread; the main thread waits with a
 * generous timeout. */
static int fifo_done = 0;
static NexusStatus fifo_start = 99, fifo_stop = 99;
static NexusMonitorStatus fifo_status;
static char fifo_root[300];

static void *start_on_fifos(void *arg) {
    (void)arg;
    NexusMonitorConfig c = fast_config();
    c.fs_root = fifo_root;
    c.psi_enabled = false;
    fifo_start = nexus_monitor_start(&c);
    if (fifo_start == NEXUS_STATUS_OK) {
        fifo_status = status_after_samples(3);
        fifo_stop = nexus_monitor_stop();
    }
    ASTORE(&fifo_done, 1);
    return NULL;
}

static void test_a_fifo_in_the_tree_never_hangs_the_monitor(void) {
    static const char *const dirs[] = {"proc", "proc/self", "sys", "sys/fs", "sys/fs/cgroup",
                                       "sys/fs/cgroup/job"};
    make_sub_dirs("fifo", dirs, sizeof dirs / sizeof dirs[0]);
    put_file("fifo/proc/self/cgroup", "0::/job\n");
    put_file("fifo/sys/fs/cgroup/job/memory.current", "1000\n");
    put_file("fifo/sys/fs/cgroup/job/memory.high", "max\n");
    put_file("fifo/sys/fs/cgroup/job/memory.max", "104857600\n");
    char path[512];
    snprintf(path, sizeof path, "%s/fifo/proc/meminfo", tree);
    CHECK(mkfifo(path, 0600) == 0);
    snprintf(path, sizeof path, "%s/fifo/sys/fs/cgroup/job/memory.events", tree);
    CHECK(mkfifo(path, 0600) == 0);
    snprintf(fifo_root, sizeof fifo_root, "%s/fifo", tree);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, start_on_fifos, NULL) == 0);
    for (int i = 0; i < 10000 && !ALOAD(&fifo_done); i++) sleep_ms(2);
    CHECK(ALOAD(&fifo_done)); /* else it hangs in a FIFO's open or read */
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(fifo_start == NEXUS_STATUS_OK);
    CHECK(fifo_stop == NEXUS_STATUS_OK);
    const NexusMonitorSource *headroom = &fifo_status.sources[NEXUS_MONITOR_SOURCE_HEADROOM];
    const NexusMonitorSource *v2 = &fifo_status.sources[NEXUS_MONITOR_SOURCE_CGROUP_V2];
    CHECK(headroom->state == NEXUS_MONITOR_SOURCE_FAILED);
    CHECK(v2->state == NEXUS_MONITOR_SOURCE_FAILED);
    char detail[600];
    size_t len = 0;
    CHECK_OK(nexus_monitor_source_detail(NEXUS_MONITOR_SOURCE_HEADROOM, detail, sizeof detail, &len));
    CHECK(strstr(detail, "not a regular file") != NULL);
}

/* A run that starts while the stores are at a level (the last run's, kept
 * by its stop; or the app's own signal) takes that level as read at its
 * start, and steps it down after min_level_ms without it, as any. It began
 * at NONE instead and, reading NONE, never signalled: every store (and
 * every store made later) stayed at EMERGENCY for as long as it ran, while
 * nexus_monitor_status said NONE. */
static void test_a_new_run_lifts_the_level_a_stopped_one_left(void) {
    fake_host(99);
    NexusStore *store = new_store(64u << 20);
    NexusMonitorConfig c = fast_config();
    CHECK_OK(nexus_monitor_start(&c));
    while (level_of(store) != NEXUS_PRESSURE_LEVEL_EMERGENCY) sleep_ms(2);
    CHECK_OK(nexus_monitor_stop());
    set_usage_mib(1);
    CHECK_OK(nexus_monitor_start(&c));
    status_after_samples(3);
    /* min_level_ms is 50: a generous wait for the step down. */
    for (int i = 0; i < 2500 && level_of(store) != NEXUS_PRESSURE_LEVEL_NONE; i++) sleep_ms(2);
    NexusMonitorStatus s = status_now();
    CHECK_OK(nexus_monitor_stop());
    CHECK(level_of(store) == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK(s.level == NEXUS_PRESSURE_LEVEL_NONE);
    CHECK_OK(nexus_store_free(store));
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
}

/* poll(2) refuses its set when the process's RLIMIT_NOFILE is below the
 * number of fds polled (EINVAL): the monitor took every error for EINTR and
 * polled again at once, for good: one core at 100% and no sample any more.
 * Now it waits on its stop fd alone (or sleeps a slice when even that is
 * refused) and samples on. RLIMIT_NOFILE 0 refuses any set on every host.
 * (Not under valgrind, which keeps file limits of its own.) */
static void test_a_poll_the_kernel_refuses_neither_spins_nor_stops_sampling(void) {
    if (under_valgrind()) return;
    fake_host(1);
    NexusMonitorConfig c = fast_config();
    CHECK_OK(nexus_monitor_start(&c));
    status_after_samples(2);
    struct rlimit old, none;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    none.rlim_cur = 0;
    none.rlim_max = old.rlim_max;
    CHECK(setrlimit(RLIMIT_NOFILE, &none) == 0);
    uint64_t before = status_now().samples, after = before;
    for (int i = 0; i < 5000 && after < before + 5; i++) {
        sleep_ms(2);
        after = status_now().samples;
    }
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    CHECK_OK(nexus_monitor_stop());
    CHECK(after >= before + 5); /* 10 ms samples: 5 in 10 s at the least */
}

/* A stop from a store callback run by a signal: the thread ends when that
 * signal returns. It went on to the headroom budget of the same sample and
 * called budget_fn once more, after nexus_monitor_stop had returned. */
static int stopped_in_callback = 0, budgets_after_stop = 0;
static void stop_and_mark(void *ctx, const NexusEvent *e) {
    (void)ctx;
    if (e->kind == NEXUS_EVENT_KIND_EVICTION && e->reason == NEXUS_EVICTION_REASON_PRESSURE &&
        ALOAD(&stopped_in_callback) == 0) {
        CHECK_OK(nexus_monitor_stop());
        ASTORE(&stopped_in_callback, 1);
    }
}
static void budget_after_stop(void *ctx, uint64_t bytes) {
    (void)ctx;
    (void)bytes;
    if (ALOAD(&stopped_in_callback)) AINC(&budgets_after_stop);
}

static void test_no_budget_after_a_stop_from_a_callback(void) {
    fake_host(99); /* EMERGENCY from the first sample, with a budget */
    NexusStore *store = new_store(64u << 20);
    fill(store, 10);
    CHECK_OK(nexus_store_set_event_callback(store, stop_and_mark, NULL, NULL));
    NexusMonitorConfig c = fast_config();
    c.budget_fraction = 0.5;
    c.budget_fn = budget_after_stop;
    CHECK_OK(nexus_monitor_start(&c));
    while (!ALOAD(&stopped_in_callback)) sleep_ms(2);
    while (status_now().running) sleep_ms(2);
    CHECK(ALOAD(&budgets_after_stop) == 0);
    CHECK_STATUS(nexus_monitor_stop(), NEXUS_STATUS_NOT_FOUND);
    CHECK_OK(nexus_store_free(store));
    CHECK_OK(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE));
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(under_valgrind() ? 300 : 60);
    snprintf(tree, sizeof tree, "/tmp/nexus-monitor-c-XXXXXX");
    CHECK(mkdtemp(tree) != NULL);
    atexit(remove_tree);
    RUN(test_config_checks);
    RUN(test_start_twice_stop_twice);
    RUN(test_a_run_stops_only_itself);
    RUN(test_a_budget_ctx_without_budget_fn_lives_until_stop);
    RUN(test_fake_cgroup_moves_a_store_up_and_back);
    RUN(test_stop_from_a_callback);
    RUN(test_budget_callback_and_its_ctx);
    RUN(test_budget_applied_to_stores);
    RUN(test_budget_fn_replacing_a_callback_does_not_wait);
    RUN(test_a_meminfo_total_of_zero_is_malformed);
    RUN(test_a_fifo_in_the_tree_never_hangs_the_monitor);
    RUN(test_a_psi_average_out_of_range_is_malformed);
    RUN(test_no_budget_after_a_stop_from_a_callback);
    RUN(test_a_new_run_lifts_the_level_a_stopped_one_left);
    RUN(test_a_poll_the_kernel_refuses_neither_spins_nor_stops_sampling);
    RUN(test_fork_while_running);
    RUN(test_real_host);
    RUN(test_exit_with_the_monitor_running);
    alarm(0);
    /* The fake tree goes at exit; the running monitor may see it vanish. */
    FINISH();
}
