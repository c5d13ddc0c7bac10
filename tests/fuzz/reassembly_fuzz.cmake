sensor_add_fuzzer(reassembly_fuzz ${CMAKE_CURRENT_SOURCE_DIR}/reassembly_fuzz.cc sensor_flow)
