// Object values from C++: put_object with a std::shared_ptr (the store holds
// one copy, released exactly once) and the type check of Value::object<T>()
// (and what it cannot check). Built with and without exceptions.
#include "test_support.hpp"

#include <atomic>
#include <memory>
#include <string>

using nexus::LoadSink;
using nexus::MemoryConfig;
using nexus::StatusCode;
using nexus_test::make_store;
using nexus_test::Texture;
using nexus_test::unwrap;

namespace {

class Objects : public nexus_test::StoreTest {};

/// A shared Texture whose deleter counts its runs.
std::shared_ptr<Texture> counted_texture(int id, std::atomic<int>& deletions) {
    return std::shared_ptr<Texture>(new Texture(id), [&deletions](Texture* t) {
        deletions.fetch_add(1);
        delete t;
    });
}

TEST_F(Objects, SharedPtrTheStoreHoldsOneCopyReleasedOnce) {
    std::atomic<int> deletions{0};
    nexus::Store store = make_store();
    std::shared_ptr<Texture> texture = counted_texture(3, deletions);
    NX_ASSERT_OK(store.try_put_object("tex", texture, 4096));
    EXPECT_EQ(texture.use_count(), 2);  // the caller's and the store's
    EXPECT_EQ(unwrap(store.try_metrics()).current_usage, 4096u);

    texture.reset();  // the store's copy keeps it alive
    EXPECT_EQ(Texture::live().load(), 1);
    EXPECT_EQ(deletions.load(), 0);
    {
        const nexus::Value v = unwrap(store.try_get("tex"));
        ASSERT_NE(v.object<Texture>(), nullptr);
        EXPECT_EQ(v.object<Texture>()->id, 3);
        NX_ASSERT_OK(store.try_remove("tex"));
        EXPECT_EQ(deletions.load(), 0);  // the Value still holds it
    }
    EXPECT_EQ(deletions.load(), 1);  // the store's copy went with the last handle, once
    EXPECT_EQ(Texture::live().load(), 0);
}

TEST_F(Objects, SharedPtrUnderTwoKeysAndReplacedAndFreed) {
    std::atomic<int> deletions{0};
    std::shared_ptr<Texture> texture = counted_texture(5, deletions);
    {
        nexus::Store store = make_store();
        NX_ASSERT_OK(store.try_put_object("a", texture, 100));
        NX_ASSERT_OK(store.try_put_object("b", texture, 100));
        EXPECT_EQ(texture.use_count(), 3);
        NX_ASSERT_OK(store.try_put("a", "bytes now"));  // replacing releases a's copy inside the put
        EXPECT_EQ(texture.use_count(), 2);
        EXPECT_EQ(unwrap(store.try_get("b")).object<Texture>(), texture.get());
    }  // freeing the store releases b's copy
    EXPECT_EQ(texture.use_count(), 1);
    EXPECT_EQ(deletions.load(), 0);
    texture.reset();
    EXPECT_EQ(deletions.load(), 1);
}

TEST_F(Objects, AFailedSharedPutKeepsNoCopy) {
    nexus::Store store = make_store(MemoryConfig().max_bytes(1000));
    auto texture = std::make_shared<Texture>(1);
    NX_EXPECT_CODE(store.try_put_object("big", texture, 5000), StatusCode::too_large);
    EXPECT_EQ(texture.use_count(), 1);
    EXPECT_FALSE(unwrap(store.try_contains("big")));

    const nexus::Status empty = store.try_put_object("none", std::shared_ptr<Texture>(), 10);
    NX_EXPECT_CODE(empty, StatusCode::invalid_argument);
    EXPECT_EQ(empty.message(), "put_object: the shared_ptr is empty");
}

TEST_F(Objects, ALoaderGivesASharedObject) {
    auto texture = std::make_shared<Texture>(9);
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_set_loader([texture](std::string_view, LoadSink& sink) {
        return sink.put_object(texture, 64).code();
    }));
    {
        const nexus::Value v = unwrap(store.try_get_or_load("tex"));
        EXPECT_EQ(v.object<Texture>(), texture.get());
    }
    EXPECT_EQ(texture.use_count(), 3);  // ours, the loader's capture, the entry's
    NX_ASSERT_OK(store.try_set_loader(nullptr));
    NX_ASSERT_OK(store.try_remove("tex"));
    EXPECT_EQ(texture.use_count(), 1);
}

TEST_F(Objects, ObjectIsCheckedAgainstTheTypeItWasPutAs) {
    nexus::Store store = make_store();
    NX_ASSERT_OK(store.try_put_object("tex", std::make_unique<Texture>(7), 100));
    NX_ASSERT_OK(store.try_put_object("shared", std::shared_ptr<const Texture>(std::make_shared<Texture>(8)), 100));
    NX_ASSERT_OK(store.try_put("bytes", "abc"));

    const nexus::Value tex = unwrap(store.try_get("tex"));
    ASSERT_NE(tex.object<Texture>(), nullptr);
    EXPECT_EQ(tex.object<const Texture>(), tex.object<Texture>());  // const does not matter
    EXPECT_EQ(tex.object<int>(), nullptr);                          // another type: refused
    EXPECT_EQ(tex.object<std::string>(), nullptr);
    const nexus::Result<int*> wrong = tex.try_object<int>();
    NX_EXPECT_CODE(wrong.status(), StatusCode::invalid_argument);
    EXPECT_EQ(wrong.status().message(), "Value::object<T>: the object was put as another type than T");
    EXPECT_EQ(unwrap(tex.try_object<Texture>())->id, 7);

    const nexus::Value shared = unwrap(store.try_get("shared"));
    EXPECT_EQ(shared.object<Texture>()->id, 8);  // put as const Texture, read as Texture
    EXPECT_EQ(shared.object<long>(), nullptr);

    const nexus::Value bytes = unwrap(store.try_get("bytes"));
    EXPECT_EQ(bytes.object<Texture>(), nullptr);
    EXPECT_EQ(bytes.try_object<Texture>().status().message(),
              "Value::object: a bytes value, not an object: read it with view() or data()");

    nexus::Value gone = unwrap(store.try_get("tex"));
    gone.reset();
    EXPECT_EQ(gone.object<Texture>(), nullptr);
    EXPECT_EQ(gone.try_object<Texture>().status().message(),
              "Value::object: this Value holds no value (moved from or reset)");
}

TEST_F(Objects, AReleasedObjectLeavesNoTypeBehind) {
    nexus::Store store = make_store();
    auto texture = std::make_unique<Texture>(1);
    const void* const address = texture.get();
    auto& types = nexus::object_types::ObjectTypes::instance();
    NX_ASSERT_OK(store.try_put_object("tex", std::move(texture), 100));
    EXPECT_FALSE(types.may_be(address, nexus::object_types::type_tag<int>()));
    NX_ASSERT_OK(store.try_remove("tex"));
    // Released: a new object at this address may be of any type.
    EXPECT_TRUE(types.may_be(address, nexus::object_types::type_tag<int>()));

    // A put that fails leaves no type behind either.
    nexus::Store small = make_store(MemoryConfig().max_bytes(100));
    auto big = std::make_unique<Texture>(2);
    const void* const big_address = big.get();
    NX_EXPECT_CODE(small.try_put_object("big", std::move(big), 1000), StatusCode::too_large);
    ASSERT_NE(big, nullptr);
    EXPECT_TRUE(types.may_be(big_address, nexus::object_types::type_tag<int>()));
}

void release_int(void*, void* object) { delete static_cast<int*>(object); }

TEST_F(Objects, AnObjectPutThroughTheCApiIsNotTypeChecked) {
    // Documented limit: the C API carries no type, so a wrong T is not detected.
    nexus::Store store = make_store();
    auto* number = new int(42);
    ASSERT_EQ(nexus_store_put_object(store.native(), reinterpret_cast<const std::uint8_t*>("n"), 1, number, 16,
                                     &release_int, nullptr),
              NEXUS_STATUS_OK);
    const nexus::Value v = unwrap(store.try_get("n"));
    EXPECT_EQ(*v.object<int>(), 42);
    EXPECT_EQ(v.object<Texture>(), static_cast<void*>(number));  // not refused: unknown type
}

}  // namespace
