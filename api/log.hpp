// One line per event on stderr, with a UTC timestamp: "2026-11-22T21:30:00.123Z volmigd: ...".
#pragma once

#include <string>

namespace volmig {

void log_line(const std::string& message);
void set_log_prefix(const std::string& prefix);

}  // namespace volmig
