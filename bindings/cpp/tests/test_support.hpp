// Helpers shared by the C++ wrapper's tests.
#ifndef NEXUS_TEST_SUPPORT_HPP
#define NEXUS_TEST_SUPPORT_HPP

#include <gtest/gtest.h>

#include <nexus/store.hpp>

#include <atomic>
#include <cstdlib>
#include <ostream>
#include <string>
#include <utility>

static_assert(NEXUS_CPP_EXCEPTIONS == NEXUS_TEST_EXCEPTIONS,
              "the test build's exception mode is not the one the header detected");

// Readable gtest output for the wrapper's enums.
namespace nexus {
inline void PrintTo(StatusCode code, std::ostream* os) { *os << to_string(code); }
inline void PrintTo(PressureLevel level, std::ostream* os) { *os << "level " << static_cast<unsigned>(level); }
}  // namespace nexus

namespace nexus_test {

/// The default estimator's charge of a bytes entry.
inline std::uint64_t charge(std::string_view key, std::size_t value_len) {
    return key.size() + value_len + NEXUS_ENTRY_OVERHEAD_BYTES;
}

inline bool under_valgrind() { return std::getenv("NEXUS_TEST_UNDER_VALGRIND") != nullptr; }

#if defined(__SANITIZE_ADDRESS__)
#define NEXUS_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NEXUS_TEST_ASAN 1
#endif
#endif

/// Whether a leak checker watches this run (valgrind memcheck or ASan's
/// LeakSanitizer). libstdc++ never frees an exception object whose
/// destructor threw (__cxa_end_catch: 129 bytes a throw), in any program:
/// the tests that throw one skip themselves under a leak checker.
inline bool leak_checked() {
#ifdef NEXUS_TEST_ASAN
    return true;
#else
    return under_valgrind();
#endif
}

/// An object that counts the live instances, to show every deleter ran once.
struct Texture {
    explicit Texture(int id_) : id(id_) { live().fetch_add(1); }
    ~Texture() { live().fetch_sub(1); }
    Texture(const Texture&) = delete;
    Texture& operator=(const Texture&) = delete;
    static std::atomic<int>& live() {
        static std::atomic<int> n{0};
        return n;
    }
    int id;
};

/// Every test starts and ends with no live Texture.
class StoreTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(Texture::live().load(), 0); }
    void TearDown() override { EXPECT_EQ(Texture::live().load(), 0) << "a Texture leaked or was never released"; }
};

/// The value of a Result, failing the test (and aborting without exceptions) if there is none.
template <class T>
T unwrap(nexus::Result<T> result) {
    EXPECT_TRUE(result.ok()) << result.status().to_string();
    return std::move(result).value();
}

inline nexus::Store make_store(const nexus::MemoryConfig& config = nexus::MemoryConfig()) {
    return unwrap(nexus::Store::create(config));
}

}  // namespace nexus_test

namespace nexus_test {
/// Whether a Status has the expected code, with the status in the failure message.
inline ::testing::AssertionResult status_is(const nexus::Status& status, nexus::StatusCode expected) {
    if (status.code() == expected) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "got " << status.to_string() << ", expected " << nexus::to_string(expected);
}
}  // namespace nexus_test

#define NX_ASSERT_OK(expr) ASSERT_TRUE(::nexus_test::status_is((expr), ::nexus::StatusCode::ok))
#define NX_EXPECT_CODE(expr, expected) EXPECT_TRUE(::nexus_test::status_is((expr), (expected)))

#endif  // NEXUS_TEST_SUPPORT_HPP
