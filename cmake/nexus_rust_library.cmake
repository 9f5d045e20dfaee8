# The Rust library as two imported targets, nexus_store_c_static and
# nexus_store_c_shared (the C header's directory included).
#
# Built by `cargo build --release --lib` into NEXUS_CARGO_TARGET_DIR, which is
# under the consuming project's build folder by default, so the source tree's
# target/ is never written and a `make` in the repository never makes the
# consumer rebuild. Cargo runs on every build (a no-op costs a fraction of a
# second); the libraries, and so what links them, change only when the Rust
# sources do. NEXUS_RUST_LIB_DIR instead names a directory that already holds
# libnexus_store.a and libnexus_store.so (then cargo is not needed).
set(NEXUS_RUST_LIB_DIR "" CACHE PATH
    "Directory with a prebuilt libnexus_store.a/.so (empty: build it with cargo)")
set(NEXUS_CARGO_TARGET_DIR "${PROJECT_BINARY_DIR}/cargo" CACHE PATH
    "Cargo's target directory for the Rust library (default: in this build folder)")

find_package(Threads REQUIRED)

if(NEXUS_RUST_LIB_DIR)
  set(NEXUS_LIB_DIR "${NEXUS_RUST_LIB_DIR}")
else()
  find_program(CARGO_EXECUTABLE cargo HINTS "$ENV{HOME}/.cargo/bin")
  if(NOT CARGO_EXECUTABLE)
    message(FATAL_ERROR "nexus_store: cargo not found: install Rust (https://rustup.rs) or set NEXUS_RUST_LIB_DIR")
  endif()
  set(NEXUS_LIB_DIR "${NEXUS_CARGO_TARGET_DIR}/release")
  # Part of the default build where the install rules install its output.
  set(_nexus_cargo_all "")
  if(NEXUS_STORE_INSTALL)
    set(_nexus_cargo_all ALL)
  endif()
  add_custom_target(nexus_cargo_build ${_nexus_cargo_all}
    COMMAND "${CARGO_EXECUTABLE}" build --release --lib --locked
            --manifest-path "${NEXUS_ROOT}/Cargo.toml" --target-dir "${NEXUS_CARGO_TARGET_DIR}"
    BYPRODUCTS "${NEXUS_LIB_DIR}/libnexus_store.a" "${NEXUS_LIB_DIR}/libnexus_store.so"
    COMMENT "nexus_store: cargo build --release --lib (into ${NEXUS_CARGO_TARGET_DIR})"
    USES_TERMINAL)
  unset(_nexus_cargo_all)
endif()

set(_nexus_system_libs Threads::Threads ${CMAKE_DL_LIBS} m)

add_library(nexus_store_c_static STATIC IMPORTED GLOBAL)
set_target_properties(nexus_store_c_static PROPERTIES
  IMPORTED_LOCATION "${NEXUS_LIB_DIR}/libnexus_store.a"
  INTERFACE_INCLUDE_DIRECTORIES "${NEXUS_ROOT}/include"
  INTERFACE_LINK_LIBRARIES "${_nexus_system_libs}")

add_library(nexus_store_c_shared SHARED IMPORTED GLOBAL)
set_target_properties(nexus_store_c_shared PROPERTIES
  IMPORTED_LOCATION "${NEXUS_LIB_DIR}/libnexus_store.so"
  IMPORTED_SONAME "libnexus_store.so"   # build.rs gives the cdylib this SONAME
  INTERFACE_INCLUDE_DIRECTORIES "${NEXUS_ROOT}/include")

if(TARGET nexus_cargo_build)
  add_dependencies(nexus_store_c_static nexus_cargo_build)
  add_dependencies(nexus_store_c_shared nexus_cargo_build)
endif()

add_library(nexus::store_c ALIAS nexus_store_c_static)
add_library(nexus::store_c_shared ALIAS nexus_store_c_shared)
unset(_nexus_system_libs)
