/* Call counting in a child process after fork (src/ffi/handles.rs): on
 * Linux the first few threads at a time count their calls on stripes of
 * their own, with plain stores, and frees order those stores with
 * membarrier. After fork only the forking thread survives: the parent's
 * other threads still "own" their stripes, and the membarrier registration
 * is the parent's (Linux keeps it across fork). In the child, calls from new
 * threads, blocking and deferred frees all work, and a store that was live
 * at the fork (with no call in flight) is freed there. The watchdog fails a
 * free that waits for good. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
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

int main(void) {
    RUN(test_a_child_after_fork_calls_and_frees);
    alarm(0);
    FINISH();
}
