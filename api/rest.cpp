#include "api/rest.hpp"

#include "api/json_input.hpp"
#include "copy/json_text.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "api/log.hpp"

namespace volmig {

namespace {

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    std::stringstream in(path);
    std::string part;
    while (std::getline(in, part, '/'))
        if (!part.empty()) parts.push_back(part);
    return parts;
}

// "3.27" -> (3, 27), as Cinder reads them: no leading zeros, at most 4 digits a part.
bool parse_version(const std::string& text, int& major, int& minor) {
    const size_t dot = text.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 >= text.size()) return false;
    const std::string a = text.substr(0, dot), b = text.substr(dot + 1);
    for (const std::string& part : {a, b}) {
        if (part.size() > 4 || (part.size() > 1 && part[0] == '0')) return false;
        for (char c : part)
            if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    major = std::stoi(a);
    minor = std::stoi(b);
    return true;
}

const char* fault_name(int status) {
    switch (status) {
        case 400: return "badRequest";
        case 401: return "unauthorized";
        case 403: return "forbidden";
        case 404: return "itemNotFound";
        case 405: return "badMethod";
        case 406: return "notAcceptable";
        case 409: return "conflictingRequest";
        case 413: return "overLimit";
        case 415: return "badMediaType";
        case 501: return "notImplemented";
        case 503: return "serviceUnavailable";
        default: return "computeFault";
    }
}

ApiResponse method_not_allowed(const std::string& allowed) {
    ApiResponse r = error_response(405, "method not allowed here; allowed: " + allowed);
    r.headers.emplace_back("Allow", allowed);
    return r;
}

std::string gib(uint64_t bytes) { return std::to_string((bytes + kGiB - 1) / kGiB); }

// Compares a presented token with the secret in a time that does not depend on where they
// differ (only on the length, which is no secret worth keeping).
bool same_secret(const std::string& presented, const std::string& secret) {
    if (secret.empty() || presented.size() != secret.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < secret.size(); ++i) diff |= static_cast<unsigned char>(presented[i] ^ secret[i]);
    return diff == 0;
}

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

}  // namespace

ApiResponse error_response(int status, const std::string& message) {
    ApiResponse r;
    r.status = status;
    r.body = {{fault_name(status), {{"code", status}, {"message", message}}}};
    return r;
}

ApiResponse error_response(const Error& error) {
    switch (error.kind) {
        case ErrorKind::invalid:
        case ErrorKind::refused: return error_response(400, error.message);
        case ErrorKind::not_found: return error_response(404, error.message);
        case ErrorKind::conflict: return error_response(409, error.message);
        default: return error_response(500, error.message);
    }
}

Result<nlohmann::json> parse_body(const ApiRequest& request) {
    if (request.body.empty()) return Error{"the request needs a JSON body", ErrorKind::invalid};
    // Nesting is bounded before nlohmann builds the tree: copying or dumping it recurses once a level.
    auto doc = parse_json_bounded(request.body);
    if (!doc) return Error{"the request body: " + doc.error().message, ErrorKind::invalid};
    if (!doc->is_object()) return Error{"the request body must be a JSON object", ErrorKind::invalid};
    return doc;
}

Result<uint64_t> whole_number(const nlohmann::json& v, const std::string& field) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer()) return Error{field + " must not be negative (got " + json_for_message(v) + ")", ErrorKind::invalid};
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        if (!s.empty() && s.size() <= 12 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
            return std::stoull(s);
    }
    return Error{field + " must be a whole number (got " + json_for_message(v) + ")", ErrorKind::invalid};
}

Result<bool> boolean_value(const nlohmann::json& v, const std::string& field) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_string()) {
        std::string s = v.get<std::string>();
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "0" || s == "no" || s == "off") return false;
    }
    return Error{field + " must be a boolean (got " + json_for_message(v) + ")", ErrorKind::invalid};
}

RestApi::RestApi(VolumeService& service, Metrics& metrics, std::function<void(const std::string&)> log)
    : service_(service), metrics_(metrics), log_(std::move(log)) {
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
        {"size", std::stoull(gib(r.size))},
        {"status", to_string(r.status)},
        {"attachments", nlohmann::json::array()},
        {"metadata", metadata},
        {"created_at", r.created_at},
        {"updated_at", r.updated_at},
        {"volume_type", !r.moved_to.empty() ? r.moved_to.substr(r.moved_to.find('@') + 1, r.moved_to.find('#') - r.moved_to.find('@') - 1)
                                             : backend ? backend->volume_backend_name : r.backend},
        {"volume_type_id", nullptr},
        {"availability_zone", "nova"},
        {"bootable", "false"},
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

ApiResponse RestApi::handle(const ApiRequest& request) {
    // Microversion: echo what was asked for when we support it (cinderclient asks for our max).
    std::string version = kMinVersion;
    const std::string asked = request.header("openstack-api-version");
    if (!asked.empty()) {
        std::string v = asked;
        if (v.rfind("volume ", 0) == 0) v = v.substr(7);
        int major = 0, minor = 0, max_minor = 0, unused = 0;
        parse_version(kMaxVersion, unused, max_minor);
        if (v == "latest") {
            version = kMaxVersion;
        } else if (!parse_version(v, major, minor)) {
            return error_response(400, "OpenStack-API-Version '" + asked + "' is malformed: expected 'volume 3.N'");
        } else if (major != 3 || minor > max_minor) {
            ApiResponse r = error_response(406, std::string("version ") + v + " is not supported: minimum " + kMinVersion + ", maximum " +
                                                    kMaxVersion);
            return r;
        } else {
            version = v;
        }
    }
    ApiResponse response = route(request, version);
    if (response.status >= 400) redact_fault(response);
    response.headers.emplace_back("OpenStack-API-Version", std::string("volume ") + version);
    response.headers.emplace_back("Vary", "OpenStack-API-Version");
    metrics_.record_request(request.method, response.status);
    return response;
}

std::optional<ApiResponse> RestApi::authorize(const ApiRequest& head) const {
    const DaemonConfig& config = service_.config();
    if (config.noauth) return std::nullopt;
    if (head.method == "GET" && split_path(head.path).empty()) return std::nullopt;  // the versions document
    const std::string token = head.header("x-auth-token");
    if (same_secret(token, config.auth_token)) return std::nullopt;
    if (log_)
        log_(std::string("authentication failed: ") + (token.empty() ? "no X-Auth-Token" : "wrong X-Auth-Token") + " for " + head.method +
             " " + printable(head.path));
    return error_response(401, "authentication required: send X-Auth-Token with the daemon's auth_token");
}

void RestApi::redact_fault(ApiResponse& response) const {
    if (!response.body.is_object()) return;
    for (auto& [name, fault] : response.body.items())
        if (fault.is_object() && fault.contains("message") && fault["message"].is_string())
            fault["message"] = service_.redact(fault["message"].get<std::string>());
}

ApiResponse RestApi::route(const ApiRequest& request, const std::string& version) {
    if (auto refused = authorize(request)) return *refused;
    const auto parts = split_path(request.path);
    if (parts.empty()) {
        if (request.method != "GET") return method_not_allowed("GET");
        ApiResponse r;
        r.status = 300;
        r.body = {{"versions",
                   {{{"id", "v3.0"},
                     {"status", "CURRENT"},
                     {"version", kMaxVersion},
                     {"min_version", kMinVersion},
                     {"updated", "2026-11-01T00:00:00Z"},
                     {"links", {{{"rel", "self"}, {"href", request.base_url + "/v3/"}}}},
                     {"media-types", {{{"base", "application/json"}, {"type", "application/vnd.openstack.volume+json;version=3"}}}}}}}};
        return r;
    }
    if (parts[0] == "metrics" && parts.size() == 1) {
        if (request.method != "GET") return method_not_allowed("GET");
        ApiResponse r;
        r.text = metrics_.render();
        r.content_type = "text/plain; version=0.0.4";
        return r;
    }
    if (parts[0] != "v3") return error_response(404, "no such resource: " + request.path);
    if (parts.size() == 1) {
        ApiResponse r;
        r.body = {{"version",
                   {{"id", "v3.0"}, {"status", "CURRENT"}, {"version", kMaxVersion}, {"min_version", kMinVersion},
                    {"links", {{{"rel", "self"}, {"href", request.base_url + "/v3/"}}}}}}};
        (void)version;
        return r;
    }
    // /v3/{project_id}/... or /v3/... (project-less URLs, as Cinder accepts since Yoga)
    static const std::set<std::string> collections{"volumes", "capabilities"};
    size_t i = 1;
    std::string project_id;
    if (!collections.count(parts[1])) {
        project_id = parts[1];
        i = 2;
    }
    if (i >= parts.size()) return error_response(404, "no such resource: " + request.path);
    const std::string& collection = parts[i];
    std::vector<std::string> rest(parts.begin() + static_cast<long>(i) + 1, parts.end());
    if (collection == "volumes") return volumes(request, project_id, rest);
    if (collection == "capabilities") {
        if (rest.size() != 1) return error_response(404, "use /v3/{project_id}/capabilities/HOST@BACKEND");
        if (request.method != "GET") return method_not_allowed("GET");
        auto doc = service_.capability_document(rest[0]);
        if (!doc) return error_response(doc.error());
        ApiResponse r;
        r.body = *doc;
        return r;
    }
    return error_response(404, "no such resource: " + request.path);
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
        return method_not_allowed("GET, DELETE");
    }
    if (rest.size() == 2 && rest[1] == "action") {
        if (request.method != "POST") return method_not_allowed("POST");
        return volume_action(request, project_id, id);
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
        if (key != "volume" && key != "OS-SCH-HNT:scheduler_hints") return error_response(400, "unknown field '" + key + "' in the request");
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
