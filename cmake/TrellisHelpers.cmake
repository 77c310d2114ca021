# The two helpers every CMakeLists.txt under src/ and tests/ uses.
include(GoogleTest)

set(TRELLIS_WARNINGS -Wall -Wextra)
if(TRELLIS_WERROR)
  list(APPEND TRELLIS_WARNINGS -Werror)
endif()
if(TRELLIS_SANITIZE)
  # g++ 12 reports false maybe-uninitialized warnings inside Boost.Beast when sanitizers
  # change inlining.
  list(APPEND TRELLIS_WARNINGS -Wno-maybe-uninitialized)
endif()
# g++ 12 reports a false mismatched-new-delete on the frames of coroutines that Asio
# allocates with its own operator new and frees with its own operator delete, in any
# build where it sees both inlined (the precompiled headers make that every build).
list(APPEND TRELLIS_WARNINGS -Wno-mismatched-new-delete)
if(TRELLIS_SANITIZE MATCHES "thread")
  # g++ warns that ThreadSanitizer does not model atomic_thread_fence, which Asio calls;
  # tests/tsan.supp says why the unit tests under TSan do not report Asio.
  list(APPEND TRELLIS_WARNINGS -Wno-tsan)
endif()

# Precompiled headers. Parsing Asio, Beast, nlohmann::json, spdlog and fmt costs 3-5 s of
# CPU in every translation unit that includes them (and gtest + gmock 1.5 s more in a
# test), which is most of ours. Two headers are precompiled once per build tree, one
# for libraries (trellis_pch) and one for tests (trellis_test_pch, the same set plus
# gtest), and every target reuses one of them (REUSE_FROM). g++ uses a precompiled
# header only where the macros it depends on are defined the same way, so every user
# links the same requirements (trellis_pch_requirements); CMake adds -Winvalid-pch,
# which with TRELLIS_WERROR turns a header that could not be used into an error.
# CLI11 is not in the set: its header-only mode generates code in each includer
# (6 s of g++ per file), which a precompiled header does not save.
option(TRELLIS_PCH "Precompile the heavy third-party headers" ON)
if(TRELLIS_FUZZ)
  # The fuzz build compiles a handful of small files that include none of them.
  set(TRELLIS_PCH OFF)
endif()
set(TRELLIS_PCH_HEADERS
  <boost/asio/any_io_executor.hpp> <boost/asio/as_tuple.hpp> <boost/asio/awaitable.hpp>
  <boost/asio/co_spawn.hpp> <boost/asio/detached.hpp> <boost/asio/io_context.hpp>
  <boost/asio/ip/tcp.hpp> <boost/asio/post.hpp> <boost/asio/steady_timer.hpp>
  <boost/asio/this_coro.hpp> <boost/asio/use_awaitable.hpp> <boost/asio/write.hpp>
  <nlohmann/json.hpp> <spdlog/spdlog.h> <fmt/format.h>
  <string> <vector> <memory> <chrono> <functional> <optional>)
set(TRELLIS_TEST_PCH_HEADERS ${TRELLIS_PCH_HEADERS} <gtest/gtest.h> <gmock/gmock.h>)

# Tests are compiled with less optimisation and line tables only: what they measure runs
# in the daemons they start, and a test file took 18 s at -O2 -g against 11 s at -O1 -g1
# (master_test.cc, docs/development.md). The test helpers and the tests' precompiled
# header take the same options, which a precompiled header must share with its users.
set(TRELLIS_TEST_OPTIONS -O1 -g1)
if(TRELLIS_SANITIZE MATCHES "address")
  # What AddressSanitizer and UBSan are for is the product: the daemons the integration
  # tests start and the libraries the unit tests call, instrumented in full. The tests'
  # own code (gtest's macros, the helpers) is not: instrumented it took 3.7 times the CPU
  # to compile (1,026 s against 279 s on a clean build, half of the asan build's), for
  # checks on test code. (An inline function the linker takes from a test's copy goes
  # unchecked in that binary.) The runtime is linked in all the same. ThreadSanitizer
  # stays whole: synchronisation it does not see gives false reports.
  list(APPEND TRELLIS_TEST_OPTIONS -fno-sanitize=all)
endif()

if(TRELLIS_PCH)
  add_library(trellis_pch_requirements INTERFACE)
  target_link_libraries(trellis_pch_requirements INTERFACE
    Boost::headers nlohmann_json::nlohmann_json spdlog::spdlog fmt::fmt)
  file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/pch/pch_host.cc
    CONTENT "// Compiled only to build the precompiled headers (cmake/TrellisHelpers.cmake).\n")
  add_library(trellis_pch OBJECT ${PROJECT_BINARY_DIR}/pch/pch_host.cc)
  target_compile_options(trellis_pch PRIVATE ${TRELLIS_WARNINGS})
  target_link_libraries(trellis_pch PRIVATE trellis_pch_requirements)
  target_precompile_headers(trellis_pch PRIVATE ${TRELLIS_PCH_HEADERS})
endif()

# trellis_use_pch(<target> [TEST])
#   Compiles <target> with the libraries' (or with TEST the tests') precompiled header.
#   trellis_add_library and trellis_add_test call it; other targets may.
function(trellis_use_pch target)
  if(NOT TRELLIS_PCH)
    return()
  endif()
  cmake_parse_arguments(arg "TEST" "" "" ${ARGN})
  set(host trellis_pch)
  if(arg_TEST)
    set(host trellis_test_pch)
    if(NOT TARGET trellis_test_pch)
      add_library(trellis_test_pch OBJECT ${PROJECT_BINARY_DIR}/pch/pch_host.cc)
      target_compile_options(trellis_test_pch PRIVATE ${TRELLIS_WARNINGS} ${TRELLIS_TEST_OPTIONS})
      target_link_libraries(trellis_test_pch PRIVATE trellis_pch_requirements GTest::gmock)
      target_precompile_headers(trellis_test_pch PRIVATE ${TRELLIS_TEST_PCH_HEADERS})
    endif()
    target_link_libraries(${target} PRIVATE GTest::gmock)
  endif()
  target_link_libraries(${target} PRIVATE trellis_pch_requirements)
  target_precompile_headers(${target} REUSE_FROM ${host})
endfunction()

# trellis_add_library(<name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
#   Defines target trellis_<name> with alias trellis::<name>. Headers are included as
#   "<dir>/foo.h" relative to src/. DEPS are the dependencies our public headers need;
#   everything else goes in PRIVATE_DEPS.
function(trellis_add_library name)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(trellis_${name} STATIC ${arg_SOURCES})
  add_library(trellis::${name} ALIAS trellis_${name})
  target_include_directories(trellis_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(trellis_${name} PRIVATE ${TRELLIS_WARNINGS})
  target_link_libraries(trellis_${name} PUBLIC ${arg_DEPS} PRIVATE ${arg_PRIVATE_DEPS})
  trellis_use_pch(trellis_${name})
endfunction()

# trellis_add_test(<foo_test.cc> DEPS ... LABELS ...)
#   One gtest binary per test file: tests/net/server_test.cc becomes target net_server_test;
#   `ctest -L net` runs one component, `ctest -L unit` every unit test. Each label is also
#   a target that builds the binaries so labelled (`--target unit_tests`), for passes
#   that run only some labels (`make tsan`).
function(trellis_add_test file)
  cmake_parse_arguments(arg "" "" "DEPS;LABELS" ${ARGN})
  file(RELATIVE_PATH dir ${PROJECT_SOURCE_DIR}/tests ${CMAKE_CURRENT_SOURCE_DIR})
  string(REPLACE "/" "_" prefix "${dir}")
  get_filename_component(stem ${file} NAME_WE)
  set(target ${prefix}_${stem})
  add_executable(${target} ${file})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_compile_options(${target} PRIVATE ${TRELLIS_WARNINGS} ${TRELLIS_TEST_OPTIONS})
  target_link_libraries(${target} PRIVATE ${arg_DEPS} GTest::gmock GTest::gtest_main)
  # Header-only helpers (testing/hex.h) for tests that need no more of trellis::testing.
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  trellis_use_pch(${target} TEST)
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT 30)
  # The labels go on the discovered tests from a file CTest reads after the discovery's:
  # passed through gtest_discover_tests' PROPERTIES, a list keeps only its first label.
  # Tests labelled `long` are started first (a high COST), so that `ctest -j` does not
  # end waiting for one of them alone.
  set(cost "")
  if("long" IN_LIST arg_LABELS)
    set(cost " COST 1000")
  endif()
  set(labels_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_labels.cmake)
  file(WRITE ${labels_file}
    "if(${target}_TESTS)\n  set_tests_properties(\${${target}_TESTS} PROPERTIES LABELS \"${arg_LABELS}\"${cost})\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${labels_file})
  foreach(label IN LISTS arg_LABELS)
    if(NOT TARGET ${label}_tests)
      add_custom_target(${label}_tests)
    endif()
    add_dependencies(${label}_tests ${target})
  endforeach()
endfunction()
