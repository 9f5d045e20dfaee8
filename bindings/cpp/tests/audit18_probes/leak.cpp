struct E { ~E() noexcept(false) { throw 42; } };
int main() { try { try { throw E(); } catch (...) {} } catch (...) {} }
