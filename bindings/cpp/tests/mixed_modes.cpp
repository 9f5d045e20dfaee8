// A program whose translation units differ in exception mode (see
// mixed_modes_noexcept.cpp and mixed_modes_no_throwing_api.cpp): a loader that throws in this unit still fails
// its get_or_load with StatusCode::callback, caught by the trampoline of
// this unit's mode, and the other unit's store works as it should.
#include <gtest/gtest.h>

#include <nexus/store.hpp>

#include <stdexcept>
#include <string>

namespace nexus_test {
std::string mixed_modes_noexcept_load();         // in mixed_modes_noexcept.cpp
std::string mixed_modes_no_throwing_api_load();  // in mixed_modes_no_throwing_api.cpp
}  // namespace nexus_test

namespace {
TEST(MixedModes, EachUnitKeepsTheTrampolinesOfItsOwnMode) {
    EXPECT_EQ(nexus_test::mixed_modes_noexcept_load(), "from the -fno-exceptions unit");
    // NEXUS_NO_EXCEPTIONS with exceptions on: the throw is caught there too.
    const std::string caught = nexus_test::mixed_modes_no_throwing_api_load();
    EXPECT_NE(caught.find("the loader threw: boom in the unit without the throwing API"), std::string::npos) << caught;
    nexus::Store store(nexus::MemoryConfig().max_bytes(1 << 20));
    store.set_loader([](std::string_view, nexus::LoadSink&) -> nexus::StatusCode {
        throw std::runtime_error("boom");
    });
    try {
        (void)store.get_or_load("k");
        FAIL() << "get_or_load returned";
    } catch (const nexus::Error& e) {
        EXPECT_EQ(e.status().code(), nexus::StatusCode::callback);
        EXPECT_NE(std::string(e.what()).find("the loader threw: boom"), std::string::npos) << e.what();
    }
}
}  // namespace
