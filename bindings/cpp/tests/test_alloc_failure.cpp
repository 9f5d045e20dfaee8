// An allocation of the wrapper that throws (std::bad_alloc) inside
// put_object leaves the object with the caller: the unique_ptr still owns
// it after the throw (or the failed status), and its deleter has not run.
// Every allocation of the call is made to fail in turn (a replaced global
// operator new with a fail switch: this file is a program of its own).
// Monitor::stop() (noexcept) with its message's allocation failing returns
// the status without a message, where it was std::terminate.
#include <nexus/monitor.hpp>
#include <nexus/store.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

namespace {

/// Allocations left before one throws; < 0: none throws.
std::atomic<long> allocations_left{-1};

/// Arms the switch: the `n`th allocation from now throws (0: the next).
void fail_allocation(long n) { allocations_left.store(n); }
void disarm() { allocations_left.store(-1); }

}  // namespace

void* operator new(std::size_t size) {
    if (allocations_left.load() >= 0 && allocations_left.fetch_sub(1) == 0) {
        allocations_left.store(-1);
        throw std::bad_alloc();
    }
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct Thing {
    int id = 7;
};

/// Deleters that count the objects they deleted: a stateless one and one
/// with state (which the wrapper keeps in a heap holder).
std::atomic<int> deleted{0};
struct CountingDelete {
    void operator()(Thing* t) const noexcept {
        deleted.fetch_add(1);
        delete t;
    }
};
struct StatefulDelete {
    int* counter;
    void operator()(Thing* t) const noexcept {
        ++*counter;
        deleted.fetch_add(1);
        delete t;
    }
};

/// Runs `put(object)` with the nth allocation failing, for n = 0, 1, ...
/// until the object is taken or `runs` runs are done (later runs make no
/// allocation fail: every point was passed), and that sweep twice: a run
/// that fails may leave state that changes the next runs' allocations (a
/// type registration left behind made the put allocate one less), and the
/// second sweep fails each of those in turn too. After each throw or failed
/// status the object is still `object`'s and not deleted. Returns the runs
/// that threw.
template <class Ptr, class Put>
int every_failing_allocation(Ptr& object, Put&& put, long runs = 24) {
    Thing* const raw = object.get();
    int threw = 0;
    for (int sweep = 0; sweep < 2; ++sweep) for (long n = 0; n < runs && object; ++n) {
        const int deleted_before = deleted.load();
        fail_allocation(n);
        try {
            const nexus::Status status = put(object);
            disarm();
            if (!status.ok()) {
                EXPECT_EQ(object.get(), raw) << status.to_string();
                EXPECT_EQ(deleted.load(), deleted_before);
            }
        } catch (const std::bad_alloc&) {
            disarm();
            ++threw;
            EXPECT_EQ(object.get(), raw) << "allocation " << n << " threw: the object was not given back";
            EXPECT_EQ(deleted.load(), deleted_before) << "allocation " << n << " threw: the object was deleted";
            if (object.get() != raw) return threw;
        }
    }
    return threw;
}

/// A refused put of a throwaway object (nothing fails): the wrapper's
/// one-time allocations (the type registry, its buckets) are made, so that
/// every run of every_failing_allocation makes the same ones and each is
/// made to fail in turn.
template <class Put>
void warm_up(Put&& put) {
    int count = 0;
    std::unique_ptr<Thing, StatefulDelete> throwaway(new Thing, StatefulDelete{&count});
    EXPECT_FALSE(put(throwaway).ok());
    EXPECT_TRUE(throwaway);
}

/// A store without a size estimator: an object with cost 0 is refused
/// (invalid_argument), and the refusal's message is a std::string the
/// wrapper allocates after the C call.
nexus::Store store_without_estimator() {
    auto made = nexus::Store::create(nexus::MemoryConfig().max_bytes(1 << 20));
    EXPECT_TRUE(made.ok());
    return std::move(made).value();
}

TEST(AllocFailure, RefusedPutObjectGivesTheObjectBackWhenItsMessageThrows) {
    nexus::Store store = store_without_estimator();
    warm_up([&](auto& o) { return store.try_put_object("k", std::move(o), 0); });
    int count = 0;
    std::unique_ptr<Thing, StatefulDelete> stateful(new Thing, StatefulDelete{&count});
    const int threw = every_failing_allocation(stateful, [&](auto& o) {
        return store.try_put_object("k", std::move(o), 0);  // cost 0: refused
    });
    EXPECT_GT(threw, 0);
    EXPECT_EQ(count, 0);
    ASSERT_TRUE(stateful);

    std::unique_ptr<Thing, CountingDelete> stateless(new Thing);
    every_failing_allocation(stateless, [&](auto& o) { return store.try_put_object("k", std::move(o), 0); });
    ASSERT_TRUE(stateless);
    EXPECT_FALSE(store.contains("k"));
}

TEST(AllocFailure, PutObjectThatSucceedsAfterFailedAllocations) {
    nexus::Store store = store_without_estimator();
    warm_up([&](auto& o) { return store.try_put_object("k", std::move(o), 0); });
    int count = 0;
    std::unique_ptr<Thing, StatefulDelete> object(new Thing, StatefulDelete{&count});
    const int threw =
        every_failing_allocation(object, [&](auto& o) { return store.try_put_object("k", std::move(o), 10); });
    EXPECT_GT(threw, 0);
    EXPECT_FALSE(object);  // the last run took it
    EXPECT_EQ(count, 0);
    EXPECT_TRUE(store.remove("k"));
    EXPECT_EQ(count, 1);
}

TEST(AllocFailure, LoadSinkPutObjectGivesTheObjectBack) {
    nexus::Store store = store_without_estimator();
    int count = 0;
    int threw = 0;
    int loads = 0;
    store.set_loader([&](std::string_view, nexus::LoadSink& sink) {
        ++loads;
        warm_up([&](auto& o) { return sink.put_object(std::move(o), 0); });
        std::unique_ptr<Thing, StatefulDelete> object(new Thing, StatefulDelete{&count});
        threw += every_failing_allocation(object, [&](auto& o) { return sink.put_object(std::move(o), 0); });
        EXPECT_TRUE(object);  // refused (cost 0), given back
        return nexus::StatusCode::invalid_argument;
    });
    auto loaded = store.try_get_or_load("k");
    EXPECT_FALSE(loaded.ok());
    EXPECT_EQ(loads, 1);
    EXPECT_GT(threw, 0);
    EXPECT_EQ(count, 1);  // deleted once, by the loader's own unique_ptr
}

TEST(AllocFailure, MonitorStopWithoutMemoryForItsMessage) {
    nexus::Result<nexus::Monitor> started = nexus::Monitor::start();
    if (!started.ok()) GTEST_SKIP() << "no monitor here: " << started.status().to_string();
    nexus::Monitor monitor = std::move(started).value();
    // Stopped behind the wrapper's back: its stop() is then not_found, with
    // a message the wrapper copies.
    ASSERT_EQ(nexus_monitor_stop(), NEXUS_STATUS_OK);
    fail_allocation(0);
    const nexus::Status status = monitor.stop();
    disarm();
    EXPECT_EQ(status.code(), nexus::StatusCode::not_found);
    EXPECT_TRUE(status.message().empty()) << status.message();
    EXPECT_EQ(monitor.run(), 0u);
}

}  // namespace
