// RestApi without sockets: routing, microversions, auth, validation and views, on a real
// thin_file backend and a real SQLite store in a temporary directory.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "api/rest.hpp"
#include "tests/support/api_request.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/service_fixture.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

struct Api {
    TempDir dir;
    ServiceParts parts;
    VolumeService& service;
    Metrics metrics;
    std::unique_ptr<RestApi> api;
    std::vector<std::string> log;

    static std::string ini(const TempDir& dir, bool noauth) {
        return "[DEFAULT]\nhost = host-a\nauth_strategy = " + std::string(noauth ? "noauth" : "token") +
               "\nauth_token = s3cret\nstate_path = " + dir.file("state") +
               "\nenabled_backends = thin, small\n"
               "[thin]\nvolume_driver = thin_file\nvolume_backend_name = thin\npool_path = " + dir.file("thin") +
               "\npool_size = 10G\nmax_over_subscription_ratio = 2\n"
               "[small]\nvolume_driver = thick_file\nvolume_backend_name = small\npool_file = " + dir.file("small.pool") +
               "\npool_size = 3G\nsparse_copy = never\n";
    }

    explicit Api(bool noauth = true) : parts(ini(dir, noauth)), service(*parts.volumes) {
        api = std::make_unique<RestApi>(service, metrics, [this](const std::string& l) { log.push_back(l); });
    }

    ApiResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                     std::map<std::string, std::string> headers = {}) {
        return api->handle(api_request(method, path, body, std::move(headers)));
    }

    std::string create(const std::string& body) {
        auto r = call("POST", "/v3/p/volumes", body);
        REQUIRE_MESSAGE(r.status == 202, r.body.dump());
        return r.body["volume"]["id"];
    }
};

std::string message_of(const ApiResponse& r) {
    for (const auto& [k, v] : r.body.items())
        if (v.is_object() && v.contains("message")) return v["message"];
    return "";
}

std::string header_of(const ApiResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
        if (k == name) return v;
    return "";
}

}  // namespace

TEST_CASE("GET / answers 300 with the versions document, without a token") {
    Api a(false);
    auto r = a.call("GET", "/");
    CHECK(r.status == 300);
    CHECK(r.body["versions"][0]["id"] == "v3.0");
    CHECK(r.body["versions"][0]["version"] == "3.70");
    CHECK(r.body["versions"][0]["min_version"] == "3.0");
    CHECK(r.body["versions"][0]["links"][0]["href"] == "http://127.0.0.1:8776/v3/");
}

TEST_CASE("the OpenStack-API-Version header is echoed, and out-of-range versions are refused") {
    Api a;
    CHECK(header_of(a.call("GET", "/v3/p/volumes", "", {{"openstack-api-version", "volume 3.27"}}), "OpenStack-API-Version") == "volume 3.27");
    CHECK(header_of(a.call("GET", "/v3/p/volumes", "", {{"openstack-api-version", "volume latest"}}), "OpenStack-API-Version") == "volume 3.70");
    CHECK(header_of(a.call("GET", "/v3/p/volumes"), "OpenStack-API-Version") == "volume 3.0");
    auto high = a.call("GET", "/v3/p/volumes", "", {{"openstack-api-version", "volume 3.99"}});
    CHECK(high.status == 406);
    CHECK(message_of(high).find("3.99") != std::string::npos);
    auto junk = a.call("GET", "/v3/p/volumes", "", {{"openstack-api-version", "volume three"}});
    CHECK(junk.status == 400);
}

TEST_CASE("with auth_strategy = token, requests need the right X-Auth-Token; failures are 401 and logged") {
    Api a(false);
    auto none = a.call("GET", "/v3/p/volumes");
    CHECK(none.status == 401);
    CHECK(none.body.contains("unauthorized"));
    auto wrong = a.call("GET", "/v3/p/volumes", "", {{"x-auth-token", "nope"}});
    CHECK(wrong.status == 401);
    CHECK(a.call("GET", "/v3/p/volumes", "", {{"x-auth-token", "s3cret"}}).status == 200);
    CHECK(a.call("GET", "/metrics").status == 401);
    REQUIRE(a.log.size() == 3);
    CHECK(a.log[0].find("authentication failed: no X-Auth-Token") != std::string::npos);
    CHECK(a.log[1].find("wrong X-Auth-Token") != std::string::npos);
}

TEST_CASE("authorize() decides from the head alone: GET / is open, anything else needs the token, noauth needs none") {
    Api a(false);
    auto head = [](const std::string& method, const std::string& path, const std::string& token) {
        ApiRequest r;
        r.method = method;
        r.path = path;
        if (!token.empty()) r.headers["x-auth-token"] = token;
        return r;
    };
    CHECK_FALSE(a.api->authorize(head("GET", "/", "")).has_value());
    auto post_root = a.api->authorize(head("POST", "/", ""));
    REQUIRE(post_root.has_value());
    CHECK(post_root->status == 401);
    auto stream = a.api->authorize(head("POST", "/volmig/v1/streams/x", "s3cre"));
    REQUIRE(stream.has_value());
    CHECK(stream->status == 401);
    CHECK(a.api->authorize(head("POST", "/v3/p/volumes", "s3cret\n")).has_value());
    CHECK_FALSE(a.api->authorize(head("POST", "/v3/p/volumes", "s3cret")).has_value());
    CHECK_FALSE(a.api->authorize(head("DELETE", "/volmig/v1/streams/x", "s3cret")).has_value());
    REQUIRE(a.log.size() == 3);
    CHECK(a.log[1].find("wrong X-Auth-Token for POST /volmig/v1/streams/x") != std::string::npos);

    Api open(true);
    CHECK_FALSE(open.api->authorize(head("POST", "/v3/p/volumes", "")).has_value());
}

TEST_CASE("authentication failures log the path with control and non-ASCII bytes escaped") {
    Api a(false);
    CHECK(a.call("GET", "/v3/\x1b[2J\xff\n").status == 401);
    REQUIRE(a.log.size() == 1);
    CHECK(a.log[0].find("/v3/\\x1b[2J\\xff\\x0a") != std::string::npos);
}

TEST_CASE("a listing's views are decorated once for all: ViewsDecorator gets every record, views in order") {
    Api a;
    const std::string one = a.create(R"({"volume": {"size": 1, "name": "one"}})");
    const std::string two = a.create(R"({"volume": {"size": 1, "name": "two"}})");
    int calls = 0;
    a.api->add_views_decorator([&](const std::vector<VolumeRecord>& records, std::vector<nlohmann::json>& views) {
        ++calls;
        REQUIRE(records.size() == views.size());
        for (size_t i = 0; i < records.size(); ++i) views[i]["test:batch"] = records[i].id;
    });
    auto list = a.call("GET", "/v3/p/volumes/detail");
    REQUIRE(list.status == 200);
    CHECK(calls == 1);
    REQUIRE(list.body["volumes"].size() == 2);
    for (const auto& v : list.body["volumes"]) CHECK(v["test:batch"] == v["id"]);
    auto show = a.call("GET", "/v3/p/volumes/" + two);
    CHECK(calls == 2);
    CHECK(show.body["volume"]["test:batch"] == two);
    (void)one;
}

TEST_CASE("routes answer with and without the project id, and unknown routes or methods are 404 and 405") {
    Api a;
    const std::string id = a.create(R"({"volume": {"size": 1}})");
    CHECK(a.call("GET", "/v3/p/volumes/" + id).status == 200);
    CHECK(a.call("GET", "/v3/volumes/" + id).status == 200);
    CHECK(a.call("GET", "/v3/volumes/detail").body["volumes"].size() == 1);
    auto missing = a.call("GET", "/v3/p/volumes/no-such-id");
    CHECK(missing.status == 404);
    CHECK(missing.body.contains("itemNotFound"));
    CHECK(a.call("GET", "/v2/p/volumes").status == 404);
    CHECK(a.call("GET", "/v3/p/snapshots").status == 404);
    auto put = a.call("PUT", "/v3/p/volumes");
    CHECK(put.status == 405);
    CHECK(header_of(put, "Allow") == "GET, POST");
}

TEST_CASE("create accepts what cinderclient sends, and the view carries Cinder's fields and volmig's allocation") {
    Api a;
    auto r = a.call("POST", "/v3/p/volumes",
                    R"({"volume": {"size": 1, "consistencygroup_id": null, "snapshot_id": null, "name": "web", "description": null,
                        "volume_type": null, "availability_zone": null, "metadata": {"k": "v"}, "imageRef": null,
                        "source_volid": null, "backup_id": null}})");
    REQUIRE(r.status == 202);
    const auto& v = r.body["volume"];
    for (const char* key : {"id", "name", "size", "status", "attachments", "metadata", "created_at", "migration_status",
                            "os-vol-host-attr:host", "links", "volmig:allocated_bytes", "volmig:data_percent"})
        CHECK_MESSAGE(v.contains(key), key);
    CHECK(v["name"] == "web");
    CHECK(v["size"] == 1);
    CHECK(v["status"] == "available");
    CHECK(v["metadata"]["k"] == "v");
    CHECK(v["os-vol-host-attr:host"] == "host-a@thin#thin");
    CHECK(v["volmig:allocated_bytes"] == 0);
    CHECK(v["migration_status"].is_null());
    // The storage exists: a sparse file of exactly 1 GiB.
    CHECK(file_size(a.dir.file("thin") + "/volume-" + v["id"].get<std::string>()) == 1ull << 30);
    // volume_type selects a backend by volume_backend_name; sizes may come as strings.
    auto t = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": "2", "volume_type": "small"}})");
    REQUIRE(t.status == 202);
    CHECK(t.body["volume"]["os-vol-host-attr:host"] == "host-a@small#small");
    CHECK(t.body["volume"]["volmig:allocated_bytes"] == 2ull << 30);
}

TEST_CASE("create refuses bad input with 400 and a message naming the field, and creates nothing") {
    Api a;
    struct Case {
        const char* body;
        const char* expect;
    };
    const Case cases[] = {
        {"", "JSON body"},
        {"{not json", "not valid JSON"},
        {"[1]", "JSON object"},
        {R"({"volume": 1})", "\"volume\" object"},
        {R"({"volume": {"size": 1}, "extra": 1})", "'extra'"},
        {R"({"volume": {"name": "x"}})", "volume.size is required"},
        {R"({"volume": {"size": 0}})", "volume.size"},
        {R"({"volume": {"size": -1}})", "volume.size"},
        {R"({"volume": {"size": 1.5}})", "volume.size"},
        {R"({"volume": {"size": "big"}})", "volume.size"},
        {R"({"volume": {"size": 100000}})", "size"},
        {R"({"volume": {"size": 1, "colour": "red"}})", "volume.colour"},
        {R"({"volume": {"size": 1, "name": 7}})", "volume.name"},
        {R"({"volume": {"size": 1, "metadata": []}})", "volume.metadata"},
        {R"({"volume": {"size": 1, "metadata": {"a": 1}}})", "volume.metadata.a"},
        {R"({"volume": {"size": 1, "snapshot_id": "abc"}})", "volume.snapshot_id"},
        {R"({"volume": {"size": 1, "multiattach": true}})", "volume.multiattach"},
    };
    for (const Case& c : cases) {
        INFO(c.body);
        auto r = a.call("POST", "/v3/p/volumes", c.body);
        CHECK(r.status == 400);
        CHECK(r.body.contains("badRequest"));
        CHECK(message_of(r).find(c.expect) != std::string::npos);
    }
    // Cinder answers an unknown type with 404 ("Volume type ... could not be found").
    auto unknown = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "volume_type": "gold"}})");
    CHECK(unknown.status == 404);
    CHECK(unknown.body.contains("itemNotFound"));
    CHECK(message_of(unknown).find("volume.volume_type 'gold'") != std::string::npos);
    CHECK(a.call("GET", "/v3/p/volumes").body["volumes"].empty());
}

TEST_CASE("a body nested deeper than 32 levels is refused with 400 before it is parsed, on create and on actions") {
    Api a;
    const std::string id = a.create(R"({"volume": {"size": 1}})");
    // 200 KB: 100000 nested arrays where a size belongs. Parsed and dumped, it overflowed the stack.
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const std::pair<std::string, std::string> requests[] = {{"/v3/p/volumes", R"({"volume": {"size": )" + deep + "}}"},
                                                            {"/v3/p/volumes/" + id + "/action", R"({"os-extend": {"new_size": )" + deep + "}}"}};
    for (const auto& request : requests) {
        INFO(request.first);
        auto r = a.call("POST", request.first, request.second);
        CHECK(r.status == 400);
        CHECK(message_of(r) == "the request body: the JSON nests deeper than 32 levels");
    }
    // 32 levels are fine (and then refused for what they are); brackets inside strings do not count.
    auto at_limit = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": )" + std::string(30, '[') + std::string(30, ']') + "}}");
    CHECK(at_limit.status == 400);
    CHECK(message_of(at_limit) == "volume.size must be a whole number (got a JSON array)");
    CHECK(a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "name": ")" + std::string(100, '[') + R"("}})").status == 202);
}

TEST_CASE("errors describe a bad value briefly instead of dumping it, and any value makes a response that serializes") {
    Api a;
    auto long_size = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": ")" + std::string(100000, 'x') + R"("}})");
    CHECK(long_size.status == 400);
    CHECK(message_of(long_size) == "volume.size must be a whole number (got \"" + std::string(100, 'x') + "\"...)");
    auto object_size = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": {"gib": 1}}})");
    CHECK(message_of(object_size) == "volume.size must be a whole number (got a JSON object)");
    auto negative = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": -3}})");
    CHECK(message_of(negative) == "volume.size must not be negative (got -3)");
    auto multiattach = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "multiattach": ["yes"]}})");
    CHECK(message_of(multiattach) == "volume.multiattach must be a boolean (got a JSON array)");
    // A query string is not JSON: invalid UTF-8 in it used to make the error message throw when dumped.
    auto limit = a.call("GET", "/v3/p/volumes?limit=\xe1\xe1");
    CHECK(limit.status == 400);
    CHECK_NOTHROW((void)limit.body.dump());
    CHECK(message_of(limit).rfind("limit must be a whole number", 0) == 0);
}

TEST_CASE("a name or description holding a NUL character is refused naming the field, and nothing is created") {
    Api a;
    auto name = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "name": "a\u0000b"}})");
    CHECK(name.status == 400);
    CHECK(message_of(name).rfind("volume.name must not contain a NUL character", 0) == 0);
    auto display_name = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "display_name": "\u0000"}})");
    CHECK(message_of(display_name).rfind("volume.name", 0) == 0);
    auto description = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "description": "logs\u0000and more"}})");
    CHECK(description.status == 400);
    CHECK(message_of(description).rfind("volume.description must not contain a NUL character", 0) == 0);
    CHECK(a.call("GET", "/v3/p/volumes").body["volumes"].empty());
    // Other control characters are kept as they are.
    const std::string id = a.create(R"({"volume": {"size": 1, "name": "a\tb", "description": "line\nbreak"}})");
    auto shown = a.call("GET", "/v3/p/volumes/" + id).body["volume"];
    CHECK(shown["name"] == "a\tb");
    CHECK(shown["description"] == "line\nbreak");
}

TEST_CASE("no volume is created under a project id that is not UTF-8 text, so listings keep serializing") {
    Api a;
    for (const std::string& project : {std::string("\xe2\x90"), std::string("p\0q", 3)}) {
        auto r = a.call("POST", "/v3/" + project + "/volumes", R"({"volume": {"size": 1}})");
        CHECK(r.status == 400);
        CHECK(message_of(r) == "the project id in the path must be UTF-8 text without NUL characters");
    }
    a.create(R"({"volume": {"size": 1}})");
    auto all = a.call("GET", "/v3/volumes/detail");
    REQUIRE(all.body["volumes"].size() == 1);
    CHECK_NOTHROW((void)all.body.dump());  // a stored "\xe2\x90" made this throw for every client
}

TEST_CASE("a listing under a project shows that project's volumes; all_tenants or no project shows all") {
    Api a;
    const std::string mine = a.create(R"({"volume": {"size": 1, "name": "mine"}})");
    auto other = a.call("POST", "/v3/q/volumes", R"({"volume": {"size": 1, "name": "theirs"}})");
    REQUIRE(other.status == 202);
    auto ids = [&](const std::string& path) {
        std::vector<std::string> out;
        const ApiResponse listed = a.call("GET", path);  // kept alive: the loop reads into it
        for (const auto& v : listed.body["volumes"]) out.push_back(v["id"]);
        return out;
    };
    CHECK(ids("/v3/p/volumes") == std::vector<std::string>{mine});
    CHECK(ids("/v3/p/volumes/detail") == std::vector<std::string>{mine});
    CHECK(ids("/v3/q/volumes") == std::vector<std::string>{other.body["volume"]["id"]});
    CHECK(ids("/v3/p/volumes?all_tenants=1").size() == 2);
    CHECK(ids("/v3/p/volumes?all_tenants=0").size() == 1);
    CHECK(ids("/v3/volumes").size() == 2);
    CHECK(a.call("GET", "/v3/p/volumes/detail").body["volumes"][0]["os-vol-tenant-attr:tenant_id"] == "p");
}

TEST_CASE("list filters by name and status, pages with limit and marker") {
    Api a;
    const std::string one = a.create(R"({"volume": {"size": 1, "name": "one"}})");
    const std::string two = a.create(R"({"volume": {"size": 1, "name": "two"}})");
    a.create(R"({"volume": {"size": 1, "name": "three"}})");
    auto by_name = a.call("GET", "/v3/p/volumes/detail?all_tenants=1&name=two");
    REQUIRE(by_name.body["volumes"].size() == 1);
    CHECK(by_name.body["volumes"][0]["id"] == two);
    CHECK(a.call("GET", "/v3/p/volumes?status=available").body["volumes"].size() == 3);
    CHECK(a.call("GET", "/v3/p/volumes?status=error").body["volumes"].empty());
    auto page = a.call("GET", "/v3/p/volumes?limit=1&marker=" + one);
    REQUIRE(page.body["volumes"].size() == 1);
    CHECK(page.body["volumes"][0]["id"] == two);
    CHECK(page.body["volumes"][0].contains("links"));
    CHECK_FALSE(page.body["volumes"][0].contains("status"));  // the summary list
    CHECK(a.call("GET", "/v3/p/volumes?marker=nope").status == 400);
}

TEST_CASE("os-extend grows the volume and its storage, and refuses shrinking or bad sizes") {
    Api a;
    const std::string id = a.create(R"({"volume": {"size": 1}})");
    CHECK(a.call("POST", "/v3/p/volumes/" + id + "/action", R"({"os-extend": {"new_size": 3}})").status == 202);
    CHECK(a.call("GET", "/v3/p/volumes/" + id).body["volume"]["size"] == 3);
    CHECK(file_size(a.dir.file("thin") + "/volume-" + id) == 3ull << 30);
    for (const char* bad : {R"({"os-extend": {"new_size": 2}})", R"({"os-extend": {"new_size": "x"}})", R"({"os-extend": {}})",
                            R"({"os-extend": {"new_size": 4, "force": true}})", R"({"os-extend": 5})", R"({"os-shrink": {}})",
                            R"({"os-extend": {"new_size": 4}, "x": 1})", R"({"os-extend": {"new_size": 100000}})"}) {
        INFO(bad);
        CHECK(a.call("POST", "/v3/p/volumes/" + id + "/action", bad).status == 400);
    }
    CHECK(a.call("POST", "/v3/p/volumes/nope/action", R"({"os-extend": {"new_size": 4}})").status == 404);
}

TEST_CASE("delete removes record and storage, and unknown volumes are 404") {
    Api a;
    const std::string id = a.create(R"({"volume": {"size": 1}})");
    const std::string file = a.dir.file("thin") + "/volume-" + id;
    CHECK(a.call("DELETE", "/v3/p/volumes/" + id).status == 202);
    CHECK(a.call("GET", "/v3/p/volumes/" + id).status == 404);
    struct stat st {};
    CHECK(::stat(file.c_str(), &st) != 0);
    CHECK(a.call("DELETE", "/v3/p/volumes/" + id).status == 404);
}

TEST_CASE("capabilities: the document of each backend, 404 for unknown hosts or backends") {
    Api a;
    auto thin = a.call("GET", "/v3/p/capabilities/host-a@thin");
    REQUIRE(thin.status == 200);
    CHECK(thin.body["properties"]["cinder_sparse_copy_volume"]["default"] == true);
    CHECK(thin.body["volume_backend_name"] == "thin");
    auto small = a.call("GET", "/v3/p/capabilities/host-a@small");
    CHECK(small.body["properties"]["volmig:sparse_copy_policy"]["default"] == "never");
    CHECK(a.call("GET", "/v3/p/capabilities/host-b@thin").status == 404);
    CHECK(a.call("GET", "/v3/p/capabilities/host-a@gold").status == 404);
    CHECK(a.call("GET", "/v3/p/capabilities/nonsense").status == 400);
}

TEST_CASE("metrics count a method that is not HTTP's as other: made-up methods add no lines, quotes cannot get in") {
    Api a;
    for (int i = 0; i < 50; ++i) a.call("X" + std::to_string(i) + "\"}", "/v3/p/volumes");
    auto r = a.call("GET", "/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.text.find("volmig_http_requests_total{method=\"other\",code=\"405\"} 50") != std::string::npos);
    CHECK(r.text.find("X1") == std::string::npos);
}

TEST_CASE("metrics count requests and errors, and report volumes and allocation per backend") {
    Api a;
    a.create(R"({"volume": {"size": 1}})");
    a.call("GET", "/v3/p/volumes/nope");
    auto r = a.call("GET", "/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.content_type.find("text/plain") == 0);
    CHECK(r.text.find("volmig_http_requests_total{method=\"POST\",code=\"202\"} 1") != std::string::npos);
    CHECK(r.text.find("volmig_http_requests_total{method=\"GET\",code=\"404\"} 1") != std::string::npos);
    CHECK(r.text.find("volmig_http_errors_total 1") != std::string::npos);
    CHECK(r.text.find("volmig_copies_running 0") != std::string::npos);
}
