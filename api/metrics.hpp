// Counters for GET /metrics, in Prometheus text format.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace volmig {

// Why the HTTP server closed a connection at once, without reading from it.
enum class ConnectionRefusal {
    per_client,   // its client address already had max_connections_per_client open
    server_full,  // every one of http_threads was serving a connection
};

class Metrics {
public:
    void record_request(const std::string& method, int status);  // methods outside HTTP's as "other"
    void connection_opened() {
        ++connections_open_;
        ++connections_accepted_;
    }
    void connection_closed() { --connections_open_; }
    void connection_refused(ConnectionRefusal reason) {
        ++(reason == ConnectionRefusal::per_client ? refused_per_client_ : refused_server_full_);
    }
    int64_t connections_open() const { return connections_open_.load(); }
    void add_copied_bytes(uint64_t n) { copied_bytes_ += n; }
    void copy_started() { ++copies_running_; }
    void copy_finished() { --copies_running_; }

    // Gauges computed when scraped: (name, labels) -> value, e.g. volumes per backend. `help`
    // gives each name the source emits its HELP text (a name missing from it is shown with a HELP
    // that says it is undocumented): every metric /metrics shows has HELP and TYPE, as
    // `promtool check metrics` wants.
    using GaugeSource = std::function<void(std::function<void(const std::string& name, const std::string& labels, double value)>)>;
    void add_gauges(std::map<std::string, std::string> help, GaugeSource source) {
        gauge_help_ = std::move(help);
        gauges_ = std::move(source);
    }

    std::string render();

private:
    std::mutex mutex_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    uint64_t errors_ = 0;
    std::atomic<uint64_t> copied_bytes_{0};
    std::atomic<int64_t> copies_running_{0};
    std::atomic<int64_t> connections_open_{0};
    std::atomic<uint64_t> connections_accepted_{0};  // since start: how many calls reuse connections
    std::atomic<uint64_t> refused_per_client_{0};
    std::atomic<uint64_t> refused_server_full_{0};
    std::map<std::string, std::string> gauge_help_;
    GaugeSource gauges_;
};

}  // namespace volmig
