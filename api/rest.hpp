// The REST API as a function from a request to a response, independent of the HTTP server,
// so routing, validation and views are tested without sockets. Cinder's v3 shapes, with or
// without {project_id} in the path.
#pragma once

#include <functional>
#include <map>
#include <optional>
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

// A create request (POST /v3/volumes) may carry this action's arguments beside "volume": the new
// volume is then prepared to receive a migration in the same call (one round trip less for a
// migration source), and the answer carries the action's reply under the same key.
inline constexpr const char* kPrepareOnCreate = "volmig-prepare_receive";

// Extra actions and routes that later layers (migration) plug in.
using ActionHandler = std::function<ApiResponse(const ApiRequest&, const std::string& project_id, const std::string& volume_id,
                                                const nlohmann::json& arguments)>;
// A collection of its own under /v3/{project_id}/NAME (and /v3/NAME): `rest` is the path after
// NAME, split at '/'.
using CollectionHandler =
    std::function<ApiResponse(const ApiRequest&, const std::string& project_id, const std::vector<std::string>& rest)>;
// A sub-resource of a volume, /v3/{project_id}/volumes/ID/NAME[/...]: called only for a volume
// that exists; `rest` is the path after NAME.
using VolumeResourceHandler = std::function<ApiResponse(const ApiRequest&, const std::string& project_id, const std::string& volume_id,
                                                        const std::vector<std::string>& rest)>;
// PUT /v3/{project_id}/volumes/ID: called only for a volume that exists.
using VolumeUpdateHandler = std::function<ApiResponse(const ApiRequest&, const std::string& project_id, const std::string& volume_id)>;
using ViewDecorator = std::function<void(const VolumeRecord&, nlohmann::json& view)>;
// A field a create request may carry beside "volume" (kPrepareOnCreate): `check` reads its value
// before anything is made (an error is the request's 400, and nothing is created); `apply` runs
// on the new volume once it is available, and its answer is the create answer's field of that
// name (a refusal as {"error": its body}: the volume stays, the caller decides).
struct CreateExtension {
    std::function<Status(const nlohmann::json& arguments)> check;
    ActionHandler apply;
};

// Adds fields to many views at once, views[i] being records[i]'s: a listing's views, or one
// volume's (a list of one). A decorator that reads the database makes one query for a whole
// listing this way, rather than one (or two) per volume.
using ViewsDecorator = std::function<void(const std::vector<VolumeRecord>& records, std::vector<nlohmann::json>& views)>;

class RestApi {
public:
    static constexpr const char* kMinVersion = "3.0";
    static constexpr const char* kMaxVersion = "3.70";

    RestApi(VolumeService& service, Metrics& metrics, std::function<void(const std::string&)> log);

    ApiResponse handle(const ApiRequest& request);

    // Whether the request may be served: nullopt when it may (GET of the version documents /,
    // /v3 and /v3/ needs no token, nor does anything under auth_strategy = noauth), else the
    // answer to send (the failure is logged): 401 without the auth_token or the reader_token
    // (from X-Auth-Token or Authorization: Bearer), 403 for the reader_token outside what
    // reader_may allows. Reads only the method, path and headers: the HTTP server calls it on the request
    // head, before it reads a body, for every route including the streaming ones; handle()
    // calls it too, for callers without a server.
    std::optional<ApiResponse> authorize(const ApiRequest& head) const;

    void add_action(const std::string& name, ActionHandler handler) { actions_[name] = std::move(handler); }
    void add_create_extension(const std::string& key, CreateExtension extension) { create_extensions_[key] = std::move(extension); }
    void add_collection(const std::string& name, CollectionHandler handler) { collections_[name] = std::move(handler); }
    void add_volume_resource(const std::string& name, VolumeResourceHandler handler) { volume_resources_[name] = std::move(handler); }
    void set_volume_update(VolumeUpdateHandler handler) { volume_update_ = std::move(handler); }
    void add_view_decorator(ViewDecorator decorator) { decorators_.push_back(std::move(decorator)); }
    void add_views_decorator(ViewsDecorator decorator) { views_decorators_.push_back(std::move(decorator)); }

    nlohmann::json volume_view(const VolumeRecord& record, const std::string& base_url, const std::string& project_id);
    // The views of a listing, decorated: each ViewDecorator once per volume, each
    // ViewsDecorator once for all.
    std::vector<nlohmann::json> volume_views(const std::vector<VolumeRecord>& records, const std::string& base_url,
                                             const std::string& project_id);

    // The fault message of an error response without the daemon's private paths.
    void redact_fault(ApiResponse& response) const;

private:
    // What the reader_token may do: GET /metrics, and GET of volumes (listings, shows and their
    // sub-resources), capabilities, pools, services, availability zones, limits, quotas, types.
    bool reader_may(const ApiRequest& head) const;
    // Whether a path segment after /v3/ names a collection (else it is a project id).
    bool is_collection(const std::string& segment) const;
    ApiResponse route(const ApiRequest& request, const std::string& version);
    ApiResponse volumes(const ApiRequest& request, const std::string& project_id, const std::vector<std::string>& rest);
    ApiResponse create_volume(const ApiRequest& request, const std::string& project_id);
    ApiResponse volume_action(const ApiRequest& request, const std::string& project_id, const std::string& id);
    void install_volume_actions();  // the built-in ones (os-extend)

    VolumeService& service_;
    Metrics& metrics_;
    std::function<void(const std::string&)> log_;
    std::map<std::string, ActionHandler> actions_;
    std::map<std::string, CreateExtension> create_extensions_;
    std::map<std::string, CollectionHandler> collections_;
    std::map<std::string, VolumeResourceHandler> volume_resources_;
    VolumeUpdateHandler volume_update_;
    std::vector<ViewDecorator> decorators_;
    std::vector<ViewsDecorator> views_decorators_;

    nlohmann::json undecorated_view(const VolumeRecord& record, const std::string& base_url, const std::string& project_id);
};

// Cinder's error shape: {"badRequest": {"code": 400, "message": "..."}} (itemNotFound 404, ...).
ApiResponse error_response(int status, const std::string& message);
// ErrorKind -> HTTP status: invalid/refused 400, not_found 404, others 500.
ApiResponse error_response(const Error& error);

// A JSON answer (null for none, as 202s have).
ApiResponse ok_response(nlohmann::json body, int status = 200);
// 405 with the Allow header.
ApiResponse method_not_allowed(const std::string& allowed);
// A path's non-empty segments.
std::vector<std::string> split_path(const std::string& path);
// Compares a presented secret with the expected one in a time that does not depend on where
// they differ; an empty secret matches nothing.
bool same_secret(const std::string& presented, const std::string& secret);

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
