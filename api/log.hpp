// One line per event on stderr, with a UTC timestamp: "2026-11-22T21:30:00.123Z volmigd: ...".
#pragma once

#include <string>

namespace volmig {

void log_line(const std::string& message);
void set_log_prefix(const std::string& prefix);

// `text` as it may go into a log line: control characters, DEL and bytes outside ASCII
// written as \xNN, so that what a client sent can neither break nor forge a line.
std::string printable(const std::string& text);

}  // namespace volmig
