// A tiny C++ program using nexus_store, built by the consumer project in each
// way a project takes the library, and through pkg-config.
#include <nexus/store.hpp>

#include <cstdio>
#include <memory>

int main() {
    nexus::Result<nexus::Store> made = nexus::Store::create(nexus::MemoryConfig().max_bytes(1 << 20));
    if (!made) {
        std::fprintf(stderr, "create: %s\n", made.status().to_string().c_str());
        return 1;
    }
    nexus::Store store = std::move(made).value();
    if (nexus::Status s = store.try_put("greeting", "hello from nexus_store"); !s.ok()) {
        std::fprintf(stderr, "put: %s\n", s.to_string().c_str());
        return 1;
    }
    if (!store.try_put_object("answer", std::make_unique<int>(42), sizeof(int)).ok()) return 1;
    const nexus::Result<nexus::Value> greeting = store.try_get("greeting");
    const nexus::Result<nexus::Value> answer = store.try_get("answer");
    if (!greeting || !answer) return 1;
    std::printf("%.*s, answer %d (nexus_store %s)\n", static_cast<int>(greeting->view().size()),
                greeting->view().data(), *answer->object<int>(), nexus::version());
    return *answer->object<int>() == 42 ? 0 : 1;
}
