#pragma once
// A whole file's bytes in one string, for control-plane reads (rule files, cached Hyperscan
// databases). Stream copies (`out << in.rdbuf()`) grow their buffer step by step: for a large
// rule set that was a tenth of loading it.

#include <string>

#include "sensor/core/result.h"

namespace sensor::core {

// Errors name the file and say why ("x.rules: cannot open: No such file or directory").
Result<std::string> read_file(const std::string& path);

}  // namespace sensor::core
