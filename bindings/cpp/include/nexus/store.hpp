// nexus/store.hpp: the C++17 API of nexus_store, a memory-pressure-aware cache.
//
// Header-only. Everything here calls the public C API of <nexus_store.h>
// (see its documentation for the full semantics of every call) and adds:
//
//   * RAII: nexus::Store frees its store, nexus::Value releases its read
//     handle; both are move-only. Registered callables are owned by the C
//     library through (fn, ctx, destroy) and deleted exactly once by it.
//   * Two error styles.
//       - Always available (also with -fno-exceptions): the try_* calls
//         return a nexus::Status or a nexus::Result<T>, both [[nodiscard]].
//         Statuses the C API uses for "nothing there" stay statuses here:
//         try_get gives status not_found, try_poll_event gives empty.
//       - With exceptions enabled (NEXUS_CPP_EXCEPTIONS == 1): the calls
//         without the try_ prefix throw nexus::Error (carrying the Status)
//         on failure and turn "nothing there" into std::nullopt / false.
//   * The callback exception rule: no C++ exception ever crosses into the
//     C library.
//       - A loader that throws makes get_or_load fail with
//         StatusCode::callback, with the exception's what() in the message,
//         on every thread waiting on that load (nexus_load_sink_fail). A
//         loader whose caller was cancelled calls sink.abandon() instead:
//         only that caller fails, the waiters load again.
//       - An event callback or eviction listener that throws is caught; the
//         event is lost for it and Store::callback_errors() counts it.
//       - A size estimator that throws is caught and counted; the entry is
//         charged what the default estimator charges (key length + value
//         length + NEXUS_ENTRY_OVERHEAD_BYTES), so the budget stays exact.
//       - An object deleter must not throw (as for std::unique_ptr: the
//         release callback is noexcept, a throwing deleter terminates).
//
// Threads: every Store member may be called from any thread at any time,
// concurrently with any other (one Store shared by reference; only
// destroying, moving or closing it must not race with other calls). Callbacks
// run on the thread whose call produced them, never under a library lock,
// and may call back into the store. A Value may be read from several
// threads; releasing (destroying) it while another thread reads it is a
// data race, as with any object.
//
// Usage:
//
//   #include <nexus/store.hpp>
//
//   nexus::Store store(nexus::MemoryConfig().max_bytes(64 << 20));
//   store.put("logo", png_bytes);              // bytes are copied
//   store.pin("logo");                         // never evicted
//   store.put_object("tex:hero", std::move(texture), texture_bytes);
//   if (std::optional<nexus::Value> v = store.get("logo")) draw(v->view());
//   store.signal_pressure(nexus::PressureLevel::critical);
//
// Without exceptions:
//
//   nexus::Result<nexus::Store> made = nexus::Store::create(config);
//   if (!made) { log(made.status().to_string()); return; }
//   nexus::Store store = std::move(made).value();
//   if (nexus::Status s = store.try_put("logo", png_bytes); !s.ok()) log(s.message());

#ifndef NEXUS_STORE_HPP
#define NEXUS_STORE_HPP

#include <nexus_store.h>

#include <atomic>
#include <initializer_list>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

// NEXUS_CPP_CATCHES is 1 when the compiler has exceptions enabled: then the
// callback trampolines catch what a callback throws (the callback exception
// rule above), whatever NEXUS_NO_EXCEPTIONS says. NEXUS_CPP_EXCEPTIONS is 1
// when the throwing API exists: exceptions enabled and NEXUS_NO_EXCEPTIONS
// not defined (define it to leave that API out).
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define NEXUS_CPP_CATCHES 1
#include <exception>
#include <stdexcept>
#else
#define NEXUS_CPP_CATCHES 0
#endif
#if NEXUS_CPP_CATCHES && !defined(NEXUS_NO_EXCEPTIONS)
#define NEXUS_CPP_EXCEPTIONS 1
#else
#define NEXUS_CPP_EXCEPTIONS 0
#endif

// Each exception mode has its own inline namespace (nexus::with_exceptions;
// nexus::without_throwing_api, exceptions enabled with NEXUS_NO_EXCEPTIONS;
// nexus::without_exceptions; code says nexus::Store in every mode). Inline
// functions whose bodies differ by mode (the callback trampolines that
// catch, the calls that throw) then have different names in each mode, so
// a program whose translation units differ in mode (one built with
// -fno-exceptions or NEXUS_NO_EXCEPTIONS) keeps each unit's own, where the
// linker would otherwise keep one body for all (the one-definition rule).
// A nexus type passed between units of different modes fails to link
// instead of misbehaving. The object type registry (nexus::object_types)
// is shared by every mode.
#if NEXUS_CPP_EXCEPTIONS
#define NEXUS_CPP_MODE_NAMESPACE with_exceptions
#elif NEXUS_CPP_CATCHES
#define NEXUS_CPP_MODE_NAMESPACE without_throwing_api
#else
#define NEXUS_CPP_MODE_NAMESPACE without_exceptions
#endif

namespace nexus {
inline namespace NEXUS_CPP_MODE_NAMESPACE {

// ---- enums: the C header's values, kept in step by static_asserts ---------

/// The outcome of a call (NexusStatus).
enum class StatusCode : std::uint32_t {
    ok = NEXUS_STATUS_OK,
    not_found = NEXUS_STATUS_NOT_FOUND,
    empty = NEXUS_STATUS_EMPTY,
    null_argument = NEXUS_STATUS_ERR_NULL_ARGUMENT,
    invalid_argument = NEXUS_STATUS_ERR_INVALID_ARGUMENT,
    invalid_handle = NEXUS_STATUS_ERR_INVALID_HANDLE,
    too_large = NEXUS_STATUS_ERR_TOO_LARGE,
    over_budget = NEXUS_STATUS_ERR_OVER_BUDGET,
    callback = NEXUS_STATUS_ERR_CALLBACK,
    buffer_too_small = NEXUS_STATUS_ERR_BUFFER_TOO_SMALL,
    busy = NEXUS_STATUS_ERR_BUSY,
    out_of_memory = NEXUS_STATUS_ERR_OUT_OF_MEMORY,
    panic = NEXUS_STATUS_ERR_PANIC,
};

/// A pressure level, none < moderate < critical < emergency.
enum class PressureLevel : std::uint32_t {
    none = NEXUS_PRESSURE_LEVEL_NONE,
    moderate = NEXUS_PRESSURE_LEVEL_MODERATE,
    critical = NEXUS_PRESSURE_LEVEL_CRITICAL,
    emergency = NEXUS_PRESSURE_LEVEL_EMERGENCY,
};

/// The eviction order.
enum class EvictionStrategy : std::uint32_t {
    lru = NEXUS_EVICTION_STRATEGY_LRU,    ///< least recently used first
    lfu = NEXUS_EVICTION_STRATEGY_LFU,    ///< fewest accesses first, ties by LRU
    size = NEXUS_EVICTION_STRATEGY_SIZE,  ///< largest charge first, ties by LRU
    tiny_lfu = NEXUS_EVICTION_STRATEGY_TINY_LFU,  ///< W-TinyLFU: window + frequency-sketch admission
};

/// The kind of an Event.
enum class EventKind : std::uint32_t {
    pressure_changed = NEXUS_EVENT_KIND_PRESSURE_CHANGED,
    eviction = NEXUS_EVENT_KIND_EVICTION,
    dropped = NEXUS_EVENT_KIND_DROPPED,
    signal_changed = NEXUS_EVENT_KIND_SIGNAL_CHANGED,  ///< only with the event mask asking for it
};

/// Why entries left the store.
enum class EvictionReason : std::uint32_t {
    capacity = NEXUS_EVICTION_REASON_CAPACITY,
    pressure = NEXUS_EVICTION_REASON_PRESSURE,
    manual = NEXUS_EVICTION_REASON_MANUAL,
    replaced = NEXUS_EVICTION_REASON_REPLACED,
    removed = NEXUS_EVICTION_REASON_REMOVED,
    governor = NEXUS_EVICTION_REASON_GOVERNOR,  ///< a nexus::Governor took it (<nexus/governor.hpp>)
    expired = NEXUS_EVICTION_REASON_EXPIRED,    ///< its time to live or to idle ran out
};

static_assert(static_cast<std::uint32_t>(StatusCode::panic) == NEXUS_STATUS_ERR_PANIC &&
                  NEXUS_STATUS_ERR_PANIC == 12,
              "nexus_store.h grew a status: add it to nexus::StatusCode");
static_assert(NEXUS_PRESSURE_LEVEL_EMERGENCY == 3, "PressureLevel out of step with the C header");
static_assert(NEXUS_EVICTION_STRATEGY_TINY_LFU == 3, "EvictionStrategy out of step with the C header");
static_assert(NEXUS_EVENT_KIND_SIGNAL_CHANGED == 3, "EventKind out of step with the C header");
static_assert(NEXUS_EVICTION_REASON_EXPIRED == 6, "EvictionReason out of step with the C header");
static_assert(std::is_same_v<NexusStatus, std::underlying_type_t<StatusCode>> &&
                  std::is_same_v<NexusPressureLevel, std::underlying_type_t<PressureLevel>>,
              "the C enums cross the ABI as uint32_t");

/// The library's version, "MAJOR.MINOR.PATCH".
inline const char* version() noexcept { return nexus_version(); }

/// A short English name for a status ("ok", "not found", ...).
inline const char* to_string(StatusCode code) noexcept {
    return nexus_status_str(static_cast<NexusStatus>(code));
}
/// "NONE", "MODERATE", "CRITICAL", "EMERGENCY" ("UNKNOWN" out of range).
inline const char* to_string(PressureLevel level) noexcept {
    return nexus_pressure_level_str(static_cast<NexusPressureLevel>(level));
}
/// "LRU", "LFU", "SIZE", ... ("UNKNOWN" out of range).
inline const char* to_string(EvictionStrategy strategy) noexcept {
    return nexus_eviction_strategy_str(static_cast<NexusEvictionStrategy>(strategy));
}
/// "PRESSURE_CHANGED", "EVICTION", "DROPPED", "SIGNAL_CHANGED".
inline const char* to_string(EventKind kind) noexcept {
    return nexus_event_kind_str(static_cast<NexusEventKind>(kind));
}
/// "CAPACITY", "PRESSURE", "MANUAL", "REPLACED", "REMOVED", "GOVERNOR",
/// "EXPIRED" ("UNKNOWN" out of range).
inline const char* to_string(EvictionReason reason) noexcept {
    return nexus_eviction_reason_str(static_cast<NexusEvictionReason>(reason));
}

// ---- Status, Result, Error ------------------------------------------------

/// A call's outcome: a code and, on failure, the library's message (copied
/// from nexus_last_error_message() right after the call).
class [[nodiscard]] Status {
public:
    Status() = default;  ///< ok
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

    /// The Status of a C call that just returned `status` on this thread.
    static Status from_c(NexusStatus status) {
        if (status == NEXUS_STATUS_OK) return Status();
        return Status(static_cast<StatusCode>(status), nexus_last_error_message());
    }

    /// from_c for a noexcept call: if copying the message throws
    /// (std::bad_alloc), the Status has the code and no message.
    static Status from_c_nothrow(NexusStatus status) noexcept {
        if (status == NEXUS_STATUS_OK) return Status();
#if NEXUS_CPP_CATCHES
        try {
            return from_c(status);
        } catch (...) {
            // An empty std::string allocates nothing.
            return Status(static_cast<StatusCode>(status), std::string());
        }
#else
        return from_c(status);
#endif
    }

    bool ok() const noexcept { return code_ == StatusCode::ok; }
    StatusCode code() const noexcept { return code_; }
    const std::string& message() const noexcept { return message_; }

    /// "over budget: <message>" (or just the code's name without a message).
    std::string to_string() const {
        std::string out = nexus::to_string(code_);
        if (!message_.empty()) out.append(": ").append(message_);
        return out;
    }

    friend bool operator==(const Status& s, StatusCode c) noexcept { return s.code_ == c; }
    friend bool operator!=(const Status& s, StatusCode c) noexcept { return s.code_ != c; }

private:
    StatusCode code_ = StatusCode::ok;
    std::string message_;
};

#if NEXUS_CPP_EXCEPTIONS
/// What the throwing calls throw: a failed Status. what() is
/// Status::to_string().
class Error : public std::runtime_error {
public:
    explicit Error(Status status) : std::runtime_error(status.to_string()), status_(std::move(status)) {}
    const Status& status() const noexcept { return status_; }
    StatusCode code() const noexcept { return status_.code(); }

private:
    Status status_;
};
#endif

namespace detail {
/// Throws Error(status) with exceptions on; otherwise prints it and aborts
/// (like std::optional::value() under -fno-exceptions).
[[noreturn]] inline void fail(const Status& status) {
#if NEXUS_CPP_EXCEPTIONS
    throw Error(status);
#else
    std::fprintf(stderr, "nexus: unchecked failure: %s\n", status.to_string().c_str());
    std::abort();
#endif
}
}  // namespace detail

/// A value or the Status of why there is none.
template <class T>
class [[nodiscard]] Result {
    static_assert(!std::is_reference_v<T> && !std::is_same_v<std::decay_t<T>, Status>,
                  "Result<T> holds a value type; use Status for no value");

public:
    Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
    /// A failed Status (an ok one becomes invalid_argument: there is no value).
    Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
        if (status_.ok()) status_ = Status(StatusCode::invalid_argument, "Result built from an ok Status");
    }

    bool ok() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    /// Ok when there is a value.
    const Status& status() const& noexcept { return status_; }
    Status status() && noexcept { return std::move(status_); }

    /// The value; on failure throws Error (exceptions on) or aborts (off):
    /// check ok() first when exceptions are off.
    T& value() & {
        if (!ok()) detail::fail(status_);
        return *value_;
    }
    const T& value() const& {
        if (!ok()) detail::fail(status_);
        return *value_;
    }
    /// By value, so that `for (auto& x : f().value())` does not dangle.
    T value() && {
        if (!ok()) detail::fail(status_);
        return std::move(*value_);
    }
    template <class U>
    T value_or(U&& fallback) const& {
        return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
    }
    template <class U>
    T value_or(U&& fallback) && {
        return ok() ? std::move(*value_) : static_cast<T>(std::forward<U>(fallback));
    }

    /// Unchecked access (ok() must be true).
    T& operator*() & noexcept { return *value_; }
    const T& operator*() const& noexcept { return *value_; }
    T operator*() && { return std::move(*value_); }
    T* operator->() noexcept { return &*value_; }
    const T* operator->() const noexcept { return &*value_; }

private:
    std::optional<T> value_;
    Status status_;
};

// ---- plain data -------------------------------------------------------------

/// One event (NexusEvent). Fields that do not apply to a kind are 0.
struct Event {
    EventKind kind = EventKind::pressure_changed;
    std::uint64_t sequence = 0;             ///< per store, from 1; lost events leave gaps
    PressureLevel level = PressureLevel::none;           ///< the reported level (after a change)
    PressureLevel previous_level = PressureLevel::none;  ///< pressure_changed: the level before
    EvictionReason reason = EvictionReason::capacity;    ///< eviction: why
    std::uint64_t count = 0;        ///< eviction: entries evicted; dropped: events lost
    std::uint64_t bytes = 0;        ///< eviction: charged bytes evicted
    std::uint64_t usage_bytes = 0;  ///< usage after the event
    std::chrono::nanoseconds timestamp{0};  ///< monotonic

    static Event from_c(const NexusEvent& e) noexcept {
        Event out;
        out.kind = static_cast<EventKind>(e.kind);
        out.sequence = e.sequence;
        out.level = static_cast<PressureLevel>(e.level);
        out.previous_level = static_cast<PressureLevel>(e.previous_level);
        out.reason = static_cast<EvictionReason>(e.reason);
        out.count = e.count;
        out.bytes = e.bytes;
        out.usage_bytes = e.usage_bytes;
        out.timestamp = std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(e.timestamp_ns));
        return out;
    }
};

/// A snapshot of a store's metrics (NexusMemoryMetrics; see the C header).
struct Metrics {
    std::uint64_t current_usage = 0;  ///< charged bytes of the present entries
    std::uint64_t max_usage = 0;      ///< peak since creation or reset_metrics
    std::uint64_t eviction_count = 0;  ///< evictions (not removals, replacements or expirations)
    PressureLevel pressure_level = PressureLevel::none;  ///< the reported level
    std::uint64_t entry_count = 0;
    std::uint64_t pinned_count = 0;
    std::uint64_t pinned_bytes = 0;
    std::uint64_t in_use_bytes = 0;  ///< held by live Values, present or not
    std::uint64_t hit_count = 0;
    std::uint64_t miss_count = 0;
    std::uint64_t insert_count = 0;
    std::uint64_t evicted_bytes = 0;  ///< their charged bytes
    std::uint64_t load_count = 0;
    std::uint64_t load_failure_count = 0;  ///< loads with no value: failed, or not_found
    std::uint64_t max_cache_bytes = 0;   ///< the configured budget (0 = unbounded)
    std::uint64_t effective_budget = 0;  ///< the budget in force

    static Metrics from_c(const NexusMemoryMetrics& m) noexcept {
        Metrics out;
        out.current_usage = m.current_usage;
        out.max_usage = m.max_usage;
        out.eviction_count = m.eviction_count;
        out.pressure_level = static_cast<PressureLevel>(m.pressure_level);
        out.entry_count = m.entry_count;
        out.pinned_count = m.pinned_count;
        out.pinned_bytes = m.pinned_bytes;
        out.in_use_bytes = m.in_use_bytes;
        out.hit_count = m.hit_count;
        out.miss_count = m.miss_count;
        out.insert_count = m.insert_count;
        out.evicted_bytes = m.evicted_bytes;
        out.load_count = m.load_count;
        out.load_failure_count = m.load_failure_count;
        out.max_cache_bytes = m.max_cache_bytes;
        out.effective_budget = m.effective_budget;
        return out;
    }
};

/// A non-owning view of bytes to store: a string_view, a C string, a
/// `char` array, a (pointer, size) pair, or any contiguous container of
/// 1-byte elements (std::string, std::vector<std::uint8_t>,
/// std::array<std::byte, N>, std::span<const std::byte>, an array of
/// std::uint8_t, ...: all of its elements). The bytes are copied by the call.
class ByteView {
    template <class R>
    using element_t = std::remove_pointer_t<decltype(std::data(std::declval<const R&>()))>;

    // An array of char is text, whether or not it is const (see below).
    template <class R>
    static constexpr bool is_char_array =
        std::is_array_v<R> && std::is_same_v<std::remove_cv_t<std::remove_extent_t<R>>, char>;

    // A C string or a char array (const or not): text, read up to its NUL.
    template <class S>
    static constexpr bool is_text = is_char_array<S> || std::is_same_v<std::remove_cv_t<S>, const char*> ||
                                    std::is_same_v<std::remove_cv_t<S>, char*>;

    template <class R, class = void>
    struct is_byte_range : std::false_type {};
    template <class R>
    struct is_byte_range<R, std::void_t<decltype(std::data(std::declval<const R&>())),
                                        decltype(std::size(std::declval<const R&>()))>>
        : std::bool_constant<sizeof(element_t<R>) == 1 && std::is_trivially_copyable_v<element_t<R>> &&
                             !is_char_array<R>> {};

public:
    constexpr ByteView() noexcept = default;
    ByteView(const void* data, std::size_t size) noexcept
        : data_(static_cast<const std::uint8_t*>(data)), size_(size) {}
    ByteView(std::string_view s) noexcept  // NOLINT: implicit by design
        : ByteView(s.data(), s.size()) {}
    /// Text: a NUL-terminated string (`const char*`, `char*`; nullptr is
    /// empty), without its NUL; or a char array, const or not (a literal,
    /// `char path[256]` filled by snprintf, `const char tag[4] = {'a','b','c','d'}`):
    /// its bytes up to the first NUL, or all N without one (never the
    /// bytes after the NUL; never past the array).
    template <class S, std::enable_if_t<is_text<S>, int> = 0>
    ByteView(const S& s) noexcept  // NOLINT: implicit by design
        : ByteView(s, text_size(s)) {}
    ByteView(std::nullptr_t) noexcept {}  // NOLINT: empty, as a null C string
    template <class R, std::enable_if_t<is_byte_range<R>::value, int> = 0>
    ByteView(const R& range) noexcept  // NOLINT: implicit by design
        : ByteView(std::data(range), std::size(range)) {}

    constexpr const std::uint8_t* data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }

private:
    template <class S>
    static std::size_t text_size(const S& s) noexcept {
        if constexpr (std::is_array_v<S>) {
            return text_length(s, std::extent_v<S>);
        } else {
            return s ? std::char_traits<char>::length(s) : 0;
        }
    }
    static std::size_t text_length(const char* s, std::size_t n) noexcept {
        const char* nul = std::char_traits<char>::find(s, n, '\0');
        return nul ? static_cast<std::size_t>(nul - s) : n;
    }

    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

// ---- object types (internal; shared by every exception mode) ------------------

}  // inline namespace NEXUS_CPP_MODE_NAMESPACE

namespace object_types {

/// A per-type tag without RTTI (one address per type in the whole program).
template <class T>
struct TypeTag {
    static constexpr char id = 0;
};
template <class T>
const void* type_tag() noexcept {
    return &TypeTag<std::remove_cv_t<T>>::id;
}

/// The type each object the C++ wrapper handed to the library was put as
/// (object address -> type tag), so that Value::object<T>() can refuse a
/// wrong T. Registered before the put, removed by the release callback
/// before the deleter runs (or at once if the put failed). Objects put
/// through the C API are unknown here and unchecked; so is one address put
/// as two types at once (a struct and its first member).
class ObjectTypes {
public:
    /// Never destroyed: release callbacks may run during static destruction.
    static ObjectTypes& instance() {
        static ObjectTypes* const types = new ObjectTypes();
        return *types;
    }
    void add(const void* object, const void* tag) {
        const std::lock_guard<std::mutex> lock(mutex_);
        Entry& e = map_[object];
        e.tag = e.count == 0 || e.tag == tag ? tag : nullptr;  // nullptr: ambiguous, unchecked
        ++e.count;
    }
    void remove(const void* object) noexcept {
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto it = map_.find(object);
        if (it != map_.end() && --it->second.count == 0) map_.erase(it);
    }
    /// false only when `object` is known to have been put as another type.
    bool may_be(const void* object, const void* tag) const noexcept {
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto it = map_.find(object);
        return it == map_.end() || it->second.tag == nullptr || it->second.tag == tag;
    }

private:
    struct Entry {
        const void* tag = nullptr;
        std::size_t count = 0;
    };
    mutable std::mutex mutex_;
    std::unordered_map<const void*, Entry> map_;
};

}  // namespace object_types

inline namespace NEXUS_CPP_MODE_NAMESPACE {

// ---- Value --------------------------------------------------------------------

/// A read handle on a value (owns a NexusValue*; move-only). The bytes (or
/// object) stay valid, and the entry unevictable, until the Value is
/// destroyed, even if the entry is removed or the store is destroyed.
/// A moved-from Value holds nothing (size() 0, data() and object() null).
class Value {
public:
    /// Adopts a handle from the C API (nullptr: holds nothing).
    explicit Value(NexusValue* handle) noexcept : handle_(handle) {}
    Value(Value&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Value& operator=(Value&& other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Value(const Value&) = delete;
    Value& operator=(const Value&) = delete;
    ~Value() { reset(); }

    /// The bytes of a bytes value; nullptr for an object value.
    const std::uint8_t* data() const noexcept { return nexus_value_data(handle_); }
    /// The length of a bytes value; 0 for an object value.
    std::size_t size() const noexcept { return nexus_value_len(handle_); }
    /// The bytes as a string_view (empty for an object value).
    std::string_view view() const noexcept {
        const std::uint8_t* p = data();
        return p ? std::string_view(reinterpret_cast<const char*>(p), size()) : std::string_view();
    }
    /// Whether this is an object value (put_object or a loader's object).
    bool is_object() const noexcept { return nexus_value_object(handle_) != nullptr; }
    /// The object, as the T it was stored as; nullptr for a bytes value, for
    /// no value, and for an object the C++ wrapper put (put_object, a
    /// LoadSink's put_object) as another type than T (const aside: exact
    /// types, not bases). An object put through the C API carries no type:
    /// for it a wrong T is not detected. The store still owns the object
    /// (never delete it); every handle and the entry share it, so mutating it
    /// needs your own synchronization.
    template <class T>
    T* object() const noexcept {
        void* const p = nexus_value_object(handle_);
        if (p == nullptr || !object_types::ObjectTypes::instance().may_be(p, object_types::type_tag<T>())) return nullptr;
        return static_cast<T*>(p);
    }
    /// object<T>() with the reason when there is no T: no value held, a bytes
    /// value, or an object put as another type (all invalid_argument).
    template <class T>
    Result<T*> try_object() const {
        if (handle_ == nullptr)
            return Status(StatusCode::invalid_argument, "Value::object: this Value holds no value (moved from or reset)");
        void* const p = nexus_value_object(handle_);
        if (p == nullptr)
            return Status(StatusCode::invalid_argument, "Value::object: a bytes value, not an object: read it with view() or data()");
        if (!object_types::ObjectTypes::instance().may_be(p, object_types::type_tag<T>()))
            return Status(StatusCode::invalid_argument, "Value::object<T>: the object was put as another type than T");
        return static_cast<T*>(p);
    }

    NexusValue* native() const noexcept { return handle_; }
    /// Gives up ownership of the C handle (release it with nexus_value_release).
    [[nodiscard]] NexusValue* release() noexcept { return std::exchange(handle_, nullptr); }
    /// Releases the handle now (an object's deleter may run here).
    void reset() noexcept { nexus_value_release(std::exchange(handle_, nullptr)); }

private:
    NexusValue* handle_;
};

// ---- callback plumbing (internal) ---------------------------------------------

namespace detail {

inline const std::uint8_t* bytes_of(std::string_view s) noexcept {
    return reinterpret_cast<const std::uint8_t*>(s.data());
}
inline std::string_view view_of(const std::uint8_t* p, std::size_t n) noexcept {
    return p ? std::string_view(reinterpret_cast<const char*>(p), n) : std::string_view();
}

/// Per-store C++ state that callback contexts share with their Store.
struct SharedState {
    std::atomic<std::uint64_t> callback_errors{0};
    void count_error() noexcept { callback_errors.fetch_add(1, std::memory_order_relaxed); }
};

/// A registered callable and the state it reports to. Heap-allocated, handed
/// to the C library as ctx; destroy_ctx deletes it (the library guarantees
/// exactly once, also when registration fails).
template <class Fn>
struct CallbackCtx {
    Fn fn;
    std::shared_ptr<SharedState> state;
};

template <class Ctx>
void destroy_ctx(void* ctx) noexcept {
    delete static_cast<Ctx*>(ctx);
}

/// Hands a new ctx to the C library, which owns it from the call on.
template <class Fn>
void* make_ctx(Fn fn, std::shared_ptr<SharedState> state) {
    return std::make_unique<CallbackCtx<Fn>>(CallbackCtx<Fn>{std::move(fn), std::move(state)}).release();
}

/// Calls f(); returns false if it threw (nothing escapes). The outer try
/// catches what the exception object's destructor throws (a type with a
/// noexcept(false) destructor) when the inner handler ends.
template <class F>
bool call_guarded(F&& f) noexcept {
#if NEXUS_CPP_CATCHES
    try {
        try {
            std::forward<F>(f)();
            return true;
        } catch (...) {
            return false;
        }
    } catch (...) {
        return false;
    }
#else
    std::forward<F>(f)();
    return true;
#endif
}

/// The release callback for an object whose deleter is stateless: ctx unused.
template <class T, class D>
void release_stateless(void*, void* object) noexcept {
    object_types::ObjectTypes::instance().remove(object);
    D()(static_cast<T*>(object));
}

/// The release callback for any other deleter: ctx is a heap unique_ptr.
template <class T, class D>
void release_holder(void* ctx, void* object) noexcept {
    object_types::ObjectTypes::instance().remove(object);
    delete static_cast<std::unique_ptr<T, D>*>(ctx);
}

/// The release callback for a shared_ptr: ctx is the store's heap copy.
template <class T>
void release_shared(void* ctx, void* object) noexcept {
    object_types::ObjectTypes::instance().remove(object);
    delete static_cast<std::shared_ptr<T>*>(ctx);
}

/// Hands `object` to `put(void* object, NexusReleaseFn, void* ctx)`, which
/// makes the C call and returns its status (it must not throw). On success
/// the C library owns it (object becomes empty); on failure the library took
/// nothing and `object` still owns it, also when an allocation throws
/// (std::bad_alloc): before the C call, the object stays where it was; after
/// a failed one, it is back in `object` before the Status (whose message
/// allocates) is made.
template <class T, class D, class Put>
Status put_owned(std::unique_ptr<T, D>& object, Put&& put) {
    static_assert(!std::is_array_v<T>, "put_object stores single objects, not arrays");
    static_assert(std::is_pointer_v<typename std::unique_ptr<T, D>::pointer>,
                  "put_object needs a deleter whose pointer type is a raw pointer");
    if (!object) return Status(StatusCode::invalid_argument, "put_object: the unique_ptr is empty");
    void* raw = const_cast<void*>(static_cast<const void*>(object.get()));
    auto& types = object_types::ObjectTypes::instance();
    if constexpr (std::is_empty_v<D> && std::is_default_constructible_v<D>) {
        types.add(raw, object_types::type_tag<T>());  // may throw: nothing done yet
        const NexusStatus status = put(raw, &release_stateless<T, D>, nullptr);
        if (status == NEXUS_STATUS_OK) {
            static_cast<void>(object.release());
        } else {
            types.remove(raw);
        }
        return Status::from_c(status);
    } else {
        // If this allocation throws, nothing was moved: `object` keeps it.
        auto holder = std::make_unique<std::unique_ptr<T, D>>(std::move(object));
        // Gives the object back. Re-constructed in place, not assigned:
        // deleters such as lambdas are movable but not assignable.
        const auto give_back = [&]() noexcept {
            std::destroy_at(std::addressof(object));
            ::new (static_cast<void*>(std::addressof(object))) std::unique_ptr<T, D>(std::move(*holder));
        };
#if NEXUS_CPP_CATCHES
        try {
            types.add(raw, object_types::type_tag<T>());
        } catch (...) {
            give_back();
            throw;
        }
#else
        types.add(raw, object_types::type_tag<T>());
#endif
        const NexusStatus status = put(raw, &release_holder<T, D>, holder.get());
        if (status == NEXUS_STATUS_OK) {
            static_cast<void>(holder.release());
        } else {
            types.remove(raw);
            give_back();
        }
        return Status::from_c(status);
    }
}

/// Hands the library a copy of `object` (released exactly once, when the
/// entry is gone and no Value holds it); on failure no copy is kept. `put`
/// as for put_owned.
template <class T, class Put>
Status put_shared(const std::shared_ptr<T>& object, Put&& put) {
    static_assert(!std::is_array_v<T>, "put_object stores single objects, not arrays");
    if (!object) return Status(StatusCode::invalid_argument, "put_object: the shared_ptr is empty");
    void* raw = const_cast<void*>(static_cast<const void*>(object.get()));
    auto copy = std::make_unique<std::shared_ptr<T>>(object);
    object_types::ObjectTypes::instance().add(raw, object_types::type_tag<T>());
    const NexusStatus status = put(raw, &release_shared<T>, copy.get());
    if (status == NEXUS_STATUS_OK) {
        static_cast<void>(copy.release());
    } else {
        object_types::ObjectTypes::instance().remove(raw);
    }
    return Status::from_c(status);
}

}  // namespace detail

// ---- MemoryConfig -------------------------------------------------------------

/// A size estimator: the charge of an entry, computed once at insertion
/// (outside every lock, on the inserting thread). For a bytes value `value`
/// points at the bytes and `value_len` is their length; for an object value
/// `value` is the object and `value_len` is 0.
using SizeEstimator = std::function<std::size_t(std::string_view key, const void* value, std::size_t value_len)>;

/// A builder over NexusMemoryConfig, starting from the library's defaults
/// (unbounded, thresholds 0.7/0.9, batch 10, LRU, queue 1024, keeps
/// 0.75/0.5, no decay). validate() checks the rules Store::create enforces.
class MemoryConfig {
public:
    MemoryConfig() noexcept { nexus_memory_config_init(&config_); }

    /// The budget in charged bytes (0 = unbounded).
    MemoryConfig& max_bytes(std::uint64_t bytes) noexcept {
        config_.max_cache_bytes = bytes;
        return *this;
    }
    /// 0 < moderate < critical <= 1 (fractions of the budget).
    MemoryConfig& thresholds(double moderate, double critical) noexcept {
        config_.moderate_threshold = moderate;
        config_.critical_threshold = critical;
        return *this;
    }
    /// Most entries a put evicts when it leaves usage at MODERATE (>= 1).
    MemoryConfig& eviction_batch_size(std::size_t n) noexcept {
        config_.eviction_batch_size = n;
        return *this;
    }
    MemoryConfig& strategy(EvictionStrategy s) noexcept {
        config_.strategy = static_cast<NexusEvictionStrategy>(s);
        return *this;
    }
    /// Events queued while no on_event callback is set (>= 1).
    MemoryConfig& event_queue_capacity(std::size_t n) noexcept {
        config_.event_queue_capacity = n;
        return *this;
    }
    /// 0 < critical_keep <= moderate_keep <= 1.
    MemoryConfig& signal_keep(double moderate_keep, double critical_keep) noexcept {
        config_.signal_moderate_keep = moderate_keep;
        config_.signal_critical_keep = critical_keep;
        return *this;
    }
    /// A signal not repeated within `decay` falls back to NONE (0: never).
    MemoryConfig& signal_decay(std::chrono::milliseconds decay) noexcept {
        config_.signal_decay_ms = decay.count() < 0 ? std::numeric_limits<std::uint64_t>::max()
                                                    : static_cast<std::uint64_t>(decay.count());
        negative_decay_ = decay.count() < 0;
        return *this;
    }
    /// Independent parts, each with its own lock and an equal share of the
    /// budget, for more threads at once (1..=64; 1, the default, keeps one
    /// exact eviction order; with more it is exact within each shard).
    MemoryConfig& shards(std::uint32_t n) noexcept {
        config_.shards = n;
        return *this;
    }
    /// LFU only (ignored otherwise): a recently evicted key inserted again
    /// starts at its remembered access count + 1 instead of 1 (at most
    /// max(64, entries present) evicted keys are remembered; see
    /// NexusMemoryConfig::lfu_history).
    MemoryConfig& lfu_history(bool on) noexcept {
        config_.lfu_history = on;
        return *this;
    }
    /// The most entries the store holds, beside the byte budget (like
    /// NSCache's countLimit; 0, the default: no limit). Pinned and in-use
    /// entries count and are never evicted; a put of a new key into a full
    /// store evicts in strategy order, or is over_budget when they fill it.
    MemoryConfig& max_entries(std::uint64_t n) noexcept {
        config_.max_entries = n;
        return *this;
    }
    /// Time to live of every entry (0: none, the default); Store::put_ttl
    /// sets an entry's own. Expired entries are never returned; they are
    /// removed (reason expired) lazily, by the next call that reaches an
    /// entry's shard after a read saw it, by a put that needs room, a
    /// pressure signal's shed or a smaller budget (expired entries go before
    /// any live one), and by Store::sweep_expired.
    /// A negative ttl makes validate() and Store::create invalid_argument.
    MemoryConfig& ttl(std::chrono::milliseconds ttl) noexcept {
        config_.ttl_ms = ttl.count() < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(ttl.count());
        negative_ttl_ = ttl.count() < 0;
        return *this;
    }
    /// Time to idle: an entry not read for this long expires (0: none). A
    /// negative tti makes validate() and Store::create invalid_argument.
    MemoryConfig& tti(std::chrono::milliseconds tti) noexcept {
        config_.tti_ms = tti.count() < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(tti.count());
        negative_tti_ = tti.count() < 0;
        return *this;
    }
    /// A C++ estimator (empty: the default one). Each store created from this
    /// config gets its own copy, owned by the store (the C config's ctx and
    /// destroy) and destroyed when the store is.
    MemoryConfig& size_estimator(SizeEstimator estimator) {
        estimator_ = std::move(estimator);
        return *this;
    }

    /// Ok, or invalid_argument saying which rule a field breaks: the
    /// library's own check (nexus_memory_config_validate, the rules of
    /// Store::create exactly), plus the one the C struct cannot express (a
    /// negative signal_decay, ttl or tti).
    Status validate() const {
        if (negative_decay_)
            return Status(StatusCode::invalid_argument, "MemoryConfig: signal_decay must not be negative");
        if (negative_ttl_) return Status(StatusCode::invalid_argument, "MemoryConfig: ttl must not be negative");
        if (negative_tti_) return Status(StatusCode::invalid_argument, "MemoryConfig: tti must not be negative");
        Status s = Status::from_c(nexus_memory_config_validate(&config_));
        if (s.ok()) return s;
        return Status(s.code(), "MemoryConfig: " + s.message());
    }

    /// The C config, without the C++ estimator (Store::create adds it).
    const NexusMemoryConfig& native() const noexcept { return config_; }
    const SizeEstimator& estimator() const noexcept { return estimator_; }

private:
    NexusMemoryConfig config_{};
    SizeEstimator estimator_;
    bool negative_decay_ = false;
    bool negative_ttl_ = false;
    bool negative_tti_ = false;
};

// ---- loaders and callbacks ----------------------------------------------------

/// Where a loader puts the value it loaded; valid only during the loader
/// call that received it. Give a value exactly once. Neither copyable nor
/// movable, so that no copy outlives the loader call (the library's sink
/// is retired once the loader returns: a kept copy's calls would all be
/// StatusCode::invalid_handle). While the loader runs it may be used from
/// another thread the loader waits for (calls on one sink are serialised).
class LoadSink {
public:
    explicit LoadSink(NexusLoadSink* sink) noexcept : sink_(sink) {}
    LoadSink(const LoadSink&) = delete;
    LoadSink& operator=(const LoadSink&) = delete;

    /// Gives a copy of `value`.
    Status put(ByteView value) {
        return Status::from_c(nexus_load_sink_put_bytes(sink_, value.data(), value.size()));
    }
    /// Gives an object charged `cost` bytes (0: ask the size estimator; with
    /// none, 0 is invalid_argument: pass the bytes the object holds). On
    /// success the store owns it and `object` is empty; on failure `object`
    /// keeps it.
    template <class T, class D>
    Status put_object(std::unique_ptr<T, D>&& object, std::size_t cost) {
        return detail::put_owned(object, [&](void* raw, NexusReleaseFn release, void* ctx) {
            return nexus_load_sink_put_object(sink_, raw, cost, release, ctx);
        });
    }
    /// Gives a copy of a shared object charged `cost` bytes (as above); the
    /// store releases its copy exactly once.
    template <class T>
    Status put_object(const std::shared_ptr<T>& object, std::size_t cost) {
        return detail::put_shared(object, [&](void* raw, NexusReleaseFn release, void* ctx) {
            return nexus_load_sink_put_object(sink_, raw, cost, release, ctx);
        });
    }

    /// Gives up this load without failing the key, for a loader whose caller
    /// was cancelled (nexus_load_sink_abandon): that caller's get_or_load
    /// fails with StatusCode::callback and `message`, and the threads that
    /// joined the load look the key up again (one of them runs the loader).
    /// A value given before is released. `message` must be NUL-terminated
    /// (nullptr: the library's default).
    Status abandon(const char* message = nullptr) {
        return Status::from_c(nexus_load_sink_abandon(sink_, message));
    }

    NexusLoadSink* native() const noexcept { return sink_; }

private:
    NexusLoadSink* sink_;
};

/// Loads a missing key for get_or_load: gives the value through the sink
/// once and returns StatusCode::ok, or returns another code (not_found, ...)
/// that every waiter gets. Returning ok without a value, or throwing, is
/// StatusCode::callback.
using Loader = std::function<StatusCode(std::string_view key, LoadSink& sink)>;
/// Receives events (on the thread whose call produced them).
using EventCallback = std::function<void(const Event& event)>;
/// Told of every entry that leaves the store: its key (valid for the call),
/// why, and its charge.
using EvictionListener = std::function<void(std::string_view key, EvictionReason reason, std::uint64_t bytes)>;

namespace detail {

inline std::size_t estimate_trampoline(void* ctx, const std::uint8_t* key, std::size_t key_len,
                                       const void* value, std::size_t value_len) noexcept {
    auto* c = static_cast<CallbackCtx<SizeEstimator>*>(ctx);
    std::size_t charge = 0;
    if (call_guarded([&] { charge = c->fn(view_of(key, key_len), value, value_len); })) return charge;
    c->state->count_error();
    return NEXUS_CHARGE_DEFAULT;  // the library charges what its default estimator would
}

inline void event_trampoline(void* ctx, const NexusEvent* event) noexcept {
    auto* c = static_cast<CallbackCtx<EventCallback>*>(ctx);
    if (!call_guarded([&] { c->fn(Event::from_c(*event)); })) c->state->count_error();
}

inline void evict_trampoline(void* ctx, const std::uint8_t* key, std::size_t key_len,
                             NexusEvictionReason reason, std::uint64_t bytes) noexcept {
    auto* c = static_cast<CallbackCtx<EvictionListener>*>(ctx);
    if (!call_guarded([&] { c->fn(view_of(key, key_len), static_cast<EvictionReason>(reason), bytes); }))
        c->state->count_error();
}

inline NexusStatus load_trampoline(void* ctx, const std::uint8_t* key, std::size_t key_len,
                                   NexusLoadSink* sink) noexcept {
    auto* c = static_cast<CallbackCtx<Loader>*>(ctx);
    LoadSink s(sink);
#if NEXUS_CPP_CATCHES
    // The exception's message reaches every thread waiting on this load
    // through the sink (nexus_last_error_message() on each of them).
    const auto fail = [&](const char* what) noexcept {
        c->state->count_error();
        // The whole what(), however long; if even that string cannot be
        // made, the message says at least who failed.
        std::string message;
        try {
            message = std::string("the loader threw: ") + (what ? what : "");
        } catch (...) {
            message.clear();
        }
        const char* text = message.empty() ? "the loader threw" : message.c_str();
        if (nexus_load_sink_fail(sink, NEXUS_STATUS_ERR_CALLBACK, text) == NEXUS_STATUS_OK)
            return static_cast<NexusStatus>(NEXUS_STATUS_OK);  // ignored: the sink holds the failure
        return static_cast<NexusStatus>(NEXUS_STATUS_ERR_CALLBACK);
    };
    // The outer try catches what the exception object's destructor throws
    // (noexcept(false)) when the inner handler ends: the sink already
    // holds the failure then.
    NexusStatus failed = NEXUS_STATUS_ERR_CALLBACK;
    try {
        try {
            return static_cast<NexusStatus>(c->fn(view_of(key, key_len), s));
        } catch (const std::exception& e) {
            failed = fail(e.what());
        } catch (...) {
            failed = fail("an exception not derived from std::exception");
        }
    } catch (...) {
    }
    return failed;
#else
    return static_cast<NexusStatus>(c->fn(view_of(key, key_len), s));
#endif
}

}  // namespace detail

// ---- Store --------------------------------------------------------------------

/// A store (owns a NexusStore*; move-only; frees it in its destructor).
///
/// Every member is thread-safe: share one Store between threads by
/// reference (only destroying, moving or closing it races with other
/// threads' calls, as for any C++ object). A moved-from or closed Store
/// holds no store: its calls fail with invalid_handle and a message saying
/// which ("nexus::Store::put: this Store was moved from; it holds no store");
/// closing it again is ok. Destroying a Store
/// from inside one of its own callbacks frees the store when that call
/// returns (nexus_store_free_deferred); try_close reports busy there.
class Store {
public:
    /// Creates a store (validates the config first).
    static Result<Store> create(const MemoryConfig& config = MemoryConfig()) {
        if (Status s = config.validate(); !s.ok()) return s;
        auto state = std::make_shared<detail::SharedState>();
        NexusMemoryConfig c = config.native();
        if (config.estimator()) {
            c.size_estimator = &detail::estimate_trampoline;
            c.size_estimator_ctx = detail::make_ctx(config.estimator(), state);
            c.size_estimator_destroy = &detail::destroy_ctx<detail::CallbackCtx<SizeEstimator>>;
        }
        NexusStore* handle = nullptr;
        // On failure the library has already destroyed the estimator's ctx.
        if (Status s = Status::from_c(nexus_store_new(&c, &handle)); !s.ok()) return s;
        return Store(handle, std::move(state));
    }

#if NEXUS_CPP_EXCEPTIONS
    /// Creates a store; throws Error on failure.
    explicit Store(const MemoryConfig& config = MemoryConfig()) : Store(create(config).value()) {}
#endif

    Store(Store&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)),
          state_(std::move(other.state_)),
          emptied_(std::exchange(other.emptied_, Emptied::moved_from)) {}
    Store& operator=(Store&& other) noexcept {
        if (this != &other) {
            free_store(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
            state_ = std::move(other.state_);
            emptied_ = std::exchange(other.emptied_, Emptied::moved_from);
        }
        return *this;
    }
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;
    /// Frees the store: waits for calls in flight on other threads, releases
    /// the remaining values and destroys every registered callable. From
    /// inside one of the store's own callbacks (where waiting would wait for
    /// itself), the store is freed when that callback's call returns.
    ~Store() { free_store(handle_); }

    /// Whether this Store holds a store (false once moved from or closed).
    bool valid() const noexcept { return handle_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    NexusStore* native() const noexcept { return handle_; }
    /// The store's id, unique in the process (the store_id of governor
    /// events and metrics); 0 when this Store holds no store.
    std::uint64_t id() const noexcept {
        std::uint64_t out = 0;
        if (handle_) static_cast<void>(nexus_store_id(handle_, &out));
        return out;
    }

    /// Frees the store now. busy (from inside one of its own callbacks):
    /// nothing happened and this Store still holds it.
    Status try_close() {
        if (!handle_) return Status();  // closing nothing is fine
        Status s = Status::from_c(nexus_store_free(handle_));
        if (s.code() != StatusCode::busy) {
            handle_ = nullptr;
            emptied_ = Emptied::closed;
        }
        return s;
    }

    // -- entries (the non-throwing API) --

    /// Inserts or replaces `key` with a copy of `value`. A put that would
    /// exceed the budget first evicts just enough; one that leaves usage at
    /// or above the working size (moderate_threshold x the budget) then
    /// evicts toward it, so a filled store settles under it (see
    /// nexus_store_put); too_large, over_budget.
    Status try_put(std::string_view key, ByteView value) {
        if (!handle_) return no_store("put");
        return Status::from_c(
            nexus_store_put(handle_, detail::bytes_of(key), key.size(), value.data(), value.size()));
    }
    Status try_put(std::string_view key, const void* data, std::size_t size) {
        return try_put(key, ByteView(data, size));
    }
    /// try_put with this entry's own time to live (instead of the config's
    /// ttl); a ttl of 0 is invalid_argument.
    Status try_put_ttl(std::string_view key, ByteView value, std::chrono::milliseconds ttl) {
        if (!handle_) return no_store("put_ttl");
        if (ttl.count() < 0) return negative_ttl("put_ttl", ttl);
        const auto ms = static_cast<std::uint64_t>(ttl.count());
        return Status::from_c(nexus_store_put_ttl(handle_, detail::bytes_of(key), key.size(), value.data(),
                                                  value.size(), ms));
    }
    /// Removes every expired entry now (reason expired); how many.
    Result<std::size_t> try_sweep_expired() {
        if (!handle_) return no_store("sweep_expired");
        return count_call([&](std::size_t* n) { return nexus_store_sweep_expired(handle_, n); });
    }
    /// Inserts or replaces `key` with an object charged `cost` bytes (0: ask
    /// the size estimator; with none, 0 is invalid_argument: pass the bytes
    /// the object holds). On success the store owns it (`object` becomes
    /// empty) and runs its deleter exactly once, when the entry is gone and
    /// no Value holds it; on failure `object` still owns it.
    template <class T, class D>
    Status try_put_object(std::string_view key, std::unique_ptr<T, D>&& object, std::size_t cost) {
        if (!handle_) return no_store("put_object");
        return detail::put_owned(object, [&](void* raw, NexusReleaseFn release, void* ctx) {
            return nexus_store_put_object(handle_, detail::bytes_of(key), key.size(), raw, cost, release, ctx);
        });
    }
    /// Inserts or replaces `key` with a shared object charged `cost` bytes
    /// (0 as above): the store keeps its own copy of the shared_ptr and
    /// releases it exactly once, when the entry is gone and no Value holds it
    /// (the object lives on while other copies do). On failure the store
    /// keeps no copy.
    template <class T>
    Status try_put_object(std::string_view key, const std::shared_ptr<T>& object, std::size_t cost) {
        if (!handle_) return no_store("put_object");
        return detail::put_shared(object, [&](void* raw, NexusReleaseFn release, void* ctx) {
            return nexus_store_put_object(handle_, detail::bytes_of(key), key.size(), raw, cost, release, ctx);
        });
    }
    /// try_put_object with this entry's own time to live (instead of the
    /// config's ttl); a ttl of 0 or a negative one is invalid_argument (the
    /// caller keeps the object). An expired object is released like any
    /// other that leaves the store.
    template <class T, class D>
    Status try_put_object_ttl(std::string_view key, std::unique_ptr<T, D>&& object, std::size_t cost,
                              std::chrono::milliseconds ttl) {
        if (!handle_) return no_store("put_object_ttl");
        if (ttl.count() < 0) return negative_ttl("put_object_ttl", ttl);
        const auto ms = static_cast<std::uint64_t>(ttl.count());
        return detail::put_owned(object, [&](void* raw, NexusReleaseFn release, void* ctx) {
            return nexus_store_put_object_ttl(handle_, detail::bytes_of(key), key.size(), raw, cost, release, ctx,
                                              ms);
        });
    }
    /// try_put_object (shared) with this entry's own time to live.
    template <class T>
    Status try_put_object_ttl(std::string_view key, const std::shared_ptr<T>& object, std::size_t cost,
                              std::chrono::milliseconds ttl) {
        if (!handle_) return no_store("put_object_ttl");
        if (ttl.count() < 0) return negative_ttl("put_object_ttl", ttl);
        const auto ms = static_cast<std::uint64_t>(ttl.count());
        return detail::put_shared(object, [&](void* raw, NexusReleaseFn release, void* ctx) {
            return nexus_store_put_object_ttl(handle_, detail::bytes_of(key), key.size(), raw, cost, release, ctx,
                                              ms);
        });
    }
    /// A read handle on `key` (an access); not_found if absent.
    Result<Value> try_get(std::string_view key) const {
        if (!handle_) return no_store("get");
        NexusValue* out = nullptr;
        const NexusStatus s = nexus_store_get(handle_, detail::bytes_of(key), key.size(), &out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return Value(out);
    }
    /// try_get, and on a miss the loader (set_loader), once for all threads
    /// missing the key. not_found (no loader, or the loader said so); the
    /// loader's own code; callback (it returned ok without a value, or threw:
    /// then the message is its what()); busy (from inside its own load).
    Result<Value> try_get_or_load(std::string_view key) {
        if (!handle_) return no_store("get_or_load");
        NexusValue* out = nullptr;
        const NexusStatus s = nexus_store_get_or_load(handle_, detail::bytes_of(key), key.size(), &out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return Value(out);
    }
    /// Whether `key` is present (not an access).
    Result<bool> try_contains(std::string_view key) const {
        if (!handle_) return no_store("contains");
        bool out = false;
        const NexusStatus s = nexus_store_contains(handle_, detail::bytes_of(key), key.size(), &out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return out;
    }
    /// Removes `key`, pinned or not (its pin stays); not_found if absent.
    Status try_remove(std::string_view key) {
        if (!handle_) return no_store("remove");
        return Status::from_c(nexus_store_remove(handle_, detail::bytes_of(key), key.size()));
    }
    /// Removes every entry, pinned ones too (pins stay); how many (expired
    /// entries leave first, reason expired, and are not counted).
    Result<std::size_t> try_clear() {
        if (!handle_) return no_store("clear");
        return count_call([&](std::size_t* n) { return nexus_store_clear(handle_, n); });
    }

    // -- pins --

    /// Pins `key`, present or not: never evicted, still charged.
    Status try_pin(std::string_view key) {
        if (!handle_) return no_store("pin");
        return Status::from_c(nexus_store_pin(handle_, detail::bytes_of(key), key.size()));
    }
    /// Ends the pin; not_found if `key` was not pinned.
    Status try_unpin(std::string_view key) {
        if (!handle_) return no_store("unpin");
        return Status::from_c(nexus_store_unpin(handle_, detail::bytes_of(key), key.size()));
    }
    Result<bool> try_is_pinned(std::string_view key) const {
        if (!handle_) return no_store("is_pinned");
        bool out = false;
        const NexusStatus s = nexus_store_is_pinned(handle_, detail::bytes_of(key), key.size(), &out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return out;
    }
    /// Every pinned key, present or not, in pin order.
    Result<std::vector<std::string>> try_pinned_ids() const {
        if (!handle_) return no_store("pinned_ids");
        NexusKeyList* raw = nullptr;
        const NexusStatus s = nexus_store_pinned_ids(handle_, &raw);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        const std::unique_ptr<NexusKeyList, KeyListFree> list(raw);
        std::vector<std::string> ids;
        const std::size_t n = nexus_key_list_len(list.get());
        ids.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            std::size_t len = 0;
            const std::uint8_t* key = nexus_key_list_get(list.get(), i, &len);
            ids.emplace_back(detail::view_of(key, len));
        }
        return Result<std::vector<std::string>>(std::move(ids));
    }

    // -- eviction and pressure --

    /// Evicts up to `count` evictable entries, LRU first; how many.
    Result<std::size_t> try_evict_lru(std::size_t count) {
        if (!handle_) return no_store("evict_lru");
        return count_call([&](std::size_t* n) { return nexus_store_evict_lru(handle_, count, n); });
    }
    /// Evicts up to `count` evictable entries in the strategy's order.
    Result<std::size_t> try_evict(std::size_t count) {
        if (!handle_) return no_store("evict");
        return count_call([&](std::size_t* n) { return nexus_store_evict(handle_, count, n); });
    }
    /// Evicts every evictable entry (not pinned, not held by a Value).
    Result<std::size_t> try_clear_unpinned() {
        if (!handle_) return no_store("clear_unpinned");
        return count_call([&](std::size_t* n) { return nexus_store_clear_unpinned(handle_, n); });
    }
    /// Signals a pressure level to this store (what an OS hook calls).
    Status try_signal_pressure(PressureLevel level) {
        if (!handle_) return no_store("signal_pressure");
        return Status::from_c(nexus_store_signal_pressure(handle_, static_cast<NexusPressureLevel>(level)));
    }
    /// Signals a level to every live store and to stores created later.
    static Status try_signal_pressure_all(PressureLevel level) {
        return Status::from_c(nexus_signal_pressure_all(static_cast<NexusPressureLevel>(level)));
    }
    /// The reported level (the higher of the usage and the signalled level).
    Result<PressureLevel> try_pressure_level() const {
        if (!handle_) return no_store("pressure_level");
        NexusPressureLevel out = NEXUS_PRESSURE_LEVEL_NONE;
        const NexusStatus s = nexus_store_pressure_level(handle_, &out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return static_cast<PressureLevel>(out);
    }
    /// The signalled level alone (the last one signalled; none once it
    /// ended or decayed), beside try_pressure_level().
    Result<PressureLevel> try_signalled_level() const {
        if (!handle_) return no_store("signalled_level");
        NexusPressureLevel out = NEXUS_PRESSURE_LEVEL_NONE;
        const NexusStatus s = nexus_store_signalled_level(handle_, &out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return static_cast<PressureLevel>(out);
    }
    /// Which kinds of event are delivered from now on (to on_event's
    /// callback or the queue), e.g. {EventKind::signal_changed} for only
    /// what the OS said. DROPPED markers always come. A value outside
    /// EventKind's is invalid_argument (nothing changed).
    Status try_set_event_kinds(std::initializer_list<EventKind> kinds) {
        if (!handle_) return no_store("set_event_kinds");
        std::uint32_t mask = 0;
        for (EventKind k : kinds) {
            const auto bit = static_cast<std::uint32_t>(k);
            if (bit >= 32) {
                return Status(StatusCode::invalid_argument,
                              "nexus::Store::set_event_kinds: " + std::to_string(bit) + " is not an EventKind");
            }
            mask |= std::uint32_t{1} << bit;
        }
        return Status::from_c(nexus_store_set_event_mask(handle_, mask));
    }
    /// Changes the configured budget, evicting down to it; over_budget if
    /// pinned and in-use entries alone exceed it (nothing changed).
    Status try_set_max_bytes(std::uint64_t max_bytes) {
        if (!handle_) return no_store("set_max_bytes");
        return Status::from_c(nexus_store_set_max_bytes(handle_, max_bytes));
    }

    // -- metrics and events --

    Result<Metrics> try_metrics() const {
        if (!handle_) return no_store("metrics");
        NexusMemoryMetrics out{};
        const NexusStatus s = nexus_store_memory_metrics(handle_, &out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return Metrics::from_c(out);
    }
    /// The metrics as one JSON object (keys are the NexusMemoryMetrics names).
    Result<std::string> try_metrics_json() const {
        if (!handle_) return no_store("metrics_json");
        std::string json(512, '\0');
        for (;;) {
            std::size_t needed = 0;
            const NexusStatus s = nexus_store_metrics_json(handle_, json.data(), json.size(), &needed);
            if (s == NEXUS_STATUS_OK) {
                json.resize(needed > 0 ? needed - 1 : 0);  // drop the NUL
                return Result<std::string>(std::move(json));
            }
            if (s != NEXUS_STATUS_ERR_BUFFER_TOO_SMALL) return Status::from_c(s);
            json.resize(needed);  // it may grow again before the next call: loop
        }
    }
    /// Zeroes the counters; the peak becomes the current usage.
    Status try_reset_metrics() {
        if (!handle_) return no_store("reset_metrics");
        return Status::from_c(nexus_store_reset_metrics(handle_));
    }
    /// The oldest queued event; empty when none (events queue only while no
    /// on_event callback is set).
    Result<Event> try_poll_event() {
        if (!handle_) return no_store("poll_event");
        NexusEvent out{};
        const NexusStatus s = nexus_store_poll_event(handle_, &out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return Event::from_c(out);
    }

    // -- callbacks: an empty callable unregisters. Replacing or unregistering
    //    returns after calls of the old one on other threads have ended; the
    //    old callable is destroyed after its last call. Exceptions: see top. --

    /// Events go to `callback` instead of the queue.
    Status try_on_event(EventCallback callback) {
        if (!handle_) return no_store("on_event");
        if (!callback) return Status::from_c(nexus_store_set_event_callback(handle_, nullptr, nullptr, nullptr));
        return Status::from_c(nexus_store_set_event_callback(
            handle_, &detail::event_trampoline, detail::make_ctx(std::move(callback), state_),
            &detail::destroy_ctx<detail::CallbackCtx<EventCallback>>));
    }
    /// `listener` hears every entry that leaves, with its key and reason.
    Status try_on_evict(EvictionListener listener) {
        if (!handle_) return no_store("on_evict");
        if (!listener) return Status::from_c(nexus_store_set_eviction_listener(handle_, nullptr, nullptr, nullptr));
        return Status::from_c(nexus_store_set_eviction_listener(
            handle_, &detail::evict_trampoline, detail::make_ctx(std::move(listener), state_),
            &detail::destroy_ctx<detail::CallbackCtx<EvictionListener>>));
    }
    /// The loader get_or_load calls on a miss.
    Status try_set_loader(Loader loader) {
        if (!handle_) return no_store("set_loader");
        if (!loader) return Status::from_c(nexus_store_set_loader(handle_, nullptr, nullptr, nullptr));
        return Status::from_c(nexus_store_set_loader(handle_, &detail::load_trampoline,
                                                     detail::make_ctx(std::move(loader), state_),
                                                     &detail::destroy_ctx<detail::CallbackCtx<Loader>>));
    }

    /// How many exceptions this store's callbacks (estimator, loader, event
    /// callback, eviction listener) threw and the wrapper caught.
    std::uint64_t callback_errors() const noexcept {
        return state_ ? state_->callback_errors.load(std::memory_order_relaxed) : 0;
    }

#if NEXUS_CPP_EXCEPTIONS
    // -- the throwing API: throws Error on failure --

    void close() { check(try_close()); }
    void put(std::string_view key, ByteView value) { check(try_put(key, value)); }
    void put_ttl(std::string_view key, ByteView value, std::chrono::milliseconds ttl) {
        check(try_put_ttl(key, value, ttl));
    }
    std::size_t sweep_expired() { return try_sweep_expired().value(); }
    void put(std::string_view key, const void* data, std::size_t size) { check(try_put(key, data, size)); }
    /// On a throw, `object` still owns the object.
    template <class T, class D>
    void put_object(std::string_view key, std::unique_ptr<T, D>&& object, std::size_t cost) {
        check(try_put_object(key, std::move(object), cost));
    }
    template <class T>
    void put_object(std::string_view key, const std::shared_ptr<T>& object, std::size_t cost) {
        check(try_put_object(key, object, cost));
    }
    /// On a throw, `object` still owns the object.
    template <class T, class D>
    void put_object_ttl(std::string_view key, std::unique_ptr<T, D>&& object, std::size_t cost,
                        std::chrono::milliseconds ttl) {
        check(try_put_object_ttl(key, std::move(object), cost, ttl));
    }
    template <class T>
    void put_object_ttl(std::string_view key, const std::shared_ptr<T>& object, std::size_t cost,
                        std::chrono::milliseconds ttl) {
        check(try_put_object_ttl(key, object, cost, ttl));
    }
    /// std::nullopt if absent.
    std::optional<Value> get(std::string_view key) const { return to_optional(try_get(key), StatusCode::not_found); }
    /// std::nullopt if absent and not loaded (no loader, or it said not_found).
    std::optional<Value> get_or_load(std::string_view key) {
        return to_optional(try_get_or_load(key), StatusCode::not_found);
    }
    bool contains(std::string_view key) const { return try_contains(key).value(); }
    /// false if absent.
    bool remove(std::string_view key) { return found(try_remove(key), StatusCode::not_found); }
    std::size_t clear() { return try_clear().value(); }
    void pin(std::string_view key) { check(try_pin(key)); }
    /// false if `key` was not pinned.
    bool unpin(std::string_view key) { return found(try_unpin(key), StatusCode::not_found); }
    bool is_pinned(std::string_view key) const { return try_is_pinned(key).value(); }
    std::vector<std::string> pinned_ids() const { return try_pinned_ids().value(); }
    std::size_t evict_lru(std::size_t count) { return try_evict_lru(count).value(); }
    std::size_t evict(std::size_t count) { return try_evict(count).value(); }
    std::size_t clear_unpinned() { return try_clear_unpinned().value(); }
    void signal_pressure(PressureLevel level) { check(try_signal_pressure(level)); }
    static void signal_pressure_all(PressureLevel level) { check(try_signal_pressure_all(level)); }
    PressureLevel pressure_level() const { return try_pressure_level().value(); }
    PressureLevel signalled_level() const { return try_signalled_level().value(); }
    void set_event_kinds(std::initializer_list<EventKind> kinds) { check(try_set_event_kinds(kinds)); }
    void set_max_bytes(std::uint64_t max_bytes) { check(try_set_max_bytes(max_bytes)); }
    Metrics metrics() const { return try_metrics().value(); }
    std::string metrics_json() const { return try_metrics_json().value(); }
    void reset_metrics() { check(try_reset_metrics()); }
    /// std::nullopt when no event is queued.
    std::optional<Event> poll_event() { return to_optional(try_poll_event(), StatusCode::empty); }
    void on_event(EventCallback callback) { check(try_on_event(std::move(callback))); }
    void on_evict(EvictionListener listener) { check(try_on_evict(std::move(listener))); }
    void set_loader(Loader loader) { check(try_set_loader(std::move(loader))); }
#endif

private:
    struct KeyListFree {
        void operator()(NexusKeyList* list) const noexcept { nexus_key_list_free(list); }
    };

    Store(NexusStore* handle, std::shared_ptr<detail::SharedState> state) noexcept
        : handle_(handle), state_(std::move(state)) {}

    /// Frees `handle`, waiting for calls in flight on other threads; from
    /// inside one of its own callbacks (busy), deferred to that call's end.
    static void free_store(NexusStore* handle) noexcept {
        if (nexus_store_free(handle) == NEXUS_STATUS_ERR_BUSY) static_cast<void>(nexus_store_free_deferred(handle));
    }

    /// Runs a C call that writes a count: fn(std::size_t* out) -> NexusStatus.
    template <class Fn>
    static Result<std::size_t> count_call(Fn&& fn) {
        std::size_t out = 0;
        const NexusStatus s = std::forward<Fn>(fn)(&out);
        if (s != NEXUS_STATUS_OK) return Status::from_c(s);
        return out;
    }

#if NEXUS_CPP_EXCEPTIONS
    static void check(const Status& s) {
        if (!s.ok()) detail::fail(s);
    }
    static bool found(const Status& s, StatusCode absent) {
        if (s.code() == absent) return false;
        check(s);
        return true;
    }
    template <class T>
    static std::optional<T> to_optional(Result<T>&& r, StatusCode absent) {
        if (r.status().code() == absent) return std::nullopt;
        return std::move(r).value();
    }
#endif

    /// Why a Store holds no store (for the message of its calls).
    enum class Emptied : unsigned char { no, moved_from, closed };

    /// The failure of call `name` on a Store that holds no store.
    Status no_store(const char* name) const {
        std::string message = std::string("nexus::Store::") + name + ": this Store was " +
                              (emptied_ == Emptied::closed ? "closed" : "moved from") + "; it holds no store";
        return Status(StatusCode::invalid_handle, std::move(message));
    }
    static Status negative_ttl(const char* name, std::chrono::milliseconds ttl) {
        return Status(StatusCode::invalid_argument, std::string("nexus::Store::") + name +
                                                        ": a negative time to live (" +
                                                        std::to_string(ttl.count()) + " ms)");
    }

    NexusStore* handle_ = nullptr;
    std::shared_ptr<detail::SharedState> state_;
    Emptied emptied_ = Emptied::no;
};

}  // inline namespace NEXUS_CPP_MODE_NAMESPACE
}  // namespace nexus

#endif  // NEXUS_STORE_HPP
