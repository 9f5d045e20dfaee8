// nexus::Monitor: RAII start/stop, one per process, a fake cgroup v1 tree
// that moves a store to CRITICAL, the budget callback, the real host.
#include "test_support.hpp"

#include <nexus/monitor.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

using nexus_test::unwrap;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

class FakeHost {
public:
    explicit FakeHost(unsigned usage_mib) {
        root_ = fs::temp_directory_path() / ("nexus-monitor-cpp-" + std::to_string(::getpid()));
        fs::remove_all(root_);
        fs::create_directories(root_ / "proc/self");
        fs::create_directories(root_ / "sys/fs/cgroup/memory/job");
        write("proc/self/cgroup", "4:memory:/job\n0::/\n");
        write("proc/meminfo", "MemTotal: 16000000 kB\nMemAvailable: 15000000 kB\n");
        write("sys/fs/cgroup/memory/job/memory.limit_in_bytes", "104857600\n");
        usage(usage_mib);
    }
    ~FakeHost() {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    void usage(unsigned mib) {
        write("sys/fs/cgroup/memory/job/memory.usage_in_bytes", std::to_string(std::uint64_t{mib} << 20) + "\n");
    }
    nexus::MonitorConfig config() const {
        return nexus::MonitorConfig().fs_root(root_.string()).sample_interval(10ms).min_level_time(50ms).resignal(0ms);
    }

private:
    void write(const char* rel, const std::string& text) {
        const fs::path tmp = root_ / (std::string(rel) + ".tmp");
        std::ofstream(tmp) << text;
        fs::rename(tmp, root_ / rel);  // the monitor never reads half a file
    }
    fs::path root_;
};

template <class F>
void wait_until(F done) {  // bounded: a hang fails the test
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline);
        std::this_thread::sleep_for(2ms);
    }
}

}  // namespace

TEST(Monitor, RaiiStartsOnceAndStopsOnDestruction) {
    FakeHost host(1);
    {
        nexus::Result<nexus::Monitor> first = nexus::Monitor::start(host.config());
        ASSERT_TRUE(first.ok()) << first.status().to_string();
        EXPECT_TRUE(nexus::Monitor::status().running);
        nexus::Result<nexus::Monitor> second = nexus::Monitor::start(host.config());
        ASSERT_FALSE(second.ok());
        EXPECT_EQ(second.status(), nexus::StatusCode::busy);
        EXPECT_TRUE(nexus::Monitor::status().running) << "the first keeps running";
        nexus::Monitor moved = std::move(first).value();
        EXPECT_TRUE(nexus::Monitor::status().running);
    }
    EXPECT_FALSE(nexus::Monitor::status().running);
    nexus::Monitor again = unwrap(nexus::Monitor::start(host.config()));
    EXPECT_TRUE(again.stop().ok());
    EXPECT_TRUE(again.stop().ok()) << "a stopped Monitor stops nothing";
    EXPECT_FALSE(nexus::Monitor::status().running);
}

// A Monitor whose run was stopped behind its back (nexus_monitor_stop, as
// from a store callback) does not stop the run started after it.
TEST(Monitor, AStaleMonitorDoesNotStopANewerRun) {
    FakeHost host(1);
    nexus::Monitor first = unwrap(nexus::Monitor::start(host.config()));
    ASSERT_NE(first.run(), 0u);
    ASSERT_EQ(nexus_monitor_stop(), NEXUS_STATUS_OK);
    nexus::Monitor second = unwrap(nexus::Monitor::start(host.config()));
    EXPECT_GT(second.run(), first.run());
    {
        nexus::Monitor stale = std::move(first);  // destroyed: its run had ended
    }
    EXPECT_TRUE(nexus::Monitor::status().running) << "the newer run keeps running";
    ASSERT_EQ(nexus_monitor_stop(), NEXUS_STATUS_OK);
    nexus::Monitor third = unwrap(nexus::Monitor::start(host.config()));
    EXPECT_EQ(second.stop(), nexus::StatusCode::not_found) << "its run had ended";
    EXPECT_TRUE(nexus::Monitor::status().running);
    EXPECT_TRUE(third.stop().ok());
    EXPECT_FALSE(nexus::Monitor::status().running);
}

TEST(Monitor, FakeCgroupMovesAStoreToCriticalAndBack) {
    FakeHost host(10);
    nexus::Store store = nexus_test::make_store(nexus::MemoryConfig().max_bytes(64u << 20));
    for (int i = 0; i < 50; i++) ASSERT_TRUE(store.try_put("k" + std::to_string(i), std::string(1000, 'v')).ok());
    nexus::Monitor monitor = unwrap(nexus::Monitor::start(host.config()));
    const nexus::MonitorStatus s = nexus::Monitor::status();
    EXPECT_EQ(nexus::Monitor::state(s, nexus::MonitorSource::psi), nexus::SourceState::absent);
    EXPECT_EQ(nexus::Monitor::state(s, nexus::MonitorSource::cgroup_v1), nexus::SourceState::active);
    // A source number from no header reads absent (audit 9: it read past the array).
    EXPECT_EQ(nexus::Monitor::state(s, static_cast<nexus::MonitorSource>(6)), nexus::SourceState::absent);
    EXPECT_NE(nexus::Monitor::source_detail(nexus::MonitorSource::psi).find("missing"), std::string::npos);
    host.usage(92);
    wait_until([&] { return unwrap(store.try_pressure_level()) == nexus::PressureLevel::critical; });
    EXPECT_LT(unwrap(store.try_metrics()).entry_count, 50u);
    host.usage(5);
    wait_until([&] { return unwrap(store.try_pressure_level()) == nexus::PressureLevel::none; });
}

TEST(Monitor, BudgetCallbackIsCalledAndOwned) {
    FakeHost host(60);
    auto seen = std::make_shared<std::atomic<std::uint64_t>>(0);
    {
        nexus::Monitor monitor = unwrap(nexus::Monitor::start(
            host.config().budget(0.5, 4u << 20, [seen](std::uint64_t b) { seen->store(b); })));
        wait_until([&] { return seen->load() == (20u << 20); });
        EXPECT_GE(seen.use_count(), 2) << "the library holds a copy of the callback";
    }
    EXPECT_EQ(seen.use_count(), 1) << "deleted once the monitor stopped";
}

#if NEXUS_CPP_CATCHES
// Audit 18C: an exception whose destructor throws (noexcept(false)) is
// destroyed when the wrapper's handler ends; that second throw used to leave
// the noexcept budget trampoline: std::terminate on the monitor thread.
struct BudgetThrowsWhenDestroyed {
    ~BudgetThrowsWhenDestroyed() noexcept(false) { throw 42; }
};

TEST(Monitor, BudgetCallbackThrowingAnExceptionWhoseDestructorThrowsIsDropped) {
    if (nexus_test::leak_checked()) GTEST_SKIP() << "libstdc++ leaks an exception object whose destructor threw";
    FakeHost host(60);
    auto seen = std::make_shared<std::atomic<std::uint64_t>>(0);
    nexus::Monitor monitor = unwrap(nexus::Monitor::start(host.config().budget(0.5, 4u << 20, [seen](std::uint64_t b) {
        seen->store(b);
        throw BudgetThrowsWhenDestroyed();
    })));
    wait_until([&] { return seen->load() == (20u << 20); });
    std::this_thread::sleep_for(50ms);  // a few more samples after the throw
    EXPECT_TRUE(nexus::Monitor::status().running);
    EXPECT_TRUE(monitor.stop().ok());
}
#endif

TEST(Monitor, BadConfigIsInvalidArgumentWithAMessage) {
    nexus::Result<nexus::Monitor> bad = nexus::Monitor::start(
        nexus::MonitorConfig().psi_trigger(nexus::PressureLevel::critical, false, 3s, 2s));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status(), nexus::StatusCode::invalid_argument);
    EXPECT_NE(bad.status().message().find("psi.critical"), std::string::npos) << bad.status().message();
    EXPECT_FALSE(nexus::Monitor::status().running);
    // A negative duration is refused by name, not taken as 0 (0 resignal
    // means never; 0 min_level_time, step down at once).
    const nexus::Result<nexus::Monitor> negative =
        nexus::Monitor::start(nexus::MonitorConfig().resignal(-5ms).min_level_time(-1ms));
    ASSERT_FALSE(negative.ok());
    EXPECT_EQ(negative.status().message(), "nexus::MonitorConfig::resignal: -5 is negative");
    const nexus::Result<nexus::Monitor> window = nexus::Monitor::start(
        nexus::MonitorConfig().psi_trigger(nexus::PressureLevel::moderate, false, 70ms, -2s));
    ASSERT_FALSE(window.ok());
    EXPECT_EQ(window.status().message(), "nexus::MonitorConfig::psi_trigger window: -2000000 is negative");
    EXPECT_FALSE(nexus::Monitor::status().running);
    // A source from no header is a status, where source_detail says "".
    const nexus::Result<std::string> unknown = nexus::Monitor::try_source_detail(static_cast<nexus::MonitorSource>(9));
    EXPECT_EQ(unknown.status().code(), nexus::StatusCode::invalid_argument);
    EXPECT_EQ(nexus::Monitor::source_detail(static_cast<nexus::MonitorSource>(9)), "");
}

TEST(Monitor, RealHostStartsReadsAndStops) {
    nexus::Monitor monitor = unwrap(nexus::Monitor::start(nexus::MonitorConfig().sample_interval(20ms)));
    wait_until([] { return nexus::Monitor::status().samples >= 2; });
    const nexus::MonitorStatus s = nexus::Monitor::status();
    for (auto src : {nexus::MonitorSource::psi, nexus::MonitorSource::cgroup_v2, nexus::MonitorSource::cgroup_v1,
                     nexus::MonitorSource::headroom}) {
        EXPECT_NE(nexus::Monitor::state(s, src), nexus::SourceState::failed) << nexus::Monitor::source_detail(src);
    }
    EXPECT_GT(s.sources[NEXUS_MONITOR_SOURCE_HEADROOM].total_bytes, 0u);
    EXPECT_TRUE(monitor.stop().ok());
    // Whatever the host signalled, later tests' stores start at NONE.
    EXPECT_EQ(nexus_signal_pressure_all(NEXUS_PRESSURE_LEVEL_NONE), NEXUS_STATUS_OK);
}
