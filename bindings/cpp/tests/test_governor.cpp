// nexus::Governor: lowest priority gives first, floors hold, ceilings, the
// event callback (and its exceptions), metrics, RAII of both sides.
#include "test_support.hpp"

#include <nexus/governor.hpp>

#include <string>
#include <vector>

using nexus_test::status_is;
using nexus_test::unwrap;

namespace {

// Every entry: a 4-byte key and a value making it exactly kEntry bytes.
constexpr std::uint64_t kEntry = 200;
const std::string kValue(kEntry - 4 - NEXUS_ENTRY_OVERHEAD_BYTES, 'v');

std::string key(int k) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "k%03d", k);
    return buf;
}

void fill(nexus::Store& s, int from, int to) {
    for (int k = from; k < to; k++) ASSERT_TRUE(s.try_put(key(k), kValue).ok());
}

std::uint64_t usage(const nexus::Store& s) { return unwrap(s.try_metrics()).current_usage; }

nexus::Governor make_governor(std::uint64_t budget) {
    return unwrap(nexus::Governor::create(nexus::GovernorConfig().budget(budget)));
}

}  // namespace

TEST(Governor, PollEventSaysEmptyAndAMovedFromGovernorFails) {
    auto g = make_governor(20 * kEntry);
    while (g.poll_event()) {
    }
    EXPECT_EQ(g.try_poll_event().status().code(), nexus::StatusCode::empty);
    nexus::Governor moved = std::move(g);
    EXPECT_NE(g.try_poll_event().status().code(), nexus::StatusCode::empty);  // NOLINT(bugprone-use-after-move)
#if NEXUS_CPP_EXCEPTIONS
    EXPECT_THROW(static_cast<void>(g.poll_event()), nexus::Error);  // NOLINT(bugprone-use-after-move)
#endif
    EXPECT_FALSE(moved.poll_event().has_value());
}

TEST(Governor, LowestPriorityGivesFirstAndEventsSayWhoAndWhy) {
    auto g = make_governor(20 * kEntry);
    auto low = nexus_test::make_store();
    auto high = nexus_test::make_store();
    ASSERT_TRUE(g.try_join(low, nexus::Member().priority(1)).ok());
    ASSERT_TRUE(g.try_join(high, nexus::Member().priority(2)).ok());
    fill(low, 0, 10);
    fill(high, 0, 10);
    while (g.poll_event()) {
    }
    fill(high, 10, 14);
    EXPECT_EQ(usage(low), 6 * kEntry);
    EXPECT_EQ(usage(high), 14 * kEntry);
    EXPECT_FALSE(unwrap(low.try_contains(key(0))));
    std::vector<nexus::GovernorEvent> sheds;
    while (auto e = g.poll_event()) sheds.push_back(*e);
    ASSERT_EQ(sheds.size(), 4u);
    for (const auto& e : sheds) {
        EXPECT_EQ(e.kind, nexus::GovernorEventKind::shed);
        EXPECT_EQ(e.store_id, low.id());
        EXPECT_EQ(e.cause, nexus::ShedCause::over_budget);
        EXPECT_EQ(e.bytes, kEntry);
    }
    EXPECT_STREQ(nexus::to_string(nexus::ShedCause::pressure), "PRESSURE");
    // A null pointer among the stores is left out (audit 9: it crashed).
    EXPECT_EQ(unwrap(g.metrics({nullptr, &low})).members.size(), 1u);
    auto m = unwrap(g.metrics({&low, &high}));
    EXPECT_EQ(m.totals.member_count, 2u);
    EXPECT_EQ(m.totals.total_usage, 20 * kEntry);
    ASSERT_EQ(m.members.size(), 2u);
    EXPECT_EQ(m.members[0].shed_bytes_over_budget, 4 * kEntry);
    EXPECT_EQ(m.members[1].shed_entries, 0u);
}

TEST(Governor, FloorsHoldUnderAGovernorSignalButNotAStoresOwn) {
    auto g = make_governor(40 * kEntry);
    auto a = nexus_test::make_store();
    auto b = nexus_test::make_store();
    ASSERT_TRUE(g.try_join(a, nexus::Member().priority(1).floor(3 * kEntry)).ok());
    ASSERT_TRUE(g.try_join(b, nexus::Member().priority(2).floor(5 * kEntry)).ok());
    fill(a, 0, 10);
    fill(b, 0, 10);
    ASSERT_TRUE(g.try_signal_pressure(nexus::PressureLevel::emergency).ok());
    EXPECT_EQ(usage(a), 3 * kEntry);
    EXPECT_EQ(usage(b), 5 * kEntry);
    EXPECT_EQ(unwrap(g.member_metrics(a)).shed_bytes_pressure, 7 * kEntry);
    ASSERT_TRUE(b.try_signal_pressure(nexus::PressureLevel::emergency).ok());
    EXPECT_EQ(usage(b), 0u);
}

TEST(Governor, CeilingAndBadTerms) {
    auto g = make_governor(10 * kEntry);
    auto s = nexus_test::make_store();
    EXPECT_TRUE(status_is(g.try_join(s, nexus::Member().floor(4 * kEntry).ceiling(2 * kEntry)),
                          nexus::StatusCode::invalid_argument));
    EXPECT_TRUE(status_is(g.try_join(s, nexus::Member().floor(11 * kEntry)), nexus::StatusCode::invalid_argument));
    ASSERT_TRUE(g.try_join(s, nexus::Member().ceiling(2 * kEntry)).ok());
    EXPECT_TRUE(status_is(g.try_join(s), nexus::StatusCode::busy));
    fill(s, 0, 5);
    EXPECT_EQ(usage(s), 2 * kEntry);
    EXPECT_EQ(unwrap(g.member_metrics(s)).shed_bytes_ceiling, 3 * kEntry);
    ASSERT_TRUE(g.try_leave(s).ok());
    EXPECT_TRUE(status_is(g.try_leave(s), nexus::StatusCode::not_found));
    EXPECT_TRUE(status_is(g.member_metrics(s).status(), nexus::StatusCode::not_found));
    EXPECT_FALSE(nexus::Governor::create(nexus::GovernorConfig()).ok());  // budget 0
}

TEST(Governor, TheCallbackMayCallBackInAndItsExceptionsAreCounted) {
    auto g = make_governor(10 * kEntry);
    auto a = nexus_test::make_store();
    auto b = nexus_test::make_store();
    ASSERT_TRUE(g.try_join(a, nexus::Member().priority(1)).ok());
    ASSERT_TRUE(g.try_join(b, nexus::Member().priority(2)).ok());
    while (g.poll_event()) {  // the JOINED events, queued before the callback
    }
    int sheds = 0;
    auto callback = [&](const nexus::GovernorEvent& e) {
        if (e.kind != nexus::GovernorEventKind::shed) return;
        ++sheds;
        (void)unwrap(g.metrics());  // calls back in: no lock is held
#if NEXUS_CPP_CATCHES
        if (sheds == 1) throw std::runtime_error("caught at the boundary");
#endif
    };
    ASSERT_TRUE(g.set_event_callback(callback).ok());
    fill(a, 0, 8);
    fill(b, 0, 5);
    EXPECT_EQ(sheds, 3);
    EXPECT_EQ(usage(a) + usage(b), 10 * kEntry);
    EXPECT_EQ(g.callback_errors(), NEXUS_CPP_CATCHES ? 1u : 0u);
    EXPECT_FALSE(g.poll_event().has_value());
}

TEST(Governor, EitherSideMayGoFirst) {
    auto s = nexus_test::make_store();
    const std::uint64_t id = s.id();
    EXPECT_NE(id, 0u);
    {
        auto g = make_governor(2 * kEntry);
        ASSERT_TRUE(g.try_join(s).ok());
        fill(s, 0, 4);
        EXPECT_EQ(usage(s), 2 * kEntry);
    }  // the governor goes: the store stays, ungoverned
    fill(s, 4, 8);
    EXPECT_EQ(usage(s), 6 * kEntry);
    auto g = make_governor(100 * kEntry);
    {
        auto t = nexus_test::make_store();
        ASSERT_TRUE(g.try_join(t).ok());
        EXPECT_EQ(unwrap(g.metrics()).totals.member_count, 1u);
    }  // the store goes: it leaves
    EXPECT_EQ(unwrap(g.metrics()).totals.member_count, 0u);
    nexus::Governor moved = std::move(g);
    EXPECT_TRUE(moved.valid());
    EXPECT_FALSE(g.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(status_is(g.enforce(), nexus::StatusCode::null_argument));
}

#if NEXUS_TEST_EXCEPTIONS
TEST(Governor, TheThrowingApi) {
    nexus::Governor g(nexus::GovernorConfig().budget(4 * kEntry));
    auto s = nexus_test::make_store();
    g.join(s, nexus::Member().priority(3));
    fill(s, 0, 6);
    EXPECT_EQ(usage(s), 4 * kEntry);
    g.signal_pressure(nexus::PressureLevel::moderate);
    EXPECT_EQ(usage(s), 3 * kEntry);
    EXPECT_THROW(g.set_budget(0), nexus::Error);
    EXPECT_THROW(nexus::Governor(nexus::GovernorConfig()), nexus::Error);
}
#endif
