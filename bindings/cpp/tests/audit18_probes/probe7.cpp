#include <nexus/monitor.hpp>
#include <cstdio>
#include <thread>
#include <atomic>
std::optional<nexus::Monitor> mon;
std::atomic<int> calls{0};
int main() {
  auto r = nexus::Monitor::start(nexus::MonitorConfig().sources(false, false, true).sample_interval(std::chrono::milliseconds(10))
     .budget(0.5, 1, [](std::uint64_t b) {
        if (calls++ == 0) { auto st = mon->stop(); std::printf("stop from own budget callback: %s (budget %llu)\n", st.to_string().c_str(), (unsigned long long)b); }
     }));
  std::printf("start: %s\n", r.status().to_string().c_str());
  if (!r) return 1;
  mon.emplace(std::move(r).value());
  for (int i = 0; i < 200 && calls == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::printf("calls %d running %d\n", calls.load(), (int)nexus::Monitor::status().running);
  auto r2 = nexus::Monitor::start();
  std::printf("restart: %s\n", r2.status().to_string().c_str());
}
