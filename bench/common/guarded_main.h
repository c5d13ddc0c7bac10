#pragma once
// main() of the bench programs: library code reports errors as values; this only turns anything
// unexpected (allocation failure, a throwing dependency) into a message and a non-zero exit.

#include <cstdio>
#include <exception>

namespace sensor::bench {

template <class Body>
int guarded_main(const char* tool, Body&& body, int argc, char** argv) noexcept {
    try {
        return body(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", tool, e.what());
    } catch (...) {
        std::fprintf(stderr, "%s: unexpected exception\n", tool);
    }
    return 1;
}

}  // namespace sensor::bench
