#include <nexus/store.hpp>
#include <cstdio>
int main() {
  nexus::Store s;
  const char raw[4] = {'a', 'b', 'c', 'd'};
  char buf[4] = {'w', 'x', 'y', 'z'};
  s.put("nonconst", buf);
  std::printf("nonconst size %zu\n", s.get("nonconst")->size());
  s.put("const", raw);
  std::printf("const size %zu\n", s.get("const")->size());
  static constexpr char lit[] = "ab\0cd";
  s.put("lit", lit);
  std::printf("lit size %zu\n", s.get("lit")->size());
}
