// Untrusted text and JSON values on their way into JSON output and messages.
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

// UTF-8 (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF) without NUL
// bytes: text that JSON output (whose strict serialization throws on invalid UTF-8) and C
// strings (a store, a path) carry unchanged.
bool is_utf8_text(const std::string& text);

// Serialises for a response or a log line; invalid UTF-8 in strings is replaced, never thrown.
std::string dump_json(const nlohmann::json& value);

}  // namespace volmig
