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
        case 412: return "preconditionFailed";
        case 413: return "overLimit";
        case 415: return "badMediaType";
        case 501: return "notImplemented";
        case 503: return "serviceUnavailable";
        default: return "computeFault";
    }
}

}  // namespace

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    std::stringstream in(path);
    std::string part;
    while (std::getline(in, part, '/'))
        if (!part.empty()) parts.push_back(part);
    return parts;
}

ApiResponse ok_response(nlohmann::json body, int status) {
    ApiResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

ApiResponse method_not_allowed(const std::string& allowed) {
    ApiResponse r = error_response(405, "method not allowed here; allowed: " + allowed);
    r.headers.emplace_back("Allow", allowed);
    return r;
}

// Compares a presented token with the secret in a time that does not depend on where they
// differ (only on the length, which is no secret worth keeping).
bool same_secret(const std::string& presented, const std::string& secret) {
    if (secret.empty() || presented.size() != secret.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < secret.size(); ++i) diff |= static_cast<unsigned char>(presented[i] ^ secret[i]);
    return diff == 0;
}

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
    install_volume_actions();
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

namespace {

// The token a request presents: X-Auth-Token (Cinder's clients), else "Authorization: Bearer
// <token>" (what Prometheus and other scrapers send).
std::string presented_token(const ApiRequest& head) {
    const std::string token = head.header("x-auth-token");
    if (!token.empty()) return token;
    const std::string authorization = head.header("authorization");
    if (authorization.size() < 7) return "";
    std::string scheme = authorization.substr(0, 7);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme != "bearer ") return "";
    const size_t start = authorization.find_first_not_of(' ', 7);
    return start == std::string::npos ? "" : authorization.substr(start);
}

}  // namespace

bool RestApi::reader_may(const ApiRequest& head) const {
    if (head.method != "GET") return false;
    const auto parts = split_path(head.path);
    if (parts.size() == 1 && parts[0] == "metrics") return true;
    if (parts.size() < 2 || parts[0] != "v3") return false;
    static const std::set<std::string> readable{"volumes", "capabilities", "scheduler-stats", "os-services", "os-availability-zone",
                                                "limits", "os-quota-sets", "types"};
    const std::string& collection = is_collection(parts[1]) || parts.size() < 3 ? parts[1] : parts[2];
    return readable.count(collection) > 0;
}

bool RestApi::is_collection(const std::string& segment) const {
    return segment == "volumes" || segment == "capabilities" || collections_.count(segment) > 0;
}

std::optional<ApiResponse> RestApi::authorize(const ApiRequest& head) const {
    const DaemonConfig& config = service_.config();
    if (config.noauth) return std::nullopt;
    // The version documents (/, /v3, /v3/), as Cinder serves them: a client discovers the API
    // before it authenticates, so that a wrong token is a 401 on its first real call.
    const auto parts = split_path(head.path);
    if (head.method == "GET" && (parts.empty() || (parts.size() == 1 && parts[0] == "v3"))) return std::nullopt;
    const std::string token = presented_token(head);
    if (same_secret(token, config.auth_token)) return std::nullopt;
    if (same_secret(token, config.reader_token)) {
        if (reader_may(head)) return std::nullopt;
        if (log_) log_("reader token refused for " + printable(head.method) + " " + printable(head.path));
        return error_response(403, "the reader_token may only GET listings, shows, pools, services, capabilities, availability zones, "
                                   "limits, quotas, types and /metrics: " +
                                       printable(head.method) + " " + printable(head.path) + " needs the auth_token");
    }
    if (log_)
        log_(std::string("authentication failed: ") +
             (token.empty()                           ? "no X-Auth-Token"
              : head.header("x-auth-token").empty() ? "wrong Authorization: Bearer token"
                                                      : "wrong X-Auth-Token") +
             " for " + printable(head.method) + " " + printable(head.path));
    return error_response(401, "authentication required: send X-Auth-Token (or Authorization: Bearer) with the daemon's auth_token");
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
    size_t i = 1;
    std::string project_id;
    if (!is_collection(parts[1])) {
        project_id = parts[1];
        i = 2;
    }
    if (i >= parts.size()) return error_response(404, "no such resource: " + request.path);
    const std::string& collection = parts[i];
    std::vector<std::string> rest(parts.begin() + static_cast<long>(i) + 1, parts.end());
    if (collection == "volumes") return volumes(request, project_id, rest);
    if (auto it = collections_.find(collection); it != collections_.end()) return it->second(request, project_id, rest);
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

}  // namespace volmig
