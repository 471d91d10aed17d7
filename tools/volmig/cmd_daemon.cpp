// The subcommands that talk to a daemon: volumes, create, show, delete, capabilities, plan; and
// what every daemon command shares (daemon_call.hpp).
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/http_client.hpp"
#include "copy/report.hpp"
#include "copy/size.hpp"
#include "tools/volmig/args.hpp"
#include "tools/volmig/commands.hpp"
#include "tools/volmig/daemon_call.hpp"

namespace volmig::cli {

const char* const kConnectionHelp = R"(
Connection (every daemon command):
  --url URL     the daemon's base URL (default: $VOLMIG_URL, else http://127.0.0.1:8776)
  --token T     its auth_token (default: $VOLMIG_TOKEN; not needed with auth_strategy = noauth)
  --ca-file F   with an https:// URL: the CA (PEM) the daemon's certificate must chain to
                (default: $OS_CACERT, else the system's CAs); the certificate is always verified
  --json        print the daemon's JSON answer instead of a table

Exit codes: 0 ok, 2 bad arguments, 3 the daemon refused the request (4xx: bad input, unknown
volume, wrong state; nothing was changed), 1 the daemon failed or could not be reached.
)";

ArgSpec with_connection(ArgSpec spec) {
    spec.values.insert({"url", "token", "ca-file"});
    spec.flags.insert({"json", "help"});
    return spec;
}

Connection connection_of(const ParsedArgs& a) {
    Connection c;
    const char* env_url = std::getenv("VOLMIG_URL");
    const char* env_token = std::getenv("VOLMIG_TOKEN");
    c.url = a.value("url").value_or(env_url ? env_url : "http://127.0.0.1:8776");
    while (!c.url.empty() && c.url.back() == '/') c.url.pop_back();
    c.token = a.value("token").value_or(env_token ? env_token : "");
    const char* env_ca = std::getenv("OS_CACERT");  // as the OpenStack clients read it
    c.ca_file = a.value("ca-file").value_or(env_ca ? env_ca : "");
    c.json = a.has("json");
    return c;
}

// Sends a request; returns the parsed body, or prints the error and sets the exit code.
std::optional<nlohmann::json> call(const Connection& c, const std::string& command, const std::string& method, const std::string& path,
                                   const nlohmann::json& body, int& exit_code, std::string* error) {
    auto fail = [&](const std::string& message, int code) -> std::optional<nlohmann::json> {
        if (error) *error = message;
        else std::cerr << "volmig " << command << ": " << message << "\n";
        exit_code = code;
        return std::nullopt;
    };
    HttpOptions options;
    options.connect_timeout = std::chrono::seconds(5);
    options.total_timeout = std::chrono::seconds(120);
    options.headers = {"Accept: application/json", "OpenStack-API-Version: volume 3.0"};
    if (!c.token.empty()) options.headers.push_back("X-Auth-Token: " + c.token);
    options.ca_file = c.ca_file;
    options.ca_hint = "--ca-file or $OS_CACERT: the CA that signed the daemon's certificate";
    auto r = http_request(method, c.url + path, body.is_null() ? std::string() : body.dump(), options);
    // 503 with Retry-After: the daemon is getting what it needs (a peer's capabilities) without
    // holding the request; ask again, for up to half a minute.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (r && r->status == 503 && r->headers.count("retry-after") && std::chrono::steady_clock::now() < give_up) {
        const std::string& after = r->headers.at("retry-after");
        const int seconds = after.size() == 1 && std::isdigit(static_cast<unsigned char>(after[0])) ? after[0] - '0' : 1;
        std::this_thread::sleep_for(std::chrono::milliseconds(std::max(1, seconds) * 500));
        r = http_request(method, c.url + path, body.is_null() ? std::string() : body.dump(), options);
    }
    if (!r) return fail(r.error().message, kExitFailed);
    if (r->status >= 400)
        return fail("the daemon answered " + std::to_string(r->status) + ": " + error_message_from_body(r->body),
                    r->status < 500 ? kExitRefused : kExitFailed);
    exit_code = kExitOk;
    if (r->body.empty()) return nlohmann::json(nullptr);
    auto doc = nlohmann::json::parse(r->body, nullptr, false);
    if (doc.is_discarded()) return fail("the daemon's answer is not JSON", kExitFailed);
    return doc;
}

std::string text_of(const nlohmann::json& v) {
    if (v.is_null()) return "-";
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

namespace {

std::string data_percent(const nlohmann::json& v) {
    const auto& p = v.value("volmig:data_percent", nlohmann::json(nullptr));
    if (!p.is_number()) return "-";
    std::ostringstream out;
    out << std::fixed << std::setprecision(2) << p.get<double>();
    return out.str();
}

std::string bytes_of(const nlohmann::json& v) { return v.is_number_unsigned() ? format_bytes(v.get<uint64_t>()) : "-"; }

std::string allocation_text(const nlohmann::json& a) {
    if (!a.is_object() || !a.value("allocated", nlohmann::json(nullptr)).is_number()) return "unknown";
    std::ostringstream out;
    out << format_bytes(a["allocated"].get<uint64_t>()) << " (Data% " << std::fixed << std::setprecision(2)
        << a.value("data_percent", 0.0) << ")";
    return out.str();
}

// The migration's plan, progress and report, as an operator reads them.
void print_migration(const nlohmann::json& m) {
    auto row = [](const std::string& k, const std::string& v) { std::cout << "  " << std::left << std::setw(22) << k << v << "\n"; };
    row("migration", text_of(m["state"]) + " -> " + text_of(m["destination"]));
    const auto& plan = m.value("plan", nlohmann::json(nullptr));
    if (plan.is_object()) {
        row("strategy", text_of(plan["strategy"]) + (plan.value("verify", true) ? ", verified" : ""));
        for (const auto& r : plan.value("reasons", nlohmann::json::array())) row("  why", text_of(r));
    }
    const auto& p = m.value("progress", nlohmann::json(nullptr));
    if (p.is_object() && m.value("state", "") != "success")
        row("progress", text_of(p["percent"]) + "%  " + bytes_of(p["bytes_done"]) + " / " + bytes_of(p["bytes_total"]));
    const auto& r = m.value("report", nlohmann::json(nullptr));
    if (r.is_object()) {
        const auto& b = r.value("bytes", nlohmann::json::object());
        row("transport", text_of(r.value("transport", nlohmann::json(nullptr))));
        row("read", bytes_of(b.value("read", nlohmann::json(nullptr))));
        row("sent", bytes_of(b.value("sent", nlohmann::json(nullptr))));
        row("written", bytes_of(b.value("written", nlohmann::json(nullptr))));
        row("skipped", bytes_of(b.value("skipped", nlohmann::json(nullptr))));
        row("zeroed", bytes_of(b.value("zeroed", nlohmann::json(nullptr))));
        row("released", bytes_of(b.value("released", nlohmann::json(nullptr))));
        const double seconds = r.value("seconds", 0.0);
        std::ostringstream t;
        t << std::fixed << std::setprecision(3) << seconds << " s";
        if (seconds > 0) t << ", " << format_bytes(static_cast<uint64_t>(static_cast<double>(r.value("size", 0ull)) / seconds)) << "/s";
        row("time", t.str());
        const auto& alloc = r.value("allocation", nlohmann::json::object());
        row("source before", allocation_text(alloc.value("source_before", nlohmann::json(nullptr))));
        row("destination after", allocation_text(alloc.value("destination_after", nlohmann::json(nullptr))));
        const auto& c = r.value("checksum", nlohmann::json(nullptr));
        if (c.is_object()) row("checksum", std::string(c.value("match", false) ? "MATCH " : "MISMATCH ") + text_of(c["source"]));
        if (r.contains("cleanup")) row("note", text_of(r["cleanup"]));
    }
    if (!m.value("error", nlohmann::json(nullptr)).is_null()) row("error", text_of(m["error"]));
}

void print_volume(const nlohmann::json& v) {
    const char* keys[] = {"id", "name", "status", "size", "volume_type", "os-vol-host-attr:host", "volmig:size_bytes",
                          "volmig:allocated_bytes", "volmig:data_percent", "migration_status", "created_at", "updated_at", "volmig:error"};
    for (const char* k : keys)
        if (v.contains(k)) std::cout << "  " << std::left << std::setw(24) << k << text_of(v[k]) << "\n";
    if (v.contains("volmig:migration") && v["volmig:migration"].is_object()) print_migration(v["volmig:migration"]);
}

}  // namespace

int usage_error(const std::string& command, const std::string& message, const char* help) {
    std::cerr << "volmig " << command << ": " << message << "\n\n" << help << kConnectionHelp;
    return kExitUsage;
}

int cmd_volumes(const std::vector<std::string>& args) {
    static const char* help = "usage: volmig volumes [--url URL] [--token T] [--json]\n\nLists the daemon's volumes with status, size, host and Data%.\n";
    auto a = parse_args(args, with_connection({}), "volumes");
    if (!a) return usage_error("volumes", a.error().message, help);
    if (a->has("help")) return std::cout << help << kConnectionHelp, kExitOk;
    if (!a->positionals.empty()) return usage_error("volumes", "takes no arguments", help);
    Connection c = connection_of(*a);
    int code = 0;
    auto body = call(c, "volumes", "GET", "/v3/volumes/detail", nullptr, code);
    if (!body) return code;
    if (c.json) return std::cout << body->dump(2) << "\n", kExitOk;
    std::cout << std::left << std::setw(38) << "ID" << std::setw(16) << "NAME" << std::setw(12) << "STATUS" << std::setw(6) << "GiB"
              << std::setw(8) << "DATA%" << std::setw(12) << "MIGRATION" << "HOST\n";
    for (const auto& v : (*body)["volumes"])
        std::cout << std::left << std::setw(38) << text_of(v["id"]) << std::setw(16) << text_of(v["name"]) << std::setw(12)
                  << text_of(v["status"]) << std::setw(6) << text_of(v["size"]) << std::setw(8) << data_percent(v) << std::setw(12)
                  << text_of(v["migration_status"]) << text_of(v["os-vol-host-attr:host"]) << "\n";
    return kExitOk;
}

int cmd_create(const std::vector<std::string>& args) {
    static const char* help =
        "usage: volmig create SIZE [--name NAME] [--type VOLUME_BACKEND_NAME] [--url URL] [--token T] [--json]\n\n"
        "Creates a volume of SIZE GiB (a whole number, optionally with a G suffix) on the backend whose\n"
        "volume_backend_name is --type (default: the daemon's first backend).\n";
    ArgSpec spec;
    spec.values = {"name", "type"};
    auto a = parse_args(args, with_connection(spec), "create");
    if (!a) return usage_error("create", a.error().message, help);
    if (a->has("help")) return std::cout << help << kConnectionHelp, kExitOk;
    if (a->positionals.size() != 1) return usage_error("create", "expected SIZE (GiB)", help);
    std::string size = a->positionals[0];
    if (!size.empty() && (size.back() == 'G' || size.back() == 'g')) size.pop_back();
    if (size.empty() || size.find_first_not_of("0123456789") != std::string::npos || size.size() > 9)
        return usage_error("create", "SIZE '" + a->positionals[0] + "' must be a whole number of GiB", help);
    nlohmann::json volume = {{"size", std::stoull(size)}};
    if (auto n = a->value("name")) volume["name"] = *n;
    if (auto t = a->value("type")) volume["volume_type"] = *t;
    Connection c = connection_of(*a);
    int code = 0;
    auto body = call(c, "create", "POST", "/v3/volumes", {{"volume", volume}}, code);
    if (!body) return code;
    if (c.json) return std::cout << body->dump(2) << "\n", kExitOk;
    print_volume((*body)["volume"]);
    return (*body)["volume"].value("status", "") == "error" ? kExitFailed : kExitOk;
}

int cmd_show(const std::vector<std::string>& args) {
    static const char* help = "usage: volmig show VOLUME_ID [--url URL] [--token T] [--json]\n\nShows one volume, with its migration when one ran.\n";
    auto a = parse_args(args, with_connection({}), "show");
    if (!a) return usage_error("show", a.error().message, help);
    if (a->has("help")) return std::cout << help << kConnectionHelp, kExitOk;
    if (a->positionals.size() != 1) return usage_error("show", "expected VOLUME_ID", help);
    Connection c = connection_of(*a);
    int code = 0;
    auto body = call(c, "show", "GET", "/v3/volumes/" + a->positionals[0], nullptr, code);
    if (!body) return code;
    if (c.json) return std::cout << body->dump(2) << "\n", kExitOk;
    print_volume((*body)["volume"]);
    return kExitOk;
}

int cmd_delete(const std::vector<std::string>& args) {
    static const char* help = "usage: volmig delete VOLUME_ID [--url URL] [--token T]\n\nDeletes an available (or error) volume and its storage.\n";
    auto a = parse_args(args, with_connection({}), "delete");
    if (!a) return usage_error("delete", a.error().message, help);
    if (a->has("help")) return std::cout << help << kConnectionHelp, kExitOk;
    if (a->positionals.size() != 1) return usage_error("delete", "expected VOLUME_ID", help);
    Connection c = connection_of(*a);
    int code = 0;
    auto body = call(c, "delete", "DELETE", "/v3/volumes/" + a->positionals[0], nullptr, code);
    if (!body) return code;
    if (!c.json) std::cout << "deleted volume " << a->positionals[0] << "\n";
    return kExitOk;
}

int cmd_capabilities(const std::vector<std::string>& args) {
    static const char* help =
        "usage: volmig capabilities HOST@BACKEND [--url URL] [--token T] [--json]\n\n"
        "Shows a backend's capability document: whether new volumes read as zeros\n"
        "(cinder_sparse_copy_volume), thin provisioning, discard, block size.\n";
    auto a = parse_args(args, with_connection({}), "capabilities");
    if (!a) return usage_error("capabilities", a.error().message, help);
    if (a->has("help")) return std::cout << help << kConnectionHelp, kExitOk;
    if (a->positionals.size() != 1) return usage_error("capabilities", "expected HOST@BACKEND", help);
    Connection c = connection_of(*a);
    int code = 0;
    auto body = call(c, "capabilities", "GET", "/v3/capabilities/" + a->positionals[0], nullptr, code);
    if (!body) return code;
    if (c.json) return std::cout << body->dump(2) << "\n", kExitOk;
    std::cout << a->positionals[0] << " (" << text_of(body->value("display_name", nlohmann::json(nullptr))) << ", "
              << text_of(body->value("storage_protocol", nlohmann::json(nullptr))) << ")\n";
    for (const auto& [key, p] : (*body)["properties"].items()) {
        std::cout << "  " << std::left << std::setw(28) << key << text_of(p.value("default", nlohmann::json(nullptr))) << "\n";
        if (key == "cinder_sparse_copy_volume") std::cout << "  " << std::string(28, ' ') << text_of(p.value("description", nlohmann::json(""))) << "\n";
    }
    return kExitOk;
}

int cmd_plan(const std::vector<std::string>& args) {
    static const char* help =
        "usage: volmig plan --to HOST@BACKEND[#POOL] VOLUME_ID [--force-full] [--url URL] [--token T] [--json]\n\n"
        "Explains how the daemon holding VOLUME_ID would copy it to HOST@BACKEND (strategy, block size,\n"
        "verification, and why), without copying anything.\n";
    ArgSpec spec;
    spec.values = {"to"};
    spec.flags = {"force-full"};
    auto a = parse_args(args, with_connection(spec), "plan");
    if (!a) return usage_error("plan", a.error().message, help);
    if (a->has("help")) return std::cout << help << kConnectionHelp, kExitOk;
    if (a->positionals.size() != 1 || !a->value("to")) return usage_error("plan", "expected --to HOST@BACKEND and VOLUME_ID", help);
    Connection c = connection_of(*a);
    int code = 0;
    nlohmann::json action = {{"volmig-plan_migration", {{"host", *a->value("to")}, {"force_host_copy", a->has("force-full")}}}};
    auto body = call(c, "plan", "POST", "/v3/volumes/" + a->positionals[0] + "/action", action, code);
    if (!body) return code;
    if (c.json) return std::cout << body->dump(2) << "\n", kExitOk;
    const auto& p = (*body)["plan"];
    std::cout << "plan for volume " << a->positionals[0] << " -> " << text_of(p["destination"]) << "\n"
              << "  strategy    " << text_of(p["strategy"]) << "\n"
              << "  block size  " << format_bytes(p.value("block_size", 4096ull)) << "\n"
              << "  verify      " << (p.value("verify", true) ? "yes" : "no") << "\n"
              << "  copy        " << (p.value("same_daemon", false) ? "local (same daemon)" : "streamed to the peer") << "\n"
              << "  why:\n";
    for (const auto& r : p["reasons"]) std::cout << "    - " << text_of(r) << "\n";
    return kExitOk;
}

}  // namespace volmig::cli

namespace volmig::cli {

int cmd_migrate(const std::vector<std::string>& args) {
    static const char* help =
        "usage: volmig migrate VOLUME_ID --to HOST@BACKEND[#POOL] [--wait] [--force-full] [--url URL] [--token T] [--json]\n\n"
        "Asks the daemon holding VOLUME_ID to migrate it (os-migrate_volume). The daemon plans from the\n"
        "destination's capability document (sparse, full+discard or full), copies, verifies checksums on\n"
        "both sides, and only then hands the volume id to the destination and deletes the source.\n"
        "  --wait        show a progress bar and end with the report (exit 0 success, 1 error)\n"
        "  --force-full  copy every byte (force_host_copy)\n";
    ArgSpec spec;
    spec.values = {"to"};
    spec.flags = {"wait", "force-full"};
    auto a = parse_args(args, with_connection(spec), "migrate");
    if (!a) return usage_error("migrate", a.error().message, help);
    if (a->has("help")) return std::cout << help << kConnectionHelp, kExitOk;
    if (a->positionals.size() != 1 || !a->value("to")) return usage_error("migrate", "expected VOLUME_ID and --to HOST@BACKEND#POOL", help);
    const std::string id = a->positionals[0];
    Connection c = connection_of(*a);
    int code = 0;
    nlohmann::json action = {{"os-migrate_volume", {{"host", *a->value("to")}, {"force_host_copy", a->has("force-full")}, {"lock_volume", false}}}};
    if (!call(c, "migrate", "POST", "/v3/volumes/" + id + "/action", action, code)) return code;
    if (!a->has("wait")) {
        if (!c.json) std::cout << "migration of " << id << " to " << *a->value("to") << " started; follow it with: volmig show " << id << "\n";
        return kExitOk;
    }
    const bool bar = !c.json && ::isatty(STDERR_FILENO);
    while (true) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        auto body = call(c, "migrate", "GET", "/v3/volumes/" + id, nullptr, code);
        if (!body) return code;
        const auto& v = (*body)["volume"];
        const auto& m = v.value("volmig:migration", nlohmann::json(nullptr));
        const std::string state = m.is_object() ? m.value("state", "") : "";
        if (bar && m.is_object()) {
            const auto& p = m["progress"];
            Progress progress;
            progress.bytes_done = p.value("bytes_done", 0ull);
            progress.bytes_total = p.value("bytes_total", 0ull);
            progress.rate = p.value("rate_bytes_per_second", 0.0);
            progress.eta_seconds = p.value("eta_seconds", nlohmann::json(-1.0)).is_number() ? p["eta_seconds"].get<double>() : -1;
            std::cerr << "\r" << std::left << std::setw(12) << state << format_progress_line(progress, 30) << "\033[K" << std::flush;
        }
        if (state == "success" || state == "error" || state == "awaiting_completion") {
            if (bar) std::cerr << "\n";
            if (c.json) std::cout << v.dump(2) << "\n";
            else print_migration(m);
            return state == "error" ? kExitFailed : kExitOk;
        }
    }
}

}  // namespace volmig::cli
