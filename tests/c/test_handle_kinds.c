/* A store handle passed where a governor handle goes, or the reverse, is
 * NEXUS_STATUS_ERR_INVALID_HANDLE and changes neither object (header:
 * nexus_store_free "not a store", nexus_governor_free "not a governor").
 * Audit 7 found the first store and the first governor of a process with
 * the same handle value, so that nexus_store_free(governor) freed the live
 * store. Its own program: the first test makes the first store and the
 * first governor of this process (slot 0, generation 1 in each table). */
#include "test_util.h"

static NexusGovernor *new_governor(void) {
    NexusGovernorConfig config;
    nexus_governor_config_init(&config);
    config.budget_bytes = 50000;
    NexusGovernor *g = NULL;
    CHECK_OK(nexus_governor_new(&config, &g));
    return g;
}

/* Every cross call is refused, and both objects are as they were. */
static void check_apart(NexusStore *s, NexusGovernor *g) {
    NexusStore *g_as_store = (NexusStore *)(void *)g;
    NexusGovernor *s_as_governor = (NexusGovernor *)(void *)s;
    CHECK((void *)g_as_store != (void *)s);

    CHECK_STATUS(nexus_store_put(g_as_store, KEY("k"), KEY("from the governor")),
                 NEXUS_STATUS_ERR_INVALID_HANDLE);
    bool present = true;
    CHECK_STATUS(nexus_store_contains(g_as_store, KEY("k"), &present),
                 NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK(present); /* out-param untouched */
    CHECK_STATUS(nexus_governor_set_budget(s_as_governor, 5), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_store_free(g_as_store), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_store_free_deferred(g_as_store), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_governor_free(s_as_governor), NEXUS_STATUS_ERR_INVALID_HANDLE);
    CHECK_STATUS(nexus_governor_free_deferred(s_as_governor), NEXUS_STATUS_ERR_INVALID_HANDLE);

    /* The store still holds its entry and nothing else; the governor
     * kept its budget. */
    CHECK_OK(nexus_store_contains(s, KEY("mine"), &present));
    CHECK(present);
    CHECK_OK(nexus_store_contains(s, KEY("k"), &present));
    CHECK(!present);
    NexusGovernorMetrics m;
    CHECK_OK(nexus_governor_metrics(g, &m));
    CHECK(m.budget_bytes == 50000);
}

/* A store and a governor made, checked apart, and freed. */
static void make_check_free_a_pair(void) {
    NexusStore *s = new_store(100000);
    NexusGovernor *g = new_governor();
    CHECK_OK(nexus_store_put(s, KEY("mine"), KEY("v")));
    check_apart(s, g);
    CHECK_OK(nexus_governor_free(g));
    CHECK_OK(nexus_store_free(s));
}

static void test_the_first_store_and_governor_are_told_apart(void) {
    make_check_free_a_pair();
}

/* Slots reused in both tables, several generations on. */
static void test_reused_slots_are_told_apart(void) {
    for (int round = 0; round < 5; round++) make_check_free_a_pair();
}

int main(void) {
    RUN(test_the_first_store_and_governor_are_told_apart);
    RUN(test_reused_slots_are_told_apart);
    FINISH();
}
