#include <nexus/store.hpp>
#include <cstdio>
int main() {
  nexus::Store* sp = nullptr;
  nexus::Store s(nexus::MemoryConfig().max_bytes(1000).size_estimator([&](std::string_view k, const void*, std::size_t n) -> std::size_t {
    if (sp && k == "big") { auto r = sp->try_get("nothing-here"); (void)r; return 5000; }
    return k.size() + n; }));
  sp = &s;
  auto st = s.try_put("big", "v");
  std::printf("put big: %s\n", st.to_string().c_str());
  s.on_evict([&](std::string_view, nexus::EvictionReason, std::uint64_t) { (void)s.try_remove("absent-key"); });
  s.put("a", std::string(600, 'a'));
  s.pin("a");
  st = s.try_put("b", std::string(600, 'b'));
  std::printf("put b: %s\n", st.to_string().c_str());
}
