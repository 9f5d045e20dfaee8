// The throwing convenience API (only with exceptions): nexus::Error carries
// the Status; "nothing there" is std::nullopt / false, not an exception.
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using nexus::Error;
using nexus::EvictionReason;
using nexus::MemoryConfig;
using nexus::PressureLevel;
using nexus::StatusCode;
using nexus_test::Texture;

namespace {

class Throwing : public nexus_test::StoreTest {};

template <class F>
StatusCode thrown_code(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), e.status().to_string());
        return e.code();
    }
    ADD_FAILURE() << "no nexus::Error thrown";
    return StatusCode::ok;
}

TEST_F(Throwing, ConstructorsThrowOnABadConfig) {
    EXPECT_EQ(thrown_code([] { nexus::Store store(MemoryConfig().thresholds(0.9, 0.8 - 0.5)); }),
              StatusCode::invalid_argument);
    try {
        nexus::Store store(MemoryConfig().eviction_batch_size(0));
        FAIL();
    } catch (const std::runtime_error& e) {  // Error is a std::runtime_error
        EXPECT_NE(std::string(e.what()).find("eviction_batch_size"), std::string::npos) << e.what();
    }
    nexus::Store plain;  // the default config
    EXPECT_TRUE(plain.valid());
}

TEST_F(Throwing, EveryCallWithoutTry) {
    nexus::Store store(MemoryConfig().max_bytes(1 << 20));
    std::vector<std::string> heard;
    std::vector<nexus::Event> events;
    store.on_evict([&heard](std::string_view key, EvictionReason, std::uint64_t) { heard.emplace_back(key); });
    store.set_loader([](std::string_view key, nexus::LoadSink& sink) {
        if (key == "absent") return StatusCode::not_found;
        return sink.put("loaded").code();
    });

    store.put("a", "1");
    store.put("b", std::string("2"));
    store.put("c", "3", 1);
    store.put_object("tex", std::make_unique<Texture>(1), 100);
    ASSERT_TRUE(store.get("a").has_value());
    EXPECT_EQ(store.get("a")->view(), "1");
    EXPECT_EQ(store.get("tex")->object<Texture>()->id, 1);
    EXPECT_FALSE(store.get("zzz").has_value());
    EXPECT_EQ(store.get_or_load("lazy")->view(), "loaded");
    EXPECT_FALSE(store.get_or_load("absent").has_value());
    EXPECT_TRUE(store.contains("lazy"));
    EXPECT_FALSE(store.contains("absent"));

    EXPECT_TRUE(store.remove("lazy"));
    EXPECT_FALSE(store.remove("lazy"));
    store.pin("a");
    store.pin("p");
    EXPECT_TRUE(store.is_pinned("a"));
    EXPECT_EQ(store.pinned_ids(), (std::vector<std::string>{"a", "p"}));
    EXPECT_TRUE(store.unpin("p"));
    EXPECT_FALSE(store.unpin("p"));

    EXPECT_EQ(store.evict_lru(1), 1u);  // b
    EXPECT_EQ(store.evict(1), 1u);      // c
    EXPECT_EQ(store.clear_unpinned(), 1u);  // tex (a is pinned)
    EXPECT_EQ(heard, (std::vector<std::string>{"lazy", "b", "c", "tex"}));

    int manual_runs = 0;
    while (const std::optional<nexus::Event> run = store.poll_event()) {
        EXPECT_EQ(run->kind, nexus::EventKind::eviction);
        EXPECT_EQ(run->reason, EvictionReason::manual);
        ++manual_runs;
    }
    EXPECT_EQ(manual_runs, 3);
    EXPECT_FALSE(store.poll_event().has_value());
    store.signal_pressure(PressureLevel::critical);
    EXPECT_EQ(store.pressure_level(), PressureLevel::critical);
    const std::optional<nexus::Event> e = store.poll_event();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->level, PressureLevel::critical);
    store.on_event([&events](const nexus::Event& event) { events.push_back(event); });
    store.signal_pressure(PressureLevel::none);
    ASSERT_EQ(events.size(), 1u);
    nexus::Store::signal_pressure_all(PressureLevel::none);

    EXPECT_EQ(store.metrics().entry_count, 1u);
    EXPECT_NE(store.metrics_json().find("\"entry_count\":1"), std::string::npos);
    store.reset_metrics();
    EXPECT_EQ(store.metrics().hit_count, 0u);
    store.set_max_bytes(4096);
    EXPECT_EQ(store.metrics().max_cache_bytes, 4096u);
    EXPECT_EQ(store.clear(), 1u);
    store.close();
    EXPECT_FALSE(store.valid());
}

TEST_F(Throwing, FailuresThrowTheStatus) {
    nexus::Store store(MemoryConfig().max_bytes(1000));
    EXPECT_EQ(thrown_code([&] { store.put("big", std::string(5000, 'x')); }), StatusCode::too_large);
    EXPECT_EQ(thrown_code([&] { store.signal_pressure(static_cast<PressureLevel>(7)); }), StatusCode::invalid_argument);

    // A put_object that throws leaves the object with the caller.
    auto texture = std::make_unique<Texture>(4);
    EXPECT_EQ(thrown_code([&] { store.put_object("big", std::move(texture), 5000); }), StatusCode::too_large);
    ASSERT_NE(texture, nullptr);
    EXPECT_EQ(texture->id, 4);

    store.set_loader([](std::string_view, nexus::LoadSink&) -> StatusCode { throw std::runtime_error("no disk"); });
    try {
        static_cast<void>(store.get_or_load("x"));
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), StatusCode::callback);
        EXPECT_NE(std::string(e.what()).find("no disk"), std::string::npos) << e.what();
    }
    EXPECT_EQ(store.callback_errors(), 1u);
    // The whole what() (the wrapper cut it at 512 bytes), up to the C
    // library's 1023-byte message.
    const std::string long_what = std::string(900, 'x') + " the end";
    store.set_loader([&](std::string_view, nexus::LoadSink&) -> StatusCode { throw std::runtime_error(long_what); });
    try {
        static_cast<void>(store.get_or_load("long"));
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.status().message(), "the loader threw: " + long_what);
    }
    const std::string longer_what(3000, 'y');
    store.set_loader([&](std::string_view, nexus::LoadSink&) -> StatusCode { throw std::runtime_error(longer_what); });
    try {
        static_cast<void>(store.get_or_load("longer"));
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.status().message(), ("the loader threw: " + longer_what).substr(0, 1023));
    }
    EXPECT_EQ(store.callback_errors(), 3u);
    store.set_loader([](std::string_view, nexus::LoadSink&) -> StatusCode { throw std::runtime_error("no disk"); });

    // The thrown message reaches every thread waiting on that load, not only
    // the one that ran the loader.
    std::atomic<bool> release_loader{false};
    std::atomic<int> loader_calls{0};
    store.set_loader([&](std::string_view, nexus::LoadSink&) -> StatusCode {
        loader_calls.fetch_add(1);
        while (!release_loader.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        throw std::runtime_error("disk on fire");
    });
    std::vector<std::string> messages(4);
    std::vector<std::thread> waiters;
    for (std::size_t i = 0; i < messages.size(); i++) {
        waiters.emplace_back([&, i] {
            try {
                static_cast<void>(store.get_or_load("y"));
            } catch (const Error& e) {
                messages[i] = e.status().message();
            }
        });
    }
    while (loader_calls.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    release_loader.store(true);
    for (std::thread& t : waiters) t.join();
    for (const std::string& m : messages) EXPECT_EQ(m, "the loader threw: disk on fire");
    EXPECT_EQ(store.callback_errors(), 3u + static_cast<unsigned>(loader_calls.load()));

    nexus::Store moved = std::move(store);
    EXPECT_EQ(thrown_code([&] { store.put("k", "v"); }), StatusCode::invalid_handle);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(thrown_code([&] { static_cast<void>(store.get("k")); }), StatusCode::invalid_handle);
    EXPECT_EQ(thrown_code([&] { static_cast<void>(store.metrics()); }), StatusCode::invalid_handle);
    EXPECT_EQ(thrown_code([&] { static_cast<void>(store.signalled_level()); }), StatusCode::invalid_handle);
    EXPECT_EQ(thrown_code([&] { store.set_event_kinds({nexus::EventKind::eviction}); }), StatusCode::invalid_handle);
    try {
        store.put("k", "v");
        ADD_FAILURE() << "no throw";
    } catch (const nexus::Error& e) {
        EXPECT_STREQ(e.what(), "invalid handle: nexus::Store::put: this Store was moved from; it holds no store");
    }

    // Result::value() throws the same way.
    const nexus::Result<nexus::Value> missing = moved.try_get("nope");
    EXPECT_EQ(thrown_code([&] { static_cast<void>(missing.value()); }), StatusCode::not_found);
}

}  // namespace
