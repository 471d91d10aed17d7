#include "api/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace volmig {

namespace {
std::mutex g_mutex;
std::string g_prefix = "volmigd";
}  // namespace

void set_log_prefix(const std::string& prefix) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_prefix = prefix;
}

std::string printable(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

void log_line(const std::string& message) {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm {};
    gmtime_r(&t, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<long long>(ms));
    std::lock_guard<std::mutex> lock(g_mutex);
    std::fprintf(stderr, "%s %s: %s\n", stamp, g_prefix.c_str(), message.c_str());
    std::fflush(stderr);
}

}  // namespace volmig
