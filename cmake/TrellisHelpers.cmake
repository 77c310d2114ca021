# The two helpers every CMakeLists.txt under src/ and tests/ uses.
include(GoogleTest)

set(TRELLIS_WARNINGS -Wall -Wextra)
if(TRELLIS_WERROR)
  list(APPEND TRELLIS_WARNINGS -Werror)
endif()
if(TRELLIS_SANITIZE)
  # g++ 12 reports false maybe-uninitialized warnings inside Boost.Beast when sanitizers
  # change inlining, and false mismatched-new-delete warnings on the frames of larger
  # coroutines (Asio's awaitable frames pair their own operator new and delete; the
  # plain build sees it, the sanitized one does not).
  list(APPEND TRELLIS_WARNINGS -Wno-maybe-uninitialized -Wno-mismatched-new-delete)
endif()
if(TRELLIS_SANITIZE MATCHES "thread")
  # Asio uses atomic_thread_fence, which ThreadSanitizer does not model; the TSan pass runs
  # the store's tests, which do not exercise Asio.
  list(APPEND TRELLIS_WARNINGS -Wno-tsan)
endif()

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
endfunction()

# trellis_add_test(<foo_test.cc> DEPS ... LABELS ...)
#   One gtest binary per test file: tests/net/server_test.cc becomes target net_server_test;
#   `ctest -L net` runs one component, `ctest -L unit` every unit test.
function(trellis_add_test file)
  cmake_parse_arguments(arg "" "" "DEPS;LABELS" ${ARGN})
  file(RELATIVE_PATH dir ${PROJECT_SOURCE_DIR}/tests ${CMAKE_CURRENT_SOURCE_DIR})
  string(REPLACE "/" "_" prefix "${dir}")
  get_filename_component(stem ${file} NAME_WE)
  set(target ${prefix}_${stem})
  add_executable(${target} ${file})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_compile_options(${target} PRIVATE ${TRELLIS_WARNINGS})
  target_link_libraries(${target} PRIVATE ${arg_DEPS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${target} PROPERTIES LABELS "${arg_LABELS}" DISCOVERY_TIMEOUT 30)
endfunction()
