#pragma once
// The program's entry logic, separate from main() so tests can drive it in-process.
// Exit codes: 0 success, 1 runtime failure (unreadable or corrupt capture, output failure),
// 2 usage, configuration or rule errors.

namespace sensor::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

int run(int argc, char** argv);

}  // namespace sensor::app
