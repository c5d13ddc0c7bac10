sensor_add_fuzzer(tls_server_fuzz ${CMAKE_CURRENT_SOURCE_DIR}/tls_server_fuzz.cc sensor_applayer)
