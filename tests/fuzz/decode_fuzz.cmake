sensor_add_fuzzer(decode_fuzz ${CMAKE_CURRENT_SOURCE_DIR}/decode_fuzz.cc sensor_decode)
