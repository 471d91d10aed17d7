// PUT /v3/{project_id}/volumes/ID, os-set_bootable and os-reset_status: changes of a volume's
// records, never of its data (see volume_updates.hpp).
#include "api/volume_updates.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "copy/json_text.hpp"

namespace volmig {

namespace {

std::string shown(const std::string& text) { return text.size() > 64 ? text.substr(0, 64) + "..." : text; }

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

ApiResponse empty_answer(int status) {
    ApiResponse r;
    r.status = status;
    r.body = nullptr;
    return r;
}

// Cinder's strict boolean (parameter_types.boolean): JSON booleans and these spellings only.
std::optional<bool> cinder_boolean(const nlohmann::json& v) {
    if (v.is_boolean()) return v.get<bool>();
    if (!v.is_string()) return std::nullopt;
    static const std::set<std::string> yes{"True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t"};
    static const std::set<std::string> no{"False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f"};
    const std::string s = v.get<std::string>();
    if (yes.count(s)) return true;
    if (no.count(s)) return false;
    return std::nullopt;
}

// A name or description of PUT: a string (surrounding white space dropped, as Cinder does) or
// null (cleared); at most 255 characters, UTF-8 without NUL.
Status text_field(const nlohmann::json& body, const char* key, std::optional<std::string>& out) {
    if (!body.contains(key)) return success();
    const nlohmann::json& v = body[key];
    const std::string field = std::string("volume.") + key;
    if (v.is_null()) {
        out = std::string();
        return success();
    }
    if (!v.is_string()) return Error{field + " must be a string or null (got " + json_for_message(v) + ")", ErrorKind::invalid};
    std::string s = v.get<std::string>();
    if (!is_utf8_text(s)) return Error{field + " must be UTF-8 text without NUL characters", ErrorKind::invalid};
    const size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    if (utf8_chars(s) > 255) return Error{field + " is longer than 255 characters", ErrorKind::invalid};
    out = s;
    return success();
}

// ---------------------------------------------------------------------------- PUT volume

struct VolumeUpdate {
    std::optional<std::string> name, description;
    std::optional<std::map<std::string, std::string>> metadata;
};

Result<VolumeUpdate> parse_volume_update(const ApiRequest& request) {
    auto body = parse_body(request);
    if (!body) return body.take_error();
    for (const auto& [key, value] : body->items())
        if (key != "volume") return Error{"unknown field '" + shown(key) + "' in the request", ErrorKind::invalid};
    if (!body->contains("volume") || !(*body)["volume"].is_object())
        return Error{"the request needs a \"volume\" object: {\"volume\": {\"name\": \"...\"}}", ErrorKind::invalid};
    const nlohmann::json& v = (*body)["volume"];
    static const std::set<std::string> known{"name", "display_name", "description", "display_description", "metadata"};
    for (const auto& [key, value] : v.items())
        if (!known.count(key))
            return Error{"unknown field 'volume." + shown(key) + "' (a PUT changes name, description and metadata)", ErrorKind::invalid};
    VolumeUpdate u;
    // As Cinder: name wins over display_name, description over display_description.
    for (const char* key : {"display_name", "name"})
        if (Status s = text_field(v, key, u.name); !s.ok()) return s.error();
    for (const char* key : {"display_description", "description"})
        if (Status s = text_field(v, key, u.description); !s.ok()) return s.error();
    if (v.contains("metadata")) {
        auto m = metadata_from(v["metadata"], "volume.metadata");
        if (!m) return m.take_error();
        u.metadata = *m;
    }
    return u;
}

// ---------------------------------------------------------------------------- os-reset_status

// Cinder's volume statuses (objects/fields.py VolumeStatus.ALL): volmig answers a status it has
// no state for with a message saying so, rather than "invalid".
const std::set<std::string>& cinder_volume_statuses() {
    static const std::set<std::string> all{"creating",   "available",       "deleting",       "error",         "error_deleting",
                                           "error_managing", "managing",    "attaching",      "in-use",        "detaching",
                                           "maintenance", "restoring-backup", "error_restoring", "reserved",    "awaiting-transfer",
                                           "backing-up", "error_backing-up", "error_extending", "downloading",  "uploading",
                                           "retyping",   "extending"};
    return all;
}

// Cinder's attach_status values os-reset_status takes; volmig derives it from the attachments.
enum class AttachStatus { attached, detached };

struct ResetRequest {
    std::optional<VolumeStatus> status;
    std::optional<AttachStatus> attach_status;
    std::optional<VolumeMigrationStatus> migration_status;
};

// One of the three fields: a string (lower-cased, as Cinder reads it) or null/"" (unset).
Result<std::optional<std::string>> reset_field(const nlohmann::json& args, const char* key) {
    if (!args.contains(key) || args[key].is_null()) return std::optional<std::string>();
    if (!args[key].is_string())
        return Error{std::string("os-reset_status.") + key + " must be a string or null (got " + json_for_message(args[key]) + ")",
                     ErrorKind::invalid};
    const std::string s = lower(args[key].get<std::string>());
    if (s.empty()) return std::optional<std::string>();
    return std::optional<std::string>(s);
}

Result<ResetRequest> parse_reset(const nlohmann::json& args) {
    if (!args.is_object())
        return Error{"os-reset_status takes an object: {\"os-reset_status\": {\"status\": \"available\"}}", ErrorKind::invalid};
    for (const auto& [key, value] : args.items())
        if (key != "status" && key != "attach_status" && key != "migration_status")
            return Error{"unknown field '" + shown(key) + "' in os-reset_status (status, attach_status, migration_status)", ErrorKind::invalid};
    auto status = reset_field(args, "status");
    if (!status) return status.take_error();
    auto attach = reset_field(args, "attach_status");
    if (!attach) return attach.take_error();
    auto migration = reset_field(args, "migration_status");
    if (!migration) return migration.take_error();
    if (!*status && !*attach && !*migration)
        return Error{"os-reset_status must specify 'status', 'attach_status' or 'migration_status'", ErrorKind::invalid};
    ResetRequest r;
    if (*status) {
        const std::string& s = **status;
        if (!cinder_volume_statuses().count(s))
            return Error{"os-reset_status.status '" + shown(s) + "' is not a volume status (available, error, in-use, maintenance, ...)",
                         ErrorKind::invalid};
        // Cinder refuses these: a delete or a detach that is not running cannot be pretended.
        if (s == "deleting" || s == "detaching") return Error{"os-reset_status cannot set status " + s, ErrorKind::invalid};
        r.status = parse_volume_status(s);
        if (!r.status) return Error{"os-reset_status.status '" + s + "' is a Cinder status volmig does not record", ErrorKind::invalid};
    }
    if (*attach) {
        if (**attach != "attached" && **attach != "detached")
            return Error{"os-reset_status.attach_status must be attached or detached (got '" + shown(**attach) + "')", ErrorKind::invalid};
        r.attach_status = **attach == "detached" ? AttachStatus::detached : AttachStatus::attached;
    }
    if (*migration) {
        static const std::pair<const char*, VolumeMigrationStatus> kAllowed[] = {
            {"none", VolumeMigrationStatus::none},           {"starting", VolumeMigrationStatus::starting},
            {"migrating", VolumeMigrationStatus::migrating}, {"completing", VolumeMigrationStatus::completing},
            {"success", VolumeMigrationStatus::success},     {"error", VolumeMigrationStatus::error}};
        for (const auto& [text, value] : kAllowed)
            if (**migration == text) r.migration_status = value;
        if (!r.migration_status)
            return Error{"os-reset_status.migration_status must be one of none, starting, migrating, completing, success, error (got '" +
                             shown(**migration) + "')",
                         ErrorKind::invalid};
    }
    return r;
}

bool has_attachments(const VolumeRecord& v) {
    auto list = nlohmann::json::parse(v.attachments, nullptr, false);
    return list.is_array() && !list.empty();
}

std::string migration_text(const VolumeRecord& v) {
    const std::string t = v.migration_status_text();
    return t.empty() ? "none" : t;
}

class UpdateRoutes {
public:
    UpdateRoutes(RestApi& api, VolumeService& volumes, std::function<void(const std::string&)> log, MigrationResetGuard guard)
        : api_(api), volumes_(volumes), log_(std::move(log)), guard_(std::move(guard)) {}

    ApiResponse update(const ApiRequest& request, const std::string& project_id, const std::string& id) {
        auto u = parse_volume_update(request);
        if (!u) return error_response(u.error());
        Status s = volumes_.store().modify(id, [&](VolumeRecord& v) -> Status {
            if (Status ok = volume_updatable(v, "it"); !ok.ok()) return ok;
            if (u->metadata)
                if (Status applied = apply_metadata(v, *u->metadata, MetadataChange::replace); !applied.ok()) return applied;
            if (u->name) v.name = *u->name;
            if (u->description) v.description = *u->description;
            return success();
        });
        if (!s.ok()) return error_response(s.error());
        auto v = volumes_.get(id);
        if (!v) return error_response(v.error());
        ApiResponse r;
        r.body = {{"volume", api_.volume_view(*v, request.base_url, project_id)}};
        return r;
    }

    ApiResponse set_bootable(const std::string& id, const nlohmann::json& args) {
        if (!args.is_object() || !args.contains("bootable"))
            return error_response(400, "os-set_bootable takes {\"os-set_bootable\": {\"bootable\": true|false}}");
        for (const auto& [key, value] : args.items())
            if (key != "bootable") return error_response(400, "unknown field '" + shown(key) + "' in os-set_bootable");
        auto bootable = cinder_boolean(args["bootable"]);
        if (!bootable) return error_response(400, "os-set_bootable.bootable must be a boolean (got " + json_for_message(args["bootable"]) + ")");
        Status s = volumes_.store().modify(id, [&](VolumeRecord& v) -> Status {
            if (Status ok = volume_updatable(v, "its bootable flag"); !ok.ok()) return ok;
            v.bootable = *bootable;
            return success();
        });
        if (!s.ok()) return error_response(s.error());
        return empty_answer(200);
    }

    ApiResponse reset_status(const std::string& id, const nlohmann::json& args) {
        auto req = parse_reset(args);
        if (!req) return error_response(req.error());
        std::vector<std::string> changes;
        Status s = volumes_.store().modify(id, [&](VolumeRecord& v) -> Status {
            changes.clear();
            if (v.is_forwarding())
                return Error{"volume " + id + " has moved to " + v.moved_to + ": reset its status on that host", ErrorKind::invalid};
            if (req->migration_status && guard_)
                if (Status allowed = guard_(v); !allowed.ok()) return allowed;
            const bool detach = req->attach_status == AttachStatus::detached;
            const bool attached_after = has_attachments(v) && !detach;
            if (req->attach_status == AttachStatus::attached && !has_attachments(v))
                return Error{"os-reset_status cannot set attach_status attached: volume " + id +
                                 " has no attachments (volmig derives it from them)",
                             ErrorKind::invalid};
            if (req->status == VolumeStatus::in_use && !attached_after)
                return Error{"os-reset_status cannot set status in-use: volume " + id + " has no attachments", ErrorKind::invalid};
            if (req->status && *req->status != v.status) {
                changes.push_back("status " + to_string(v.status) + " -> " + to_string(*req->status));
                v.status = *req->status;
            }
            if (detach && has_attachments(v)) {
                changes.push_back("attachments " + shown(v.attachments) + " -> none (detached)");
                v.attachments = "[]";
            }
            if (req->migration_status && *req->migration_status != v.migration_status) {
                const std::string before = migration_text(v);
                v.migration_status = *req->migration_status;
                v.migration_source.clear();
                changes.push_back("migration_status " + before + " -> " + migration_text(v));
            }
            return success();
        });
        if (!s.ok()) return error_response(s.error());
        if (log_) {
            std::string what;
            for (const auto& c : changes) what += (what.empty() ? "" : ", ") + c;
            log_("os-reset_status of volume " + id + ": " + (what.empty() ? "nothing to change" : what) +
                 " (records only; no data was touched)");
        }
        return empty_answer(202);
    }

private:
    RestApi& api_;
    VolumeService& volumes_;
    std::function<void(const std::string&)> log_;
    MigrationResetGuard guard_;
};

}  // namespace

Status volume_updatable(const VolumeRecord& v, const std::string& what) {
    if (v.is_forwarding()) return Error{"volume " + v.id + " has moved to " + v.moved_to + ": change " + what + " on that host", ErrorKind::invalid};
    if (v.status == VolumeStatus::maintenance)
        return Error{"volume " + v.id + " is in maintenance (a migration with lock_volume): " + what + " cannot be changed now", ErrorKind::invalid};
    // Completing, the destination takes over the records as they were read for the hand-over: a
    // change now could be lost.
    if (v.migration_status == VolumeMigrationStatus::completing)
        return Error{"volume " + v.id + " is completing a migration: change " + what + " once it has ended", ErrorKind::invalid};
    return success();
}

void install_volume_updates(RestApi& api, VolumeService& volumes, std::function<void(const std::string&)> log,
                            MigrationResetGuard migration_guard) {
    install_volume_metadata(api, volumes);
    auto routes = std::make_shared<UpdateRoutes>(api, volumes, std::move(log), std::move(migration_guard));
    api.set_volume_update([routes](const ApiRequest& request, const std::string& project_id, const std::string& id) {
        return routes->update(request, project_id, id);
    });
    api.add_action("os-set_bootable", [routes](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        return routes->set_bootable(id, args);
    });
    api.add_action("os-reset_status", [routes](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        return routes->reset_status(id, args);
    });
}

}  // namespace volmig
