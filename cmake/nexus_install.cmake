# Install rules: the same files, from the same templates, as `make install`
# (C header, C++ headers, both libraries, nexus_store.pc and
# nexus_store-static.pc, the CMake package).
include(GNUInstallDirs)
set(NEXUS_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/nexus_store")

install(FILES "${NEXUS_ROOT}/include/nexus_store.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(DIRECTORY "${NEXUS_ROOT}/bindings/cpp/include/nexus" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")
install(FILES "${NEXUS_LIB_DIR}/libnexus_store.a" DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(PROGRAMS "${NEXUS_LIB_DIR}/libnexus_store.so" DESTINATION "${CMAKE_INSTALL_LIBDIR}")

# The templates find their prefix from their own place: "../.." per level.
string(REGEX REPLACE "[^/]+" ".." NEXUS_PC_UP "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
string(REGEX REPLACE "[^/]+" ".." NEXUS_CONFIG_UP "${NEXUS_CMAKE_DIR}")
foreach(_nexus_template nexus_store.pc nexus_store-static.pc nexus_storeConfig.cmake
                        nexus_storeConfigVersion.cmake)
  configure_file("${NEXUS_ROOT}/cmake/${_nexus_template}.in" "${PROJECT_BINARY_DIR}/${_nexus_template}" @ONLY)
endforeach()
install(FILES "${PROJECT_BINARY_DIR}/nexus_store.pc" "${PROJECT_BINARY_DIR}/nexus_store-static.pc"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
install(FILES "${PROJECT_BINARY_DIR}/nexus_storeConfig.cmake" "${PROJECT_BINARY_DIR}/nexus_storeConfigVersion.cmake"
        DESTINATION "${NEXUS_CMAKE_DIR}")
unset(_nexus_template)
