#include "copy/json_text.hpp"

namespace volmig {

std::string json_for_message(const nlohmann::json& value, size_t max_bytes) {
    if (value.is_structured()) return std::string("a JSON ") + value.type_name();
    if (!value.is_string()) return value.dump();  // a number, boolean or null: a few characters
    const std::string& s = value.get_ref<const std::string&>();
    const std::string quoted = nlohmann::json(s.substr(0, max_bytes)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return s.size() > max_bytes ? quoted + "..." : quoted;
}

}  // namespace volmig
