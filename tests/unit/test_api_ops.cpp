// The operator's routes (api/backend_services.hpp, api/ops_routes.hpp) and the auth rules around
// them (versions without a token, Authorization: Bearer, the reader_token), through
// RestApi::handle on real thin_file and thick_file backends and a real SQLite store.
#include <doctest/doctest.h>

#include <set>
#include <sstream>

#include "api/backend_services.hpp"
#include "api/migration.hpp"
#include "api/ops_routes.hpp"
#include "api/rest.hpp"
#include "tests/support/api_fixture.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/service_fixture.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

constexpr const char* kToken = "s3cret";
constexpr const char* kReader = "r3ader";

std::string ops_ini(const TempDir& dir, const std::string& defaults) {
    return "[DEFAULT]\nhost = host-o\nstate_path = " + dir.file("state") + "\nenabled_backends = thin, small\n" + defaults +
           "[thin]\nvolume_driver = thin_file\nvolume_backend_name = thin\npool_path = " + dir.file("thin") +
           "\npool_size = 10G\nmax_over_subscription_ratio = 2\n"
           "[small]\nvolume_driver = thick_file\nvolume_backend_name = small\npool_file = " + dir.file("small.pool") +
           "\npool_size = 3G\n";
}

struct Ops {
    TempDir dir;
    ServiceParts parts;
    VolumeService& service;
    Metrics metrics;
    std::unique_ptr<RestApi> api;
    std::unique_ptr<BackendServices> services;
    std::vector<std::string> log;

    explicit Ops(const std::string& defaults = "auth_strategy = noauth\n") : parts(ops_ini(dir, defaults)), service(*parts.volumes) {
        api = std::make_unique<RestApi>(service, metrics, [this](const std::string& l) { log.push_back(l); });
        services = std::make_unique<BackendServices>(service);
        REQUIRE(services->initialize().ok());
        services->install(*api);
        install_pool_routes(*api, service);
        install_usage_routes(*api, service);
    }

    ApiResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                     std::map<std::string, std::string> headers = {}) {
        return api->handle(api_request(method, path, body, std::move(headers)));
    }

    std::string create(const std::string& body) { return created_volume_id(*api, body); }
};

const std::string kTokenDefaults = std::string("auth_strategy = token\nauth_token = ") + kToken + "\nreader_token = " + kReader + "\n";

std::map<std::string, std::string> token(const std::string& t) { return {{"x-auth-token", t}}; }
std::map<std::string, std::string> bearer(const std::string& t) { return {{"authorization", "Bearer " + t}}; }

}  // namespace

// ------------------------------------------------------------------------------------- auth

TEST_CASE("ops auth: the version documents /, /v3 and /v3/ need no token, and everything else does") {
    Ops o(kTokenDefaults);
    CHECK(o.call("GET", "/").status == 300);
    auto v3 = o.call("GET", "/v3");
    CHECK(v3.status == 200);
    CHECK(v3.body["version"]["id"] == "v3.0");
    CHECK(o.call("GET", "/v3/").status == 200);
    // Only GET, and only the documents themselves.
    CHECK(o.call("POST", "/v3", "{}").status == 401);
    CHECK(o.call("GET", "/v3/p").status == 401);
    CHECK(o.call("GET", "/v3/p/volumes").status == 401);
    CHECK(o.call("GET", "/metrics").status == 401);
    auto refused = o.call("GET", "/v3/p/scheduler-stats/get_pools");
    CHECK(refused.status == 401);
    CHECK(message_of(refused).find("X-Auth-Token") != std::string::npos);
}

TEST_CASE("ops auth: Authorization: Bearer <token> is accepted like X-Auth-Token, and other schemes and wrong tokens are 401") {
    Ops o(kTokenDefaults);
    CHECK(o.call("GET", "/v3/p/volumes", "", bearer(kToken)).status == 200);
    CHECK(o.call("GET", "/v3/p/volumes", "", {{"authorization", std::string("bearer ") + kToken}}).status == 200);
    CHECK(o.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1}})", bearer(kToken)).status == 202);
    CHECK(o.call("GET", "/v3/p/volumes", "", bearer("wrong")).status == 401);
    CHECK(o.call("GET", "/v3/p/volumes", "", bearer(std::string(kToken) + "x")).status == 401);
    CHECK(o.call("GET", "/v3/p/volumes", "", {{"authorization", std::string("Basic ") + kToken}}).status == 401);
    CHECK(o.call("GET", "/v3/p/volumes", "", {{"authorization", kToken}}).status == 401);
    CHECK(o.call("GET", "/v3/p/volumes", "", {{"authorization", "Bearer "}}).status == 401);
    // X-Auth-Token wins when both are sent.
    CHECK(o.call("GET", "/v3/p/volumes", "", {{"x-auth-token", "wrong"}, {"authorization", std::string("Bearer ") + kToken}}).status == 401);
}

TEST_CASE("ops auth: the reader_token may GET listings, shows, pools, services, zones, limits, quotas, capabilities, metrics, and nothing else") {
    Ops o(kTokenDefaults);
    const std::string id = [&] {
        auto r = o.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1}})", token(kToken));
        REQUIRE(r.status == 202);
        return r.body["volume"]["id"].get<std::string>();
    }();
    for (const std::string& path : std::vector<std::string>{"/v3/p/volumes", "/v3/p/volumes/detail", "/v3/p/volumes/" + id, "/v3/volumes/" + id,
                                   "/v3/p/capabilities/host-o@thin", "/v3/p/scheduler-stats/get_pools?detail=true",
                                   "/v3/scheduler-stats/get_pools", "/v3/p/os-services", "/v3/p/os-availability-zone", "/v3/p/limits",
                                   "/v3/p/os-quota-sets/p?usage=true", "/v3/p/os-quota-sets/p/defaults", "/metrics"}) {
        CAPTURE(path);
        auto r = o.call("GET", path, "", token(kReader));
        CHECK_MESSAGE(r.status == 200, r.body.dump());
        CHECK(o.call("GET", path, "", bearer(kReader)).status == 200);
    }
    struct Refused {
        std::string method, path, body;
    };
    for (const Refused& r : std::vector<Refused>{{"POST", "/v3/p/volumes", R"({"volume": {"size": 1}})"},
                                                 {"DELETE", "/v3/p/volumes/" + id, ""},
                                                 {"POST", "/v3/p/volumes/" + id + "/action", R"({"os-extend": {"new_size": 2}})"},
                                                 {"PUT", "/v3/p/os-services/disable", R"({"host": "host-o@thin", "binary": "cinder-volume"})"},
                                                 {"PUT", "/v3/p/os-quota-sets/p", R"({"quota_set": {"volumes": 5}})"},
                                                 {"GET", "/volmig/v1/streams/" + id, ""},
                                                 {"GET", "/v3/p/unknown-collection", ""},
                                                 {"HEAD", "/metrics", ""}}) {
        CAPTURE(r.method + " " + r.path);
        auto answer = o.call(r.method, r.path, r.body, bearer(kReader));
        CHECK(answer.status == 403);
        CHECK(answer.body.contains("forbidden"));
        CHECK(message_of(answer).find("reader_token") != std::string::npos);
        CHECK(message_of(answer).find("auth_token") != std::string::npos);
    }
    // Nothing changed: the volume is there, 1 GiB, and the thin backend is still enabled.
    auto shown = o.call("GET", "/v3/p/volumes/" + id, "", token(kToken));
    CHECK(shown.body["volume"]["size"] == 1);
    CHECK(o.call("GET", "/v3/p/volumes", "", token(kToken)).body["volumes"].size() == 1);
    CHECK(o.call("GET", "/v3/p/os-services", "", token(kToken)).body["services"][0]["status"] == "enabled");
}

TEST_CASE("ops config: reader_token set but empty, or equal to auth_token, is refused, and storage_availability_zone is read") {
    TempDir dir;
    auto config_of = [&](const std::string& defaults) {
        auto file = ConfigFile::parse(ops_ini(dir, defaults), "test.conf");
        REQUIRE(file);
        return read_daemon_config(*file);
    };
    auto empty = config_of("auth_strategy = token\nauth_token = a\nreader_token =\n");
    REQUIRE(!empty);
    CHECK(empty.error().message.find("reader_token") != std::string::npos);
    CHECK(empty.error().message.find("empty") != std::string::npos);
    auto same = config_of("auth_strategy = token\nauth_token = a\nreader_token = a\n");
    REQUIRE(!same);
    CHECK(same.error().message.find("must differ from auth_token") != std::string::npos);
    auto ok = config_of("auth_strategy = token\nauth_token = a\nreader_token = b\nstorage_availability_zone = az-1\n");
    REQUIRE(ok);
    CHECK(ok->reader_token == "b");
    CHECK(ok->availability_zone == "az-1");
    auto fallback = config_of("auth_strategy = noauth\n");
    REQUIRE(fallback);
    CHECK(fallback->reader_token.empty());
    CHECK(fallback->availability_zone == "nova");
    CHECK(!config_of("auth_strategy = noauth\nstorage_availability_zone =\n"));
}

// ------------------------------------------------------------------------------------ pools

TEST_CASE("ops pools: one pool per backend named as the volumes' hosts, and detail has Cinder's capability keys from live facts") {
    Ops o;
    const std::string id = o.create(R"({"volume": {"size": 2, "volume_type": "small"}})");
    auto plain = o.call("GET", "/v3/p/scheduler-stats/get_pools");
    REQUIRE(plain.status == 200);
    CHECK(plain.body == nlohmann::json::parse(R"({"pools": [{"name": "host-o@thin#thin"}, {"name": "host-o@small#small"}]})"));
    CHECK(o.call("GET", "/v3/scheduler-stats/get_pools").body == plain.body);  // project-less
    const auto shown = o.call("GET", "/v3/p/volumes/" + id).body["volume"];
    auto detail = o.call("GET", "/v3/p/scheduler-stats/get_pools?detail=True");
    REQUIRE(detail.status == 200);
    REQUIRE(detail.body["pools"].size() == 2);
    const auto& thin = detail.body["pools"][0]["capabilities"];
    const auto& small = detail.body["pools"][1]["capabilities"];
    CHECK(detail.body["pools"][1]["name"] == shown["os-vol-host-attr:host"]);
    for (const char* key : {"total_capacity_gb", "free_capacity_gb", "allocated_capacity_gb", "provisioned_capacity_gb",
                            "thin_provisioning_support", "thick_provisioning_support", "max_over_subscription_ratio", "reserved_percentage",
                            "volume_backend_name", "vendor_name", "driver_version", "storage_protocol", "multiattach", "timestamp",
                            "pool_name", "sparse_copy_volume", "volmig:discard", "volmig:discard_zeroes"}) {
        CAPTURE(key);
        CHECK(thin.contains(key));
        CHECK(small.contains(key));
    }
    CHECK(thin["total_capacity_gb"] == 10.0);
    CHECK(thin["thin_provisioning_support"] == true);
    CHECK(thin["thick_provisioning_support"] == false);
    CHECK(thin["max_over_subscription_ratio"] == 2.0);
    CHECK(thin["vendor_name"] == "volmig");
    CHECK(thin["multiattach"] == false);
    CHECK(thin["allocated_capacity_gb"] == 0);
    CHECK(small["total_capacity_gb"] == 3.0);
    CHECK(small["thin_provisioning_support"] == false);
    CHECK(small["allocated_capacity_gb"] == 2);
    CHECK(small["provisioned_capacity_gb"] == 2.0);
    CHECK(small["free_capacity_gb"] == 1.0);
    CHECK(small["volume_backend_name"] == "small");
    CHECK(small["pool_name"] == "small");
    // The same facts as the capability documents.
    for (const auto& [backend, caps] : {std::pair<std::string, nlohmann::json>{"thin", thin}, {"small", small}}) {
        auto doc = o.call("GET", "/v3/p/capabilities/host-o@" + backend).body;
        CHECK(caps["sparse_copy_volume"] == doc["sparse_copy_volume"]);
        CHECK(caps["volmig:discard"] == doc["properties"]["volmig:discard"]["default"]);
        CHECK(caps["volmig:discard_zeroes"] == doc["properties"]["volmig:discard_zeroes"]["default"]);
        CHECK(caps["driver_version"] == doc["driver_version"]);
    }
    CHECK(thin["sparse_copy_volume"] == true);
    // The live usage: another volume moves the figures.
    o.create(R"({"volume": {"size": 1, "volume_type": "small"}})");
    auto after = o.call("GET", "/v3/p/scheduler-stats/get_pools?detail=true").body["pools"][1]["capabilities"];
    CHECK(after["allocated_capacity_gb"] == 3);
    CHECK(after["free_capacity_gb"] == 0.0);
    // ?name= picks one pool.
    auto named = o.call("GET", "/v3/p/scheduler-stats/get_pools?name=host-o@small%23small");
    CHECK(named.status == 200);
}

TEST_CASE("ops pools: a bad detail, an unknown query parameter, another method or path is refused as Cinder") {
    Ops o;
    auto bad = o.call("GET", "/v3/p/scheduler-stats/get_pools?detail=maybe");
    CHECK(bad.status == 400);
    CHECK(message_of(bad).find("detail") != std::string::npos);
    auto unknown = o.call("GET", "/v3/p/scheduler-stats/get_pools?colour=red");
    CHECK(unknown.status == 400);
    CHECK(message_of(unknown).find("colour") != std::string::npos);
    CHECK(o.call("POST", "/v3/p/scheduler-stats/get_pools", "{}").status == 405);
    CHECK(o.call("GET", "/v3/p/scheduler-stats").status == 404);
    CHECK(o.call("GET", "/v3/p/scheduler-stats/get_pools/x").status == 404);
    CHECK(o.call("GET", "/v3/p/scheduler-stats/get_pools?name=host-o@none").body["pools"].empty());
}

// --------------------------------------------------------------------------------- services

TEST_CASE("ops services: one cinder-volume service per backend with Cinder's keys, and host and binary filter as Cinder's") {
    Ops o;
    auto r = o.call("GET", "/v3/p/os-services");
    REQUIRE(r.status == 200);
    const auto& services = r.body["services"];
    REQUIRE(services.size() == 2);
    CHECK(services[0]["host"] == "host-o@thin");
    CHECK(services[1]["host"] == "host-o@small");
    for (const auto& s : services) {
        CHECK(s["binary"] == "cinder-volume");
        CHECK(s["zone"] == "nova");
        CHECK(s["status"] == "enabled");
        CHECK(s["state"] == "up");
        CHECK(s["updated_at"].is_string());
        CHECK(s["disabled_reason"].is_null());
        for (const char* key : {"cluster", "frozen", "replication_status", "active_backend_id", "backend_state"}) CHECK(s.contains(key));
    }
    CHECK(o.call("GET", "/v3/p/os-services?host=host-o").body["services"].size() == 2);
    CHECK(o.call("GET", "/v3/p/os-services?host=host-o@small").body["services"].size() == 1);
    CHECK(o.call("GET", "/v3/p/os-services?host=host-x").body["services"].empty());
    CHECK(o.call("GET", "/v3/p/os-services?host=host-o@sm").body["services"].empty());
    CHECK(o.call("GET", "/v3/p/os-services?binary=cinder-volume").body["services"].size() == 2);
    CHECK(o.call("GET", "/v3/p/os-services?binary=cinder-scheduler").body["services"].empty());
    auto unknown = o.call("GET", "/v3/p/os-services?zone=nova");
    CHECK(unknown.status == 400);
    CHECK(message_of(unknown).find("zone") != std::string::npos);
    CHECK(o.call("POST", "/v3/p/os-services", "{}").status == 405);
}

TEST_CASE("ops services: disable-log-reason refuses new volumes on the backend with the reason, persisted, and enable lets them in again") {
    Ops o;
    auto r = o.call("PUT", "/v3/p/os-services/disable-log-reason",
                    R"({"host": "host-o@small", "binary": "cinder-volume", "disabled_reason": "disk swap"})");
    REQUIRE_MESSAGE(r.status == 200, r.body.dump());
    CHECK(r.body == nlohmann::json::parse(R"({"host": "host-o@small", "service": "", "binary": "cinder-volume", "status": "disabled",
                                              "disabled": true, "disabled_reason": "disk swap"})"));
    auto listed = o.call("GET", "/v3/p/os-services?host=host-o@small").body["services"][0];
    CHECK(listed["status"] == "disabled");
    CHECK(listed["disabled_reason"] == "disk swap");
    auto refused = o.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "volume_type": "small"}})");
    CHECK(refused.status == 400);
    CHECK(message_of(refused).find("host-o@small") != std::string::npos);
    CHECK(message_of(refused).find("disk swap") != std::string::npos);
    CHECK(o.call("GET", "/v3/p/volumes").body["volumes"].empty());
    CHECK(o.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "volume_type": "thin"}})").status == 202);  // others still take them
    // The zone stays available while one backend takes volumes.
    CHECK(o.call("GET", "/v3/p/os-availability-zone").body["availabilityZoneInfo"][0]["zoneState"]["available"] == true);

    // Persisted: a new BackendServices over the same store sees it.
    BackendServices again(o.service);
    REQUIRE(again.initialize().ok());
    auto state = again.state("small");
    REQUIRE(state);
    CHECK(state->disabled);
    CHECK(state->disabled_reason == "disk swap");

    // A plain disable keeps the reason; enable clears it and admits volumes again.
    CHECK(o.call("PUT", "/v3/p/os-services/disable", R"({"host": "host-o@small", "binary": "cinder-volume"})").body["status"] == "disabled");
    CHECK(o.call("GET", "/v3/p/os-services?host=host-o@small").body["services"][0]["disabled_reason"] == "disk swap");
    auto enabled = o.call("PUT", "/v3/p/os-services/enable", R"({"host": "host-o@small", "binary": "cinder-volume"})");
    CHECK(enabled.status == 200);
    CHECK(enabled.body["status"] == "enabled");
    CHECK(enabled.body["disabled"] == false);
    listed = o.call("GET", "/v3/p/os-services?host=host-o@small").body["services"][0];
    CHECK(listed["status"] == "enabled");
    CHECK(listed["disabled_reason"].is_null());
    CHECK(o.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "volume_type": "small"}})").status == 202);

    // Both disabled: the zone is not available.
    for (const char* host : {"host-o@thin", "host-o@small"})
        REQUIRE(o.call("PUT", "/v3/p/os-services/disable", std::string(R"({"binary": "cinder-volume", "host": ")") + host + "\"}").status == 200);
    CHECK(o.call("GET", "/v3/p/os-availability-zone").body["availabilityZoneInfo"][0]["zoneState"]["available"] == false);
}

TEST_CASE("ops services: a migration onto a disabled backend of this daemon is refused at os-migrate_volume, with the reason") {
    Ops o;
    const std::string id = o.create(R"({"volume": {"size": 1, "volume_type": "thin"}})");
    REQUIRE(o.call("PUT", "/v3/p/os-services/disable-log-reason",
                   R"({"host": "host-o@small", "binary": "cinder-volume", "disabled_reason": "draining"})")
                .status == 200);
    Peers peers(o.parts.config);
    MigrationService migrations(o.service, peers, o.metrics, nullptr);
    REQUIRE(migrations.initialize().ok());
    MigrateRequest req;
    req.volume_id = id;
    req.destination = "host-o@small#small";
    auto started = migrations.start(req);
    REQUIRE(!started);
    CHECK(started.error().kind == ErrorKind::invalid);
    CHECK(started.error().message.find("draining") != std::string::npos);
    CHECK(started.error().message.find("host-o@small") != std::string::npos);
    auto v = o.call("GET", "/v3/p/volumes/" + id).body["volume"];
    CHECK(v["migration_status"].is_null());
    CHECK(v["status"] == "available");
}

TEST_CASE("ops services: bodies are validated as Cinder's schema, and an unknown host or binary is 404") {
    Ops o;
    struct Case {
        std::string path, body;
        int status;
        std::string says;
    };
    for (const Case& c : std::vector<Case>{
             {"disable", R"({"host": "host-o@thin", "binary": "cinder-volume", "colour": "red"})", 400, "colour"},
             {"disable", R"({"host": "host-o@thin", "binary": "cinder-volume", "disabled_reason": "x"})", 400, "disabled_reason"},
             {"disable", R"({"binary": "cinder-volume"})", 400, "host"},
             {"disable", R"({"host": "host-o@thin"})", 400, "binary"},
             {"disable", R"({"host": 7, "binary": "cinder-volume"})", 400, "host must be a string"},
             {"disable", R"({"host": "host-o@thin", "binary": ["cinder-volume"]})", 400, "binary must be a string"},
             {"disable", R"({"host": "host-o@thin", "binary": ""})", 400, "binary"},
             {"disable", R"({"host": "host-o@thin", "binary": "cinder-volume", "cluster": "c1"})", 400, "cluster"},
             {"disable", "[1]", 400, "object"},
             {"disable", "", 400, "body"},
             {"disable-log-reason", R"({"host": "host-o@thin", "binary": "cinder-volume"})", 400, "disabled_reason is missing"},
             {"disable-log-reason", R"({"host": "host-o@thin", "binary": "cinder-volume", "disabled_reason": null})", 400, "disabled_reason is missing"},
             {"disable-log-reason", R"({"host": "host-o@thin", "binary": "cinder-volume", "disabled_reason": ""})", 400, "disabled_reason"},
             {"disable-log-reason", R"({"host": "host-o@thin", "binary": "cinder-volume", "disabled_reason": "   "})", 400, "disabled_reason"},
             {"disable-log-reason", R"({"host": "host-o@thin", "binary": "cinder-volume", "disabled_reason": "a\nb"})", 400, "control"},
             {"disable-log-reason", R"({"host": "host-o@thin", "binary": "cinder-volume", "disabled_reason": 5})", 400, "must be a string"},
             {"disable-log-reason", R"({"host": "host-o@thin", "binary": "cinder-volume", "disabled_reason": ")" + std::string(256, 'r') + "\"}",
              400, "255"},
             {"enable", R"({"host": "host-x@thin", "binary": "cinder-volume"})", 404, "could not be found"},
             {"enable", R"({"host": "host-o@none", "binary": "cinder-volume"})", 404, "could not be found"},
             {"enable", R"({"host": "host-o", "binary": "cinder-volume"})", 404, "could not be found"},
             {"enable", R"({"host": "host-o@thin#thin", "binary": "cinder-volume"})", 404, "could not be found"},
             {"enable", R"({"host": "host-o@thin", "binary": "cinder-scheduler"})", 404, "cinder-scheduler"},
         }) {
        CAPTURE(c.path + " " + c.body);
        auto r = o.call("PUT", "/v3/p/os-services/" + c.path, c.body);
        CHECK(r.status == c.status);
        CHECK(message_of(r).find(c.says) != std::string::npos);
    }
    // Nothing was disabled by the refused requests.
    const ApiResponse listed = o.call("GET", "/v3/p/os-services");
    for (const auto& s : listed.body.at("services")) CHECK(s["status"] == "enabled");
    // The deprecated "service" key names the binary too; other actions and methods.
    CHECK(o.call("PUT", "/v3/p/os-services/disable", R"({"host": "host-o@thin", "service": "cinder-volume"})").status == 200);
    CHECK(o.call("PUT", "/v3/p/os-services/freeze", R"({"host": "host-o@thin"})").status == 404);
    CHECK(o.call("GET", "/v3/p/os-services/enable").status == 405);
    CHECK(o.call("POST", "/v3/p/os-services/enable", R"({"host": "host-o@thin", "binary": "cinder-volume"})").status == 405);
}

// ------------------------------------------------------------------- zones, limits, quotas

TEST_CASE("ops zones: os-availability-zone shows the configured zone, and volumes show it, and a create naming another zone is 400") {
    Ops o("auth_strategy = noauth\nstorage_availability_zone = az-lab\n");
    auto zones = o.call("GET", "/v3/p/os-availability-zone");
    REQUIRE(zones.status == 200);
    CHECK(zones.body == nlohmann::json::parse(R"({"availabilityZoneInfo": [{"zoneName": "az-lab", "zoneState": {"available": true}}]})"));
    const std::string id = o.create(R"({"volume": {"size": 1, "availability_zone": "az-lab"}})");
    CHECK(o.call("GET", "/v3/p/volumes/" + id).body["volume"]["availability_zone"] == "az-lab");
    CHECK(o.call("GET", "/v3/p/os-services").body["services"][0]["zone"] == "az-lab");
    auto other = o.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "availability_zone": "nova"}})");
    CHECK(other.status == 400);
    CHECK(message_of(other).find("az-lab") != std::string::npos);
    CHECK(o.call("GET", "/v3/p/os-availability-zone?x=1").status == 400);
    CHECK(o.call("GET", "/v3/p/os-availability-zone/detail").status == 404);
    CHECK(o.call("DELETE", "/v3/p/os-availability-zone").status == 405);
}

TEST_CASE("ops limits: used volumes and GiB from the records, maxTotalVolumeGigabytes from the pools, -1 where nothing is enforced") {
    Ops o;
    o.create(R"({"volume": {"size": 2}})");
    o.create(R"({"volume": {"size": 1, "volume_type": "small"}})");
    REQUIRE(o.call("POST", "/v3/other/volumes", R"({"volume": {"size": 4}})").status == 202);
    auto r = o.call("GET", "/v3/p/limits");
    REQUIRE(r.status == 200);
    const auto& absolute = r.body["limits"]["absolute"];
    CHECK(r.body["limits"]["rate"] == nlohmann::json::array());
    CHECK(absolute["totalVolumesUsed"] == 2);
    CHECK(absolute["totalGigabytesUsed"] == 3);
    CHECK(absolute["maxTotalVolumeGigabytes"] == 10 * 2 + 3);  // thin 10G x 2, thick 3G
    CHECK(absolute["maxTotalVolumes"] == -1);
    CHECK(absolute["maxTotalSnapshots"] == -1);
    CHECK(absolute["maxTotalBackups"] == -1);
    CHECK(absolute["totalSnapshotsUsed"] == 0);
    // A migration's destination volume is not one more volume of the project.
    const std::string target = o.create(R"({"volume": {"size": 5}})");
    CHECK(o.call("GET", "/v3/p/limits").body["limits"]["absolute"]["totalVolumesUsed"] == 3);
    REQUIRE(o.service.store().modify(target, [](VolumeRecord& v) {
        v.migration_status = VolumeMigrationStatus::target;
        return success();
    }).ok());
    CHECK(o.call("GET", "/v3/p/limits").body["limits"]["absolute"]["totalVolumesUsed"] == 2);
    CHECK(o.call("GET", "/v3/p/os-quota-sets/p?usage=true").body["quota_set"]["gigabytes"]["in_use"] == 3);
    // Another project by ?tenant_id= (cinderclient's absolute-limits TENANT); every project without one.
    CHECK(o.call("GET", "/v3/p/limits?tenant_id=other").body["limits"]["absolute"]["totalGigabytesUsed"] == 4);
    CHECK(o.call("GET", "/v3/limits").body["limits"]["absolute"]["totalVolumesUsed"] == 3);  // the target left out
    CHECK(o.call("GET", "/v3/p/limits?colour=red").status == 400);
    CHECK(o.call("POST", "/v3/p/limits", "{}").status == 405);
    CHECK(o.call("GET", "/v3/p/limits/x").status == 404);
}

TEST_CASE("ops quotas: read-only quota sets with real usage and -1 limits, and PUT and DELETE say volmig enforces no quotas") {
    Ops o;
    o.create(R"({"volume": {"size": 2}})");
    auto plain = o.call("GET", "/v3/p/os-quota-sets/p?usage=False");
    REQUIRE(plain.status == 200);
    CHECK(plain.body["quota_set"]["id"] == "p");
    CHECK(plain.body["quota_set"]["volumes"] == -1);
    CHECK(plain.body["quota_set"]["gigabytes"] == -1);
    auto usage = o.call("GET", "/v3/p/os-quota-sets/p?usage=True");
    REQUIRE(usage.status == 200);
    CHECK(usage.body["quota_set"]["volumes"] == nlohmann::json::parse(R"({"limit": -1, "in_use": 1, "reserved": 0, "allocated": 0})"));
    CHECK(usage.body["quota_set"]["gigabytes"]["in_use"] == 2);
    CHECK(usage.body["quota_set"]["snapshots"]["in_use"] == 0);
    CHECK(o.call("GET", "/v3/p/os-quota-sets/nobody?usage=true").body["quota_set"]["volumes"]["in_use"] == 0);
    auto defaults = o.call("GET", "/v3/p/os-quota-sets/p/defaults");
    REQUIRE(defaults.status == 200);
    CHECK(defaults.body["quota_set"]["per_volume_gigabytes"] == -1);
    for (const char* method : {"PUT", "DELETE"}) {
        auto r = o.call(method, "/v3/p/os-quota-sets/p", R"({"quota_set": {"volumes": 5}})");
        CHECK(r.status == 400);
        CHECK(message_of(r).find("volmig enforces no quotas") != std::string::npos);
    }
    CHECK(o.call("GET", "/v3/p/os-quota-sets/p?usage=perhaps").status == 400);
    CHECK(o.call("GET", "/v3/p/os-quota-sets/p?detail=1").status == 400);
    CHECK(o.call("GET", "/v3/p/os-quota-sets").status == 404);
    CHECK(o.call("GET", "/v3/p/os-quota-sets/p/other").status == 404);
    CHECK(o.call("PUT", "/v3/p/os-quota-sets/p/defaults", "{}").status == 405);
}

// ---------------------------------------------------------------------------------- metrics

TEST_CASE("ops metrics: every metric rendered has # HELP and # TYPE before its samples") {
    Metrics m;
    m.record_request("GET", 200);
    m.add_gauges({{"volmig_documented", "A documented gauge."}}, [](auto emit) {
        emit("volmig_documented", "backend=\"a\"", 1);
        emit("volmig_forgotten", "backend=\"a\"", 2);
    });
    std::set<std::string> helped, typed;
    std::istringstream text(m.render());
    std::string line;
    int samples = 0;
    while (std::getline(text, line)) {
        if (line.rfind("# HELP ", 0) == 0) {
            helped.insert(line.substr(7, line.find(' ', 7) - 7));
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            typed.insert(line.substr(7, line.find(' ', 7) - 7));
            continue;
        }
        const std::string name = line.substr(0, line.find_first_of("{ "));
        CAPTURE(line);
        CHECK(helped.count(name) == 1);
        CHECK(typed.count(name) == 1);
        ++samples;
    }
    CHECK(samples >= 8);
    CHECK(helped.count("volmig_documented") == 1);
    CHECK(helped.count("volmig_forgotten") == 1);
}
