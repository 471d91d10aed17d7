// volmig evacuate: migrate every available volume of one backend to another, with one progress
// table (the decisions are in evacuation.hpp; this file makes the calls and draws).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tools/volmig/commands.hpp"
#include "tools/volmig/daemon_call.hpp"
#include "tools/volmig/evacuation.hpp"

namespace volmig::cli {

namespace {

const char* kEvacuateHelp = R"(usage: volmig evacuate --from HOST@BACKEND --to HOST@BACKEND[#POOL] [--wait] [--url URL] [--token T] [--json]

Empties a backend: asks the daemon at --url (the one serving HOST) to migrate every available
volume of HOST@BACKEND, of every project, to --to (os-migrate_volume for each, as `volmig migrate`
does one). Volumes in use, in error or already migrating are skipped and listed with the reason;
they are not touched.

The daemon copies at most max_concurrent_migrations volumes at once (volmig.conf); the others
wait in its queue, in the order asked, and start as copies end. All copies share the daemon's
volume_copy_bps_limit.

  --from HOST@BACKEND   the backend to evacuate (all its pools)
  --to HOST@BACKEND[#POOL]
                        where the volumes go: another backend of the same daemon, or of a peer
                        ([peers] in volmig.conf); not the --from backend
  --wait                refresh the table until every migration has ended, then print a summary
                        with each failure's reason; without it the table is printed once

The table, one line per volume: VOLUME (id), NAME, GiB, STATE (queued, starting, migrating,
completing, releasing, success, error; refused when the daemon refused the migration at once,
e.g. a disabled destination), PROGRESS (the queue position "queued #3", or the percentage
copied), RATE (bytes/s now) and ETA. On a terminal it is redrawn in place; otherwise it is
printed again whenever a state or a queue position changes.

Exit codes: 0 every migration started (and, with --wait, succeeded); 1 one or more failed or
were refused (each is listed with its reason), or the daemon could not be reached; 2 bad
arguments (--to equal to --from, a backend the daemon does not have).
)";

// The backends (host@backend) the daemon has, from its pools.
std::optional<std::set<std::string>> backends_of(const Connection& c, int& code) {
    std::string error;
    auto pools = call(c, "evacuate", "GET", "/v3/scheduler-stats/get_pools", nullptr, code, &error);
    if (!pools) {
        std::cerr << "volmig evacuate: cannot ask the daemon at " << c.url << " for its backends: " << error
                  << (code == kExitFailed ? "\n  is volmigd running there? (--url or $VOLMIG_URL)" : "") << "\n";
        return std::nullopt;
    }
    std::set<std::string> out;
    if (pools->is_object() && (*pools)["pools"].is_array())
        for (const auto& p : (*pools)["pools"]) {
            const std::string name = p.value("name", "");
            if (!name.empty()) out.insert(name.substr(0, name.find('#')));
        }
    return out;
}

std::string joined(const std::set<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out.empty() ? "none" : out;
}

// What decides whether the table is printed again when not on a terminal.
std::string states_of(const std::vector<EvacuationRow>& rows) {
    std::string out;
    for (const auto& r : rows) out += r.state + "#" + std::to_string(r.queue_position) + " ";
    return out;
}

nlohmann::json rows_json(const std::vector<EvacuationRow>& rows) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows)
        out.push_back({{"id", r.id},
                       {"name", r.name},
                       {"size", r.size_gib},
                       {"state", r.state},
                       {"queue_position", r.queue_position > 0 ? nlohmann::json(r.queue_position) : nlohmann::json(nullptr)},
                       {"percent", r.percent},
                       {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)}});
    return out;
}

}  // namespace

int cmd_evacuate(const std::vector<std::string>& args) {
    ArgSpec spec;
    spec.values = {"from", "to"};
    spec.flags = {"wait"};
    auto a = parse_args(args, with_connection(spec), "evacuate");
    if (!a) return usage_error("evacuate", a.error().message, kEvacuateHelp);
    if (a->has("help")) return std::cout << kEvacuateHelp << kConnectionHelp, kExitOk;
    if (!a->positionals.empty() || !a->value("from") || !a->value("to"))
        return usage_error("evacuate", "expected --from HOST@BACKEND and --to HOST@BACKEND[#POOL]", kEvacuateHelp);
    auto target = parse_evacuation(*a->value("from"), *a->value("to"));
    if (!target) return usage_error("evacuate", target.error().message, kEvacuateHelp);
    Connection c = connection_of(*a);
    const auto started_at = std::chrono::steady_clock::now();

    int code = 0;
    auto backends = backends_of(c, code);
    if (!backends) return code;
    if (!backends->count(target->from)) {
        std::cerr << "volmig evacuate: the daemon at " << c.url << " has no backend " << target->from << " (it has: " << joined(*backends)
                  << "); evacuate a backend on the daemon that serves it\n";
        return kExitUsage;
    }
    auto listing = call(c, "evacuate", "GET", "/v3/volumes/detail?all_tenants=1", nullptr, code);
    if (!listing) return code;

    std::vector<EvacuationRow> rows;
    std::vector<std::pair<nlohmann::json, std::string>> skipped;
    const auto& volumes = (*listing)["volumes"];
    if (volumes.is_array())
        for (const auto& v : volumes) {
            if (!v.is_object() || host_backend_of(v) != target->from) continue;
            if (std::string why = skip_reason(v); !why.empty()) {
                skipped.emplace_back(v, why);
                continue;
            }
            EvacuationRow row;
            row.id = v.value("id", "");
            row.name = v.value("name", nlohmann::json(nullptr)).is_string() ? v["name"].get<std::string>() : "";
            row.size_gib = v.value("size", nlohmann::json(0)).is_number_unsigned() ? v["size"].get<uint64_t>() : 0;
            rows.push_back(row);
        }

    if (!c.json) {
        std::cout << "evacuating " << target->from << " to " << target->to << ": " << rows.size() << " volume(s) to migrate, "
                  << skipped.size() << " skipped\n";
        for (const auto& [v, why] : skipped)
            std::cout << "  skipped " << v.value("id", "") << " (" << text_of(v.value("name", nlohmann::json(nullptr))) << "): " << why << "\n";
    }

    // One request each, in listing order: the daemon queues them in that order.
    for (EvacuationRow& row : rows) {
        nlohmann::json action = {{"os-migrate_volume", {{"host", target->to}, {"force_host_copy", false}, {"lock_volume", false}}}};
        std::string error;
        int refused = 0;
        if (call(c, "evacuate", "POST", "/v3/volumes/" + row.id + "/action", action, refused, &error)) {
            row.state = "starting";
        } else {
            row.state = "refused";
            row.error = error;
        }
    }

    const bool tty = !c.json && ::isatty(STDOUT_FILENO);
    size_t drawn_lines = 0;
    std::string last_states;
    auto refresh = [&] {
        for (EvacuationRow& row : rows) {
            if (row.state == "refused") continue;
            std::string error;
            int ignored = 0;
            auto body = call(c, "evacuate", "GET", "/v3/volumes/" + row.id, nullptr, ignored, &error);
            if (body && (*body)["volume"].is_object()) update_row(row, (*body)["volume"]);
        }
    };
    auto draw = [&](bool force) {
        if (c.json) return;
        const std::string states = states_of(rows);
        if (!tty && !force && states == last_states) return;
        last_states = states;
        const std::string table = format_table(rows);
        if (tty && drawn_lines) std::cout << "\033[" << drawn_lines << "A\033[J";
        std::cout << table << std::flush;
        drawn_lines = static_cast<size_t>(std::count(table.begin(), table.end(), '\n'));
        if (!tty) drawn_lines = 0;
    };

    refresh();
    draw(true);
    auto all_ended = [&] { return std::all_of(rows.begin(), rows.end(), [](const EvacuationRow& r) { return r.ended(); }); };
    if (a->has("wait")) {
        while (!all_ended()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 1000 : 500));
            refresh();
            draw(false);  // the last look's table is the final one
        }
    }

    size_t failed = 0, succeeded = 0;
    for (const auto& r : rows) {
        failed += r.failed();
        succeeded += r.state == "success";
    }
    if (c.json) {
        nlohmann::json skipped_json = nlohmann::json::array();
        for (const auto& [v, why] : skipped) skipped_json.push_back({{"id", v.value("id", "")}, {"reason", why}});
        std::cout << nlohmann::json{{"from", target->from}, {"to", target->to}, {"volumes", rows_json(rows)}, {"skipped", skipped_json}}.dump(2)
                  << "\n";
    } else if (a->has("wait")) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count();
        std::ostringstream t;
        t.precision(1);
        t << std::fixed << seconds;
        std::cout << "evacuated " << succeeded << " of " << rows.size() << " volume(s) from " << target->from << " to " << target->to << " in "
                  << t.str() << " s; " << failed << " failed, " << skipped.size() << " skipped\n";
    } else {
        std::cout << "follow them with: volmig volumes, volmig show ID (or run with --wait)\n";
    }
    for (const auto& r : rows)
        if (r.failed() && !c.json) std::cout << "  failed " << r.id << " (" << (r.name.empty() ? "-" : r.name) << "): " << r.error << "\n";
    return failed ? kExitFailed : kExitOk;
}

}  // namespace volmig::cli
