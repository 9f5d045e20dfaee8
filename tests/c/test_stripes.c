/* Call counting across processes and library unloads (src/ffi/handles.rs):
 * on Linux the first few threads at a time count their calls on stripes of
 * their own, with plain stores, frees order those stores with membarrier,
 * and a pthread key's destructor gives a thread's stripe back at its exit.
 *
 * - A child process after fork: only the forking thread survives; the
 *   parent's other threads still "own" their stripes, and the membarrier
 *   registration is the parent's (Linux keeps it across fork). In the
 *   child, calls from new threads, blocking and deferred frees all work,
 *   and a store that was live at the fork (with no call in flight) is freed
 *   there.
 * - The shared library loaded with dlopen, called from a thread, and
 *   dlclosed while that thread lives: when the thread exits, the key's
 *   destructor (code of the library) must still be there (the library
 *   keeps itself loaded). Runs where target/release/libnexus_store.so is
 *   (make's C test runs, from the repository's root).
 *
 * - A process that a seccomp filter already confines before its first call,
 *   one that kills the process for membarrier (as systemd's
 *   SystemCallFilter= can): the library never tries membarrier there (it
 *   reads the process's seccomp mode first) and every call and free works.
 *   The filter is installed in a fresh process (this program run again with
 *   --seccomp-child), whose library has not made its choice yet.
 *
 * The watchdog fails a free that waits for good. */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "test_sync.h"

static void watchdog(void) { watchdog_secs(60, 300); }

static void count_release(void *ctx, void *object) {
    (void)object;
    AINC((int *)ctx);
}

/* A few calls on `s`: OK, NOT_FOUND or (once freed) INVALID_HANDLE, which
 * ends them. Returns how many gave another status. */
static int some_calls(NexusStore *s, int calls) {
    uint8_t buf[16];
    int bad = 0;
    for (int i = 0; i < calls; i++) {
        size_t len = 0;
        NexusStatus st = (i % 4 == 3) ? nexus_store_put(s, KEY("k"), KEY("value"))
                                      : nexus_store_get_copy(s, KEY("k"), buf, sizeof buf, &len);
        if (st == NEXUS_STATUS_ERR_INVALID_HANDLE) break;
        if (st != NEXUS_STATUS_OK && st != NEXUS_STATUS_NOT_FOUND) bad++;
    }
    return bad;
}

/* ---- a child process after fork -------------------------------------------------- */

typedef struct {
    NexusStore *s;
    int *stop;
    int bad;
} LoopCaller;

static void *loop_caller(void *arg) {
    LoopCaller *c = arg;
    while (!ALOAD(c->stop)) c->bad += some_calls(c->s, 10);
    return NULL;
}

static void *child_caller(void *arg) {
    LoopCaller *c = arg;
    c->bad += some_calls(c->s, 2000);
    return NULL;
}

/* The child's part: 0 if every check held. */
static int child_after_fork(NexusStore *live) {
    int ok = 1;
    /* The store made before the fork, with no call in flight on it. */
    ok &= nexus_store_put(live, KEY("k"), KEY("value")) == NEXUS_STATUS_OK;
    ok &= nexus_store_free(live) == NEXUS_STATUS_OK;
    for (int deferred = 0; deferred < 2; deferred++) {
        NexusStore *s = NULL;
        NexusMemoryConfig c;
        nexus_memory_config_init(&c);
        if (nexus_store_new(&c, &s) != NEXUS_STATUS_OK) return 1;
        int released = 0;
        static int obj;
        ok &= nexus_store_put_object(s, KEY("o"), &obj, 10, count_release, &released) ==
              NEXUS_STATUS_OK;
        LoopCaller callers[5];
        pthread_t t[5];
        for (int i = 0; i < 5; i++) {
            callers[i] = (LoopCaller){.s = s, .stop = NULL, .bad = 0};
            if (pthread_create(&t[i], NULL, child_caller, &callers[i]) != 0) return 1;
        }
        NexusStatus st = deferred ? nexus_store_free_deferred(s) : nexus_store_free(s);
        ok &= st == NEXUS_STATUS_OK;
        for (int i = 0; i < 5; i++) {
            if (pthread_join(t[i], NULL) != 0) return 1;
            ok &= callers[i].bad == 0;
        }
        ok &= ALOAD(&released) == 1;
    }
    return ok ? 0 : 1;
}

static void test_a_child_after_fork_calls_and_frees(void) {
    watchdog();
    int rounds = under_valgrind() ? 1 : 20;
    for (int round = 0; round < rounds; round++) {
        NexusStore *busy = new_store(0);
        NexusStore *live = new_store(0);
        int stop = 0;
        /* Threads of the parent that own stripes (and call) at the fork. */
        LoopCaller callers[3];
        pthread_t t[3];
        for (int i = 0; i < 3; i++) {
            callers[i] = (LoopCaller){.s = busy, .stop = &stop, .bad = 0};
            CHECK(pthread_create(&t[i], NULL, loop_caller, &callers[i]) == 0);
        }
        CHECK_OK(nexus_store_put(live, KEY("k"), KEY("value")));
        sleep_ms(5);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            alarm(under_valgrind() ? 200 : 30);
            int failed = child_after_fork(live);
            /* Ends by exec, not exit: valgrind would count the parent's
             * threads' stacks, gone in the child, as leaked (as in
             * test_monitor's fork test). */
            execl(failed ? "/bin/false" : "/bin/true", failed ? "false" : "true", (char *)NULL);
            _exit(failed ? 1 : 0);
        }
        int wstatus = 0;
        CHECK(waitpid(pid, &wstatus, 0) == pid);
        if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
            fprintf(stderr, "child: %s %d\n", WIFEXITED(wstatus) ? "exit" : "signal",
                    WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
        CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
        ASTORE(&stop, 1);
        for (int i = 0; i < 3; i++) {
            CHECK(pthread_join(t[i], NULL) == 0);
            CHECK(callers[i].bad == 0);
        }
        CHECK_OK(nexus_store_free(busy));
        CHECK_OK(nexus_store_free(live));
    }
}

/* ---- the library dlclosed while a thread that called it lives ------------------ */

typedef NexusStatus (*put_fn)(NexusStore *, const uint8_t *, size_t, const uint8_t *, size_t);

typedef struct {
    put_fn put;
    NexusStore *s;
    Gate called;   /* opened by the thread after its call */
    Gate unloaded; /* opened by the main thread after dlclose */
    NexusStatus status;
} Unloaded;

static void *call_then_wait(void *arg) {
    Unloaded *u = arg;
    u->status = u->put(u->s, KEY("k"), KEY("value"));
    gate_open(&u->called);
    gate_wait(&u->unloaded);
    return NULL; /* the thread's exit runs the library's key destructor */
}

static void test_a_thread_exits_after_the_library_was_dlclosed(void) {
    watchdog();
    void *lib = dlopen("target/release/libnexus_store.so", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        printf("  (skipped: no target/release/libnexus_store.so here)\n");
        return;
    }
    void (*config_init)(NexusMemoryConfig *);
    NexusStatus (*store_new)(const NexusMemoryConfig *, NexusStore **);
    NexusStatus (*store_free)(NexusStore *);
    Unloaded u;
    memset(&u, 0, sizeof u);
    /* POSIX's way to take a function from dlsym in ISO C. */
    *(void **)(&config_init) = dlsym(lib, "nexus_memory_config_init");
    *(void **)(&store_new) = dlsym(lib, "nexus_store_new");
    *(void **)(&store_free) = dlsym(lib, "nexus_store_free");
    *(void **)(&u.put) = dlsym(lib, "nexus_store_put");
    CHECK(config_init && store_new && store_free && u.put);
    NexusMemoryConfig c;
    config_init(&c);
    CHECK(store_new(&c, &u.s) == NEXUS_STATUS_OK);
    gate_init(&u.called);
    gate_init(&u.unloaded);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, call_then_wait, &u) == 0);
    gate_wait(&u.called);
    CHECK(u.status == NEXUS_STATUS_OK);
    CHECK(store_free(u.s) == NEXUS_STATUS_OK);
    CHECK(dlclose(lib) == 0);
    gate_open(&u.unloaded);
    /* Before the library kept itself loaded: SIGSEGV in the thread's exit. */
    CHECK(pthread_join(t, NULL) == 0);
    gate_destroy(&u.called);
    gate_destroy(&u.unloaded);
}

/* ---- a process confined by a seccomp filter ------------------------------------- */

/* Runs in the fresh process: kill the process on membarrier, then use stores
 * (calls, both frees, a second thread). Exits 0 when everything worked. */
static int seccomp_child(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 3;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return 4;
    for (int round = 0; round < 2; round++) {
        NexusStore *s = new_store(0);
        if (nexus_store_put(s, KEY("k"), KEY("v")) != NEXUS_STATUS_OK) return 5;
        if (some_calls(s, 100) != 0) return 6;
        NexusStatus st = round ? nexus_store_free_deferred(s) : nexus_store_free(s);
        if (st != NEXUS_STATUS_OK) return 7;
    }
    return 0;
}

static const char *g_self;

static void test_a_process_under_a_seccomp_filter_never_calls_membarrier(void) {
    watchdog();
    if (under_valgrind()) return; /* valgrind runs its own system calls under the filter */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", g_self, "--seccomp-child", (char *)NULL);
        _exit(2);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
        fprintf(stderr, "[%s] the confined process died of signal %d (SIGSYS is %d: membarrier was tried)\n",
                nexus_test_name, WTERMSIG(status), SIGSYS);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--seccomp-child") == 0) return seccomp_child();
    g_self = argv[0];
    RUN(test_a_child_after_fork_calls_and_frees);
    RUN(test_a_thread_exits_after_the_library_was_dlclosed);
    RUN(test_a_process_under_a_seccomp_filter_never_calls_membarrier);
    alarm(0);
    FINISH();
}
