// Four threads share one Store: puts, gets, loads, pins, evictions, signals
// and callbacks at once. Afterwards pinned entries are all there and the
// usage equals the sum of the charges of the entries present.
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using nexus::EvictionReason;
using nexus::LoadSink;
using nexus::MemoryConfig;
using nexus::PressureLevel;
using nexus::StatusCode;
using nexus_test::charge;
using nexus_test::make_store;
using nexus_test::unwrap;

namespace {

class Threads : public nexus_test::StoreTest {};

constexpr int kThreads = 4;
constexpr int kKeys = 64;

std::string key_of(int i) { return "key:" + std::to_string(i % kKeys); }

TEST_F(Threads, FourThreadsShareOneStore) {
    nexus::Store store = make_store(MemoryConfig().max_bytes(32 * 1024));
    std::atomic<std::uint64_t> events{0}, evictions{0}, loads{0};
    NX_ASSERT_OK(store.try_on_event([&events](const nexus::Event&) { events.fetch_add(1); }));
    NX_ASSERT_OK(store.try_on_evict([&](std::string_view key, EvictionReason reason, std::uint64_t) {
        // Pinned keys are never evicted (they may still be removed or replaced).
        if (reason != EvictionReason::removed && reason != EvictionReason::replaced) {
            EXPECT_NE(key.substr(0, 7), "pinned:");
        }
        evictions.fetch_add(1);
    }));
    NX_ASSERT_OK(store.try_set_loader([&loads](std::string_view key, LoadSink& sink) {
        loads.fetch_add(1);
        return sink.put(std::string(key) + ":loaded").code();
    }));
    for (int t = 0; t < kThreads; ++t) {
        NX_ASSERT_OK(store.try_pin("pinned:" + std::to_string(t)));
        NX_ASSERT_OK(store.try_put("pinned:" + std::to_string(t), std::string(200, 'p')));
    }

    const int rounds = nexus_test::under_valgrind() ? 200 : 3000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&store, t, rounds] {
            for (int i = 0; i < rounds; ++i) {
                const std::string key = key_of(i * (t + 1));
                switch ((i + t) % 8) {
                    case 0:
                    case 1: {
                        const nexus::Status s = store.try_put(key, std::string(static_cast<std::size_t>(50 + i % 300), 'x'));
                        EXPECT_TRUE(s.ok() || s.code() == StatusCode::over_budget) << s.to_string();
                        break;
                    }
                    case 2: {
                        const nexus::Result<nexus::Value> v = store.try_get(key);
                        if (v) {
                            EXPECT_FALSE(v->view().empty());
                        }
                        break;
                    }
                    case 3: {
                        const nexus::Result<nexus::Value> v = store.try_get_or_load(key);
                        EXPECT_TRUE(v.ok() || v.status().code() == StatusCode::over_budget) << v.status().to_string();
                        break;
                    }
                    case 4:
                        EXPECT_TRUE(store.try_contains(key).ok());
                        static_cast<void>(store.try_remove(key));
                        break;
                    case 5:
                        EXPECT_TRUE(store.try_evict_lru(2).ok());
                        EXPECT_TRUE(store.try_metrics().ok());
                        break;
                    case 6:
                        if (i % 64 == 6) {
                            NX_EXPECT_CODE(store.try_signal_pressure(i % 128 == 6 ? PressureLevel::critical : PressureLevel::none),
                                           StatusCode::ok);
                        }
                        EXPECT_TRUE(store.try_pinned_ids().ok());
                        break;
                    default:
                        NX_EXPECT_CODE(store.try_pin(key), StatusCode::ok);
                        static_cast<void>(store.try_unpin(key));
                        break;
                }
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));

    std::uint64_t sum = 0;
    for (int t = 0; t < kThreads; ++t) {
        const std::string key = "pinned:" + std::to_string(t);
        EXPECT_TRUE(unwrap(store.try_contains(key))) << key;
        sum += charge(key, 200);
    }
    for (int k = 0; k < kKeys; ++k) {
        const std::string key = key_of(k);
        if (!unwrap(store.try_contains(key))) continue;
        sum += charge(key, unwrap(store.try_get(key)).size());
    }
    const nexus::Metrics m = unwrap(store.try_metrics());
    EXPECT_EQ(m.current_usage, sum);
    EXPECT_LE(m.current_usage, m.effective_budget);
    EXPECT_EQ(m.in_use_bytes, 0u);
    EXPECT_GT(events.load(), 0u);
    EXPECT_GT(evictions.load(), 0u);
    EXPECT_GT(loads.load(), 0u);
    EXPECT_EQ(store.callback_errors(), 0u);
}

TEST_F(Threads, ConcurrentMissesLoadOnce) {
    nexus::Store store = make_store();
    std::atomic<int> calls{0};
    NX_ASSERT_OK(store.try_set_loader([&calls](std::string_view key, LoadSink& sink) {
        calls.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the other threads pile up
        return sink.put(key).code();
    }));
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            ready.fetch_add(1);
            while (ready.load() < kThreads) std::this_thread::yield();
            EXPECT_EQ(unwrap(store.try_get_or_load("shared")).view(), "shared");
        });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(calls.load(), 1);
}

}  // namespace
