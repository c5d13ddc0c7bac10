#pragma once
// RecordFormatter: makes an alert's or a flow record's output line on the worker that made
// the record. With many workers one output thread formatting every record became a limit of
// its own (a fifth of a 15-worker run's time on the 10x bench capture went to it); the
// workers share that work instead, and the output thread copies the lines.

#include <string>

#include "sensor/core/records.h"

namespace sensor::pipeline {

class RecordFormatter {
public:
    virtual ~RecordFormatter() = default;
    // Append the record's line, without a newline, to out. Called by several workers at
    // once: they keep no state that changes. May throw std::bad_alloc (the sink then formats
    // the record itself).
    virtual void append_alert(std::string& out, const core::AlertRecord& record) const = 0;
    virtual void append_flow(std::string& out, const core::FlowRecord& record) const = 0;
};

}  // namespace sensor::pipeline
