#include <nexus/store.hpp>
#include <nexus/governor.hpp>
#include <nexus/monitor.hpp>
#include <cstdio>
#include <thread>
static std::atomic<int> dtors{0};
static std::atomic<int> ctors{0};
struct Counted { int* p = nullptr; Counted() { ctors++; } Counted(const Counted&) { ctors++; } ~Counted() { dtors++; } };
int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "destroy_once") {
    int live_before;
    {
      nexus::Store s;
      Counted c;
      s.on_evict([c](std::string_view, nexus::EvictionReason, std::uint64_t) {});
      s.on_event([c](const nexus::Event&) {});
      s.set_loader([c](std::string_view, nexus::LoadSink&) { return nexus::StatusCode::not_found; });
      s.on_evict([c](std::string_view, nexus::EvictionReason, std::uint64_t) {});  // replace
      s.on_event(nullptr);
      live_before = dtors.load();
    }
    std::printf("ctors %d dtors total %d (before store end %d)\n", ctors.load(), dtors.load(), live_before);
  } else if (mode == "est_reenter") {
    nexus::Store* sp = nullptr; int depth = 0;
    nexus::Store s(nexus::MemoryConfig().size_estimator([&](std::string_view k, const void*, std::size_t n) -> std::size_t {
      if (sp && depth == 0 && k == "a") { depth++; auto st = sp->try_put("b", "x"); std::printf(" inner put: %s contains a=%d\n", st.to_string().c_str(), (int)sp->contains("a")); depth--; }
      return k.size() + n; }));
    sp = &s;
    s.put("a", "1");
    std::printf("entries %llu usage %llu\n", (unsigned long long)s.metrics().entry_count, (unsigned long long)s.metrics().current_usage);
  } else if (mode == "gov_destroy_in_cb") {
    auto* g = new nexus::Governor(nexus::GovernorConfig().budget(1000));
    (void)g->set_event_callback([&](const nexus::GovernorEvent& e) { std::printf(" event %s\n", nexus::to_string(e.kind)); if (g) { delete g; g = nullptr; } });
    nexus::Store s;
    auto st = g->try_join(s);
    std::printf("join: %s g=%p\n", st.to_string().c_str(), (void*)g);
    s.put("a", std::string(2000, 'a'));
    std::printf("after put usage %llu\n", (unsigned long long)s.metrics().current_usage);
  } else if (mode == "monitor_move") {
    auto r = nexus::Monitor::start(nexus::MonitorConfig().sources(false, false, true));
    std::printf("start: %s\n", r.status().to_string().c_str());
    if (!r) return 0;
    nexus::Monitor m = std::move(r).value();
    m = std::move(m);
    std::printf("self-move run %llu\n", (unsigned long long)m.run());
    nexus::Monitor m2 = std::move(m);
    std::printf("moved run %llu stop %s\n", (unsigned long long)m.run(), m.stop().to_string().c_str());
    auto r2 = nexus::Monitor::start();
    std::printf("second: %s\n", r2.status().to_string().c_str());
    std::printf("stop m2: %s again: %s\n", m2.stop().to_string().c_str(), m2.stop().to_string().c_str());
  } else if (mode == "threads_values") {
    nexus::Store s; s.put("k", std::string(100, 'v'));
    auto v = s.get("k");
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++) ts.emplace_back([&] { for (int j = 0; j < 1000; j++) { if (v->view().size() != 100) std::abort(); s.put("k", "w"); auto w = s.get("k"); } });
    for (auto& t : ts) t.join();
    std::printf("ok view %zu\n", v->view().size());
  } else if (mode == "listener_throw_kinds") {
    nexus::Store s;
    int i = 0;
    s.on_evict([&](std::string_view, nexus::EvictionReason, std::uint64_t) {
      switch (i++ % 4) { case 0: throw std::runtime_error("x"); case 1: throw 1; case 2: throw std::bad_alloc(); default: throw "str"; } });
    for (int j = 0; j < 8; j++) { s.put("a", "1"); }
    s.remove("a");
    std::printf("errors %llu (8 expected: 7 replaced + 1 removed)\n", (unsigned long long)s.callback_errors());
  }
  return 0;
}
