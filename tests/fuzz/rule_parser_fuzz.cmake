sensor_add_fuzzer(rule_parser_fuzz ${CMAKE_CURRENT_SOURCE_DIR}/rule_parser_fuzz.cc rules)
