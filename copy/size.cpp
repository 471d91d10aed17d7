#include "copy/size.hpp"

#include <cctype>
#include <cstdio>
#include <limits>

namespace volmig {

Result<uint64_t> parse_size(const std::string& text) {
    const std::string bad = "invalid size '" + text + "': expected bytes or a number with K, M, G, T or P (binary), e.g. 512M";
    size_t i = 0;
    uint64_t value = 0;
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return Error{bad};
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
        const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10)
            return Error{"size '" + text + "' is too large"};
        value = value * 10 + digit;
    }
    std::string suffix;
    for (; i < text.size(); ++i) suffix += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    if (suffix.size() > 1 && (suffix.substr(1) == "b" || suffix.substr(1) == "ib")) suffix.resize(1);
    unsigned shift = 0;
    if (suffix.empty() || suffix == "b") shift = 0;
    else if (suffix == "s") shift = 9;
    else if (suffix == "k") shift = 10;
    else if (suffix == "m") shift = 20;
    else if (suffix == "g") shift = 30;
    else if (suffix == "t") shift = 40;
    else if (suffix == "p") shift = 50;
    else return Error{bad};
    if (shift && value > (std::numeric_limits<uint64_t>::max() >> shift))
        return Error{"size '" + text + "' is too large"};
    return value << shift;
}

std::string format_bytes(uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : (v < 100 ? "%.1f %s" : "%.0f %s"), v, units[u]);
    return buf;
}

}  // namespace volmig
