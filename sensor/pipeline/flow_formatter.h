#pragma once
// FlowFormatter: makes a flow record's output line on the worker that ended the flow. With
// many workers one output thread formatting every record became a limit of its own (a fifth
// of a 15-worker run's time on the 10x bench capture); the workers share that work instead,
// and the output thread copies the lines.

#include <string>

#include "sensor/core/records.h"

namespace sensor::pipeline {

class FlowFormatter {
public:
    virtual ~FlowFormatter() = default;
    // Appends the record's line, without a newline, to out. Called by several workers at
    // once: it keeps no state that changes. May throw std::bad_alloc (the record is then
    // formatted by the sink as before).
    virtual void append(std::string& out, const core::FlowRecord& record) const = 0;
};

}  // namespace sensor::pipeline
