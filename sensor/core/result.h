#pragma once
// Result<T>: the typed error channel used at every border (config, rules, files).
// Errors carry a human message that already says where ("local.rules:12: ...").

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace sensor::core {

struct Error {
    std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(std::string message) {
    return tl::unexpected<Error>(Error{std::move(message)});
}

}  // namespace sensor::core
