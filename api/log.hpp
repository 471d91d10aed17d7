// One line per event on stderr, with a UTC timestamp: "2026-11-22T21:30:00.123Z volmigd: ...".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace volmig {

// Events of one kind logged at most once per interval, with how many happened since the last
// line (refused connections, failed TLS handshakes): a flood costs one line per interval. The
// caller serialises calls.
class CountedLog {
public:
    explicit CountedLog(std::chrono::seconds interval) : interval_(interval) {}
    // Counts one event; returns how many to report when a line is due now (the count restarts),
    // else 0.
    uint64_t note(std::chrono::steady_clock::time_point now) {
        ++count_;
        if (logged_once_ && now - last_ < interval_) return 0;
        logged_once_ = true;
        last_ = now;
        const uint64_t n = count_;
        count_ = 0;
        return n;
    }
    // "in the last 10 s"
    std::string period() const { return "in the last " + std::to_string(interval_.count()) + " s"; }

private:
    const std::chrono::seconds interval_;
    std::chrono::steady_clock::time_point last_{};
    bool logged_once_ = false;
    uint64_t count_ = 0;
};

void log_line(const std::string& message);
void set_log_prefix(const std::string& prefix);

// `text` as it may go into a log line: control characters, DEL and bytes outside ASCII
// written as \xNN, so that what a client sent can neither break nor forge a line.
std::string printable(const std::string& text);

}  // namespace volmig
