// nexus/governor.hpp: one budget shared by several nexus::Store, for C++17.
//
// Header-only, over the C API's nexus_governor_* calls (see <nexus_store.h>
// for the full semantics). Each member store has a priority (higher is kept
// longer), a floor (bytes the governor never takes it below) and an optional
// ceiling. Over the budget, or on a signal to the governor, it takes memory
// from the lowest priority first, each member only down to its floor.
//
//   nexus::Governor governor(nexus::GovernorConfig().budget(64 << 20));
//   governor.join(thumbnails, nexus::Member().priority(1));
//   governor.join(glyphs, nexus::Member().priority(9).floor(4 << 20));
//   governor.signal_pressure(nexus::PressureLevel::critical);
//   for (auto& m : governor.metrics({&thumbnails, &glyphs}).value().members) ...
//
// nexus::Governor is RAII and move-only. A Store destroyed while a member
// leaves the governor; a Governor destroyed leaves its stores ungoverned.
// The event callback is owned by the C library (ctx + destroy) and deleted
// once, after its last call; an exception it throws is caught and counted
// (callback_errors()).
#ifndef NEXUS_GOVERNOR_HPP
#define NEXUS_GOVERNOR_HPP

#include <nexus/store.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nexus {
inline namespace NEXUS_CPP_MODE_NAMESPACE {

/// Why a governor took memory from a store.
enum class ShedCause : std::uint32_t {
    over_budget = NEXUS_SHED_CAUSE_OVER_BUDGET,
    pressure = NEXUS_SHED_CAUSE_PRESSURE,
    ceiling = NEXUS_SHED_CAUSE_CEILING,
};

/// The kind of a GovernorEvent.
enum class GovernorEventKind : std::uint32_t {
    shed = NEXUS_GOVERNOR_EVENT_KIND_SHED,
    unmet = NEXUS_GOVERNOR_EVENT_KIND_UNMET,
    joined = NEXUS_GOVERNOR_EVENT_KIND_JOINED,
    left = NEXUS_GOVERNOR_EVENT_KIND_LEFT,
    level_changed = NEXUS_GOVERNOR_EVENT_KIND_LEVEL_CHANGED,
};

static_assert(NEXUS_SHED_CAUSE_CEILING == 2, "ShedCause out of step with the C header");
static_assert(NEXUS_GOVERNOR_EVENT_KIND_LEVEL_CHANGED == 4, "GovernorEventKind out of step with the C header");

inline const char* to_string(ShedCause cause) noexcept {
    return nexus_shed_cause_str(static_cast<NexusShedCause>(cause));
}
inline const char* to_string(GovernorEventKind kind) noexcept {
    return nexus_governor_event_kind_str(static_cast<NexusGovernorEventKind>(kind));
}

/// One governor event (NexusGovernorEvent). Fields that do not apply are 0.
struct GovernorEvent {
    GovernorEventKind kind = GovernorEventKind::shed;
    std::uint64_t sequence = 0;     ///< per governor, from 1
    std::uint64_t store_id = 0;     ///< Store::id() of the store concerned
    ShedCause cause = ShedCause::over_budget;  ///< shed, unmet: why
    std::uint64_t bytes = 0;        ///< shed: bytes taken; unmet: bytes still above the target
    std::uint64_t count = 0;        ///< shed: entries taken
    std::uint64_t store_usage = 0;  ///< shed, joined: the store's usage after
    std::uint64_t total_usage = 0;  ///< the members' total after
    std::uint64_t budget_in_force = 0;
    PressureLevel level = PressureLevel::none;
    PressureLevel previous_level = PressureLevel::none;  ///< level_changed: the level before
    std::chrono::nanoseconds timestamp{0};

    static GovernorEvent from_c(const NexusGovernorEvent& e) noexcept {
        GovernorEvent out;
        out.kind = static_cast<GovernorEventKind>(e.kind);
        out.sequence = e.sequence;
        out.store_id = e.store_id;
        out.cause = static_cast<ShedCause>(e.cause);
        out.bytes = e.bytes;
        out.count = e.count;
        out.store_usage = e.store_usage;
        out.total_usage = e.total_usage;
        out.budget_in_force = e.budget_in_force;
        out.level = static_cast<PressureLevel>(e.level);
        out.previous_level = static_cast<PressureLevel>(e.previous_level);
        out.timestamp = std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(e.timestamp_ns));
        return out;
    }
};

/// One member's figures (NexusGovernorMemberMetrics).
using MemberMetrics = NexusGovernorMemberMetrics;

/// A governor's figures, with each member's.
struct GovernorMetrics {
    NexusGovernorMetrics totals{};
    std::vector<MemberMetrics> members;  ///< of the stores asked about (see Governor::metrics)
};

/// Receives governor events (on the thread whose call produced them).
using GovernorEventCallback = std::function<void(const GovernorEvent& event)>;

/// A builder over NexusGovernorConfig, from the library's defaults.
class GovernorConfig {
public:
    GovernorConfig() noexcept { nexus_governor_config_init(&config_); }
    /// The budget the members share, in charged bytes (>= 1).
    GovernorConfig& budget(std::uint64_t bytes) noexcept {
        config_.budget_bytes = bytes;
        return *this;
    }
    /// MODERATE and CRITICAL signals keep these fractions (0 < critical <= moderate <= 1).
    GovernorConfig& signal_keeps(double moderate, double critical) noexcept {
        config_.signal_moderate_keep = moderate;
        config_.signal_critical_keep = critical;
        return *this;
    }
    /// Events kept for poll_event while no callback is registered (>= 1).
    GovernorConfig& event_queue_capacity(std::size_t n) noexcept {
        config_.event_queue_capacity = n;
        return *this;
    }
    const NexusGovernorConfig& native() const noexcept { return config_; }

private:
    NexusGovernorConfig config_{};
};

/// A member's terms (NexusGovernorMember): priority 0, no floor, no ceiling.
class Member {
public:
    Member() noexcept { nexus_governor_member_init(&member_); }
    /// Higher is kept longer.
    Member& priority(std::uint32_t p) noexcept {
        member_.priority = p;
        return *this;
    }
    /// Bytes the governor never takes the store below.
    Member& floor(std::uint64_t bytes) noexcept {
        member_.floor_bytes = bytes;
        return *this;
    }
    /// Bytes the store is shed down to whenever above (0: none).
    Member& ceiling(std::uint64_t bytes) noexcept {
        member_.ceiling_bytes = bytes;
        return *this;
    }
    const NexusGovernorMember& native() const noexcept { return member_; }

private:
    NexusGovernorMember member_{};
};

namespace detail {
struct GovernorState {
    std::atomic<std::uint64_t> callback_errors{0};
};
struct GovernorCallbackCtx {
    GovernorEventCallback fn;
    std::shared_ptr<GovernorState> state;
};
inline void governor_event_trampoline(void* ctx, const NexusGovernorEvent* event) noexcept {
    auto* c = static_cast<GovernorCallbackCtx*>(ctx);
    if (!call_guarded([&] { c->fn(GovernorEvent::from_c(*event)); }))
        c->state->callback_errors.fetch_add(1, std::memory_order_relaxed);
}
inline void governor_ctx_destroy(void* ctx) noexcept { delete static_cast<GovernorCallbackCtx*>(ctx); }
}  // namespace detail

/// One budget shared by several stores. Every member is thread-safe; a
/// moved-from Governor holds none (its calls fail with null_argument and
/// "nexus::Governor::join: this Governor was moved from; it holds no
/// governor"; a moved-from or closed Store given to it: null_argument and
/// "... the Store was moved from or closed; it holds no store").
class Governor {
public:
    static Result<Governor> create(const GovernorConfig& config) {
        NexusGovernor* handle = nullptr;
        if (Status s = Status::from_c(nexus_governor_new(&config.native(), &handle)); !s.ok()) return s;
        return Governor(handle);
    }

#if NEXUS_CPP_EXCEPTIONS
    /// Creates a governor; throws Error on failure.
    explicit Governor(const GovernorConfig& config) : Governor(create(config).value()) {}
#endif

    Governor(Governor&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), state_(std::move(other.state_)) {}
    Governor& operator=(Governor&& other) noexcept {
        if (this != &other) {
            free_governor(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
            state_ = std::move(other.state_);
        }
        return *this;
    }
    Governor(const Governor&) = delete;
    Governor& operator=(const Governor&) = delete;
    /// Frees the governor (its stores stay, ungoverned). From inside its own
    /// callback it is freed when that call returns.
    ~Governor() { free_governor(handle_); }

    bool valid() const noexcept { return handle_ != nullptr; }
    NexusGovernor* native() const noexcept { return handle_; }

    /// Adds `store` (busy if it is in a governor already; invalid_argument
    /// for a ceiling below the floor or floors above the budget).
    Status try_join(Store& store, const Member& member = Member()) {
        if (Status s = usable("join", &store); !s.ok()) return s;
        return Status::from_c(nexus_governor_join(handle_, store.native(), &member.native()));
    }
    Status try_set_member(Store& store, const Member& member) {
        if (Status s = usable("set_member", &store); !s.ok()) return s;
        return Status::from_c(nexus_governor_set_member(handle_, store.native(), &member.native()));
    }
    /// Removes `store` (not_found if it is not a member).
    Status try_leave(Store& store) {
        if (Status s = usable("leave", &store); !s.ok()) return s;
        return Status::from_c(nexus_governor_leave(handle_, store.native()));
    }
    Status try_set_budget(std::uint64_t bytes) {
        if (Status s = usable("set_budget"); !s.ok()) return s;
        return Status::from_c(nexus_governor_set_budget(handle_, bytes));
    }
    /// A signal to the governor (not to its stores): sheds lowest priority
    /// first, down to floors; none ends it.
    Status try_signal_pressure(PressureLevel level) {
        if (Status s = usable("signal_pressure"); !s.ok()) return s;
        return Status::from_c(nexus_governor_signal_pressure(handle_, static_cast<NexusPressureLevel>(level)));
    }
    Status enforce() {
        if (Status s = usable("enforce"); !s.ok()) return s;
        return Status::from_c(nexus_governor_enforce(handle_));
    }

    /// The totals, and the figures of each store in `stores` that is a
    /// member (a null pointer, a moved-from Store or a store that is not a
    /// member is left out).
    Result<GovernorMetrics> metrics(std::initializer_list<const Store*> stores = {}) const {
        if (Status s = usable("metrics"); !s.ok()) return s;
        GovernorMetrics out;
        if (Status s = Status::from_c(nexus_governor_metrics(handle_, &out.totals)); !s.ok()) return s;
        for (const Store* store : stores) {
            if (store == nullptr) continue;
            MemberMetrics m{};
            if (nexus_governor_member_metrics(handle_, store->native(), &m) == NEXUS_STATUS_OK) out.members.push_back(m);
        }
        return out;
    }
    /// One member's figures (not_found if it is not a member).
    Result<MemberMetrics> member_metrics(const Store& store) const {
        if (Status s = usable("member_metrics", &store); !s.ok()) return s;
        MemberMetrics m{};
        if (Status s = Status::from_c(nexus_governor_member_metrics(handle_, store.native(), &m)); !s.ok()) return s;
        return m;
    }

    /// The oldest queued event (queued only while no callback is
    /// registered); StatusCode::empty when there is none.
    Result<GovernorEvent> try_poll_event() {
        if (Status s = usable("poll_event"); !s.ok()) return s;
        NexusGovernorEvent e{};
        const NexusStatus s = nexus_governor_poll_event(handle_, &e);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return GovernorEvent::from_c(e);
    }
    /// try_poll_event: std::nullopt when no event is queued; any other
    /// failure (a moved-from Governor) throws Error, or aborts without
    /// exceptions, as Result::value() does.
    std::optional<GovernorEvent> poll_event() {
        Result<GovernorEvent> r = try_poll_event();
        if (r.ok()) return std::move(r).value();
        if (r.status().code() != StatusCode::empty) detail::fail(r.status());
        return std::nullopt;
    }

    /// Registers (an empty function unregisters) the event callback.
    Status set_event_callback(GovernorEventCallback callback) {
        if (Status s = usable("set_event_callback"); !s.ok()) return s;
        if (!callback) return Status::from_c(nexus_governor_set_event_callback(handle_, nullptr, nullptr, nullptr));
        auto* ctx = new detail::GovernorCallbackCtx{std::move(callback), state_};
        // The library owns ctx from here (destroyed on failure too).
        return Status::from_c(nexus_governor_set_event_callback(handle_, &detail::governor_event_trampoline, ctx,
                                                                &detail::governor_ctx_destroy));
    }
    /// Exceptions the event callback threw (caught; the event is lost for it).
    std::uint64_t callback_errors() const noexcept {
        return state_ ? state_->callback_errors.load(std::memory_order_relaxed) : 0;
    }

#if NEXUS_CPP_EXCEPTIONS
    // -- the throwing API --
    void join(Store& store, const Member& member = Member()) { check(try_join(store, member)); }
    void set_member(Store& store, const Member& member) { check(try_set_member(store, member)); }
    void leave(Store& store) { check(try_leave(store)); }
    void set_budget(std::uint64_t bytes) { check(try_set_budget(bytes)); }
    void signal_pressure(PressureLevel level) { check(try_signal_pressure(level)); }
#endif

private:
    explicit Governor(NexusGovernor* handle) : handle_(handle), state_(std::make_shared<detail::GovernorState>()) {}

    /// null_argument (as the C call would say) naming what holds nothing: a
    /// moved-from Governor, or a moved-from or closed Store.
    Status usable(const char* name, const Store* store = nullptr) const {
        if (handle_ == nullptr)
            return Status(StatusCode::null_argument,
                          std::string("nexus::Governor::") + name + ": this Governor was moved from; it holds no governor");
        if (store != nullptr && !store->valid())
            return Status(StatusCode::null_argument, std::string("nexus::Governor::") + name +
                                                         ": the Store was moved from or closed; it holds no store");
        return Status();
    }
    static void free_governor(NexusGovernor* handle) noexcept {
        if (nexus_governor_free(handle) == NEXUS_STATUS_ERR_BUSY) static_cast<void>(nexus_governor_free_deferred(handle));
    }
#if NEXUS_CPP_EXCEPTIONS
    static void check(const Status& s) {
        if (!s.ok()) detail::fail(s);
    }
#endif

    NexusGovernor* handle_ = nullptr;
    std::shared_ptr<detail::GovernorState> state_;
};

}  // inline namespace NEXUS_CPP_MODE_NAMESPACE
}  // namespace nexus

#endif  // NEXUS_GOVERNOR_HPP
