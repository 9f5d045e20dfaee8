// Callbacks: events, the eviction listener, the loader, the size estimator;
// ctx ownership (each callable destroyed exactly once); re-entry; and the
// exception rule (with exceptions on).
#include "test_support.hpp"
#include <thread>
#include <chrono>
#include <atomic>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using nexus::EvictionReason;
using nexus::LoadSink;
using nexus::MemoryConfig;
using nexus::PressureLevel;
using nexus::StatusCode;
using nexus_test::charge;
using nexus_test::make_store;
using nexus_test::Texture;
using nexus_test::unwrap;

namespace {

class Callbacks : public nexus_test::StoreTest {};

TEST_F(Callbacks, EventsGoToTheCallbackInsteadOfTheQueue) {
    nexus::Store store = make_store();
    std::vector<nexus::Event> seen;
    NX_ASSERT_OK(store.try_on_event([&seen](const nexus::Event& e) { seen.push_back(e); }));
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::moderate));
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].kind, nexus::EventKind::pressure_changed);
    EXPECT_EQ(seen[0].previous_level, PressureLevel::none);
    EXPECT_EQ(seen[0].level, PressureLevel::moderate);
    EXPECT_EQ(seen[0].sequence, 1u);
    EXPECT_EQ(store.try_poll_event().status().code(), StatusCode::empty);

    NX_ASSERT_OK(store.try_on_event(nullptr));  // unregister: events queue again
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));
    EXPECT_EQ(seen.size(), 1u);
    const nexus::Result<nexus::Event> queued = store.try_poll_event();
    ASSERT_TRUE(queued.ok());
    EXPECT_EQ(queued->level, PressureLevel::none);
    EXPECT_EQ(queued->sequence, 2u);
}

TEST_F(Callbacks, TheEvictionListenerHearsKeysAndReasons) {
    nexus::Store store = make_store();
    std::vector<std::pair<std::string, EvictionReason>> heard;
    std::uint64_t bytes = 0;
    NX_ASSERT_OK(store.try_on_evict([&](std::string_view key, EvictionReason reason, std::uint64_t charged) {
        heard.emplace_back(std::string(key), reason);
        bytes += charged;
    }));
    NX_ASSERT_OK(store.try_put("a", "1"));
    NX_ASSERT_OK(store.try_put("a", "22"));  // replaced
    NX_ASSERT_OK(store.try_put("b", "3"));
    NX_ASSERT_OK(store.try_remove("b"));  // removed
    NX_ASSERT_OK(store.try_put(std::string_view("\0c", 2), "4"));
    EXPECT_EQ(unwrap(store.try_evict_lru(5)), 2u);  // manual
    const std::vector<std::pair<std::string, EvictionReason>> expected = {
        {"a", EvictionReason::replaced},
        {"b", EvictionReason::removed},
        {"a", EvictionReason::manual},
        {std::string("\0c", 2), EvictionReason::manual},
    };
    EXPECT_EQ(heard, expected);
    EXPECT_EQ(bytes, charge("a", 1) + charge("b", 1) + charge("a", 2) + charge("..", 1));
}

TEST_F(Callbacks, CallbacksMayCallBackIntoTheStore) {
    nexus::Store store = make_store();
    std::vector<bool> present_during_listener;
    NX_ASSERT_OK(store.try_on_evict([&](std::string_view key, EvictionReason, std::uint64_t) {
        present_during_listener.push_back(unwrap(store.try_contains(key)));
        NX_EXPECT_CODE(store.try_put("from-listener", "x"), StatusCode::ok);
    }));
    NX_ASSERT_OK(store.try_put("a", "1"));
    NX_ASSERT_OK(store.try_remove("a"));
    EXPECT_EQ(present_during_listener, std::vector<bool>{false});
    EXPECT_TRUE(unwrap(store.try_contains("from-listener")));
    // Closing the store from its own callback is refused: the store stays.
    NX_ASSERT_OK(store.try_on_evict([&](std::string_view, EvictionReason, std::uint64_t) {
        NX_EXPECT_CODE(store.try_close(), StatusCode::busy);
        EXPECT_TRUE(store.valid());
    }));
    NX_ASSERT_OK(store.try_remove("from-listener"));
    EXPECT_TRUE(store.valid());
}

TEST_F(Callbacks, DestroyingAStoreInsideItsOwnCallbackFreesItWhenTheCallReturns) {
    std::optional<nexus::Store> store(make_store());
    NexusStore* const raw = store->native();
    NX_ASSERT_OK(store->try_put_object("tex", std::make_unique<Texture>(1), 100));
    NX_ASSERT_OK(store->try_put("k", "v"));
    int heard = 0;
    NX_ASSERT_OK(store->try_on_evict([&](std::string_view, EvictionReason, std::uint64_t) {
        heard++;
        store.reset();  // the destructor, inside the store's own listener
        EXPECT_EQ(Texture::live().load(), 1);  // not yet: the remove is in flight
    }));
    // The handle is still the remove's: it completes, then the store is freed.
    EXPECT_EQ(nexus_store_remove(raw, reinterpret_cast<const std::uint8_t*>("k"), 1), NEXUS_STATUS_OK);
    EXPECT_EQ(heard, 1);
    EXPECT_FALSE(store.has_value());
    EXPECT_EQ(Texture::live().load(), 0);  // released by the deferred free
    EXPECT_EQ(nexus_store_free(raw), NEXUS_STATUS_ERR_INVALID_HANDLE);
}

TEST_F(Callbacks, TheLoaderFillsMissesOnce) {
    nexus::Store store = make_store();
    std::vector<std::string> loaded;
    NX_ASSERT_OK(store.try_set_loader([&loaded](std::string_view key, LoadSink& sink) {
        loaded.emplace_back(key);
        if (key == "absent") return StatusCode::not_found;
        if (key == "nothing") return StatusCode::ok;  // ok without a value: a broken contract
        if (key == "twice") {
            NX_EXPECT_CODE(sink.put("one"), StatusCode::ok);
            NX_EXPECT_CODE(sink.put("two"), StatusCode::invalid_argument);
            return StatusCode::ok;
        }
        if (key == "object") return sink.put_object(std::make_unique<Texture>(9), 500).code();
        if (key == "object-then-fail") {
            NX_EXPECT_CODE(sink.put_object(std::make_unique<Texture>(10), 500), StatusCode::ok);
            return StatusCode::busy;  // the value given is released
        }
        return sink.put("loaded:" + std::string(key)).code();
    }));

    nexus::Value first = unwrap(store.try_get_or_load("k"));
    EXPECT_EQ(first.view(), "loaded:k");
    EXPECT_EQ(unwrap(store.try_get_or_load("k")).view(), "loaded:k");  // cached: no second load
    EXPECT_EQ(unwrap(store.try_get("k")).view(), "loaded:k");

    EXPECT_EQ(store.try_get_or_load("absent").status().code(), StatusCode::not_found);
    EXPECT_FALSE(unwrap(store.try_contains("absent")));
    EXPECT_EQ(store.try_get_or_load("nothing").status().code(), StatusCode::callback);
    EXPECT_EQ(unwrap(store.try_get_or_load("twice")).view(), "one");

    const nexus::Value object = unwrap(store.try_get_or_load("object"));
    ASSERT_TRUE(object.is_object());
    EXPECT_EQ(object.object<Texture>()->id, 9);
    EXPECT_EQ(store.try_get_or_load("object-then-fail").status().code(), StatusCode::busy);
    EXPECT_EQ(Texture::live().load(), 1);

    EXPECT_EQ(loaded, (std::vector<std::string>{"k", "absent", "nothing", "twice", "object", "object-then-fail"}));
    const nexus::Metrics m = unwrap(store.try_metrics());
    EXPECT_EQ(m.load_count, 6u);
    EXPECT_EQ(m.load_failure_count, 3u);

    NX_ASSERT_OK(store.try_set_loader(nullptr));  // without a loader, get_or_load is get
    EXPECT_EQ(store.try_get_or_load("new").status().code(), StatusCode::not_found);
}

TEST_F(Callbacks, AnAbandonedLoadFailsOnlyItsCallerAndTheWaitersLoadAgain) {
    nexus::Store store = make_store();
    std::atomic<int> calls{0};
    std::atomic<bool> release{false};
    NX_ASSERT_OK(store.try_set_loader([&](std::string_view, LoadSink& sink) {
        if (calls.fetch_add(1) == 0) {
            while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            NX_EXPECT_CODE(sink.put("stale"), StatusCode::ok);
            NX_EXPECT_CODE(sink.abandon("my caller was cancelled"), StatusCode::ok);
            NX_EXPECT_CODE(sink.abandon(), StatusCode::invalid_argument);  // once
            return StatusCode::ok;  // ignored
        }
        return sink.put("fresh").code();
    }));
    nexus::Status first;
    std::thread loader([&] { first = store.try_get_or_load("k").status(); });
    while (calls.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::vector<std::string> got(3);
    std::vector<std::thread> waiters;
    for (auto& g : got)
        waiters.emplace_back([&store, &g] { g = std::string(unwrap(store.try_get_or_load("k")).view()); });
    // The three miss and join the load in flight.
    while (unwrap(store.try_metrics()).miss_count < 4) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    release = true;
    loader.join();
    for (auto& w : waiters) w.join();
    EXPECT_EQ(first.code(), StatusCode::callback);
    EXPECT_EQ(first.message(), "my caller was cancelled");
    EXPECT_EQ(got, (std::vector<std::string>{"fresh", "fresh", "fresh"}));
    EXPECT_EQ(calls.load(), 2);
    const nexus::Metrics m = unwrap(store.try_metrics());
    EXPECT_EQ(m.load_count, 2u);
    EXPECT_EQ(m.load_failure_count, 1u);
}

TEST_F(Callbacks, ALoaderReenteringItsOwnKeyIsBusy) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_set_loader([&store](std::string_view key, LoadSink& sink) {
        EXPECT_EQ(store.try_get_or_load(key).status().code(), StatusCode::busy);
        if (key == "outer") {
            EXPECT_EQ(unwrap(store.try_get_or_load("inner")).view(), "inner");
        }
        return sink.put(key).code();
    }));
    EXPECT_EQ(unwrap(store.try_get_or_load("outer")).view(), "outer");
    EXPECT_TRUE(unwrap(store.try_contains("inner")));
}

TEST_F(Callbacks, TheSizeEstimatorChargesEachEntryOnce) {
    std::vector<std::pair<std::string, std::size_t>> asked;
    const auto estimator = [&asked](std::string_view key, const void* value, std::size_t value_len) {
        asked.emplace_back(std::string(key), value_len);
        EXPECT_NE(value, nullptr);
        return std::size_t{1000} + value_len;
    };
    nexus::Store store = make_store(MemoryConfig().size_estimator(estimator));
    NX_ASSERT_OK(store.try_put("a", "12345"));
    NX_ASSERT_OK(store.try_put_object("obj", std::make_unique<Texture>(1), 0));  // cost 0: ask the estimator
    NX_ASSERT_OK(store.try_put_object("costed", std::make_unique<Texture>(2), 77));  // not asked
    EXPECT_EQ(asked, (std::vector<std::pair<std::string, std::size_t>>{{"a", 5}, {"obj", 0}}));
    EXPECT_EQ(unwrap(store.try_metrics()).current_usage, 1005u + 1000u + 77u);
    EXPECT_EQ(store.callback_errors(), 0u);
}

TEST_F(Callbacks, EveryCallableIsDestroyedExactlyOnce) {
    // Each callable holds a token; the token's use_count shows whether the
    // callable (and the ctx around it) still exists.
    const auto token = std::make_shared<int>(0);
    const auto holders = [&token] { return token.use_count() - 1; };
    {
        nexus::Store store = make_store(MemoryConfig().size_estimator(
            [token](std::string_view, const void*, std::size_t) { return std::size_t{1}; }));
        EXPECT_EQ(holders(), 1);
        NX_ASSERT_OK(store.try_on_event([token](const nexus::Event&) {}));
        NX_ASSERT_OK(store.try_on_evict([token](std::string_view, EvictionReason, std::uint64_t) {}));
        NX_ASSERT_OK(store.try_set_loader([token](std::string_view, LoadSink& sink) { return sink.put("x").code(); }));
        EXPECT_EQ(holders(), 4);
        NX_ASSERT_OK(store.try_on_event([token](const nexus::Event&) {}));  // replaced: the old one goes
        EXPECT_EQ(holders(), 4);
        NX_ASSERT_OK(store.try_on_evict(nullptr));  // unregistered
        EXPECT_EQ(holders(), 3);

        nexus::Store moved_from = make_store();
        nexus::Store keeper = std::move(moved_from);
        // Registration fails on a moved-from store: the callable is still destroyed.
        NX_EXPECT_CODE(moved_from.try_on_event([token](const nexus::Event&) {}),  // NOLINT(bugprone-use-after-move)
                       StatusCode::invalid_handle);
        EXPECT_EQ(holders(), 3);
        // A failed create destroys its estimator too.
        EXPECT_FALSE(nexus::Store::create(MemoryConfig().eviction_batch_size(0).size_estimator(
                                              [token](std::string_view, const void*, std::size_t) { return std::size_t{1}; }))
                         .ok());
        EXPECT_EQ(holders(), 3);
    }  // the store's destructor destroys the rest
    EXPECT_EQ(holders(), 0);
}

// Whenever the compiler has exceptions (NEXUS_CPP_CATCHES), also with
// NEXUS_NO_EXCEPTIONS (nexus_cpp_tests_no_throwing_api), the trampolines
// catch what a callback throws.
#if NEXUS_CPP_CATCHES

TEST_F(Callbacks, ThrowingEventCallbacksAndListenersAreCaughtAndCounted) {
    nexus::Store store = make_store();
    int events = 0;
    NX_ASSERT_OK(store.try_on_event([&events](const nexus::Event&) {
        ++events;
        throw std::runtime_error("event callback failed");
    }));
    NX_ASSERT_OK(store.try_on_evict([](std::string_view, EvictionReason, std::uint64_t) { throw 42; }));
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::critical));
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));
    EXPECT_EQ(events, 2);
    EXPECT_EQ(store.callback_errors(), 2u);
    NX_ASSERT_OK(store.try_put("a", "1"));
    NX_ASSERT_OK(store.try_remove("a"));  // the listener throws; remove still succeeds
    EXPECT_EQ(store.callback_errors(), 3u);
    // The store still works, and the callbacks stay registered.
    NX_ASSERT_OK(store.try_put("b", "2"));
    EXPECT_EQ(unwrap(store.try_get("b")).view(), "2");
    EXPECT_EQ(unwrap(store.try_evict_lru(1)), 1u);  // the listener and the EVICTION event both throw
    EXPECT_EQ(store.callback_errors(), 5u);
}

// The README's loader pattern, `return sink.put...(...).code();`, keeps the
// reason the sink refused the value (here: an object of cost 0 in a store
// with no size estimator), not only its status.
TEST_F(Callbacks, ALoaderReturningTheSinksRefusalSaysWhy) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_set_loader([](std::string_view, LoadSink& sink) {
        return sink.put_object(std::make_unique<Texture>(1), 0).code();
    }));
    const nexus::Result<nexus::Value> refused = store.try_get_or_load("tex");
    EXPECT_EQ(refused.status().code(), StatusCode::invalid_argument);
    EXPECT_NE(refused.status().message().find("its sink refused its value"), std::string::npos)
        << refused.status().message();
    EXPECT_NE(refused.status().message().find("size estimator"), std::string::npos) << refused.status().message();
    EXPECT_FALSE(unwrap(store.try_contains("tex")));
}

TEST_F(Callbacks, AThrowingLoaderIsACallbackError) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_set_loader([](std::string_view key, LoadSink& sink) -> StatusCode {
        if (key == "std") {
            NX_EXPECT_CODE(sink.put_object(std::make_unique<Texture>(1), 10), StatusCode::ok);
            throw std::runtime_error("disk on fire");  // the value it gave is released
        }
        if (key == "other") throw 7;
        return sink.put("fine").code();
    }));
    const nexus::Result<nexus::Value> failed = store.try_get_or_load("std");
    EXPECT_EQ(failed.status().code(), StatusCode::callback);
    EXPECT_NE(failed.status().message().find("disk on fire"), std::string::npos) << failed.status().message();
    const nexus::Result<nexus::Value> other = store.try_get_or_load("other");
    EXPECT_EQ(other.status().code(), StatusCode::callback);
    EXPECT_NE(other.status().message().find("not derived from std::exception"), std::string::npos);
    EXPECT_EQ(store.callback_errors(), 2u);
    EXPECT_FALSE(unwrap(store.try_contains("std")));
    EXPECT_EQ(unwrap(store.try_get_or_load("ok")).view(), "fine");
    // A loader's own failure code keeps the library's message.
    NX_ASSERT_OK(store.try_set_loader([](std::string_view, LoadSink&) { return StatusCode::callback; }));
    const nexus::Result<nexus::Value> plain = store.try_get_or_load("plain");
    EXPECT_EQ(plain.status().code(), StatusCode::callback);
    EXPECT_EQ(plain.status().message().find("threw"), std::string::npos) << plain.status().message();
    // Nested loads on one thread: an inner loader's exception is not the outer one's.
    NX_ASSERT_OK(store.try_set_loader([&store](std::string_view key, LoadSink&) -> StatusCode {
        if (key == "inner") throw std::runtime_error("inner failed");
        EXPECT_EQ(store.try_get_or_load("inner").status().code(), StatusCode::callback);
        return StatusCode::callback;
    }));
    const nexus::Result<nexus::Value> outer = store.try_get_or_load("outer");
    EXPECT_EQ(outer.status().code(), StatusCode::callback);
    EXPECT_EQ(outer.status().message().find("inner failed"), std::string::npos) << outer.status().message();
}

TEST_F(Callbacks, AThrowingEstimatorChargesTheDefault) {
    nexus::Store store = make_store(MemoryConfig().size_estimator([](std::string_view key, const void*, std::size_t) -> std::size_t {
        if (key == "bad") throw std::logic_error("cannot size");
        return 1;
    }));
    NX_ASSERT_OK(store.try_put("good", "12345"));
    NX_ASSERT_OK(store.try_put("bad", "12345"));
    EXPECT_EQ(store.callback_errors(), 1u);
    EXPECT_EQ(unwrap(store.try_metrics()).current_usage, 1u + charge("bad", 5));
}

#else

TEST_F(Callbacks, WithoutExceptionsNothingIsCounted) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_on_event([](const nexus::Event&) {}));
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::critical));
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));
    EXPECT_EQ(store.callback_errors(), 0u);
}

#endif

}  // namespace
