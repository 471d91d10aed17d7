// Fuzz target: the REST API (api/rest.hpp, RestApi::handle) over a real VolumeService: two
// thin_file backends in a test directory, a real SQLite store, token authentication, the volume
// type routes (api/volume_types.hpp).
//
// Feeds: the fuzz data is an HTTP request as text, the way the server hands it over:
//   METHOD SP PATH[?QUERY] LF, then "Name: value" header lines, an empty line, the body.
// The path and the query are percent-decoded (the query also "+" as a space), header names
// lower-cased, as api/server.cpp does with Poco. "{id}" in the request line stands for the id of
// the volume created last, so that an input can show, extend or delete a volume that exists.
// Every 500 inputs the daemon's state is thrown away and built again (volumes are sparse files
// of pools of 20 and 8 GiB: the disk does not fill).
//
// Asserts, besides "no crash, no leak, no sanitizer report":
//  - every response has a status from 200 to 599, in fact below 500: on healthy storage no
//    request can cause an internal error; and it carries the OpenStack-API-Version header
//    (unless it refuses the version the request asked for);
//  - an error (4xx, 5xx) has Cinder's shape: one key whose value is {"code": status, "message":
//  text};
//  - the JSON body serializes. Strictly (valid UTF-8) whenever the request was valid UTF-8;
//    a path, query or header that is not is echoed into some error messages by routing, which
//    only serializes with invalid bytes replaced: reported, and checked that way here;
//  - an accepted create, extend or delete did it: the volume shows the name and description it
//    was given, has its new size, or is gone (404);
//  - before each reset, every volume the listing shows can be shown by its id.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "api/backend_services.hpp"
#include "api/ops_routes.hpp"
#include "api/rest.hpp"
#include "api/volume_types.hpp"
#include "api/volume_updates.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/support/service_fixture.hpp"
#include "tests/support/temp_dir.hpp"

using namespace volmig;
using volmig::fuzz::check;

namespace {

constexpr int kRunsPerDaemon = 500;
constexpr const char* kToken = "s3cret";

// The daemon's volume layer and the API over it. Token authentication; two thin_file backends,
// the second selected by volume_type "gold".
struct Daemon {
    test::TempDir dir;
    test::ServiceParts parts;
    Metrics metrics;
    RestApi api;
    BackendServices services;  // os-services, and the admission of creates
    VolumeTypes types;         // the /types routes and volume_type on create (no os-retype: no migrations here)

    // With the routes that change a volume's records (metadata, PUT, os-set_bootable,
    // os-reset_status), os-services (and the admission of creates), pools, zones, limits, quotas,
    // and volume types.
    Daemon() : parts(ini(dir)), api(*parts.volumes, metrics, nullptr), services(*parts.volumes), types(*parts.volumes, "", nullptr) {
        check(services.initialize().ok(), "the backend services initialize");
        services.install(api);
        install_pool_routes(api, *parts.volumes);
        install_usage_routes(api, *parts.volumes);
        install_volume_updates(api, *parts.volumes, nullptr, nullptr);
        check(types.initialize().ok(), "the volume types initialize");
        types.install_routes(api);
    }
    static std::string ini(const test::TempDir& dir) {
        return "[DEFAULT]\nhost = host-a\nauth_strategy = token\nauth_token = " +
               std::string(kToken) + "\nreader_token = r3ader\nstate_path = " + dir.file("state") +
               "\nenabled_backends = thin, other\n" +
               "[thin]\nvolume_driver = thin_file\npool_path = " + dir.file("thin") +
               "\npool_size = 10G\nmax_over_subscription_ratio = 2\n" +
               "[other]\nvolume_driver = thin_file\nvolume_backend_name = gold\npool_path = " +
               dir.file("other") + "\npool_size = 4G\nsparse_copy = never\n";
    }
};

std::string percent_decoded(const std::string& s, bool plus_as_space) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() &&
            std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += plus_as_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

std::string trimmed(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// The request as the server would build it; `utf8` says whether every text in it is valid UTF-8.
ApiRequest request_from(const std::string& text, const std::string& last_id, bool& utf8) {
    ApiRequest r;
    r.base_url = "http://127.0.0.1:8776";
    size_t at = text.find('\n');
    std::string line = text.substr(0, at);
    for (size_t id; (id = line.find("{id}")) != std::string::npos;) line.replace(id, 4, last_id);
    const size_t space = line.find(' ');
    r.method = line.substr(0, space);
    const std::string target = space == std::string::npos ? "" : trimmed(line.substr(space + 1));
    const size_t q = target.find('?');
    r.path = percent_decoded(target.substr(0, q), false);
    utf8 = fuzz::serializes_as_json(r.method) && fuzz::serializes_as_json(r.path);
    if (q != std::string::npos) {
        const std::string query = target.substr(q + 1);
        for (size_t start = 0; start <= query.size();) {
            size_t amp = query.find('&', start);
            if (amp == std::string::npos) amp = query.size();
            const std::string pair = query.substr(start, amp - start);
            const size_t eq = pair.find('=');
            const std::string key = percent_decoded(pair.substr(0, eq), true);
            const std::string value =
                eq == std::string::npos ? "" : percent_decoded(pair.substr(eq + 1), true);
            if (!pair.empty()) r.query[key] = value;
            utf8 = utf8 && fuzz::serializes_as_json(key) && fuzz::serializes_as_json(value);
            start = amp + 1;
        }
    }
    while (at != std::string::npos) {
        const size_t next = text.find('\n', at + 1);
        const std::string header =
            text.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
        at = next;
        if (trimmed(header).empty()) break;
        const size_t colon = header.find(':');
        std::string name = trimmed(header.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        r.headers[name] = colon == std::string::npos ? "" : trimmed(header.substr(colon + 1));
        utf8 = utf8 && fuzz::serializes_as_json(name) && fuzz::serializes_as_json(r.headers[name]);
    }
    if (at != std::string::npos) r.body = text.substr(at + 1);
    return r;
}

// The body as the server sends it: strictly (valid UTF-8), or with invalid bytes replaced.
std::string serialized(const nlohmann::json& body, bool strict) {
    try {
        return body.dump(-1, ' ', false,
                         strict ? nlohmann::json::error_handler_t::strict
                                : nlohmann::json::error_handler_t::replace);
    } catch (const nlohmann::json::exception& e) {
        check(false, std::string("the response body serializes: ") + e.what());
        return {};
    }
}

void check_response(const ApiRequest& request, const ApiResponse& response, bool utf8) {
    check(response.status >= 200 && response.status <= 499,
          "the status is from 200 to 499: " + std::to_string(response.status));
    const bool version_refused = !request.header("openstack-api-version").empty() &&
                                 (response.status == 400 || response.status == 406);
    check(version_refused ||
              std::any_of(response.headers.begin(), response.headers.end(),
                          [](const auto& h) { return h.first == "OpenStack-API-Version"; }),
          "the response carries OpenStack-API-Version (unless the version asked for was refused)");
    if (!response.text.empty() || response.content_type.rfind("text/", 0) == 0) return;  // metrics
    const std::string dumped = serialized(response.body, utf8);
    if (response.status >= 400) {
        const auto& b = response.body;
        check(b.is_object() && b.size() == 1, "an error body has one key: " + dumped);
        const auto& fault = b.begin().value();
        check(fault.is_object() && fault.contains("code") && fault["code"] == response.status &&
                  fault.contains("message") && fault["message"].is_string(),
              "an error body is {\"fault\": {\"code\": status, \"message\": text}}: " + dumped);
    }
}

ApiRequest get(const std::string& path) {
    ApiRequest r;
    r.method = "GET";
    r.path = path;
    r.headers["x-auth-token"] = kToken;
    return r;
}

// Every volume the listing shows can be shown by its id.
void check_listing(RestApi& api) {
    const ApiResponse list = api.handle(get("/v3/volumes/detail"));
    check(list.status == 200 && list.body.contains("volumes") && list.body["volumes"].is_array(),
          "the listing answers 200");
    for (const auto& v : list.body["volumes"]) {
        const std::string id = v.value("id", "");
        const ApiResponse shown = api.handle(get("/v3/volumes/" + id));
        check(shown.status == 200 && shown.body["volume"]["id"] == id,
              "a listed volume can be shown: " + id);
    }
}

// The path's segments, as the router splits it.
std::vector<std::string> segments(const std::string& path) {
    std::vector<std::string> out;
    for (size_t start = 0; start < path.size();) {
        size_t slash = path.find('/', start);
        if (slash == std::string::npos) slash = path.size();
        if (slash > start) out.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return out;
}

// A text field as a view shows what create was given: "name" (a string) over "display_name";
// none, or an empty one, shows as null.
nlohmann::json text_field(const nlohmann::json& volume, const char* key, const char* display_key) {
    for (const char* k : {key, display_key})
        if (volume.contains(k) && volume[k].is_string())
            return volume[k].get_ref<const std::string&>().empty() ? nlohmann::json(nullptr)
                                                                   : volume[k];
    return nullptr;
}

// What an accepted (202) create, extend or delete did, seen through GET.
void check_effect(RestApi& api, const ApiRequest& request, const ApiResponse& response) {
    if (response.status != 202) return;
    const auto parts = segments(request.path);
    if (request.method == "POST" && response.body.contains("volume")) {
        const auto asked = nlohmann::json::parse(request.body)["volume"];
        const std::string id = response.body["volume"]["id"];
        const ApiResponse shown = api.handle(get("/v3/volumes/" + id));
        check(shown.status == 200, "a created volume can be shown");
        (void)serialized(shown.body,
                         true);  // asked for in UTF-8: whatever the volume was created with
        const auto& v = shown.body["volume"];
        check(v["name"] == text_field(asked, "name", "display_name"),
              "a created volume has the name it was given: " + v["name"].dump());
        check(v["description"] == text_field(asked, "description", "display_description"),
              "a created volume has the description it was given: " + v["description"].dump());
    } else if (request.method == "DELETE") {
        check(api.handle(get("/v3/volumes/" + parts.back())).status == 404,
              "a deleted volume is gone");
    } else if (request.method == "POST" && parts.back() == "action") {
        const auto action = nlohmann::json::parse(request.body);
        if (!action.contains("os-extend")) return;
        const auto& size = action["os-extend"]["new_size"];
        const uint64_t gib =
            size.is_string() ? std::stoull(size.get<std::string>()) : size.get<uint64_t>();
        check(
            api.handle(get("/v3/volumes/" + parts[parts.size() - 2])).body["volume"]["size"] == gib,
            "an extended volume has its new size");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::unique_ptr<Daemon> daemon;
    static int runs = 0;
    static std::string last_id = "0";
    if (!daemon) daemon = std::make_unique<Daemon>();
    bool utf8 = true;
    const ApiRequest request =
        request_from(std::string(reinterpret_cast<const char*>(data), size), last_id, utf8);
    const ApiResponse response = daemon->api.handle(request);
    check_response(request, response, utf8);
    check_effect(daemon->api, request, response);
    if (response.status == 202 && response.body.contains("volume"))
        last_id = response.body["volume"].value("id", last_id);
    if (++runs % kRunsPerDaemon == 0) {
        check_listing(daemon->api);
        daemon.reset();
    }
    return 0;
}
