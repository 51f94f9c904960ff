# Install rules for the C API: headers, liballinone and the CMake package, so an app does
#   find_package(allinone CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE allinone::allinone)
# Only the public headers are installed (csrc/include/allinone); the C++ runtime stays private.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ALLINONE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/allinone"
    CACHE STRING "Where allinoneConfig.cmake is installed (relative to the prefix)")

install(TARGETS allinone EXPORT allinoneTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES
  ${PROJECT_SOURCE_DIR}/csrc/include/allinone/allinone.h
  ${PROJECT_SOURCE_DIR}/csrc/include/allinone/allinone.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/allinone COMPONENT dev)
install(EXPORT allinoneTargets NAMESPACE allinone:: DESTINATION ${ALLINONE_INSTALL_CMAKEDIR}
  COMPONENT dev)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/allinoneConfig.cmake.in
  ${PROJECT_BINARY_DIR}/allinoneConfig.cmake
  INSTALL_DESTINATION ${ALLINONE_INSTALL_CMAKEDIR})
# 0.x: minor versions may break the API, so only the same MAJOR.MINOR satisfies a request.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/allinoneConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/allinoneConfig.cmake
  ${PROJECT_BINARY_DIR}/allinoneConfigVersion.cmake
  DESTINATION ${ALLINONE_INSTALL_CMAKEDIR} COMPONENT dev)
