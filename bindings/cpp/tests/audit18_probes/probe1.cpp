#include <nexus/store.hpp>
#include <nexus/governor.hpp>
#include <nexus/monitor.hpp>
#include <cstdio>
#include <thread>
#include <vector>
#include <array>
struct Evil { ~Evil() noexcept(false) { throw 42; } };
struct Ex : std::exception { const char* what() const noexcept override { return "ex"; } };
int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  nexus::Store s;
  if (mode == "evil_listener") {
    s.on_evict([](std::string_view, nexus::EvictionReason, std::uint64_t) { throw Evil(); });
    s.put("a", "1"); s.remove("a");
    std::printf("survived, errors=%llu\n", (unsigned long long)s.callback_errors());
  } else if (mode == "evil_loader") {
    s.set_loader([](std::string_view, nexus::LoadSink&) -> nexus::StatusCode { throw Evil(); });
    auto r = s.try_get_or_load("k");
    std::printf("survived, code=%s msg=%s errors=%llu\n", nexus::to_string(r.status().code()), r.status().message().c_str(), (unsigned long long)s.callback_errors());
  } else if (mode == "evil_est") {
    nexus::Store t(nexus::MemoryConfig().size_estimator([](std::string_view, const void*, std::size_t) -> std::size_t { throw Evil(); }));
    t.put("a", "1");
    std::printf("survived errors=%llu\n", (unsigned long long)t.callback_errors());
  } else if (mode == "sink_copy") {
    std::optional<nexus::LoadSink> kept;
    s.set_loader([&](std::string_view, nexus::LoadSink& sink) { kept.emplace(sink); return sink.put("v").code(); });
    auto v = s.get_or_load("k");
    auto st = kept->put("again");
    std::printf("late put: %s\n", st.to_string().c_str());
  } else if (mode == "keys") {
    std::printf("null sv put: %s\n", s.try_put(std::string_view(), "x").to_string().c_str());
    std::printf("get \"\": %d\n", (int)s.contains(""));
    std::string k("a\0b", 3);
    s.put(k, std::vector<std::uint8_t>{});
    std::printf("contains a: %d a\\0b: %d\n", (int)s.contains("a"), (int)s.contains(k));
    auto v = s.get(k); std::printf("empty value size %zu data %p\n", v->size(), (const void*)v->data());
    std::printf("ByteView(nullptr,5): %s\n", s.try_put("z", nexus::ByteView(nullptr, 5)).to_string().c_str());
    std::printf("put_ttl 0: %s\n", s.try_put_ttl("z", "v", std::chrono::milliseconds(0)).to_string().c_str());
    std::printf("set_event_kinds 7: %s\n", s.try_set_event_kinds({static_cast<nexus::EventKind>(7)}).to_string().c_str());
    std::printf("set_event_kinds 99: %s\n", s.try_set_event_kinds({static_cast<nexus::EventKind>(99)}).to_string().c_str());
    std::printf("signal 9: %s\n", s.try_signal_pressure(static_cast<nexus::PressureLevel>(9)).to_string().c_str());
    std::printf("huge key: %s\n", s.try_put(std::string_view("a", SIZE_MAX/2), "v").to_string().c_str());
    std::printf("huge val: %s\n", s.try_put("a", nexus::ByteView("a", SIZE_MAX)).to_string().c_str());
  } else if (mode == "loader_codes") {
    s.set_loader([](std::string_view k, nexus::LoadSink& sink) {
      if (k == "ok_noval") return nexus::StatusCode::ok;
      if (k == "99") return static_cast<nexus::StatusCode>(99);
      if (k == "twice") { (void)sink.put("a"); auto st = sink.put("b"); std::printf(" second put: %s\n", st.to_string().c_str()); return nexus::StatusCode::ok; }
      if (k == "abandon_then_put") { (void)sink.abandon("gone"); auto st = sink.put("b"); std::printf(" put after abandon: %s\n", st.to_string().c_str()); return nexus::StatusCode::ok; }
      if (k == "put_then_nf") { (void)sink.put("b"); return nexus::StatusCode::not_found; }
      if (k == "abandon_throw") { (void)sink.abandon("gone"); throw Ex(); }
      if (k == "throw_int") throw 7;
      return nexus::StatusCode::not_found;
    });
    for (auto k : {"ok_noval", "99", "twice", "abandon_then_put", "put_then_nf", "abandon_throw", "throw_int"}) {
      auto r = s.try_get_or_load(k);
      std::printf("%s: ok=%d %s contains=%d\n", k, (int)r.ok(), r.status().to_string().c_str(), (int)s.contains(k));
    }
    std::printf("errors=%llu\n", (unsigned long long)s.callback_errors());
  } else if (mode == "moved") {
    nexus::Store t = std::move(s);
    std::printf("moved put: %s\n", s.try_put("a","b").to_string().c_str());
    std::printf("moved id %llu errors %llu valid %d\n", (unsigned long long)s.id(), (unsigned long long)s.callback_errors(), (int)s.valid());
    std::printf("moved close: %s\n", s.try_close().to_string().c_str());
    s = std::move(s);
    t = std::move(t);
    std::printf("self-move t valid %d put %s\n", (int)t.valid(), t.try_put("a","b").to_string().c_str());
    using std::swap; swap(t, t);
    std::printf("self-swap t valid %d\n", (int)t.valid());
    nexus::Governor g(nexus::GovernorConfig().budget(1000));
    nexus::Governor g2 = std::move(g);
    std::printf("moved gov join: %s\n", g.try_join(t).to_string().c_str());
    std::printf("moved gov setcb: %s\n", g.set_event_callback([](const nexus::GovernorEvent&){}).to_string().c_str());
    std::printf("moved gov enforce: %s\n", g.enforce().to_string().c_str());
    std::printf("moved gov metrics: %s\n", g.metrics().status().to_string().c_str());
    std::printf("moved store join: %s\n", g2.try_join(s).to_string().c_str());
    try { g.poll_event(); } catch (const nexus::Error& e) { std::printf("moved gov poll: %s\n", e.what()); }
    nexus::Value v(nullptr); nexus::Value w = std::move(v);
    std::printf("moved value size %zu obj %p view %zu isobj %d try_object %s\n", v.size(), (void*)v.object<int>(), v.view().size(), (int)v.is_object(), v.try_object<int>().status().to_string().c_str());
    v = std::move(v);
  } else if (mode == "result") {
    nexus::Result<int> r(nexus::Status(nexus::StatusCode::busy, "x"));
    try { (void)r.value(); } catch (const nexus::Error& e) { std::printf("value(): %s\n", e.what()); }
    std::printf("value_or: %d\n", r.value_or(5));
    nexus::Result<int> ok(nexus::Status{});
    std::printf("from ok status: %s\n", ok.status().to_string().c_str());
  }
  return 0;
}
