#include "tools/volmig/evacuation.hpp"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "copy/size.hpp"

namespace volmig::cli {

namespace {

std::string string_field(const nlohmann::json& v, const char* key) {
    auto it = v.find(key);
    return it != v.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double number_field(const nlohmann::json& v, const char* key, double fallback) {
    auto it = v.find(key);
    return it != v.end() && it->is_number() ? it->get<double>() : fallback;
}

bool well_formed_host_backend(const std::string& text) {
    const size_t at = text.find('@');
    return at != std::string::npos && at > 0 && at + 1 < text.size() && text.find('@', at + 1) == std::string::npos &&
           text.find_first_of(" /") == std::string::npos;
}

}  // namespace

Result<EvacuationTarget> parse_evacuation(const std::string& from, const std::string& to) {
    if (!well_formed_host_backend(from) || from.find('#') != std::string::npos)
        return Error{"--from '" + from + "' must be HOST@BACKEND (every pool of the backend is evacuated)", ErrorKind::invalid};
    const std::string to_backend = to.substr(0, to.find('#'));
    if (!well_formed_host_backend(to_backend) || to_backend.size() + 1 == to.size())
        return Error{"--to '" + to + "' must be HOST@BACKEND or HOST@BACKEND#POOL", ErrorKind::invalid};
    if (to_backend == from)
        return Error{"--to " + to + " is the backend being evacuated (--from " + from + "): name another backend", ErrorKind::invalid};
    return EvacuationTarget{from, to, to_backend};
}

std::string host_backend_of(const nlohmann::json& v) {
    const std::string host = string_field(v, "os-vol-host-attr:host");
    return host.substr(0, host.find('#'));
}

std::string skip_reason(const nlohmann::json& v) {
    const std::string status = string_field(v, "status");
    const std::string migration = string_field(v, "migration_status");
    if (migration == "starting" || migration == "migrating" || migration == "completing") {
        const auto& m = v.value("volmig:migration", nlohmann::json(nullptr));
        const std::string to = m.is_object() ? string_field(m, "destination") : std::string();
        return "migrating (" + migration + (to.empty() ? "" : " to " + to) + ")";
    }
    if (migration == "target") return "the target of a migration";
    const auto attachments = v.value("attachments", nlohmann::json::array());
    if (status == "in-use" || status == "attaching" || status == "detaching" || status == "reserved" ||
        (attachments.is_array() && !attachments.empty()))
        return "in use (" + status + ")";
    if (status == "error" || status == "error_extending" || status == "error_deleting") {
        const std::string why = string_field(v, "volmig:error");
        return status + (why.empty() ? "" : ": " + why);
    }
    if (status != "available") return "status " + (status.empty() ? std::string("unknown") : status);
    return "";
}

void update_row(EvacuationRow& row, const nlohmann::json& v) {
    const auto it = v.find("volmig:migration");
    if (it == v.end() || !it->is_object()) return;
    const nlohmann::json& m = *it;
    row.state = string_field(m, "state");
    row.error = string_field(m, "error");
    const double position = number_field(m, "queue_position", 0);
    row.queue_position = position >= 1 && position < 1e9 ? static_cast<int>(position) : 0;
    const auto p = m.find("progress");
    if (p != m.end() && p->is_object()) {
        row.percent = number_field(*p, "percent", 0);
        row.rate = number_field(*p, "rate_bytes_per_second", 0);
        row.eta_seconds = number_field(*p, "eta_seconds", -1);
    }
    if (row.state == "success") row.percent = 100;
}

std::string format_eta(double seconds) {
    if (seconds < 0 || !std::isfinite(seconds)) return "-";
    const auto s = static_cast<uint64_t>(std::llround(seconds));
    std::ostringstream out;
    out << std::setfill('0');
    if (s >= 3600) out << s / 3600 << "h" << std::setw(2) << (s % 3600) / 60 << "m";
    else if (s >= 60) out << s / 60 << "m" << std::setw(2) << s % 60 << "s";
    else out << s << "s";
    return out.str();
}

std::string format_table(const std::vector<EvacuationRow>& rows) {
    std::ostringstream out;
    out << std::left << std::setw(38) << "VOLUME" << std::setw(18) << "NAME" << std::setw(6) << "GiB" << std::setw(21) << "STATE"
        << std::setw(12) << "PROGRESS" << std::setw(12) << "RATE" << "ETA\n";
    for (const EvacuationRow& r : rows) {
        std::string name = r.name.empty() ? "-" : r.name;
        if (name.size() > 17) name = name.substr(0, 16) + "~";
        std::string progress, rate = "-", eta = "-";
        if (r.state == "queued") {
            progress = r.queue_position > 0 ? "queued #" + std::to_string(r.queue_position) : "queued";
        } else if (r.state == "refused") {
            progress = "-";
        } else {
            std::ostringstream pct;
            pct << std::fixed << std::setprecision(1) << r.percent << "%";
            progress = pct.str();
            if (!r.ended() && r.rate > 0) rate = format_bytes(static_cast<uint64_t>(r.rate)) + "/s";
            if (!r.ended()) eta = format_eta(r.eta_seconds);
        }
        out << std::left << std::setw(38) << r.id << std::setw(18) << name << std::setw(6) << r.size_gib << std::setw(21)
            << (r.state.empty() ? "-" : r.state) << std::setw(12) << progress << std::setw(12) << rate << eta << "\n";
    }
    return out.str();
}

}  // namespace volmig::cli
