#include "copy/report.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "copy/size.hpp"

namespace volmig {

namespace {

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string bytes_and_exact(uint64_t bytes) { return format_bytes(bytes) + " (" + std::to_string(bytes) + " B)"; }

}  // namespace

std::string format_allocation(const Allocation& a) {
    if (!a.allocated) return "unknown (" + format_bytes(a.size) + " volume)";
    return format_bytes(*a.allocated) + " of " + format_bytes(a.size) + ", Data% " + fixed(a.data_percent(), 2);
}

nlohmann::json allocation_to_json(const Allocation& a) {
    nlohmann::json j{{"size", a.size}};
    if (a.allocated) {
        j["allocated"] = *a.allocated;
        j["data_percent"] = std::round(a.data_percent() * 100.0) / 100.0;
    } else {
        j["allocated"] = nullptr;
        j["data_percent"] = nullptr;
    }
    return j;
}

nlohmann::json report_to_json(const CopyReport& r) {
    nlohmann::json j;
    j["engine"] = r.engine;
    j["source"] = r.source;
    j["destination"] = r.destination;
    j["destination_created"] = r.destination_created;
    j["strategy"] = to_string(r.strategy);
    j["reason"] = r.reason;
    j["size"] = r.size;
    j["source_data_bytes"] = r.source_data_bytes;
    j["source_extents"] = r.source_extent_count;
    j["extent_method"] = r.extent_method;
    j["bytes"] = {{"read", r.bytes_read},
                  {"written", r.bytes_written},
                  {"skipped", r.bytes_skipped},
                  {"zeroed", r.bytes_zeroed},
                  {"released", r.bytes_released}};
    j["zero_method"] = r.zero_method;
    j["direct_io"] = {{"source", r.source_direct}, {"destination", r.destination_direct}};
    j["post_copy"] = r.post_copy;
    j["seconds"] = r.seconds;
    j["throughput_bytes_per_second"] = r.throughput();
    j["allocation"] = {{"source_before", allocation_to_json(r.source_before)},
                       {"source_after", allocation_to_json(r.source_after)},
                       {"destination_before", allocation_to_json(r.destination_before)},
                       {"destination_after", allocation_to_json(r.destination_after)}};
    j["verified"] = r.verified;
    j["checksum"] = r.verified ? nlohmann::json{{"source", r.source_checksum},
                                                {"destination", r.destination_checksum},
                                                {"match", r.source_checksum == r.destination_checksum}}
                               : nlohmann::json(nullptr);
    j["warnings"] = r.warnings;
    return j;
}

std::string report_to_text(const CopyReport& r) {
    std::ostringstream out;
    auto row = [&](const std::string& key, const std::string& value) {
        out << "  " << key << std::string(key.size() < 22 ? 22 - key.size() : 1, ' ') << value << "\n";
    };
    out << "volmig copy " << r.source << " -> " << r.destination << (r.destination_created ? " (created)" : "") << "\n";
    row("strategy", to_string(r.strategy) + " (" + r.engine + " engine)");
    row("why", r.reason);
    row("size", bytes_and_exact(r.size));
    row("source data", format_bytes(r.source_data_bytes) + " in " + std::to_string(r.source_extent_count) + " extents (" + r.extent_method + ")");
    row("read", bytes_and_exact(r.bytes_read));
    row("written", bytes_and_exact(r.bytes_written));
    row("skipped", bytes_and_exact(r.bytes_skipped));
    row("zeroed (kept)", bytes_and_exact(r.bytes_zeroed));
    row("released", bytes_and_exact(r.bytes_released));
    if (!r.zero_method.empty()) row("zeroing method", r.zero_method);
    row("O_DIRECT", std::string("source ") + (r.source_direct ? "yes" : "no") + ", destination " + (r.destination_direct ? "yes" : "no"));
    if (!r.post_copy.empty()) row("post-copy", r.post_copy);
    row("wall time", fixed(r.seconds, 3) + " s");
    row("throughput", format_bytes(static_cast<uint64_t>(r.throughput())) + "/s of volume, " +
                          format_bytes(r.seconds > 0 ? static_cast<uint64_t>(static_cast<double>(r.bytes_read) / r.seconds) : 0) + "/s read");
    row("source before/after", format_allocation(r.source_before) + "  /  " + format_allocation(r.source_after));
    row("dest before/after", format_allocation(r.destination_before) + "  /  " + format_allocation(r.destination_after));
    if (r.verified)
        row("checksum", std::string(r.source_checksum == r.destination_checksum ? "MATCH " : "MISMATCH ") + r.source_checksum +
                            (r.source_checksum == r.destination_checksum ? "" : " vs " + r.destination_checksum));
    else
        row("checksum", "not verified (use --verify)");
    for (const auto& w : r.warnings) row("note", w);
    return out.str();
}

std::string format_progress_line(const Progress& p, int bar_width) {
    const double fraction = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
    const int filled = static_cast<int>(fraction * bar_width);
    std::string line = "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(bar_width - filled), '.') + "] ";
    line += fixed(fraction * 100.0, 1) + "%  " + format_bytes(p.bytes_done) + " / " + format_bytes(p.bytes_total) + "  " +
            format_bytes(static_cast<uint64_t>(p.rate)) + "/s";
    if (p.eta_seconds >= 0) line += "  ETA " + fixed(p.eta_seconds, 0) + "s";
    return line;
}

}  // namespace volmig
