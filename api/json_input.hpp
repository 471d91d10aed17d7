// JSON from outside the process (request bodies, peers' replies) as input: parsed with a bound
// on nesting before a tree is built, described in errors without dumping it, and read into
// structs field by field with the first problem named.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "copy/json_text.hpp"
#include "copy/result.hpp"

namespace volmig {

constexpr size_t kMaxJsonDepth = 32;

// Parses `text`; errors (ErrorKind::invalid) for text that is not JSON or nests arrays and
// objects deeper than `max_depth` (checked by a scan before parsing, so a hostile document never
// reaches a recursive parser, printer or destructor).
Result<nlohmann::json> parse_json_bounded(const std::string& text, size_t max_depth = kMaxJsonDepth);


// Reads the fields of one JSON object into a struct; the first problem is kept and named
// ("volume.id must be a string (got 12345)"), later reads return defaults.
class JsonFields {
public:
    JsonFields(const nlohmann::json& object, std::string where);

    bool ok() const { return problem_.empty(); }
    const std::string& problem() const { return problem_; }
    bool has(const char* key) const;  // present and not null

    std::string text(const char* key);                       // required string
    std::optional<std::string> optional_text(const char* key);  // string, or absent/null
    uint64_t whole(const char* key);                         // required non-negative integer
    std::optional<uint64_t> optional_whole(const char* key);
    std::optional<double> optional_number(const char* key);
    bool boolean(const char* key);
    const nlohmann::json& object(const char* key);           // required object
    void fail(const std::string& problem);

private:
    const nlohmann::json* get(const char* key, bool required);
    const nlohmann::json& object_;
    std::string where_;
    std::string problem_;
};

}  // namespace volmig
