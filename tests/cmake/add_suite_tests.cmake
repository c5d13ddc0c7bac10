# Run after a unit test binary is linked: lists its tests and writes a CTest file with one
# test per GoogleTest suite (`--gtest_filter=Suite.*`). One process per suite instead of one per
# test: starting a sanitizer build of a binary that loads nDPI, Hyperscan and libhtp costs
# 0.1 to 0.2 s, which one process per test paid 1,250 times, and a suite's shared set-up (a
# generated capture, the shipped rules) is made once. A failure still names its test in the
# GoogleTest output that ctest shows.
#
# Variables: TEST_EXECUTABLE, CTEST_FILE, LABELS (a ;-list, passed as a |-list).
string(REPLACE "|" ";" labels "${LABELS}")
execute_process(COMMAND "${TEST_EXECUTABLE}" --gtest_list_tests
                OUTPUT_VARIABLE listing RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} --gtest_list_tests failed (${result}):\n${listing}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(suites "")
foreach(line IN LISTS lines)
  # Suite lines start in column 0 and end with '.', maybe followed by "  # TypeParam = ...".
  if(line MATCHES "^([^ #][^ ]*)\\.( .*)?$")
    list(APPEND suites "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(REMOVE_DUPLICATES suites)
if(NOT suites)
  message(FATAL_ERROR "${TEST_EXECUTABLE} lists no tests")
endif()
set(script "")
foreach(suite IN LISTS suites)
  string(APPEND script "add_test([==[${suite}]==] [==[${TEST_EXECUTABLE}]==] "
                       "[==[--gtest_filter=${suite}.*]==])\n")
  string(APPEND script "set_tests_properties([==[${suite}]==] "
                       "PROPERTIES LABELS [==[${labels}]==])\n")
endforeach()
file(WRITE "${CTEST_FILE}" "${script}")
