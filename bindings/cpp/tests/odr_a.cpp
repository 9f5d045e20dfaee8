// Two translation units (odr_a.cpp, odr_b.cpp) include the header and
// instantiate the same templates: the program links (everything in the
// header is inline) and both see one set of inline state.
#include "test_support.hpp"

namespace nexus_test {
std::string odr_b_roundtrip(nexus::Store& store);  // in odr_b.cpp

std::string odr_a_roundtrip(nexus::Store& store) {
    NX_EXPECT_CODE(store.try_put_object("a", std::make_unique<Texture>(1), 10), nexus::StatusCode::ok);
    NX_EXPECT_CODE(store.try_put("a-bytes", "from a"), nexus::StatusCode::ok);
    const nexus::Result<nexus::Value> v = store.try_get("b-bytes");
    return v ? std::string(v->view()) : std::string();
}
}  // namespace nexus_test

namespace {
TEST(Odr, TwoTranslationUnitsShareTheHeader) {
    nexus::Store store = nexus_test::make_store();
    EXPECT_EQ(nexus_test::odr_b_roundtrip(store), "");  // a has not put yet
    EXPECT_EQ(nexus_test::odr_a_roundtrip(store), "from b");
    EXPECT_EQ(nexus_test::unwrap(store.try_metrics()).entry_count, 4u);
}
}  // namespace
