// Untrusted JSON values in messages: short, and always serializable.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace volmig {

// A string quoted and cut to `max_bytes` (with "..." after it when cut; invalid UTF-8 replaced),
// a number, boolean or null as itself, an object or array by its type ("a JSON array"). Never
// the whole of a value a client or a peer controls: it may be megabytes long, or nested deep
// enough that dumping it overflows the stack.
std::string json_for_message(const nlohmann::json& value, size_t max_bytes = 100);

}  // namespace volmig
