#include "api/json_input.hpp"

namespace volmig {

Result<nlohmann::json> parse_json_bounded(const std::string& text, size_t max_depth) {
    size_t depth = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return Error{"the JSON nests deeper than " + std::to_string(max_depth) + " levels", ErrorKind::invalid};
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return Error{"not valid JSON", ErrorKind::invalid};
    return doc;
}

JsonFields::JsonFields(const nlohmann::json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) problem_ = where_ + " must be an object (got " + json_for_message(object_) + ")";
}

void JsonFields::fail(const std::string& problem) {
    if (problem_.empty()) problem_ = problem;
}

bool JsonFields::has(const char* key) const {
    if (!object_.is_object()) return false;
    auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
}

const nlohmann::json* JsonFields::get(const char* key, bool required) {
    if (!ok()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
        if (required) fail(where_ + "." + key + " is missing");
        return nullptr;
    }
    return &*it;
}

std::string JsonFields::text(const char* key) {
    const nlohmann::json* v = get(key, true);
    if (!v) return {};
    if (!v->is_string()) {
        fail(where_ + "." + key + " must be a string (got " + json_for_message(*v) + ")");
        return {};
    }
    return v->get<std::string>();
}

std::optional<std::string> JsonFields::optional_text(const char* key) {
    const nlohmann::json* v = get(key, false);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
        fail(where_ + "." + key + " must be a string (got " + json_for_message(*v) + ")");
        return std::nullopt;
    }
    return v->get<std::string>();
}

std::optional<uint64_t> JsonFields::optional_whole(const char* key) {
    const nlohmann::json* v = get(key, false);
    if (!v) return std::nullopt;
    if (!v->is_number_unsigned()) {
        fail(where_ + "." + key + " must be a whole number (got " + json_for_message(*v) + ")");
        return std::nullopt;
    }
    return v->get<uint64_t>();
}

uint64_t JsonFields::whole(const char* key) {
    if (ok() && !has(key)) fail(where_ + "." + key + " is missing");
    return optional_whole(key).value_or(0);
}

std::optional<double> JsonFields::optional_number(const char* key) {
    const nlohmann::json* v = get(key, false);
    if (!v) return std::nullopt;
    if (!v->is_number()) {
        fail(where_ + "." + key + " must be a number (got " + json_for_message(*v) + ")");
        return std::nullopt;
    }
    return v->get<double>();
}

bool JsonFields::boolean(const char* key) {
    const nlohmann::json* v = get(key, true);
    if (!v) return false;
    if (!v->is_boolean()) {
        fail(where_ + "." + key + " must be true or false (got " + json_for_message(*v) + ")");
        return false;
    }
    return v->get<bool>();
}

const nlohmann::json& JsonFields::object(const char* key) {
    static const nlohmann::json kEmpty = nlohmann::json::object();
    const nlohmann::json* v = get(key, true);
    if (!v) return kEmpty;
    if (!v->is_object()) {
        fail(where_ + "." + key + " must be an object (got " + json_for_message(*v) + ")");
        return kEmpty;
    }
    return *v;
}

}  // namespace volmig
