#include <nexus/store.hpp>
#include <cstdio>
#include <thread>
#include <future>
int main() {
  nexus::Store s(nexus::MemoryConfig().max_bytes(1000));
  std::atomic<bool> in_cb{false}, other_done{false};
  s.on_evict([&](std::string_view, nexus::EvictionReason, std::uint64_t) {
    in_cb = true;
    for (int i = 0; i < 500 && !other_done; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  s.on_event([&](const nexus::Event&) { for (int i = 0; i < 500 && !other_done && in_cb; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
  s.put("a", std::string(500, 'a'));
  std::thread t([&] { s.put("b", std::string(600, 'b')); });  // evicts a -> blocks in listener
  while (!in_cb) std::this_thread::yield();
  s.put("c", "1"); auto v = s.get("c"); s.set_loader([](std::string_view, nexus::LoadSink& k) { return k.put("x").code(); });
  (void)s.get_or_load("zz"); (void)s.metrics(); s.pin("c"); (void)s.clear_unpinned();
  other_done = true;
  t.join();
  std::printf("other thread progressed while a listener blocked: ok\n");
}
