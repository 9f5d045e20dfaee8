/* Shared helpers for the C tests: each test_*.c is one program; a failed
 * check prints where and why and exits non-zero. The closing line
 * "N passed, 0 failed" is what CI reads. */
#ifndef NEXUS_TEST_UTIL_H
#define NEXUS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus_store.h"

static int nexus_test_checks = 0;
static const char *nexus_test_name = "";

#define KEY(s) (const uint8_t *)(s), strlen(s)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        nexus_test_checks++;                                                         \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__,   \
                    nexus_test_name, #cond);                                         \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* Checks that `call` returns `status` (and, on failure, that a message was
 * left for nexus_last_error_message()). */
#define CHECK_STATUS(call, status)                                                   \
    do {                                                                             \
        NexusStatus nexus_got_ = (call);                                             \
        nexus_test_checks++;                                                         \
        if (nexus_got_ != (status)) {                                                \
            fprintf(stderr, "%s:%d: [%s] %s returned %s (%u), expected %s: %s\n",    \
                    __FILE__, __LINE__, nexus_test_name, #call,                      \
                    nexus_status_str(nexus_got_), nexus_got_, #status,               \
                    nexus_last_error_message());                                     \
            exit(1);                                                                 \
        }                                                                            \
        if ((status) != NEXUS_STATUS_OK && (status) != NEXUS_STATUS_EMPTY &&         \
            nexus_last_error_message()[0] == '\0') {                                 \
            fprintf(stderr, "%s:%d: [%s] %s failed without a message\n", __FILE__,   \
                    __LINE__, nexus_test_name, #call);                               \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, NEXUS_STATUS_OK)

/* Runs one test function and counts it. */
static int nexus_tests_passed = 0;
#define RUN(fn)                                                                      \
    do {                                                                             \
        nexus_test_name = #fn;                                                       \
        fn();                                                                        \
        nexus_tests_passed++;                                                        \
        printf("ok - %s\n", #fn);                                                    \
    } while (0)

#define FINISH()                                                                     \
    do {                                                                             \
        printf("(%d checks)\n", nexus_test_checks);                                   \
        printf("%d passed, 0 failed\n", nexus_tests_passed);                          \
        return 0;                                                                    \
    } while (0)

/* A bounded store with the default config and `max` bytes. */
static inline NexusStore *new_store(uint64_t max) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    c.max_cache_bytes = max;
    NexusStore *s = NULL;
    if (nexus_store_new(&c, &s) != NEXUS_STATUS_OK || s == NULL) {
        fprintf(stderr, "new_store failed: %s\n", nexus_last_error_message());
        exit(1);
    }
    return s;
}

/* A store made from `c` (which must be valid). */
static inline NexusStore *store_from(const NexusMemoryConfig *c) {
    NexusStore *s = NULL;
    CHECK_OK(nexus_store_new(c, &s));
    CHECK(s != NULL);
    return s;
}

/* The store's metrics. */
static inline NexusMemoryMetrics metrics_of(NexusStore *s) {
    NexusMemoryMetrics m;
    CHECK_OK(nexus_store_memory_metrics(s, &m));
    return m;
}

/* Whether the test runs under valgrind (slower: tests may do less work). */
static inline int under_valgrind(void) { return getenv("NEXUS_TEST_UNDER_VALGRIND") != NULL; }

#endif
