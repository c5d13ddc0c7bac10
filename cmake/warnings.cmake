# Project-wide warnings; -Wconversion is added per target in decode/ and flow/.
add_library(sensor_warnings INTERFACE)
target_compile_options(sensor_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wimplicit-fallthrough)
if(SENSOR_WERROR)
  target_compile_options(sensor_warnings INTERFACE -Werror)
endif()

# Stricter set for the byte-parsing modules.
add_library(sensor_strict_warnings INTERFACE)
target_link_libraries(sensor_strict_warnings INTERFACE sensor_warnings)
target_compile_options(sensor_strict_warnings INTERFACE -Wconversion -Wsign-conversion)
