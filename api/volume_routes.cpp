// The volume routes of the REST API: listings, show, create, delete, actions on a volume and its
// sub-resources, and the volume view.
#include "api/rest.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "api/json_input.hpp"
#include "copy/json_text.hpp"

namespace volmig {

namespace {

// ?metadata={"k": "v"} as Cinder takes it: JSON, or the Python literal cinderclient sends
// ({'k': 'v'}).
Result<std::map<std::string, std::string>> metadata_filter(const std::string& text) {
    auto doc = parse_json_bounded(text, 2);
    if (!doc) {
        std::string quoted = text;
        std::replace(quoted.begin(), quoted.end(), '\'', '"');
        doc = parse_json_bounded(quoted, 2);
    }
    if (!doc || !doc->is_object()) return Error{"metadata must be an object of strings, as {\"key\": \"value\"}", ErrorKind::invalid};
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : doc->items()) {
        if (!value.is_string()) return Error{"metadata." + key.substr(0, 64) + " must be a string", ErrorKind::invalid};
        out[key] = value.get<std::string>();
    }
    return out;
}

// The recorded attachments (a JSON array, Cinder's shape); anything else reads as none.
nlohmann::json attachments_view(const VolumeRecord& r) {
    auto list = nlohmann::json::parse(r.attachments, nullptr, false);
    return list.is_array() ? list : nlohmann::json::array();
}

}  // namespace

void RestApi::install_volume_actions() {
    add_action("os-extend", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        if (!args.is_object()) return error_response(400, "os-extend takes an object: {\"os-extend\": {\"new_size\": N}}");
        for (const auto& [key, value] : args.items())
            if (key != "new_size") return error_response(400, "unknown field '" + key + "' in os-extend");
        if (!args.contains("new_size")) return error_response(400, "os-extend needs new_size (GiB)");
        auto size = whole_number(args["new_size"], "new_size");
        if (!size) return error_response(size.error());
        auto r = service_.extend(id, *size);
        if (!r) return error_response(r.error());
        ApiResponse ok;
        ok.status = 202;
        ok.body = nullptr;
        return ok;
    });
}

nlohmann::json RestApi::undecorated_view(const VolumeRecord& r, const std::string& base_url, const std::string& project_id) {
    Backend* backend = service_.backends().find(r.backend);
    auto metadata = nlohmann::json::parse(r.metadata, nullptr, false);
    if (metadata.is_discarded() || !metadata.is_object()) metadata = nlohmann::json::object();
    const std::string self = base_url + "/v3/" + (project_id.empty() ? "" : project_id + "/") + "volumes/" + r.id;
    nlohmann::json v = {
        {"id", r.id},
        {"name", r.name.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.name)},
        {"description", r.description.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.description)},
        {"size", gib_rounded_up(r.size)},
        {"status", to_string(r.status)},
        {"attachments", attachments_view(r)},
        {"metadata", metadata},
        {"created_at", r.created_at},
        {"updated_at", r.updated_at},
        {"volume_type", !r.moved_to.empty() ? r.moved_to.substr(r.moved_to.find('@') + 1, r.moved_to.find('#') - r.moved_to.find('@') - 1)
                                             : backend ? backend->volume_backend_name : r.backend},
        {"volume_type_id", r.volume_type_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.volume_type_id)},
        {"availability_zone", service_.config().availability_zone},
        {"bootable", r.bootable ? "true" : "false"},
        {"encrypted", false},
        {"multiattach", false},
        {"snapshot_id", nullptr},
        {"source_volid", nullptr},
        {"consistencygroup_id", nullptr},
        {"group_id", nullptr},
        {"provider_id", nullptr},
        {"service_uuid", nullptr},
        {"shared_targets", false},
        {"cluster_name", nullptr},
        {"consumes_quota", true},
        {"user_id", nullptr},
        {"replication_status", nullptr},
        {"migration_status", r.migration_status_text().empty() ? nlohmann::json(nullptr) : nlohmann::json(r.migration_status_text())},
        {"os-vol-host-attr:host", r.moved_to.empty() ? service_.host_of(r) : r.moved_to},
        {"os-vol-tenant-attr:tenant_id", r.project_id},
        {"os-vol-mig-status-attr:migstat", r.migration_status_text().empty() ? nlohmann::json(nullptr) : nlohmann::json(r.migration_status_text())},
        {"os-vol-mig-status-attr:name_id", r.name_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.name_id)},
        {"volmig:moved_to", r.moved_to.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.moved_to)},
        {"links", {{{"rel", "self"}, {"href", self}}, {{"rel", "bookmark"}, {"href", self}}}},
        {"volmig:size_bytes", r.size},
        {"volmig:location", r.location.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.location)},
    };
    auto usage = service_.usage_of(r);
    if (usage && usage->allocated) {
        v["volmig:allocated_bytes"] = *usage->allocated;
        v["volmig:data_percent"] = std::round(usage->data_percent() * 100.0) / 100.0;
    } else {
        v["volmig:allocated_bytes"] = nullptr;
        v["volmig:data_percent"] = nullptr;
    }
    v["volmig:error"] = r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(service_.redact(r.error));
    return v;
}

nlohmann::json RestApi::volume_view(const VolumeRecord& r, const std::string& base_url, const std::string& project_id) {
    auto views = volume_views({r}, base_url, project_id);
    return std::move(views.front());
}

std::vector<nlohmann::json> RestApi::volume_views(const std::vector<VolumeRecord>& records, const std::string& base_url,
                                                  const std::string& project_id) {
    std::vector<nlohmann::json> views;
    views.reserve(records.size());
    for (const auto& r : records) {
        views.push_back(undecorated_view(r, base_url, project_id));
        for (auto& decorate : decorators_) decorate(r, views.back());
    }
    for (auto& decorate : views_decorators_) decorate(records, views);
    return views;
}

ApiResponse RestApi::volumes(const ApiRequest& request, const std::string& project_id, const std::vector<std::string>& rest) {
    if (rest.empty() || (rest.size() == 1 && rest[0] == "detail")) {
        const bool detail = !rest.empty();
        if (request.method == "POST" && !detail) return create_volume(request, project_id);
        if (request.method != "GET") return method_not_allowed(detail ? "GET" : "GET, POST");
        ListFilter filter;
        auto q = [&](const char* key) {
            auto it = request.query.find(key);
            return it == request.query.end() ? std::string() : it->second;
        };
        filter.name = q("name");
        filter.status = q("status");
        filter.marker = q("marker");
        if (!q("metadata").empty()) {
            auto metadata = metadata_filter(q("metadata"));
            if (!metadata) return error_response(metadata.error());
            filter.metadata = *metadata;
        }
        // As Cinder: a listing under /v3/{project_id} shows that project's volumes, unless
        // all_tenants is asked for (every caller of volmig is an administrator); a listing
        // without a project in the path shows them all.
        const std::string all_tenants = q("all_tenants");
        const bool everyone = request.query.count("all_tenants") && all_tenants != "0" && all_tenants != "false" && all_tenants != "False";
        if (!project_id.empty() && !everyone) filter.project = project_id;
        if (!q("limit").empty()) {
            auto limit = whole_number(q("limit"), "limit");
            if (!limit) return error_response(limit.error());
            filter.limit = *limit;
        }
        auto records = service_.list(filter);
        if (!records) return error_response(records.error());
        nlohmann::json items = nlohmann::json::array();
        if (detail) {
            for (auto& view : volume_views(*records, request.base_url, project_id)) items.push_back(std::move(view));
        } else {
            for (const auto& r : *records) {
                const std::string self = request.base_url + "/v3/" + (project_id.empty() ? "" : project_id + "/") + "volumes/" + r.id;
                items.push_back({{"id", r.id},
                                 {"name", r.name.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.name)},
                                 {"links", {{{"rel", "self"}, {"href", self}}}}});
            }
        }
        ApiResponse resp;
        resp.body = nlohmann::json::object();
        resp.body["volumes"] = std::move(items);
        return resp;
    }
    const std::string& id = rest[0];
    if (rest.size() == 1) {
        if (request.method == "GET") {
            auto r = service_.get(id);
            if (!r) return error_response(r.error());
            ApiResponse resp;
            resp.body = {{"volume", volume_view(*r, request.base_url, project_id)}};
            return resp;
        }
        if (request.method == "DELETE") {
            Status s = service_.remove(id);
            if (!s.ok()) return error_response(s.error());
            ApiResponse resp;
            resp.status = 202;
            resp.body = nullptr;
            return resp;
        }
        if (request.method == "PUT" && volume_update_) {
            auto exists = service_.get(id);
            if (!exists) return error_response(exists.error());
            return volume_update_(request, project_id, id);
        }
        return method_not_allowed(volume_update_ ? "GET, PUT, DELETE" : "GET, DELETE");
    }
    if (rest.size() == 2 && rest[1] == "action") {
        if (request.method != "POST") return method_not_allowed("POST");
        return volume_action(request, project_id, id);
    }
    if (auto it = volume_resources_.find(rest[1]); it != volume_resources_.end()) {
        auto exists = service_.get(id);
        if (!exists) return error_response(exists.error());
        return it->second(request, project_id, id, std::vector<std::string>(rest.begin() + 2, rest.end()));
    }
    return error_response(404, "no such resource: " + request.path);
}

ApiResponse RestApi::create_volume(const ApiRequest& request, const std::string& project_id) {
    // The project id is the path's, percent-decoded, and is stored and shown in every view of the
    // volume: bytes that are not UTF-8 would make each listing that shows it fail to serialize.
    if (!is_utf8_text(project_id)) return error_response(400, "the project id in the path must be UTF-8 text without NUL characters");
    auto body = parse_body(request);
    if (!body) return error_response(body.error());
    for (const auto& [key, value] : body->items())
        if (key != "volume" && key != "OS-SCH-HNT:scheduler_hints" && !create_extensions_.count(key))
            return error_response(400, "unknown field '" + key + "' in the request");
    for (const auto& [key, extension] : create_extensions_)
        if (body->contains(key))
            if (Status s = extension.check((*body)[key]); !s.ok()) return error_response(s.error());
    if (!body->contains("volume") || !(*body)["volume"].is_object())
        return error_response(400, "the request needs a \"volume\" object: {\"volume\": {\"size\": N}}");
    const auto& v = (*body)["volume"];
    // Fields Cinder defines. Those volmig cannot honour are refused when set, accepted when null.
    static const std::set<std::string> supported{"size", "name", "display_name", "description", "display_description", "volume_type",
                                                 "metadata", "availability_zone", "multiattach"};
    static const std::set<std::string> unsupported{"snapshot_id", "source_volid", "imageRef", "consistencygroup_id", "backup_id",
                                                   "group_id", "source_replica", "scheduler_hints"};
    for (const auto& [key, value] : v.items()) {
        if (unsupported.count(key)) {
            if (!value.is_null()) return error_response(400, "volume." + key + " is not supported by volmig (create an empty volume)");
            continue;
        }
        if (!supported.count(key)) return error_response(400, "unknown field 'volume." + key + "'");
    }
    CreateRequest req;
    req.project_id = project_id;
    if (!v.contains("size") || v["size"].is_null()) return error_response(400, "volume.size is required (GiB)");
    auto size = whole_number(v["size"], "volume.size");
    if (!size) return error_response(size.error());
    if (*size == 0) return error_response(400, "volume.size must be at least 1 GiB");
    req.size_gib = *size;
    auto text = [&](const char* key, std::string& out) -> bool {
        if (!v.contains(key) || v[key].is_null()) return true;
        if (!v[key].is_string()) return false;
        out = v[key].get<std::string>();
        return true;
    };
    if (!text("display_name", req.name) || !text("name", req.name)) return error_response(400, "volume.name must be a string");
    if (!text("display_description", req.description) || !text("description", req.description))
        return error_response(400, "volume.description must be a string");
    if (req.name.size() > 255) return error_response(400, "volume.name is longer than 255 characters");
    // The store keeps C strings: "a\u0000b" would silently become "a".
    if (req.name.find('\0') != std::string::npos) return error_response(400, "volume.name must not contain a NUL character (\\u0000)");
    if (req.description.size() > 255) return error_response(400, "volume.description is longer than 255 characters");
    if (req.description.find('\0') != std::string::npos)
        return error_response(400, "volume.description must not contain a NUL character (\\u0000)");
    std::string zone;
    if (!text("volume_type", req.volume_type)) return error_response(400, "volume.volume_type must be a string");
    if (!text("availability_zone", zone)) return error_response(400, "volume.availability_zone must be a string");
    if (!zone.empty() && zone != service_.config().availability_zone)
        return error_response(400, "Availability zone " + json_for_message(zone) + " is invalid: this daemon's zone is " +
                                       json_for_message(service_.config().availability_zone) + " (storage_availability_zone)");
    if (v.contains("multiattach") && !v["multiattach"].is_null()) {
        auto multi = boolean_value(v["multiattach"], "volume.multiattach");
        if (!multi) return error_response(multi.error());
        if (*multi) return error_response(400, "volume.multiattach is not supported by volmig");
    }
    if (v.contains("metadata") && !v["metadata"].is_null()) {
        if (!v["metadata"].is_object()) return error_response(400, "volume.metadata must be an object of strings");
        for (const auto& [key, value] : v["metadata"].items())
            if (!value.is_string()) return error_response(400, "volume.metadata." + key + " must be a string");
        req.metadata = v["metadata"];
    }
    auto created = service_.create(req);
    if (!created) {
        Error e = created.take_error();
        // An unknown volume_type stays 404, as Cinder answers ("Volume type ... could not be found").
        if (e.message.rfind("volume_type", 0) == 0) e.message = "volume." + e.message;
        return error_response(e);
    }
    ApiResponse resp;
    resp.status = 202;
    resp.body = {{"volume", volume_view(*created, request.base_url, project_id)}};
    // A volume not yet available gets no extension: the caller applies it later on its own.
    for (const auto& [key, extension] : create_extensions_) {
        if (!body->contains(key) || created->status != VolumeStatus::available) continue;
        ApiResponse applied = extension.apply(request, project_id, created->id, (*body)[key]);
        if (applied.status >= 300) redact_fault(applied);
        resp.body[key] = applied.status < 300 ? applied.body : nlohmann::json{{"error", applied.body}};
    }
    return resp;
}

ApiResponse RestApi::volume_action(const ApiRequest& request, const std::string& project_id, const std::string& id) {
    auto body = parse_body(request);
    if (!body) return error_response(body.error());
    if (body->size() != 1) return error_response(400, "an action body has exactly one key, the action's name");
    const std::string name = body->begin().key();
    auto it = actions_.find(name);
    if (it == actions_.end()) {
        std::string known;
        for (const auto& [k, h] : actions_) known += (known.empty() ? "" : ", ") + k;
        return error_response(400, "unknown action '" + name + "' (supported: " + known + ")");
    }
    auto exists = service_.get(id);
    if (!exists) return error_response(exists.error());
    return it->second(request, project_id, id, body->begin().value());
}

}  // namespace volmig
