// Built with -fno-exceptions into the same program as mixed_modes.cpp,
// which has exceptions: each unit keeps its own callback trampolines (the
// header's per-mode inline namespace), so neither unit's loader runs
// through the other's. Listed first in the link, the order in which the
// linker used to keep this unit's trampolines for both.
#include <nexus/store.hpp>

#include <string>
#include <utility>

namespace nexus_test {
// What this unit's own store loaded for "k", or the failure's message.
std::string mixed_modes_noexcept_load() {
    nexus::Result<nexus::Store> made = nexus::Store::create(nexus::MemoryConfig().max_bytes(1 << 20));
    if (!made) return made.status().to_string();
    nexus::Store store = std::move(made).value();
    const nexus::Status set = store.try_set_loader(
        [](std::string_view, nexus::LoadSink& sink) { return sink.put("from the -fno-exceptions unit").code(); });
    if (!set.ok()) return set.to_string();
    nexus::Result<nexus::Value> v = store.try_get_or_load("k");
    return v ? std::string(v->view()) : v.status().to_string();
}
}  // namespace nexus_test
