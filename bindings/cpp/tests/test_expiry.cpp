// Expiry through the C++ wrapper: MemoryConfig::ttl / tti, Store::try_put_ttl,
// try_put_object_ttl, try_sweep_expired. The C API runs on the monotonic clock: entries meant to
// live get an hour, entries meant to expire 1 ms and a 20 ms sleep.
#include "test_support.hpp"

#include <chrono>
#include <thread>

using nexus_test::status_is;
using nexus_test::unwrap;
using namespace std::chrono_literals;

TEST(Expiry, PutTtlExpiresAndTheSweepRemovesWithReasonExpired) {
    auto s = nexus_test::make_store(nexus::MemoryConfig().ttl(std::chrono::hours(1)));
    int expired = 0;
    auto listener = [&](std::string_view, nexus::EvictionReason r, std::uint64_t) {
        if (r == nexus::EvictionReason::expired) ++expired;
    };
    ASSERT_TRUE(s.try_on_evict(listener).ok());
    ASSERT_TRUE(s.try_put("lives", std::string_view("1")).ok());
    ASSERT_TRUE(s.try_put_ttl("brief", std::string_view("2"), 1ms).ok());
    std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(unwrap(s.try_contains("lives")));
    EXPECT_FALSE(unwrap(s.try_contains("brief")));
    EXPECT_EQ(unwrap(s.try_sweep_expired()), 1u);
    EXPECT_EQ(expired, 1);
    EXPECT_TRUE(status_is(s.try_put_ttl("zero", std::string_view("3"), 0ms), nexus::StatusCode::invalid_argument));
    // A negative one says so (it read "a time to live of zero" before).
    const nexus::Status negative = s.try_put_ttl("neg", std::string_view("4"), -5ms);
    EXPECT_TRUE(status_is(negative, nexus::StatusCode::invalid_argument));
    EXPECT_EQ(negative.message(), "nexus::Store::put_ttl: a negative time to live (-5 ms)");
    EXPECT_FALSE(unwrap(s.try_contains("neg")));
}

TEST(Expiry, ObjectsPutWithATtlExpireAndAreReleasedOnce) {
    auto s = nexus_test::make_store(nexus::MemoryConfig());
    auto counted = std::make_shared<int>(7);
    ASSERT_TRUE(s.try_put_object_ttl("brief", counted, 100, 1ms).ok());
    EXPECT_EQ(counted.use_count(), 2);
    auto owned = std::make_unique<int>(8);
    ASSERT_TRUE(s.try_put_object_ttl("lasting", std::move(owned), 100, std::chrono::hours(1)).ok());
    EXPECT_EQ(owned, nullptr);
    // Refused: the store keeps nothing, the caller keeps the object.
    auto refused = std::make_unique<int>(9);
    EXPECT_TRUE(status_is(s.try_put_object_ttl("zero", std::move(refused), 100, 0ms),
                          nexus::StatusCode::invalid_argument));
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(*refused, 9);
    const nexus::Status negative = s.try_put_object_ttl("negative", counted, 100, -5ms);
    EXPECT_TRUE(status_is(negative, nexus::StatusCode::invalid_argument));
    EXPECT_EQ(negative.message(), "nexus::Store::put_object_ttl: a negative time to live (-5 ms)");
    auto unique = std::make_unique<int>(10);
    EXPECT_EQ(s.try_put_object_ttl("negative", std::move(unique), 100, -1ms).message(),
              "nexus::Store::put_object_ttl: a negative time to live (-1 ms)");
    ASSERT_NE(unique, nullptr);
    EXPECT_EQ(counted.use_count(), 2);
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(unwrap(s.try_contains("brief")));
    EXPECT_EQ(unwrap(s.try_sweep_expired()), 1u);
    EXPECT_EQ(counted.use_count(), 1) << "the expired object's copy was released";
    EXPECT_TRUE(unwrap(s.try_contains("lasting")));
}

TEST(Expiry, TimeToIdle) {
    auto s = nexus_test::make_store(nexus::MemoryConfig().tti(1ms));
    ASSERT_TRUE(s.try_put("idle", std::string_view("1")).ok());
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(unwrap(s.try_contains("idle")));
}
