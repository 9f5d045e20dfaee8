// nexus::MemoryConfig::max_entries: the entry-count limit beside the bytes.
#include "test_support.hpp"

using nexus_test::status_is;
using nexus_test::unwrap;

TEST(EntryLimit, ANewKeyIntoAFullStoreEvictsInOrderAndPinsFillIt) {
    auto s = nexus_test::make_store(nexus::MemoryConfig().max_entries(2));
    ASSERT_TRUE(s.try_put("a", std::string_view("1")).ok());
    ASSERT_TRUE(s.try_put("b", std::string_view("2")).ok());
    ASSERT_TRUE(s.try_put("c", std::string_view("3")).ok());
    EXPECT_FALSE(unwrap(s.try_contains("a")));
    EXPECT_TRUE(unwrap(s.try_contains("b")) && unwrap(s.try_contains("c")));
    EXPECT_EQ(unwrap(s.try_metrics()).entry_count, 2u);
    ASSERT_TRUE(s.try_pin("b").ok());
    ASSERT_TRUE(s.try_pin("c").ok());
    EXPECT_TRUE(status_is(s.try_put("d", std::string_view("4")), nexus::StatusCode::over_budget));
    EXPECT_TRUE(status_is(nexus::MemoryConfig().shards(4).max_entries(3).validate(),
                          nexus::StatusCode::invalid_argument));
}
