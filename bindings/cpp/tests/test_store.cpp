// Every Store, Value and MemoryConfig member through the non-throwing
// (try_) API; built with and without exceptions.
#include "test_support.hpp"

#include <array>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

using nexus::EvictionReason;
using nexus::EvictionStrategy;
using nexus::MemoryConfig;
using nexus::PressureLevel;
using nexus::StatusCode;
using nexus_test::charge;
using nexus_test::make_store;
using nexus_test::Texture;
using nexus_test::unwrap;

namespace {

class Store : public nexus_test::StoreTest {};

std::string value_of(const nexus::Store& store, std::string_view key) {
    nexus::Result<nexus::Value> v = store.try_get(key);
    return v ? std::string(v->view()) : "<" + std::string(nexus::to_string(v.status().code())) + ">";
}

TEST_F(Store, VersionMatchesTheHeader) {
    const std::string expected = std::to_string(NEXUS_VERSION_MAJOR) + "." + std::to_string(NEXUS_VERSION_MINOR) +
                                 "." + std::to_string(NEXUS_VERSION_PATCH);
    EXPECT_EQ(nexus::version(), expected);
    EXPECT_STREQ(nexus::to_string(StatusCode::not_found), nexus_status_str(NEXUS_STATUS_NOT_FOUND));
}

TEST_F(Store, ConfigDefaultsAreTheLibrarys) {
    NexusMemoryConfig c;
    nexus_memory_config_init(&c);
    const MemoryConfig config;
    const NexusMemoryConfig& n = config.native();
    EXPECT_EQ(n.struct_size, sizeof(NexusMemoryConfig));
    EXPECT_EQ(n.struct_size, c.struct_size);
    EXPECT_EQ(n.max_cache_bytes, c.max_cache_bytes);
    EXPECT_EQ(n.moderate_threshold, c.moderate_threshold);
    EXPECT_EQ(n.critical_threshold, c.critical_threshold);
    EXPECT_EQ(n.eviction_batch_size, c.eviction_batch_size);
    EXPECT_EQ(n.strategy, c.strategy);
    EXPECT_EQ(n.size_estimator, nullptr);
    EXPECT_EQ(n.event_queue_capacity, c.event_queue_capacity);
    EXPECT_EQ(n.signal_moderate_keep, c.signal_moderate_keep);
    EXPECT_EQ(n.signal_critical_keep, c.signal_critical_keep);
    EXPECT_EQ(n.signal_decay_ms, c.signal_decay_ms);
    EXPECT_EQ(n.shards, c.shards);
    EXPECT_EQ(n.lfu_history, c.lfu_history);
    NX_ASSERT_OK(MemoryConfig().validate());
}

TEST_F(Store, ConfigBuilderSetsEveryField) {
    const MemoryConfig config = MemoryConfig()
                                    .max_bytes(4096)
                                    .thresholds(0.5, 0.8)
                                    .eviction_batch_size(3)
                                    .strategy(EvictionStrategy::lfu)
                                    .event_queue_capacity(7)
                                    .signal_keep(0.6, 0.4)
                                    .signal_decay(std::chrono::milliseconds(250))
                                    .shards(4)
                                    .lfu_history(true);
    const NexusMemoryConfig& c = config.native();
    EXPECT_EQ(c.max_cache_bytes, 4096u);
    EXPECT_EQ(c.moderate_threshold, 0.5);
    EXPECT_EQ(c.critical_threshold, 0.8);
    EXPECT_EQ(c.eviction_batch_size, 3u);
    EXPECT_EQ(c.strategy, NEXUS_EVICTION_STRATEGY_LFU);
    EXPECT_EQ(c.event_queue_capacity, 7u);
    EXPECT_EQ(c.signal_moderate_keep, 0.6);
    EXPECT_EQ(c.signal_critical_keep, 0.4);
    EXPECT_EQ(c.signal_decay_ms, 250u);
    EXPECT_EQ(c.shards, 4u);
    EXPECT_TRUE(c.lfu_history);
    NX_ASSERT_OK(config.validate());
    nexus::Store store = make_store(config);
    EXPECT_EQ(unwrap(store.try_metrics()).max_cache_bytes, 4096u);
}

TEST_F(Store, InvalidConfigsAreRefusedBeforeAndByTheLibrary) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    const std::vector<MemoryConfig> bad = {
        MemoryConfig().thresholds(0.9, 0.7),   MemoryConfig().thresholds(0.7, 0.7),
        MemoryConfig().thresholds(0.0, 0.5),   MemoryConfig().thresholds(0.5, 1.5),
        MemoryConfig().thresholds(nan, 0.9),   MemoryConfig().thresholds(0.5, inf),
        MemoryConfig().signal_keep(0.4, 0.6),  MemoryConfig().signal_keep(1.2, 0.5),
        MemoryConfig().signal_keep(0.5, 0.0),  MemoryConfig().signal_keep(nan, 0.5),
        MemoryConfig().eviction_batch_size(0), MemoryConfig().event_queue_capacity(0),
        MemoryConfig().strategy(static_cast<EvictionStrategy>(NEXUS_EVICTION_STRATEGY_TINY_LFU + 1)),
        MemoryConfig().signal_decay(std::chrono::milliseconds(-1)),
        MemoryConfig().ttl(std::chrono::milliseconds(-1)),
        MemoryConfig().tti(std::chrono::milliseconds(-5)),
        MemoryConfig().shards(0),              MemoryConfig().shards(NEXUS_MAX_SHARDS + 1),
        MemoryConfig().shards(8).max_bytes(3),  // each shard needs a byte of budget
    };
    for (const MemoryConfig& config : bad) {
        NX_EXPECT_CODE(config.validate(), StatusCode::invalid_argument);
        const nexus::Result<nexus::Store> made = nexus::Store::create(config);
        EXPECT_FALSE(made.ok());
        EXPECT_EQ(made.status().code(), StatusCode::invalid_argument);
        EXPECT_NE(made.status().message().find("MemoryConfig"), std::string::npos) << made.status().message();
    }
    NX_ASSERT_OK(MemoryConfig().shards(NEXUS_MAX_SHARDS).max_bytes(NEXUS_MAX_SHARDS).validate());
    // The library's own check agrees with the wrapper's.
    NexusMemoryConfig raw = MemoryConfig().thresholds(0.9, 0.7).native();
    NexusStore* out = nullptr;
    EXPECT_EQ(nexus_store_new(&raw, &out), NEXUS_STATUS_ERR_INVALID_ARGUMENT);
}

TEST_F(Store, PutAcceptsEveryKindOfBytes) {
    nexus::Store store = make_store();
    const std::string s = "string";
    const std::vector<std::uint8_t> u8 = {1, 2, 3};
    const std::vector<char> chars = {'c', 'h'};
    const std::array<std::byte, 2> raw = {std::byte{0}, std::byte{0xff}};
    const char buffer[] = {'n', 'o', '\0', 'n', 'u', 'l'};
    NX_ASSERT_OK(store.try_put("literal", "hello"));
    NX_ASSERT_OK(store.try_put("string", s));
    NX_ASSERT_OK(store.try_put("view", std::string_view("a\0b", 3)));
    NX_ASSERT_OK(store.try_put("u8", u8));
    NX_ASSERT_OK(store.try_put("chars", chars));
    NX_ASSERT_OK(store.try_put("bytes", raw));
    NX_ASSERT_OK(store.try_put("pointer", buffer, sizeof buffer));
    NX_ASSERT_OK(store.try_put("", ""));  // empty key and value are fine
    NX_ASSERT_OK(store.try_put("null", nexus::ByteView()));
    NX_ASSERT_OK(store.try_put("null-c-string", static_cast<const char*>(nullptr)));

    EXPECT_EQ(value_of(store, "literal"), "hello");
    EXPECT_EQ(value_of(store, "string"), "string");
    EXPECT_EQ(value_of(store, "view"), std::string("a\0b", 3));
    EXPECT_EQ(value_of(store, "u8"), std::string("\1\2\3"));
    EXPECT_EQ(value_of(store, "chars"), "ch");
    EXPECT_EQ(value_of(store, "bytes"), std::string("\0\xff", 2));
    EXPECT_EQ(value_of(store, "pointer"), std::string(buffer, sizeof buffer));
    EXPECT_EQ(value_of(store, ""), "");
    EXPECT_EQ(value_of(store, "null"), "");
    EXPECT_EQ(value_of(store, "null-c-string"), "");

    const nexus::Value v = unwrap(store.try_get("u8"));
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v.data()[2], 3);
    EXPECT_FALSE(v.is_object());
    EXPECT_EQ(v.object<Texture>(), nullptr);
    const nexus::Value empty = unwrap(store.try_get(""));
    EXPECT_NE(empty.data(), nullptr);  // an empty value is a non-NULL pointer and length 0
    EXPECT_EQ(empty.size(), 0u);
}

// A char array is text whether or not it is const: up to its first NUL
// (audit 9: a non-const buffer stored all of its bytes, NULs and what
// follows included), or all of it without one; never past its end. Arrays
// of other 1-byte types are bytes: all of them.
TEST_F(Store, ACharArrayIsTextConstOrNot) {
    nexus::Store store = make_store();
    char path[16];
    std::snprintf(path, sizeof path, "%s", "a/b");
    const char fixed[16] = "a/b";
    char unterminated[3] = {'x', 'y', 'z'};
    const std::uint8_t u8[4] = {1, 0, 2, 0};
    NX_ASSERT_OK(store.try_put("buffer", path));
    NX_ASSERT_OK(store.try_put("const", fixed));
    NX_ASSERT_OK(store.try_put("unterminated", unterminated));
    NX_ASSERT_OK(store.try_put("u8", u8));
    EXPECT_EQ(value_of(store, "buffer"), "a/b");
    EXPECT_EQ(value_of(store, "const"), "a/b");
    EXPECT_EQ(value_of(store, "unterminated"), "xyz");
    EXPECT_EQ(value_of(store, "u8"), std::string("\1\0\2\0", 4));
}

TEST_F(Store, PutReplacesAndChargesTheDefaultEstimate) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_put("k", "one"));
    NX_ASSERT_OK(store.try_put("k", "three"));
    EXPECT_EQ(value_of(store, "k"), "three");
    const nexus::Metrics m = unwrap(store.try_metrics());
    EXPECT_EQ(m.entry_count, 1u);
    EXPECT_EQ(m.current_usage, charge("k", 5));
    EXPECT_EQ(m.insert_count, 2u);
}

TEST_F(Store, GetOfAnAbsentKeyIsNotFoundAndAMiss) {
    nexus::Store store = make_store();
    const nexus::Result<nexus::Value> v = store.try_get("absent");
    EXPECT_FALSE(v);
    EXPECT_EQ(v.status().code(), StatusCode::not_found);
    EXPECT_EQ(unwrap(store.try_metrics()).miss_count, 1u);
}

TEST_F(Store, ContainsRemoveClear) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_put("a", "1"));
    NX_ASSERT_OK(store.try_put("b", "2"));
    EXPECT_TRUE(unwrap(store.try_contains("a")));
    EXPECT_FALSE(unwrap(store.try_contains("z")));
    NX_ASSERT_OK(store.try_remove("a"));
    NX_EXPECT_CODE(store.try_remove("a"), StatusCode::not_found);
    EXPECT_FALSE(unwrap(store.try_contains("a")));

    NX_ASSERT_OK(store.try_pin("b"));
    EXPECT_EQ(unwrap(store.try_clear()), 1u);  // pinned entries too
    EXPECT_FALSE(unwrap(store.try_contains("b")));
    EXPECT_TRUE(unwrap(store.try_is_pinned("b")));  // the pin stays
    // contains is not an access
    EXPECT_EQ(unwrap(store.try_metrics()).hit_count, 0u);
}

TEST_F(Store, PutObjectOwnsAndReleasesOnce) {
    nexus::Store store = make_store();
    auto texture = std::make_unique<Texture>(7);
    NX_ASSERT_OK(store.try_put_object("tex", std::move(texture), 1000));
    EXPECT_EQ(texture, nullptr);  // ownership moved to the store
    EXPECT_EQ(Texture::live().load(), 1);
    EXPECT_EQ(unwrap(store.try_metrics()).current_usage, 1000u);
    {
        const nexus::Value v = unwrap(store.try_get("tex"));
        EXPECT_TRUE(v.is_object());
        ASSERT_NE(v.object<Texture>(), nullptr);
        EXPECT_EQ(v.object<Texture>()->id, 7);
        EXPECT_EQ(v.data(), nullptr);
        EXPECT_EQ(v.size(), 0u);
        EXPECT_TRUE(v.view().empty());
        NX_ASSERT_OK(store.try_remove("tex"));
        EXPECT_EQ(Texture::live().load(), 1);  // the handle keeps it alive
        EXPECT_EQ(v.object<Texture>()->id, 7);
    }
    EXPECT_EQ(Texture::live().load(), 0);  // released with the last handle

    // Replacing an object releases the old one inside the put.
    NX_ASSERT_OK(store.try_put_object("tex", std::make_unique<Texture>(1), 10));
    NX_ASSERT_OK(store.try_put_object("tex", std::make_unique<Texture>(2), 10));
    EXPECT_EQ(Texture::live().load(), 1);
    NX_ASSERT_OK(store.try_put("tex", "bytes now"));
    EXPECT_EQ(Texture::live().load(), 0);
}

TEST_F(Store, PutObjectWithCustomDeleters) {
    int deleted = 0;
    {
        nexus::Store store = make_store();
        // A stateful lambda (not default-constructible, not assignable).
        auto lambda = [&deleted](Texture* t) {
            ++deleted;
            delete t;
        };
        NX_ASSERT_OK(store.try_put_object("lambda", std::unique_ptr<Texture, decltype(lambda)>(new Texture(1), lambda), 1));
        // A function pointer.
        void (*fn)(Texture*) = [](Texture* t) { delete t; };
        NX_ASSERT_OK(store.try_put_object("fn", std::unique_ptr<Texture, void (*)(Texture*)>(new Texture(2), fn), 1));
        // A std::function.
        std::function<void(Texture*)> function = [&deleted](Texture* t) {
            deleted += 10;
            delete t;
        };
        NX_ASSERT_OK(store.try_put_object("function", std::unique_ptr<Texture, std::function<void(Texture*)>>(new Texture(3), function), 1));
        // A stateless functor: no allocation, no ctx.
        struct Deleter {
            void operator()(const Texture* t) const noexcept { delete t; }
        };
        NX_ASSERT_OK(store.try_put_object("functor", std::unique_ptr<const Texture, Deleter>(new Texture(4)), 1));
        EXPECT_EQ(unwrap(store.try_get("functor")).object<const Texture>()->id, 4);
        EXPECT_EQ(Texture::live().load(), 4);
        EXPECT_EQ(deleted, 0);
        NX_ASSERT_OK(store.try_remove("lambda"));
        EXPECT_EQ(deleted, 1);
    }  // the store's destructor releases the rest
    EXPECT_EQ(deleted, 11);
    EXPECT_EQ(Texture::live().load(), 0);
}

TEST_F(Store, FailedPutObjectLeavesOwnershipWithTheCaller) {
    nexus::Store store = make_store(MemoryConfig().max_bytes(1000));
    int deleted = 0;
    auto deleter = [&deleted](Texture* t) {
        ++deleted;
        delete t;
    };
    std::unique_ptr<Texture, decltype(deleter)> texture(new Texture(5), deleter);
    NX_EXPECT_CODE(store.try_put_object("big", std::move(texture), 5000), StatusCode::too_large);
    ASSERT_NE(texture, nullptr);  // still ours, with its deleter
    EXPECT_EQ(texture->id, 5);
    EXPECT_EQ(deleted, 0);
    texture.reset();
    EXPECT_EQ(deleted, 1);

    auto plain = std::make_unique<Texture>(6);
    NX_EXPECT_CODE(store.try_put_object("big", std::move(plain), 5000), StatusCode::too_large);
    ASSERT_NE(plain, nullptr);
    EXPECT_FALSE(unwrap(store.try_contains("big")));

    std::unique_ptr<Texture> none;
    NX_EXPECT_CODE(store.try_put_object("none", std::move(none), 1), StatusCode::invalid_argument);
}

TEST_F(Store, Pins) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_put("a", "1"));
    NX_ASSERT_OK(store.try_pin("b"));  // absent: the pin waits for it
    NX_ASSERT_OK(store.try_pin("a"));
    NX_ASSERT_OK(store.try_pin("b"));  // again: keeps its place
    EXPECT_TRUE(unwrap(store.try_is_pinned("a")));
    EXPECT_FALSE(unwrap(store.try_is_pinned("c")));
    EXPECT_EQ(unwrap(store.try_pinned_ids()), (std::vector<std::string>{"b", "a"}));
    EXPECT_EQ(unwrap(store.try_metrics()).pinned_count, 1u);  // present entries only

    EXPECT_EQ(unwrap(store.try_clear_unpinned()), 0u);
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::emergency));
    EXPECT_TRUE(unwrap(store.try_contains("a")));
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));

    NX_ASSERT_OK(store.try_unpin("a"));
    NX_EXPECT_CODE(store.try_unpin("a"), StatusCode::not_found);
    EXPECT_EQ(unwrap(store.try_pinned_ids()), std::vector<std::string>{"b"});
    NX_ASSERT_OK(store.try_pin(std::string_view("\0bin", 4)));
    EXPECT_EQ(unwrap(store.try_pinned_ids()).back(), std::string("\0bin", 4));
    std::size_t pins = 0;
    for (const std::string& id : store.try_pinned_ids().value()) pins += id.size() > 0 ? 1u : 0u;  // no dangling temporary
    EXPECT_EQ(pins, 2u);
    EXPECT_EQ(unwrap(store.try_clear_unpinned()), 1u);
}

TEST_F(Store, EvictionOrderAndHandles) {
    nexus::Store store = make_store();
    for (const char* key : {"a", "b", "c", "d", "e"}) NX_ASSERT_OK(store.try_put(key, "v"));
    const nexus::Value held = unwrap(store.try_get("a"));  // an access, and unevictable while held
    EXPECT_EQ(unwrap(store.try_evict_lru(1)), 1u);          // b, the least recently used
    EXPECT_FALSE(unwrap(store.try_contains("b")));
    EXPECT_EQ(unwrap(store.try_evict(2)), 2u);  // c, d
    EXPECT_FALSE(unwrap(store.try_contains("c")));
    EXPECT_FALSE(unwrap(store.try_contains("d")));
    EXPECT_EQ(unwrap(store.try_clear_unpinned()), 1u);  // e; a is held
    EXPECT_TRUE(unwrap(store.try_contains("a")));
    const nexus::Metrics m = unwrap(store.try_metrics());
    EXPECT_EQ(m.eviction_count, 4u);
    EXPECT_EQ(m.in_use_bytes, charge("a", 1));
}

TEST_F(Store, PressureSignals) {
    nexus::Store store = make_store(MemoryConfig().max_bytes(100000));
    for (int i = 0; i < 200; ++i) NX_ASSERT_OK(store.try_put("k" + std::to_string(i), std::string(300, 'x')));
    EXPECT_EQ(unwrap(store.try_pressure_level()), PressureLevel::none);  // puts shed below the working size
    EXPECT_GT(unwrap(store.try_metrics()).eviction_count, 0u);

    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::critical));
    EXPECT_EQ(unwrap(store.try_pressure_level()), PressureLevel::critical);
    nexus::Metrics m = unwrap(store.try_metrics());
    EXPECT_LT(m.effective_budget, m.max_cache_bytes);
    EXPECT_LE(m.current_usage, m.effective_budget);
    EXPECT_GT(m.eviction_count, 0u);

    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));
    EXPECT_EQ(unwrap(store.try_metrics()).effective_budget, 100000u);

    NX_ASSERT_OK(nexus::Store::try_signal_pressure_all(PressureLevel::moderate));
    EXPECT_GE(unwrap(store.try_pressure_level()), PressureLevel::moderate);
    nexus::Store later = make_store();  // starts at the last level given to every store
    EXPECT_EQ(unwrap(later.try_pressure_level()), PressureLevel::moderate);
    NX_ASSERT_OK(nexus::Store::try_signal_pressure_all(PressureLevel::none));
    EXPECT_EQ(unwrap(later.try_pressure_level()), PressureLevel::none);

    NX_EXPECT_CODE(store.try_signal_pressure(static_cast<PressureLevel>(9)), StatusCode::invalid_argument);
}

TEST_F(Store, BudgetRefusalsChangeNothing) {
    nexus::Store store = make_store(MemoryConfig().max_bytes(1000));
    NX_EXPECT_CODE(store.try_put("huge", std::string(2000, 'x')), StatusCode::too_large);
    NX_ASSERT_OK(store.try_put("p1", std::string(300, 'x')));
    NX_ASSERT_OK(store.try_pin("p1"));
    NX_ASSERT_OK(store.try_put("p2", std::string(300, 'x')));
    NX_ASSERT_OK(store.try_pin("p2"));
    const nexus::Status s = store.try_put("p3", std::string(500, 'x'));
    EXPECT_EQ(s.code(), StatusCode::over_budget);
    EXPECT_FALSE(s.message().empty());
    EXPECT_EQ(unwrap(store.try_metrics()).entry_count, 2u);
}

TEST_F(Store, SetMaxBytes) {
    nexus::Store store = make_store();
    for (int i = 0; i < 10; ++i) NX_ASSERT_OK(store.try_put("k" + std::to_string(i), std::string(100, 'x')));
    NX_ASSERT_OK(store.try_pin("k9"));
    NX_ASSERT_OK(store.try_set_max_bytes(1000));
    nexus::Metrics m = unwrap(store.try_metrics());
    EXPECT_EQ(m.max_cache_bytes, 1000u);
    EXPECT_LE(m.current_usage, 1000u);
    EXPECT_TRUE(unwrap(store.try_contains("k9")));
    NX_EXPECT_CODE(store.try_set_max_bytes(100), StatusCode::over_budget);
    EXPECT_EQ(unwrap(store.try_metrics()).max_cache_bytes, 1000u);
    NX_ASSERT_OK(store.try_set_max_bytes(0));
    EXPECT_EQ(unwrap(store.try_pressure_level()), PressureLevel::none);
}

TEST_F(Store, MetricsAndJson) {
    nexus::Store store = make_store(MemoryConfig().max_bytes(1 << 20));
    NX_ASSERT_OK(store.try_put("a", "12345"));
    EXPECT_TRUE(store.try_get("a").ok());
    EXPECT_FALSE(store.try_get("b").ok());
    nexus::Metrics m = unwrap(store.try_metrics());
    EXPECT_EQ(m.current_usage, charge("a", 5));
    EXPECT_EQ(m.max_usage, charge("a", 5));
    EXPECT_EQ(m.entry_count, 1u);
    EXPECT_EQ(m.hit_count, 1u);
    EXPECT_EQ(m.miss_count, 1u);
    EXPECT_EQ(m.insert_count, 1u);
    EXPECT_EQ(m.pressure_level, PressureLevel::none);
    EXPECT_EQ(m.effective_budget, 1u << 20);

    const std::string json = unwrap(store.try_metrics_json());
    ASSERT_FALSE(json.empty());
    EXPECT_EQ(json.front(), '{');
    EXPECT_EQ(json.back(), '}');
    EXPECT_EQ(json.find('\0'), std::string::npos);
    EXPECT_NE(json.find("\"current_usage\":" + std::to_string(charge("a", 5))), std::string::npos) << json;
    EXPECT_NE(json.find("\"hit_count\":1"), std::string::npos) << json;

    NX_ASSERT_OK(store.try_reset_metrics());
    m = unwrap(store.try_metrics());
    EXPECT_EQ(m.hit_count, 0u);
    EXPECT_EQ(m.miss_count, 0u);
    EXPECT_EQ(m.max_usage, m.current_usage);
}

TEST_F(Store, PollEvents) {
    nexus::Store store = make_store(MemoryConfig().max_bytes(10000));
    EXPECT_EQ(store.try_poll_event().status().code(), StatusCode::empty);
    for (int i = 0; i < 60; ++i) NX_ASSERT_OK(store.try_put("k" + std::to_string(i), std::string(100, 'x')));
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::critical));

    std::uint64_t last_sequence = 0;
    bool saw_critical = false, saw_pressure_eviction = false;
    for (nexus::Result<nexus::Event> e = store.try_poll_event(); e; e = store.try_poll_event()) {
        EXPECT_GT(e->sequence, last_sequence);
        last_sequence = e->sequence;
        if (e->kind == nexus::EventKind::pressure_changed && e->level == PressureLevel::critical) saw_critical = true;
        if (e->kind == nexus::EventKind::eviction && e->reason == EvictionReason::pressure) {
            saw_pressure_eviction = true;
            EXPECT_GT(e->count, 0u);
            EXPECT_GT(e->bytes, 0u);
        }
    }
    EXPECT_TRUE(saw_critical);
    EXPECT_TRUE(saw_pressure_eviction);
    EXPECT_EQ(store.try_poll_event().status().code(), StatusCode::empty);
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));
}

TEST_F(Store, AFullQueueKeepsADroppedMarker) {
    nexus::Store store = make_store(MemoryConfig().event_queue_capacity(2));
    for (int i = 0; i < 5; ++i) {
        NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::critical));
        NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));
    }
    std::vector<nexus::Event> events;
    for (auto e = store.try_poll_event(); e; e = store.try_poll_event()) events.push_back(*e);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events.back().kind, nexus::EventKind::dropped);
    EXPECT_EQ(events.back().count, 8u);
}

TEST_F(Store, AMovedFromOrClosedStoreFailsCleanly) {
    nexus::Store store = make_store();
    nexus::Store other = std::move(store);
    EXPECT_FALSE(store.valid());  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_FALSE(static_cast<bool>(store));
    EXPECT_EQ(store.native(), nullptr);
    // Said in C++ terms: which call, and that the Store was moved from.
    const nexus::Status put = store.try_put("k", "v");
    NX_EXPECT_CODE(put, StatusCode::invalid_handle);
    EXPECT_EQ(put.message(), "nexus::Store::put: this Store was moved from; it holds no store");
    EXPECT_EQ(store.try_get("k").status().message(), "nexus::Store::get: this Store was moved from; it holds no store");
    EXPECT_EQ(store.try_metrics().status().code(), StatusCode::invalid_handle);
    EXPECT_EQ(store.try_put_object("t", std::make_unique<Texture>(1), 8).message(),
              "nexus::Store::put_object: this Store was moved from; it holds no store");
    EXPECT_EQ(store.try_on_event(nullptr).code(), StatusCode::invalid_handle);
    EXPECT_EQ(store.try_reset_metrics().code(), StatusCode::invalid_handle);
    EXPECT_EQ(store.try_signalled_level().status().message(),
              "nexus::Store::signalled_level: this Store was moved from; it holds no store");
    EXPECT_EQ(store.try_set_event_kinds({nexus::EventKind::eviction}).message(),
              "nexus::Store::set_event_kinds: this Store was moved from; it holds no store");
    EXPECT_EQ(store.callback_errors(), 0u);
    NX_ASSERT_OK(store.try_close());  // closing nothing is fine

    ASSERT_TRUE(other.valid());
    NX_ASSERT_OK(other.try_put("k", "v"));
    NexusStore* const freed = other.native();
    NX_ASSERT_OK(other.try_close());
    EXPECT_FALSE(other.valid());
    const nexus::Status pin = other.try_pin("k");
    NX_EXPECT_CODE(pin, StatusCode::invalid_handle);
    EXPECT_EQ(pin.message(), "nexus::Store::pin: this Store was closed; it holds no store");
    NX_ASSERT_OK(other.try_close());  // closing twice is fine
    // Moving a closed Store moves the state: the target says closed, the source moved from.
    nexus::Store third = std::move(other);
    EXPECT_EQ(third.try_pin("k").message(), "nexus::Store::pin: this Store was closed; it holds no store");
    EXPECT_EQ(other.try_pin("k").message(),  // NOLINT(bugprone-use-after-move)
              "nexus::Store::pin: this Store was moved from; it holds no store");
    // The C handle is generation-checked: the old handle is detected.
    EXPECT_EQ(nexus_store_pin(freed, nullptr, 0), NEXUS_STATUS_ERR_INVALID_HANDLE);
}

TEST_F(Store, ResultAccessors) {
    nexus::Result<int> good(3);
    EXPECT_TRUE(good.ok());
    EXPECT_TRUE(good.status().ok());
    EXPECT_EQ(*good, 3);
    EXPECT_EQ(good.value(), 3);
    EXPECT_EQ(good.value_or(4), 3);
    nexus::Result<int> bad(nexus::Status(StatusCode::busy, "later"));
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.value_or(4), 4);
    EXPECT_EQ(bad.status().to_string(), std::string(nexus::to_string(StatusCode::busy)) + ": later");
    EXPECT_TRUE(bad.status() == StatusCode::busy);
    EXPECT_TRUE(nexus::Status() == StatusCode::ok);
    EXPECT_EQ(nexus::Status().to_string(), nexus::to_string(StatusCode::ok));
}

TEST_F(Store, EnumsHaveNamesAndTheEventMaskAsksForSignalChangesOnly) {
    EXPECT_STREQ(nexus::to_string(PressureLevel::critical), "CRITICAL");
    EXPECT_STREQ(nexus::to_string(EvictionStrategy::lfu), "LFU");
    EXPECT_STREQ(nexus::to_string(nexus::EventKind::signal_changed), "SIGNAL_CHANGED");
    EXPECT_STREQ(nexus::to_string(nexus::EvictionReason::replaced), "REPLACED");
    EXPECT_STREQ(nexus::to_string(static_cast<PressureLevel>(9)), "UNKNOWN");

    nexus::Store store = make_store(MemoryConfig().max_bytes(1000));
    NX_ASSERT_OK(store.try_set_event_kinds({nexus::EventKind::signal_changed}));
    for (int i = 0; i < 20; i++) NX_ASSERT_OK(store.try_put("k" + std::to_string(i), std::string(100, 'x')));
    EXPECT_EQ(store.try_poll_event().status().code(), StatusCode::empty);  // usage flips: not asked for
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::moderate));
    EXPECT_EQ(unwrap(store.try_signalled_level()), PressureLevel::moderate);
    const nexus::Event e = unwrap(store.try_poll_event());
    EXPECT_EQ(e.kind, nexus::EventKind::signal_changed);
    EXPECT_EQ(e.level, PressureLevel::moderate);
    EXPECT_EQ(e.previous_level, PressureLevel::none);

    // A kind from no header (a cast from a bad integer) is refused, never
    // shifted past the mask's width, and changes nothing.
    for (std::uint32_t bad : {7u, 31u, 32u, 40u, 0xFFFFFFFFu}) {
        const nexus::Status s = store.try_set_event_kinds({static_cast<nexus::EventKind>(bad)});
        NX_EXPECT_CODE(s, StatusCode::invalid_argument);
        if (bad >= 32) {
            EXPECT_NE(s.message().find(std::to_string(bad) + " is not an EventKind"), std::string::npos);
        }
    }
    NX_ASSERT_OK(store.try_signal_pressure(PressureLevel::none));
    EXPECT_EQ(unwrap(store.try_poll_event()).kind, nexus::EventKind::signal_changed);
}


}  // namespace
