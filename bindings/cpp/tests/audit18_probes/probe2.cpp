#include <nexus/store.hpp>
#include <nexus/governor.hpp>
#include <cstdio>
#include <thread>
#include <memory>
static std::atomic<int> deletes{0};
static std::thread::id del_thread;
struct D { int tag; void operator()(int* p) const { deletes++; del_thread = std::this_thread::get_id(); delete p; } };
int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "destroy_in_cb") {
    auto* s = new nexus::Store();
    s->put("a", "1");
    s->on_evict([&](std::string_view k, nexus::EvictionReason, std::uint64_t) {
      std::printf("listener %.*s close=%s\n", (int)k.size(), k.data(), s->try_close().to_string().c_str());
      delete s; s = nullptr; });
    auto st = s->try_remove("a");  // s destroyed inside
    std::printf("remove returned %s\n", st.to_string().c_str());
  } else if (mode == "move_assign_in_cb") {
    nexus::Store s; s.put("a", "1");
    s.on_evict([&](std::string_view, nexus::EvictionReason, std::uint64_t) { s = nexus::Store(); });
    auto st = s.try_remove("a");
    std::printf("remove returned %s; s valid %d put %s\n", st.to_string().c_str(), (int)s.valid(), s.try_put("x","y").to_string().c_str());
  } else if (mode == "value_outlives") {
    std::optional<nexus::Value> v;
    {
      nexus::Store s;
      s.put_object("o", std::unique_ptr<int, D>(new int(5), D{1}), 8);
      v = s.get("o");
    }
    std::printf("after store gone: deletes=%d obj=%d\n", deletes.load(), *v->object<int>());
    std::thread t([&] { v.reset(); });
    t.join();
    std::printf("deletes=%d on other thread=%d\n", deletes.load(), (int)(del_thread != std::this_thread::get_id()));
  } else if (mode == "fail_put_keeps") {
    nexus::Store s(nexus::MemoryConfig().max_bytes(100));
    std::unique_ptr<int, D> p(new int(1), D{7});
    auto st = s.try_put_object("k", std::move(p), 1000);
    std::printf("over: %s p=%p tag=%d\n", st.to_string().c_str(), (void*)p.get(), p.get_deleter().tag);
    st = s.try_put_object("k", std::move(p), 0);
    std::printf("cost0: %s p=%p\n", st.to_string().c_str(), (void*)p.get());
    auto lam = [](int* q) { deletes++; delete q; };
    std::unique_ptr<int, decltype(lam)> l(new int(2), lam);
    st = s.try_put_object("k", std::move(l), 0);
    std::printf("lambda cost0: %s l=%p\n", st.to_string().c_str(), (void*)l.get());
    std::unique_ptr<int, D> e;
    std::printf("empty: %s\n", s.try_put_object("k", std::move(e), 1).to_string().c_str());
    auto sp = std::make_shared<std::pair<int,int>>(1,2);
    std::shared_ptr<int> alias(sp, &sp->second);
    s.put_object("alias", alias, 8);
    s.put_object("whole", sp, 8);
    auto v = s.get("alias");
    std::printf("alias obj<int>=%d obj<pair>=%p uses=%ld\n", *v->object<int>(), (void*)v->object<std::pair<int,int>>(), sp.use_count());
    v.reset(); s.clear();
    std::printf("after clear uses=%ld deletes=%d\n", sp.use_count(), deletes.load());
  } else if (mode == "est0") {
    nexus::Store s(nexus::MemoryConfig().size_estimator([](std::string_view, const void*, std::size_t) { return std::size_t{0}; }));
    std::printf("put est0: %s\n", s.try_put("a", "b").to_string().c_str());
    std::printf("put_obj cost0 est0: %s\n", s.try_put_object("o", std::make_unique<int>(1), 0).to_string().c_str());
    std::printf("usage %llu\n", (unsigned long long)s.metrics().current_usage);
  } else if (mode == "gov_destroyed") {
    nexus::Store a, b;
    {
      nexus::Governor g(nexus::GovernorConfig().budget(1000));
      g.join(a); g.join(b);
      a.put("x", std::string(100, 'x'));
    }
    a.put("y", std::string(2000, 'y'));
    nexus::Governor g2(nexus::GovernorConfig().budget(1000));
    g2.join(a);
    std::printf("rejoin ok usage %llu\n", (unsigned long long)a.metrics().current_usage);
    nexus::Store c = std::move(a);
    auto mm = g2.member_metrics(c);
    std::printf("member after store move: %s\n", mm.status().to_string().c_str());
  } else if (mode == "replace_self") {
    nexus::Store s; int calls = 0;
    s.on_evict([&](std::string_view, nexus::EvictionReason, std::uint64_t) {
      calls++; s.on_evict([&](std::string_view, nexus::EvictionReason, std::uint64_t) { calls += 100; }); });
    s.put("a","1"); s.put("b","1"); s.remove("a"); s.remove("b");
    std::printf("calls=%d\n", calls);
    s.set_loader([&](std::string_view k, nexus::LoadSink& sink) {
      auto inner = s.try_get_or_load(k);
      std::printf("reentrant get_or_load same key: %s\n", inner.status().to_string().c_str());
      s.set_loader(nullptr);
      return sink.put("v").code(); });
    auto v = s.get_or_load("z");
    std::printf("v=%.*s\n", (int)v->view().size(), v->view().data());
  }
  return 0;
}
