// Built with NEXUS_NO_EXCEPTIONS while exceptions stay on, into the same
// program as mixed_modes_noexcept.cpp (-fno-exceptions, linked first) and
// mixed_modes.cpp: its loader throws, and this unit's trampolines (the
// header's nexus::without_throwing_api namespace) still catch it. With the
// -fno-exceptions unit's trampolines the throw would end the process.
#include <nexus/store.hpp>

#include <stdexcept>
#include <string>
#include <utility>

static_assert(NEXUS_CPP_CATCHES == 1 && NEXUS_CPP_EXCEPTIONS == 0, "built with NEXUS_NO_EXCEPTIONS, exceptions on");

namespace nexus_test {
// The status of a get_or_load whose loader throws, as text.
std::string mixed_modes_no_throwing_api_load() {
    nexus::Result<nexus::Store> made = nexus::Store::create(nexus::MemoryConfig().max_bytes(1 << 20));
    if (!made) return made.status().to_string();
    nexus::Store store = std::move(made).value();
    const nexus::Status set = store.try_set_loader([](std::string_view, nexus::LoadSink&) -> nexus::StatusCode {
        throw std::runtime_error("boom in the unit without the throwing API");
    });
    if (!set.ok()) return set.to_string();
    nexus::Result<nexus::Value> v = store.try_get_or_load("k");
    return v ? std::string("loaded: ") + std::string(v->view()) : v.status().to_string();
}
}  // namespace nexus_test
