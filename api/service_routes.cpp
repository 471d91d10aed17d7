// os-services: the routes of BackendServices (api/backend_services.hpp), in Cinder's shapes
// (cinder/api/v3/services.py; bodies as cinder/api/schemas/services.py allows them).
#include "api/backend_services.hpp"

#include <algorithm>
#include <set>

#include "api/ops_routes.hpp"
#include "copy/json_text.hpp"

namespace volmig {

namespace {

constexpr const char* kBinary = "cinder-volume";

// Cinder's host filter: "host" matches every backend of it, "host@backend" that one.
bool host_matches(const std::string& filter, const std::string& host_backend) {
    if (filter == host_backend) return true;
    return filter.find('@') == std::string::npos && host_backend.rfind(filter + "@", 0) == 0;
}

Result<std::optional<std::string>> optional_string(const nlohmann::json& body, const char* key, size_t max_length) {
    if (!body.contains(key) || body[key].is_null()) return std::optional<std::string>();
    const auto& v = body[key];
    if (!v.is_string()) return Error{std::string(key) + " must be a string (got " + json_for_message(v) + ")", ErrorKind::invalid};
    const std::string s = v.get<std::string>();
    if (!is_utf8_text(s)) return Error{std::string(key) + " must be UTF-8 text", ErrorKind::invalid};
    if (s.size() > max_length) return Error{std::string(key) + " is longer than " + std::to_string(max_length) + " characters", ErrorKind::invalid};
    return std::optional<std::string>(s);
}

}  // namespace

void BackendServices::install(RestApi& api) {
    api.add_collection("os-services", [this](const ApiRequest& request, const std::string&, const std::vector<std::string>& rest) {
        if (rest.empty()) {
            if (request.method != "GET") return method_not_allowed("GET");
            return list(request);
        }
        static const std::set<std::string> actions{"enable", "disable", "disable-log-reason"};
        if (rest.size() != 1 || !actions.count(rest[0]))
            return error_response(404, "no such os-services action: volmig serves enable, disable and disable-log-reason");
        if (request.method != "PUT") return method_not_allowed("PUT");
        return update(request, rest[0]);
    });
}

ApiResponse BackendServices::list(const ApiRequest& request) {
    if (auto refused = unknown_query(request, {"host", "binary"})) return *refused;
    const auto host = request.query.find("host");
    const auto binary = request.query.find("binary");
    const DaemonConfig& config = volumes_.config();
    nlohmann::json services = nlohmann::json::array();
    for (const auto& b : volumes_.backends().all()) {
        const std::string host_backend = config.host + "@" + b->name;
        if (host != request.query.end() && !host_matches(host->second, host_backend)) continue;
        if (binary != request.query.end() && binary->second != kBinary) continue;
        auto s = state(b->name);
        if (!s) return error_response(s.error());
        services.push_back({
            {"binary", kBinary},
            {"host", host_backend},
            {"zone", config.availability_zone},
            {"status", s->disabled ? "disabled" : "enabled"},
            {"state", "up"},  // this daemon is answering: its backends' service is alive
            {"updated_at", utc_timestamp()},
            {"disabled_reason", s->disabled_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(s->disabled_reason)},
            {"cluster", nullptr},
            {"replication_status", "not-capable"},
            {"active_backend_id", nullptr},
            {"frozen", false},
            {"backend_state", "up"},
            {"volmig:disabled_at", s->disabled && !s->updated_at.empty() ? nlohmann::json(s->updated_at) : nlohmann::json(nullptr)},
        });
    }
    ApiResponse r;
    r.body = {{"services", services}};
    return r;
}

ApiResponse BackendServices::update(const ApiRequest& request, const std::string& action) {
    auto body = parse_body(request);
    if (!body) return error_response(body.error());
    const bool with_reason = action == "disable-log-reason";
    for (const auto& [key, value] : body->items()) {
        static const std::set<std::string> known{"binary", "host", "cluster", "service"};
        if (!known.count(key) && !(with_reason && key == "disabled_reason"))
            return error_response(400, "unknown field '" + key + "' in os-services/" + action + " (known: binary, host, cluster, service" +
                                           (with_reason ? ", disabled_reason" : "") + ")");
    }
    auto host = optional_string(*body, "host", 255);
    auto binary = optional_string(*body, "binary", 255);
    auto service = optional_string(*body, "service", 255);
    auto cluster = optional_string(*body, "cluster", 255);
    auto reason = optional_string(*body, "disabled_reason", 255);
    for (const auto* field : {&host, &binary, &service, &cluster, &reason})
        if (!*field) return error_response(field->error());
    if (!*host) return error_response(400, "Missing required element 'host' in request body: host is HOST@BACKEND");
    if (!*binary && !*service) return error_response(400, "the request needs 'binary' (cinder-volume)");
    for (const auto* field : {&binary, &service})
        if (**field && (**field)->empty()) return error_response(400, "binary must not be empty (cinder-volume)");
    if (*cluster && !(*cluster)->empty()) return error_response(400, "cluster: volmig has no clusters; name the service by host");
    // As Cinder: disable-log-reason without a reason is refused (not a disable without one).
    if (with_reason && !*reason) return error_response(400, "disabled_reason is missing: disable-log-reason needs 1 to 255 characters");
    if (*reason) {
        const std::string& text = **reason;
        if (text.empty() || text.find_first_not_of(" \t") == std::string::npos)
            return error_response(400, "disabled_reason must be 1 to 255 characters, not only spaces");
        if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }) || !is_utf8_text(text))
            return error_response(400, "disabled_reason must be UTF-8 text without control characters");
    }
    const std::string binary_key = *binary ? **binary : **service;
    const std::string& host_backend = **host;
    auto spec = parse_host_spec(host_backend);
    Backend* backend = nullptr;
    if (spec && spec->pool.empty() && spec->host == volumes_.config().host) backend = volumes_.backends().find(spec->backend);
    if (!backend || binary_key != kBinary)
        return error_response(404, "Service " + json_for_message(binary_key) + " on host " + json_for_message(host_backend) +
                                       " could not be found (this daemon's services are cinder-volume on " + volumes_.config().host +
                                       "@BACKEND)");
    const bool disabled = action != "enable";
    Status saved = set(backend->name, disabled, disabled ? *reason : std::optional<std::string>(""));
    if (!saved.ok()) return error_response(saved.error());
    ApiResponse r;
    r.body = {{"host", host_backend},
              {"service", *service ? **service : ""},
              {"binary", *binary ? **binary : ""},
              {"status", disabled ? "disabled" : "enabled"},
              {"disabled", disabled}};
    if (with_reason) r.body["disabled_reason"] = *reason ? nlohmann::json(**reason) : nlohmann::json(nullptr);
    if (!disabled) r.body["disabled_reason"] = nullptr;
    return r;
}

}  // namespace volmig
