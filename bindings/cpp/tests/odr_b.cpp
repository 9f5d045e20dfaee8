// The second translation unit of the ODR test (see odr_a.cpp).
#include "test_support.hpp"

namespace nexus_test {
std::string odr_b_roundtrip(nexus::Store& store) {
    NX_EXPECT_CODE(store.try_put_object("b", std::make_unique<Texture>(2), 10), nexus::StatusCode::ok);
    NX_EXPECT_CODE(store.try_put("b-bytes", "from b"), nexus::StatusCode::ok);
    const nexus::Result<nexus::Value> v = store.try_get("a-bytes");
    return v ? std::string(v->view()) : std::string();
}
}  // namespace nexus_test
