// Audit 18C: a hostile or careless C++ user (see REPORT.md at the repository root).
#include "test_support.hpp"

#include <nexus/governor.hpp>
#include <nexus/store.hpp>

#include <optional>
#include <string>
#include <type_traits>

namespace {

#if NEXUS_CPP_CATCHES
// An exception whose destructor throws: allowed by the language for a type
// not derived from std::exception (noexcept(false)). The exception object
// is destroyed when the wrapper's catch handler ends: what that destructor
// throws must not escape the trampoline (noexcept: std::terminate) either.
struct ThrowsWhenDestroyed {
    ~ThrowsWhenDestroyed() noexcept(false) { throw 42; }
};

TEST(Audit18, ListenerThrowingAnExceptionWhoseDestructorThrowsIsCountedNotFatal) {
    if (nexus_test::leak_checked()) GTEST_SKIP() << "libstdc++ leaks an exception object whose destructor threw";
    nexus::Store store = nexus::Store::create().value();
    ASSERT_TRUE(store.try_on_evict([](std::string_view, nexus::EvictionReason, std::uint64_t) {
                         throw ThrowsWhenDestroyed();
                     }).ok());
    ASSERT_TRUE(store.try_put("a", "1").ok());
    EXPECT_TRUE(store.try_remove("a").ok());
    EXPECT_EQ(store.callback_errors(), 1u);
}

TEST(Audit18, EventCallbackThrowingAnExceptionWhoseDestructorThrowsIsCountedNotFatal) {
    if (nexus_test::leak_checked()) GTEST_SKIP() << "libstdc++ leaks an exception object whose destructor threw";
    nexus::Store store = nexus::Store::create().value();
    ASSERT_TRUE(store.try_on_event([](const nexus::Event&) { throw ThrowsWhenDestroyed(); }).ok());
    EXPECT_TRUE(store.try_signal_pressure(nexus::PressureLevel::critical).ok());
    EXPECT_GE(store.callback_errors(), 1u);
}

TEST(Audit18, EstimatorThrowingAnExceptionWhoseDestructorThrowsChargesTheDefault) {
    if (nexus_test::leak_checked()) GTEST_SKIP() << "libstdc++ leaks an exception object whose destructor threw";
    nexus::Store store = nexus::Store::create(nexus::MemoryConfig().size_estimator(
                                                  [](std::string_view, const void*, std::size_t) -> std::size_t {
                                                      throw ThrowsWhenDestroyed();
                                                  }))
                             .value();
    ASSERT_TRUE(store.try_put("key", "value").ok());
    EXPECT_EQ(store.callback_errors(), 1u);
    EXPECT_EQ(store.try_metrics().value().current_usage, nexus_test::charge("key", 5));
}

TEST(Audit18, LoaderThrowingAnExceptionWhoseDestructorThrowsFailsTheLoad) {
    if (nexus_test::leak_checked()) GTEST_SKIP() << "libstdc++ leaks an exception object whose destructor threw";
    nexus::Store store = nexus::Store::create().value();
    ASSERT_TRUE(store.try_set_loader([](std::string_view, nexus::LoadSink&) -> nexus::StatusCode {
                         throw ThrowsWhenDestroyed();
                     }).ok());
    nexus::Result<nexus::Value> r = store.try_get_or_load("k");
    EXPECT_EQ(r.status().code(), nexus::StatusCode::callback);
    EXPECT_EQ(r.status().message(), "the loader threw: an exception not derived from std::exception");
    EXPECT_EQ(store.callback_errors(), 1u);
    EXPECT_FALSE(store.try_contains("k").value());
}

TEST(Audit18, GovernorCallbackThrowingAnExceptionWhoseDestructorThrowsIsCountedNotFatal) {
    if (nexus_test::leak_checked()) GTEST_SKIP() << "libstdc++ leaks an exception object whose destructor threw";
    nexus::Result<nexus::Governor> made = nexus::Governor::create(nexus::GovernorConfig().budget(1 << 20));
    ASSERT_TRUE(made.ok());
    nexus::Governor governor = std::move(made).value();
    ASSERT_TRUE(governor.set_event_callback([](const nexus::GovernorEvent&) { throw ThrowsWhenDestroyed(); }).ok());
    nexus::Store store = nexus::Store::create().value();
    EXPECT_TRUE(governor.try_join(store).ok());  // a joined event
    EXPECT_GE(governor.callback_errors(), 1u);
}
#endif

// A LoadSink is valid only during the loader call that received it: a copy
// kept past it pointed at the library's dead sink (a use after return,
// SIGSEGV in a probe). It cannot be copied or moved out of the loader.
TEST(Audit18, LoadSinkCannotBeCopiedOrMovedOutOfTheLoader) {
    EXPECT_FALSE(std::is_copy_constructible_v<nexus::LoadSink>);
    EXPECT_FALSE(std::is_move_constructible_v<nexus::LoadSink>);
    EXPECT_FALSE(std::is_copy_assignable_v<nexus::LoadSink>);
    EXPECT_FALSE(std::is_move_assignable_v<nexus::LoadSink>);
}

// ByteView of a const char array without a NUL (a four-character tag) read
// with strlen, past the array (ASan: stack-buffer-overflow in
// ByteView::ByteView(const char*)), where a non-const one stopped at N.
// The header promises "all N without one ... never past the array".
TEST(Audit18, ConstCharArrayWithoutNulIsReadToItsEndNotPast) {
    struct Layout {
        char tag[4];
        char after[4];
    };
    static const Layout layout{{'a', 'b', 'c', 'd'}, {'x', 'y', 'z', '\0'}};
    const nexus::ByteView view = layout.tag;
    EXPECT_EQ(view.size(), 4u);
    nexus::Store store = nexus::Store::create().value();
    ASSERT_TRUE(store.try_put("tag", layout.tag).ok());
    EXPECT_EQ(store.try_get("tag").value().view(), "abcd");
    // Unchanged: a C string, a literal, an array up to its first NUL, nullptr.
    static constexpr char embedded[] = "ab\0cd";
    const char* c_string = "text";
    const char* null_string = nullptr;
    EXPECT_EQ(nexus::ByteView(embedded).size(), 2u);
    EXPECT_EQ(nexus::ByteView("literal").size(), 7u);
    EXPECT_EQ(nexus::ByteView(c_string).size(), 4u);
    EXPECT_EQ(nexus::ByteView(null_string).size(), 0u);
    EXPECT_EQ(nexus::ByteView(nullptr).size(), 0u);
}

// A moved-from Governor, or a moved-from Store given to one, said only the
// C library's "`governor` is NULL" / "`store` is NULL", where a moved-from
// Store's own calls say what was moved from. Still null_argument (as
// documented), now with a message that names it.
TEST(Audit18, AMovedFromGovernorOrStoreIsNamedInTheMessage) {
    nexus::Result<nexus::Governor> made = nexus::Governor::create(nexus::GovernorConfig().budget(1 << 20));
    ASSERT_TRUE(made.ok());
    nexus::Governor governor = std::move(made).value();
    nexus::Governor other = std::move(governor);
    nexus::Store store = nexus::Store::create().value();
    const nexus::Status joined = governor.try_join(store);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(joined.code(), nexus::StatusCode::null_argument);
    EXPECT_EQ(joined.message(), "nexus::Governor::join: this Governor was moved from; it holds no governor");
    EXPECT_EQ(governor.enforce().message(),
              "nexus::Governor::enforce: this Governor was moved from; it holds no governor");
    EXPECT_EQ(governor.try_poll_event().status().code(), nexus::StatusCode::null_argument);
    EXPECT_EQ(governor.metrics().status().code(), nexus::StatusCode::null_argument);

    nexus::Store taken = std::move(store);
    const nexus::Status s = other.try_join(store);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(s.code(), nexus::StatusCode::null_argument);
    EXPECT_EQ(s.message(), "nexus::Governor::join: the Store was moved from or closed; it holds no store");
    EXPECT_TRUE(other.try_join(taken).ok());
    EXPECT_TRUE(other.try_leave(taken).ok());
}

}  // namespace
