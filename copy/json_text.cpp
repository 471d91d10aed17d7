#include "copy/json_text.hpp"

#include <cstdint>

namespace volmig {

std::string json_for_message(const nlohmann::json& value, size_t max_bytes) {
    if (value.is_structured()) return std::string("a JSON ") + value.type_name();
    if (!value.is_string()) return value.dump();  // a number, boolean or null: a few characters
    const std::string& s = value.get_ref<const std::string&>();
    const std::string quoted = nlohmann::json(s.substr(0, max_bytes))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return s.size() > max_bytes ? quoted + "..." : quoted;
}

std::string dump_json(const nlohmann::json& value) { return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

bool is_utf8_text(const std::string& s) {
    struct Lead {
        unsigned char mask, value;  // a lead byte b of this length has (b & mask) == value
        size_t length;
        uint32_t least;  // smaller code points in this length are overlong forms
    };
    static constexpr Lead kLeads[] = {
        {0xE0, 0xC0, 2, 0x80}, {0xF0, 0xE0, 3, 0x800}, {0xF8, 0xF0, 4, 0x10000}};
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == 0) return false;
        if (c < 0x80) {
            ++i;
            continue;
        }
        const Lead* lead = nullptr;
        for (const Lead& l : kLeads)
            if ((c & l.mask) == l.value) lead = &l;
        if (!lead || s.size() - i < lead->length) return false;
        uint32_t code = c & static_cast<unsigned char>(~lead->mask);
        for (size_t k = 1; k < lead->length; ++k) {
            const auto follow = static_cast<unsigned char>(s[i + k]);
            if ((follow & 0xC0) != 0x80) return false;
            code = (code << 6) | (follow & 0x3F);
        }
        if (code < lead->least || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
            return false;
        i += lead->length;
    }
    return true;
}

}  // namespace volmig
