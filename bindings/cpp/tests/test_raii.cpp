// RAII and moves: Store and Value free what they own exactly once, moved-from
// objects hold nothing, and handles outlive their entries and their store.
// ASan and valgrind runs of this file are the leak check.
#include "test_support.hpp"

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using nexus::MemoryConfig;
using nexus::StatusCode;
using nexus_test::make_store;
using nexus_test::Texture;
using nexus_test::unwrap;

static_assert(!std::is_copy_constructible_v<nexus::Store> && !std::is_copy_assignable_v<nexus::Store>);
static_assert(std::is_nothrow_move_constructible_v<nexus::Store> && std::is_nothrow_move_assignable_v<nexus::Store>);
static_assert(!std::is_copy_constructible_v<nexus::Value> && !std::is_copy_assignable_v<nexus::Value>);
static_assert(std::is_nothrow_move_constructible_v<nexus::Value> && std::is_nothrow_move_assignable_v<nexus::Value>);
static_assert(std::is_nothrow_destructible_v<nexus::Store> && std::is_nothrow_destructible_v<nexus::Value>);
static_assert(std::is_copy_constructible_v<nexus::MemoryConfig>);

namespace {

class Raii : public nexus_test::StoreTest {};

TEST_F(Raii, ValueMovesTransferTheHandle) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_put("a", "alpha"));
    NX_ASSERT_OK(store.try_put("b", "beta"));
    nexus::Value a = unwrap(store.try_get("a"));
    nexus::Value moved(std::move(a));
    EXPECT_EQ(a.native(), nullptr);  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_EQ(a.size(), 0u);
    EXPECT_EQ(a.data(), nullptr);
    EXPECT_TRUE(a.view().empty());
    EXPECT_EQ(moved.view(), "alpha");

    nexus::Value b = unwrap(store.try_get("b"));
    b = std::move(moved);  // releases b's handle, takes a's
    EXPECT_EQ(b.view(), "alpha");
    nexus::Value& alias = b;
    b = std::move(alias);  // self-move keeps the handle
    EXPECT_EQ(b.view(), "alpha");
    EXPECT_EQ(unwrap(store.try_metrics()).in_use_bytes, nexus_test::charge("a", 5));

    b.reset();
    EXPECT_EQ(b.native(), nullptr);
    EXPECT_EQ(unwrap(store.try_metrics()).in_use_bytes, 0u);

    nexus::Value released = unwrap(store.try_get("a"));
    NexusValue* raw = released.release();
    EXPECT_EQ(released.native(), nullptr);
    nexus::Value adopted(raw);  // back under RAII
    EXPECT_EQ(adopted.view(), "alpha");
}

TEST_F(Raii, HandlesOutliveTheirEntryAndTheirStore) {
    std::vector<nexus::Value> kept;
    {
        nexus::Store store = make_store();
        NX_ASSERT_OK(store.try_put("bytes", "still here"));
        NX_ASSERT_OK(store.try_put_object("object", std::make_unique<Texture>(3), 100));
        kept.push_back(unwrap(store.try_get("bytes")));
        kept.push_back(unwrap(store.try_get("object")));
        NX_ASSERT_OK(store.try_remove("bytes"));
    }  // the store is freed; the values are not
    EXPECT_EQ(kept[0].view(), "still here");
    EXPECT_EQ(kept[1].object<Texture>()->id, 3);
    EXPECT_EQ(Texture::live().load(), 1);
    kept.clear();  // the last handles release them
    EXPECT_EQ(Texture::live().load(), 0);
}

TEST_F(Raii, StoreMovesTransferTheStoreAndItsState) {
    nexus::Store a = make_store();
    NX_ASSERT_OK(a.try_put_object("tex", std::make_unique<Texture>(1), 10));
    NexusStore* const handle = a.native();
    nexus::Store b(std::move(a));
    EXPECT_EQ(b.native(), handle);
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)

    nexus::Store c = make_store();
    NX_ASSERT_OK(c.try_put_object("other", std::make_unique<Texture>(2), 10));
    EXPECT_EQ(Texture::live().load(), 2);
    c = std::move(b);  // c's old store is freed (its Texture released), then it takes b's
    EXPECT_EQ(Texture::live().load(), 1);
    EXPECT_EQ(c.native(), handle);
    EXPECT_TRUE(unwrap(c.try_contains("tex")));
    nexus::Store& alias = c;
    c = std::move(alias);  // self-move keeps the store
    EXPECT_TRUE(c.valid());
    EXPECT_TRUE(unwrap(c.try_contains("tex")));

    // Moved stores in containers are freed with the container.
    std::vector<nexus::Store> stores;
    stores.push_back(std::move(c));
    for (int i = 0; i < 8; ++i) {
        stores.push_back(make_store());  // reallocations move the Stores
        NX_ASSERT_OK(stores.back().try_put_object("t", std::make_unique<Texture>(i), 1));
    }
    EXPECT_EQ(Texture::live().load(), 9);
    stores.clear();
    EXPECT_EQ(Texture::live().load(), 0);
}

TEST_F(Raii, CallbackErrorsFollowTheMove) {
    nexus::Store a = make_store();
    NX_ASSERT_OK(a.try_on_event([](const nexus::Event&) {}));
    nexus::Store b = std::move(a);
    NX_ASSERT_OK(b.try_signal_pressure(nexus::PressureLevel::critical));
    NX_ASSERT_OK(b.try_signal_pressure(nexus::PressureLevel::none));
    EXPECT_EQ(b.callback_errors(), 0u);
    EXPECT_EQ(a.callback_errors(), 0u);  // NOLINT(bugprone-use-after-move)
}

TEST_F(Raii, ManyRoundTripsLeakNothing) {
    nexus::Store store = make_store(MemoryConfig().max_bytes(64 * 1024));
    NX_ASSERT_OK(store.try_on_evict([](std::string_view, nexus::EvictionReason, std::uint64_t) {}));
    const int rounds = nexus_test::under_valgrind() ? 300 : 3000;
    for (int i = 0; i < rounds; ++i) {
        const std::string key = "k" + std::to_string(i % 97);
        if (i % 3 == 0) {
            NX_ASSERT_OK(store.try_put_object(key, std::make_unique<Texture>(i), 700));
        } else {
            NX_ASSERT_OK(store.try_put(key, std::string(static_cast<std::size_t>(i % 500), 'v')));
        }
        nexus::Result<nexus::Value> v = store.try_get("k" + std::to_string((i * 7) % 97));
        if (i % 11 == 0) static_cast<void>(store.try_pinned_ids());
        if (i % 13 == 0) static_cast<void>(store.try_metrics_json());
        if (i % 17 == 0) {
            NX_ASSERT_OK(store.try_pin(key));
        }
        if (i % 19 == 0) static_cast<void>(store.try_unpin("k" + std::to_string((i * 3) % 97)));
        while (store.try_poll_event().ok()) {
        }
    }
    EXPECT_LE(unwrap(store.try_metrics()).current_usage, 64u * 1024u);
}

}  // namespace
