sensor_add_fuzzer(pcap_reader_fuzz ${CMAKE_CURRENT_SOURCE_DIR}/pcap_reader_fuzz.cc capture)
