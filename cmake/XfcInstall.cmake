#===- XfcInstall.cmake - `make install` and the xfc CMake package --------===#
#
# Installs what an application needs to deploy compiled models: the runtime
# library (libxfc_runtime.so, C API only, no LLVM/MLIR), its two public
# headers, and the package files that let a CMake project write
#
#   find_package(xfc 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE xfc::runtime)
#
# With the compiler built, the `xfc` command goes to bin/ too (imported as
# xfc::xfc, so a project can compile its model at build time); it finds its
# own runtime library through $ORIGIN and LLVM/MLIR through their fixed
# install prefix. examples/embed is an application built this way, and
# tests/install checks the installed tree with it.
#
#===----------------------------------------------------------------------===#
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(XFC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/xfc)

set_target_properties(xfc_runtime PROPERTIES EXPORT_NAME runtime)
install(TARGETS xfc_runtime EXPORT xfcTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES
  ${PROJECT_SOURCE_DIR}/runtime/include/xfc/runtime.h
  ${PROJECT_SOURCE_DIR}/runtime/include/xfc/runtime.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/xfc)

if(TARGET xfc)
  set_target_properties(xfc PROPERTIES
    INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR};${XFC_LLVM_ROOT}/lib")
  install(TARGETS xfc EXPORT xfcTargets
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT xfcTargets NAMESPACE xfc::
  DESTINATION ${XFC_INSTALL_CMAKEDIR})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/xfcConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/xfcConfig.cmake
  INSTALL_DESTINATION ${XFC_INSTALL_CMAKEDIR})
# The C API keeps its own version (XFC_API_VERSION); the package version is
# the project's, compatible within one major version.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/xfcConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/xfcConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/xfcConfigVersion.cmake
  DESTINATION ${XFC_INSTALL_CMAKEDIR})

# The Python package (python/xfc), with the paths of the installed runtime
# library and compiler written into it at install time (so `--prefix` is
# honoured): PYTHONPATH=PREFIX/lib/python3/dist-packages.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/xfc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/python3/dist-packages
  PATTERN __pycache__ EXCLUDE)
install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  file(WRITE \"\${prefix}/${CMAKE_INSTALL_LIBDIR}/python3/dist-packages/xfc/_paths.py\"
\"# Written by make install: where this package's runtime and compiler are.
RUNTIME_LIBRARY = '\${prefix}/${CMAKE_INSTALL_LIBDIR}/libxfc_runtime.so'
XFC_EXECUTABLE = '\${prefix}/${CMAKE_INSTALL_BINDIR}/xfc'
\")
")
