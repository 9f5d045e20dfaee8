// nexus/monitor.hpp: the process-wide OS pressure monitor (Linux) for C++17.
//
// Header-only, over the C API's nexus_monitor_* calls (see <nexus_store.h>
// for the full semantics). One monitor thread per process reads PSI, the
// process's cgroup (v2 or v1) and the memory headroom, and signals every
// store as nexus_signal_pressure_all does.
//
//   #include <nexus/monitor.hpp>
//
//   nexus::Monitor monitor(nexus::MonitorConfig().sample_interval(std::chrono::milliseconds(500)));
//   ...                                   // every nexus::Store now follows the OS
//   nexus::MonitorStatus s = nexus::Monitor::status();
//   // ~Monitor stops the thread
//
// nexus::Monitor is RAII and move-only: it owns "the monitor is running".
// Only one can exist at a time: a second start gives StatusCode::busy (the
// first keeps running). The budget callback is owned by the C library
// (ctx + destroy) and deleted once, after the monitor thread ended; an
// exception it throws is caught and dropped.
#ifndef NEXUS_MONITOR_HPP
#define NEXUS_MONITOR_HPP

#include <nexus/store.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace nexus {
inline namespace NEXUS_CPP_MODE_NAMESPACE {

/// A monitor source: the index of MonitorStatus::sources.
enum class MonitorSource : std::uint32_t {
    psi = NEXUS_MONITOR_SOURCE_PSI,
    cgroup_v2 = NEXUS_MONITOR_SOURCE_CGROUP_V2,
    cgroup_v1 = NEXUS_MONITOR_SOURCE_CGROUP_V1,
    headroom = NEXUS_MONITOR_SOURCE_HEADROOM,
};

/// Whether a source works on this host.
enum class SourceState : std::uint32_t {
    absent = NEXUS_MONITOR_SOURCE_ABSENT,
    active = NEXUS_MONITOR_SOURCE_ACTIVE,
    polling = NEXUS_MONITOR_SOURCE_POLLING,
    failed = NEXUS_MONITOR_SOURCE_FAILED,
};

/// What the monitor saw last (the C struct, filled by Monitor::status()).
using MonitorStatus = NexusMonitorStatus;

/// Receives the headroom budget on the monitor thread (see budget()).
using BudgetCallback = std::function<void(std::uint64_t budget_bytes)>;

/// A builder over NexusMonitorConfig, starting from the library's defaults.
class MonitorConfig {
public:
    MonitorConfig() noexcept { nexus_monitor_config_init(&config_); }

    /// Where /proc and /sys are read (tests: a fake tree). Empty: "/".
    MonitorConfig& fs_root(std::string root) {
        root_ = std::move(root);
        return *this;
    }
    /// How often every source is read besides kernel notifications (10 ms .. 1 h).
    /// A negative duration here or below makes Monitor::start
    /// invalid_argument, naming it.
    MonitorConfig& sample_interval(std::chrono::milliseconds ms) noexcept {
        config_.sample_interval_ms = to_ms(ms, "sample_interval");
        return *this;
    }
    /// The least time a level is kept after its pressure was last read
    /// (0 .. a day).
    MonitorConfig& min_level_time(std::chrono::milliseconds ms) noexcept {
        config_.min_level_ms = to_ms(ms, "min_level_time");
        return *this;
    }
    /// Signal the level in force again this often while it lasts (0: never;
    /// at most a day).
    MonitorConfig& resignal(std::chrono::milliseconds ms) noexcept {
        config_.resignal_ms = to_ms(ms, "resignal");
        return *this;
    }
    /// Turn sources off (all on by default); psi_poll_only: no PSI triggers.
    MonitorConfig& sources(bool psi, bool cgroup, bool headroom) noexcept {
        config_.psi_enabled = psi;
        config_.cgroup_enabled = cgroup;
        config_.headroom_enabled = headroom;
        return *this;
    }
    /// The PSI trigger of `level` (moderate, critical or emergency; none is
    /// ignored): `stall` of `full` (else `some`) stall within any `window`
    /// (500 ms .. 10 s; a multiple of 2 s without CAP_SYS_RESOURCE).
    MonitorConfig& psi_trigger(PressureLevel level, bool full, std::chrono::microseconds stall,
                               std::chrono::microseconds window) noexcept {
        NexusPsiTrigger t{static_cast<NexusPsiStall>(full ? NEXUS_PSI_STALL_FULL : NEXUS_PSI_STALL_SOME),
                          us(stall, "psi_trigger stall"), us(window, "psi_trigger window")};
        if (level == PressureLevel::moderate) config_.psi_moderate = t;
        if (level == PressureLevel::critical) config_.psi_critical = t;
        if (level == PressureLevel::emergency) config_.psi_emergency = t;
        return *this;
    }
    MonitorConfig& psi_poll_only(bool on) noexcept {
        config_.psi_poll_only = on;
        return *this;
    }
    /// Usage / limit for MODERATE, CRITICAL, EMERGENCY (ascending).
    MonitorConfig& cgroup_thresholds(double moderate, double critical, double emergency) noexcept {
        config_.cgroup_moderate = moderate;
        config_.cgroup_critical = critical;
        config_.cgroup_emergency = emergency;
        return *this;
    }
    /// Available / total for MODERATE, CRITICAL, EMERGENCY (descending).
    MonitorConfig& headroom_thresholds(double moderate, double critical, double emergency) noexcept {
        config_.headroom_moderate = moderate;
        config_.headroom_critical = critical;
        config_.headroom_emergency = emergency;
        return *this;
    }
    /// `callback` receives max(floor_bytes, fraction x available) each time
    /// it moves by more than 1/16 (e.g. to call Store::set_max_bytes).
    MonitorConfig& budget(double fraction, std::uint64_t floor_bytes, BudgetCallback callback) {
        config_.budget_fraction = fraction;
        config_.budget_floor_bytes = floor_bytes;
        callback_ = std::move(callback);
        return *this;
    }
    /// The monitor sets every store's budget to max(floor_bytes, fraction x
    /// available) itself, each time it moves by more than 1/16, and a store
    /// created while it runs starts with the last one (a store that cannot
    /// take it keeps its own).
    MonitorConfig& budget_for_stores(double fraction, std::uint64_t floor_bytes) noexcept {
        config_.budget_fraction = fraction;
        config_.budget_floor_bytes = floor_bytes;
        config_.budget_apply_to_stores = true;
        return *this;
    }
    /// The C config (fs_root, budget callback: see Monitor::start).
    NexusMonitorConfig& native() noexcept { return config_; }
    const NexusMonitorConfig& native() const noexcept { return config_; }
    const std::string& root() const noexcept { return root_; }
    const BudgetCallback& callback() const noexcept { return callback_; }
    /// invalid_argument naming the first negative duration given, else ok.
    Status check_durations() const {
        if (negative_ == nullptr) return Status();
        return Status(StatusCode::invalid_argument, std::string("nexus::MonitorConfig::") + negative_ + ": " +
                                                        std::to_string(negative_value_) + " is negative");
    }

private:
    std::uint64_t us(std::chrono::microseconds v, const char* name) noexcept {
        return checked(v.count(), name);
    }
    std::uint64_t to_ms(std::chrono::milliseconds ms, const char* name) noexcept {
        return checked(ms.count(), name);
    }
    template <class Count>
    std::uint64_t checked(Count count, const char* name) noexcept {
        if (count >= 0) return static_cast<std::uint64_t>(count);
        if (negative_ == nullptr) {
            negative_ = name;
            negative_value_ = static_cast<long long>(count);
        }
        return 0;
    }
    NexusMonitorConfig config_{};
    const char* negative_ = nullptr;  // the first negative duration given
    long long negative_value_ = 0;
    std::string root_;
    BudgetCallback callback_;
};

/// The running process-wide monitor; destroying it stops the thread.
class [[nodiscard]] Monitor {
public:
    /// Starts the monitor; busy when one is already running.
    static Result<Monitor> start(const MonitorConfig& config = MonitorConfig()) {
        if (Status negative = config.check_durations(); !negative.ok()) return negative;
        NexusMonitorConfig c = config.native();
        c.fs_root = config.root().empty() ? nullptr : config.root().c_str();
        if (config.callback()) {
            c.budget_fn = &call_budget;
            c.budget_ctx = new BudgetCallback(config.callback());
            c.budget_ctx_destroy = &delete_budget;
        }
        // The library destroys budget_ctx on failure too.
        std::uint64_t run = 0;
        const NexusStatus s = nexus_monitor_start_run(&c, &run);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return Monitor(run);
    }

#if NEXUS_CPP_EXCEPTIONS
    /// Starts the monitor or throws Error.
    explicit Monitor(const MonitorConfig& config) : Monitor(start(config).value()) {}
#endif

    Monitor(Monitor&& other) noexcept : run_(std::exchange(other.run_, 0)) {}
    Monitor& operator=(Monitor&& other) noexcept {
        if (this != &other) {
            (void)stop();
            run_ = std::exchange(other.run_, 0);
        }
        return *this;
    }
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;
    ~Monitor() { (void)stop(); }

    /// Stops the thread now (the destructor then does nothing). Ok, or
    /// not_found when this run was already stopped (e.g. by
    /// nexus_monitor_stop from a store callback); a monitor someone started
    /// after that is another run and keeps running. Never throws: if
    /// copying a failure's message throws (std::bad_alloc), the Status has
    /// its code and no message.
    Status stop() noexcept {
        const std::uint64_t run = std::exchange(run_, 0);
        if (run == 0) return Status();
        return Status::from_c_nothrow(nexus_monitor_stop_run(run));
    }

    /// This run's number (nexus_monitor_start_run); 0 once stopped or moved
    /// from.
    std::uint64_t run() const noexcept { return run_; }

    /// What the monitor saw last (running false and every source absent
    /// before the first start).
    static MonitorStatus status() noexcept {
        MonitorStatus s{};
        s.struct_size = sizeof s;
        (void)nexus_monitor_status(&s);
        return s;
    }

    /// Why a source is absent, polled or failed, or the file it reads; ""
    /// before the first start. A failure (a source number from no header)
    /// is its status.
    static Result<std::string> try_source_detail(MonitorSource source) {
        const auto kind = static_cast<NexusMonitorSourceKind>(source);
        std::string out;
        std::size_t len = 0;
        NexusStatus s = nexus_monitor_source_detail(kind, nullptr, 0, &len);
        // The monitor thread may lengthen the text between the size query
        // and the copy: ask again with the size it reports then.
        while (s == NEXUS_STATUS_ERR_BUFFER_TOO_SMALL) {
            out.assign(len, '\0');
            s = nexus_monitor_source_detail(kind, out.data(), out.size(), &len);
        }
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        out.resize(len == 0 ? 0 : len - 1);
        return out;
    }
    /// try_source_detail, with "" for a failure too.
    static std::string source_detail(MonitorSource source) {
        Result<std::string> r = try_source_detail(source);
        return r.ok() ? std::move(r).value() : std::string();
    }

    /// A source's state in `s`; absent for a source number from no header.
    static SourceState state(const MonitorStatus& s, MonitorSource source) noexcept {
        const auto i = static_cast<std::size_t>(source);
        if (i >= NEXUS_MONITOR_SOURCE_COUNT) return SourceState::absent;
        return static_cast<SourceState>(s.sources[i].state);
    }

private:
    explicit Monitor(std::uint64_t run) noexcept : run_(run) {}

    static void call_budget(void* ctx, std::uint64_t bytes) noexcept {
#if NEXUS_CPP_CATCHES
        // The outer try: what the exception object's destructor throws.
        try {
            try {
                (*static_cast<BudgetCallback*>(ctx))(bytes);
            } catch (...) {
            }
        } catch (...) {
        }
#else
        (*static_cast<BudgetCallback*>(ctx))(bytes);
#endif
    }
    static void delete_budget(void* ctx) noexcept { delete static_cast<BudgetCallback*>(ctx); }

    std::uint64_t run_ = 0;
};

}  // inline namespace NEXUS_CPP_MODE_NAMESPACE
}  // namespace nexus

#endif  // NEXUS_MONITOR_HPP
