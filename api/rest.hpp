// The REST API as a function from a request to a response, independent of the HTTP server,
// so routing, validation and views are tested without sockets. Cinder's v3 shapes, with or
// without {project_id} in the path.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/metrics.hpp"
#include "api/volume_service.hpp"

namespace volmig {

struct ApiRequest {
    std::string method;
    std::string path;                            // without the query string
    std::map<std::string, std::string> query;    // decoded
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string base_url;                        // "http://host:port", for links

    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

struct ApiResponse {
    int status = 200;
    nlohmann::json body;                 // sent as JSON unless `text` is set
    std::string text;                    // plain text body (metrics)
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

// Extra actions and routes that later layers (migration) plug in.
using ActionHandler = std::function<ApiResponse(const ApiRequest&, const std::string& project_id, const std::string& volume_id,
                                                const nlohmann::json& arguments)>;
using ViewDecorator = std::function<void(const VolumeRecord&, nlohmann::json& view)>;

class RestApi {
public:
    static constexpr const char* kMinVersion = "3.0";
    static constexpr const char* kMaxVersion = "3.70";

    RestApi(VolumeService& service, Metrics& metrics, std::function<void(const std::string&)> log);

    ApiResponse handle(const ApiRequest& request);

    void add_action(const std::string& name, ActionHandler handler) { actions_[name] = std::move(handler); }
    void add_view_decorator(ViewDecorator decorator) { decorators_.push_back(std::move(decorator)); }

    nlohmann::json volume_view(const VolumeRecord& record, const std::string& base_url, const std::string& project_id);

    // The fault message of an error response without the daemon's private paths.
    void redact_fault(ApiResponse& response) const;

private:
    ApiResponse route(const ApiRequest& request, const std::string& version);
    ApiResponse volumes(const ApiRequest& request, const std::string& project_id, const std::vector<std::string>& rest);
    ApiResponse create_volume(const ApiRequest& request, const std::string& project_id);
    ApiResponse volume_action(const ApiRequest& request, const std::string& project_id, const std::string& id);

    VolumeService& service_;
    Metrics& metrics_;
    std::function<void(const std::string&)> log_;
    std::map<std::string, ActionHandler> actions_;
    std::vector<ViewDecorator> decorators_;
};

// Cinder's error shape: {"badRequest": {"code": 400, "message": "..."}} (itemNotFound 404, ...).
ApiResponse error_response(int status, const std::string& message);
// ErrorKind -> HTTP status: invalid/refused 400, not_found 404, others 500.
ApiResponse error_response(const Error& error);

// Reads a JSON body: 400 naming the problem if it is not a JSON object or nests deeper than
// kMaxJsonDepth (api/json_input.hpp: refused before it is parsed).
Result<nlohmann::json> parse_body(const ApiRequest& request);
// A whole number from a JSON number or a string of digits (cinderclient sends both). Errors
// describe a bad value briefly (json_for_message), never dump it.
Result<uint64_t> whole_number(const nlohmann::json& value, const std::string& field);
// A boolean from a JSON boolean or "true"/"false" strings (cinderclient sends strings). Errors
// describe a bad value briefly (json_for_message), never dump it.
Result<bool> boolean_value(const nlohmann::json& value, const std::string& field);

}  // namespace volmig
