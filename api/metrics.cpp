#include "api/metrics.hpp"

#include <sstream>

namespace volmig {

void Metrics::record_request(const std::string& method, int status) {
    // The label is one of a few known methods: a client's invented method (with quotes or
    // newlines, or a new one each request) neither breaks the text format nor adds series.
    static const char* kKnown[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
    std::string label = "other";
    for (const char* known : kKnown)
        if (method == known) label = known;
    std::lock_guard<std::mutex> lock(mutex_);
    ++requests_[{label, status}];
    if (status >= 400) ++errors_;
}

std::string Metrics::render() {
    std::ostringstream out;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        out << "# HELP volmig_http_requests_total HTTP requests served, by method and status code.\n"
            << "# TYPE volmig_http_requests_total counter\n";
        for (const auto& [key, count] : requests_)
            out << "volmig_http_requests_total{method=\"" << key.first << "\",code=\"" << key.second << "\"} " << count << "\n";
        out << "# HELP volmig_http_errors_total HTTP requests answered with a 4xx or 5xx status.\n"
            << "# TYPE volmig_http_errors_total counter\n"
            << "volmig_http_errors_total " << errors_ << "\n";
    }
    out << "# HELP volmig_http_connections Open HTTP connections.\n# TYPE volmig_http_connections gauge\n"
        << "volmig_http_connections " << connections_open_.load() << "\n"
        << "# HELP volmig_http_connections_accepted_total Connections accepted since the daemon started.\n"
        << "# TYPE volmig_http_connections_accepted_total counter\n"
        << "volmig_http_connections_accepted_total " << connections_accepted_.load() << "\n"
        << "# HELP volmig_http_connections_refused_total Connections closed at once: their client address had "
           "max_connections_per_client open (per_client), or all http_threads were taken (server_full).\n"
        << "# TYPE volmig_http_connections_refused_total counter\n"
        << "volmig_http_connections_refused_total{reason=\"per_client\"} " << refused_per_client_.load() << "\n"
        << "volmig_http_connections_refused_total{reason=\"server_full\"} " << refused_server_full_.load() << "\n";
    out << "# HELP volmig_copies_running Volume copies in progress.\n# TYPE volmig_copies_running gauge\n"
        << "volmig_copies_running " << copies_running_.load() << "\n"
        << "# HELP volmig_copied_bytes_total Bytes copied by migrations.\n# TYPE volmig_copied_bytes_total counter\n"
        << "volmig_copied_bytes_total " << copied_bytes_.load() << "\n";
    if (gauges_) {
        std::map<std::string, std::ostringstream> by_name;
        gauges_([&](const std::string& name, const std::string& labels, double value) {
            by_name[name] << name << "{" << labels << "} " << static_cast<uint64_t>(value) << "\n";
        });
        for (auto& [name, lines] : by_name) {
            const auto help = gauge_help_.find(name);
            out << "# HELP " << name << " " << (help == gauge_help_.end() ? "A volmig gauge (undocumented)." : help->second)
                << "\n# TYPE " << name << " gauge\n"
                << lines.str();
        }
    }
    return out.str();
}

}  // namespace volmig
