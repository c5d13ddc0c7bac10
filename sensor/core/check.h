#pragma once
// SENSOR_CHECK: invariants and "unlikely after init" failures (OOM, library misuse).
// Never use it on conditions that input data can cause.

#include <cstdio>
#include <cstdlib>

#define SENSOR_CHECK(cond, msg)                                                              \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            std::fprintf(stderr, "sensor: fatal: %s (%s:%d: %s)\n", msg, __FILE__, __LINE__, \
                         #cond);                                                             \
            std::abort();                                                                    \
        }                                                                                    \
    } while (false)
