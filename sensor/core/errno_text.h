#pragma once
// The C library's text for an errno value ("No such device"), for error messages at borders.
// Thread-safe, unlike std::strerror, which may share one buffer between threads.

#include <string>
#include <system_error>

namespace sensor::core {

inline std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

}  // namespace sensor::core
