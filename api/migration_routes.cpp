// The migration's REST surface: the actions (os-migrate_volume, os-migrate_volume_completion,
// volmig-plan_migration, volmig-prepare_receive, volmig-stream_resume_point, volmig-finish_receive,
// volmig-adopt), the stream route, and the
// migration shown in a volume's view.
#include <cmath>

#include "api/json_input.hpp"
#include "api/migration.hpp"
#include "api/migration_steps.hpp"

namespace volmig {

nlohmann::json MigrationService::migration_view(const std::string& volume_id) {
    auto shown = store_.shown_for(volume_id);
    if (!shown || !*shown) return nullptr;
    return migration_view(**shown);
}

nlohmann::json MigrationService::queue_position_json(const MigrationRecord& m) {
    if (m.state != MigrationState::queued || m.role != MigrationRole::source) return nullptr;
    auto position = queue_position(m.id);
    return position ? nlohmann::json(*position) : nlohmann::json(nullptr);
}

nlohmann::json MigrationService::migration_view(const MigrationRecord& m) {
    nlohmann::json progress = {{"bytes_done", m.bytes_done}, {"bytes_total", m.bytes_total}, {"rate_bytes_per_second", m.rate}};
    progress["eta_seconds"] = m.eta_seconds >= 0 ? nlohmann::json(m.eta_seconds) : nlohmann::json(nullptr);
    progress["percent"] = m.bytes_total ? std::round(1000.0 * static_cast<double>(m.bytes_done) / static_cast<double>(m.bytes_total)) / 10.0
                                        : (m.state == MigrationState::success ? 100.0 : 0.0);
    return {{"id", m.id},
            {"state", to_string(m.state)},
            {"role", to_string(m.role)},
            {"destination", m.destination},
            {"source_host", m.source_host},
            {"destination_volume_id", m.destination_volume_id},
            {"force_host_copy", m.force_full},
            {"plan", json_or_null(m.plan)},
            {"progress", progress},
            {"report", json_or_null(m.report)},
            {"error", m.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(volumes_.redact(m.error))},
            {"queue_position", queue_position_json(m)},
            {"started_at", m.created_at},
            {"updated_at", m.updated_at}};
}

ApiResponse MigrationService::plan_preview(const std::string& volume_id, const nlohmann::json& args) {
    if (!args.is_object() || !args.contains("host") || !args["host"].is_string())
        return error_response(400, "volmig-plan_migration needs {\"host\": \"HOST@BACKEND[#POOL]\"}");
    bool force = false;
    for (const auto& [key, value] : args.items()) {
        if (key == "host") continue;
        if (key != "force_host_copy") return error_response(400, "unknown field '" + key.substr(0, 64) + "' in volmig-plan_migration");
        auto b = boolean_value(value, "force_host_copy");
        if (!b) return error_response(b.error());
        force = *b;
    }
    auto spec = parse_host_spec(args["host"].get<std::string>());
    if (!spec) return error_response(spec.error());
    auto source = volumes_.get(volume_id);
    if (!source) return error_response(source.error());
    const bool same_daemon = peers_.is_local(spec->host);
    const std::string host_backend = spec->host + "@" + spec->backend;
    FetchedDocument document;
    if (same_daemon) {
        auto doc = volumes_.capability_document(host_backend);
        if (!doc) return error_response(doc.error());
        document.document = *doc;
    } else {
        if (auto base = peers_.base_url(spec->host); !base) return error_response(base.error().with_kind(ErrorKind::invalid));
        auto cached = capabilities_.lookup(spec->host, host_backend);
        if (!cached) {
            ApiResponse r = error_response(503, "the capabilities of " + host_backend + " are being fetched: ask again in a moment");
            r.headers.emplace_back("Retry-After", "1");
            return r;
        }
        document = *cached;
    }
    auto plan = plan_migration(volumes_, *source, *spec, same_daemon, document, force);
    if (!plan) return error_response(plan.error());
    return ok_response({{"plan", migration_plan_to_json(*plan)}});
}

Status MigrationService::refuse_reset_during_migration(const VolumeRecord& volume) {
    for (MigrationRole role : {MigrationRole::source, MigrationRole::target}) {
        auto unfinished = store_.unfinished(role);
        if (!unfinished) return unfinished.error();
        for (const MigrationRecord& m : *unfinished) {
            const bool drives = m.destination_volume_id == volume.id || (role == MigrationRole::source && m.volume_id == volume.id);
            if (!drives) continue;
            const std::string way_out =
                m.state == MigrationState::queued
                    ? "it is queued (nothing copied yet): os-migrate_volume_completion with error = true and new_volume \"\" abandons it"
                : m.state == MigrationState::awaiting_completion
                    ? "end it with os-migrate_volume_completion (error = true abandons it and keeps the source)"
                    : role == MigrationRole::target ? "it ends when its source completes or rolls it back"
                                                    : "wait for it to end: it completes or rolls back on its own";
            return Error{"volume " + volume.id + " is in migration " + m.id + " (" + to_string(role) + ", " + to_string(m.state) +
                             ") on this daemon: " + way_out +
                             "; os-reset_status changes records only and would leave that migration and the volume disagreeing",
                         ErrorKind::invalid};
        }
    }
    return success();
}

void MigrationService::install(RestApi& api, HttpServer& server) {
    api.add_action("os-migrate_volume", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        if (!args.is_object()) return error_response(400, "os-migrate_volume takes an object: {\"host\": \"HOST@BACKEND#POOL\"}");
        MigrateRequest req;
        req.volume_id = id;
        for (const auto& [key, value] : args.items()) {
            if (key == "host") {
                if (!value.is_string()) return error_response(400, "host must be a string HOST@BACKEND#POOL");
                req.destination = value;
            } else if (key == "volmig:strategy") {
                auto st = value.is_string() ? parse_strategy(value.get<std::string>()) : Result<Strategy>(Error{"not a string"});
                if (!st) return error_response(400, "volmig:strategy must be auto, full, sparse or full+discard");
                req.strategy = *st;
            } else if (key == "force_host_copy" || key == "lock_volume" || key == "volmig:auto_complete") {
                auto b = boolean_value(value, key);
                if (!b) return error_response(b.error());
                (key == "force_host_copy" ? req.force_full : key == "lock_volume" ? req.lock_volume : req.auto_complete) = *b;
            } else {
                return error_response(400, "unknown field '" + key.substr(0, 64) + "' in os-migrate_volume");
            }
        }
        if (req.destination.empty()) return error_response(400, "os-migrate_volume needs host (HOST@BACKEND#POOL)");
        auto started = start(req);
        if (!started) return error_response(started.error());
        return ok_response(nullptr, 202);
    });
    api.add_action("os-migrate_volume_completion", [this](const ApiRequest&, const std::string&, const std::string& id,
                                                          const nlohmann::json& args) {
        if (!args.is_object() || !args.contains("new_volume") || !args["new_volume"].is_string())
            return error_response(400, "os-migrate_volume_completion needs new_volume");
        bool error = false;
        for (const auto& [key, value] : args.items()) {
            if (key == "new_volume") continue;
            if (key != "error") return error_response(400, "unknown field '" + key.substr(0, 64) + "' in os-migrate_volume_completion");
            auto b = boolean_value(value, "error");
            if (!b) return error_response(b.error());
            error = *b;
        }
        auto done = complete(id, args["new_volume"], error);
        if (!done) return error_response(done.error());
        return ok_response(*done);
    });
    api.add_action("volmig-plan_migration", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        return plan_preview(id, args);
    });
    ActionHandler prepare = [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        auto ready = prepare_receive(id, args);
        if (!ready) return error_response(ready.error());
        return ok_response(*ready);
    };
    api.add_action("volmig-prepare_receive", prepare);
    api.add_create_extension(kPrepareOnCreate, {[](const nlohmann::json& args) { return check_prepare_args(args); }, prepare});
    api.add_action("volmig-stream_resume_point", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        return resume_point(id, args);
    });
    api.add_action("volmig-finish_receive", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        return finish_receive(id, args);
    });
    api.add_action("volmig-adopt", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        auto adopted = adopt(id, args);
        if (!adopted) return error_response(adopted.error());
        return ok_response(*adopted);
    });
    api.add_views_decorator([this](const std::vector<VolumeRecord>& records, std::vector<nlohmann::json>& views) {
        std::vector<std::string> ids;
        for (const auto& r : records) ids.push_back(r.id);
        auto shown = store_.shown_for(ids);
        for (size_t i = 0; i < records.size(); ++i) {
            const MigrationRecord* m = nullptr;
            if (shown)
                if (auto it = shown->find(records[i].id); it != shown->end()) m = &it->second;
            views[i]["volmig:migration"] = m ? migration_view(*m) : nlohmann::json(nullptr);
        }
    });
    server.add_stream_route({"POST", "/volmig/v1/streams/", [this](const ApiRequest& head, std::istream& body) {
                                 return receive_stream(head, body);
                             }});
}

}  // namespace volmig
