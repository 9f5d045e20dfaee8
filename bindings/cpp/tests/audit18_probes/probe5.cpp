#include <nexus/store.hpp>
#include <cstdio>
#include <array>
#include <vector>
int main() {
  nexus::Store s;
  const char raw[4] = {'a', 'b', 'c', 'd'};
  char buf[4] = {'w', 'x', 'y', 'z'};
  char buf2[8] = "hi";
  const char* p = "ptr"; char* np = buf2; const char* nul = nullptr;
  static constexpr char lit[] = "ab\0cd";
  std::string str("s\0t", 3); std::vector<std::uint8_t> vec{1,2}; std::array<std::byte, 3> arr{};
  std::string_view sv("view");
  auto sz = [&](const char* k) { return s.get(k)->size(); };
  s.put("raw", raw); s.put("buf", buf); s.put("buf2", buf2); s.put("p", p); s.put("np", np); s.put("nul", nul);
  s.put("nullptr", nullptr); s.put("lit", lit); s.put("literal", "abc"); s.put("str", str); s.put("vec", vec); s.put("arr", arr); s.put("sv", sv);
  s.put("ptrlen", "abcdef", 2);
  std::printf("raw %zu buf %zu buf2 %zu p %zu np %zu nul %zu nullptr %zu lit %zu literal %zu str %zu vec %zu arr %zu sv %zu ptrlen %zu\n",
    sz("raw"), sz("buf"), sz("buf2"), sz("p"), sz("np"), sz("nul"), sz("nullptr"), sz("lit"), sz("literal"), sz("str"), sz("vec"), sz("arr"), sz("sv"), sz("ptrlen"));
  nexus::ByteView b = raw; nexus::ByteView c{}; (void)b; (void)c;
}
