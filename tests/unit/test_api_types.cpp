// Volume types through RestApi::handle, on a real store and real drivers (thin_file and
// thick_file on temporary files): the /types routes and their validation, volume_type on create
// by name or id, and os-retype in place, refused, and by a local migration.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "api/migration.hpp"
#include "api/volume_types.hpp"
#include "tests/support/api_fixture.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/service_fixture.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

struct TypesApi {
    TempDir dir;
    ServiceParts parts;
    Metrics metrics;
    std::unique_ptr<Peers> peers;
    std::unique_ptr<RestApi> api;
    std::unique_ptr<HttpServer> server;
    std::unique_ptr<VolumeTypes> types;
    std::unique_ptr<MigrationService> migrations;

    static std::string ini(const TempDir& dir, const std::string& extra) {
        return "[DEFAULT]\nhost = host-a\nauth_strategy = noauth\nstate_path = " + dir.file("state") + "\nenabled_backends = thin, thick\n" +
               extra + "[thin]\nvolume_driver = thin_file\nvolume_backend_name = thin\npool_path = " + dir.file("thin") +
               "\npool_size = 10G\n[thick]\nvolume_driver = thick_file\nvolume_backend_name = thick\npool_file = " + dir.file("thick.pool") +
               "\npool_size = 3G\n[peers]\nhost-b = http://127.0.0.1:9\n";
    }

    explicit TypesApi(const std::string& extra = "") : parts(ini(dir, extra)) { start(); }
    ~TypesApi() { stop(); }

    void stop() {
        if (migrations) migrations->stop();
    }
    // The daemon's order: migrations, then types (their completion step), then the restart's resumption.
    void start() {
        stop();
        migrations.reset();
        peers = std::make_unique<Peers>(parts.config);
        api = std::make_unique<RestApi>(*parts.volumes, metrics, nullptr);
        server = std::make_unique<HttpServer>(*api, metrics, parts.config.http, nullptr);
        migrations = std::make_unique<MigrationService>(*parts.volumes, *peers, metrics, nullptr);
        REQUIRE(migrations->initialize().ok());
        migrations->install(*api, *server);
        types = std::make_unique<VolumeTypes>(*parts.volumes, parts.config.default_volume_type, nullptr);
        REQUIRE(types->initialize().ok());
        types->install(*api, *migrations);
        migrations->resume_after_restart();
    }

    ApiResponse call(const std::string& method, const std::string& path, const std::string& body = "") {
        return api->handle(api_request(method, path, body));
    }

    nlohmann::json create_type(const std::string& name, const std::string& specs = "{}") {
        auto r = call("POST", "/v3/p/types", R"({"volume_type": {"name": ")" + name + R"(", "extra_specs": )" + specs + "}}");
        REQUIRE_MESSAGE(r.status == 200, r.body.dump());
        return r.body["volume_type"];
    }
    std::string type_id(const std::string& name) {
        auto r = call("GET", "/v3/p/types?is_public=None&name=" + name);
        REQUIRE(r.status == 200);
        REQUIRE(r.body["volume_types"].size() == 1);
        return r.body["volume_types"][0]["id"];
    }
    nlohmann::json create_volume(const std::string& body) {
        auto r = call("POST", "/v3/p/volumes", body);
        REQUIRE_MESSAGE(r.status == 202, r.body.dump());
        return r.body["volume"];
    }
    nlohmann::json volume(const std::string& id) {
        auto r = call("GET", "/v3/p/volumes/" + id);
        REQUIRE(r.status == 200);
        return r.body["volume"];
    }
    // The volume once its migration succeeded or failed (30 s at most).
    nlohmann::json migration_ended(const std::string& id) {
        nlohmann::json v;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            v = volume(id);
        } while (v["migration_status"] != "success" && v["migration_status"] != "error" && std::chrono::steady_clock::now() < deadline);
        return v;
    }
    size_t type_count() { return call("GET", "/v3/types?is_public=none").body["volume_types"].size(); }
};

bool says(const ApiResponse& r, const std::string& text) { return message_of(r).find(text) != std::string::npos; }

}  // namespace

TEST_CASE("each backend appears as a type of its volume_backend_name, the same one after a restart, the first one the default") {
    TypesApi a;
    auto list = a.call("GET", "/v3/p/types");
    REQUIRE(list.status == 200);
    REQUIRE(list.body["volume_types"].size() == 2);
    CHECK(list.body["volume_types"][0]["name"] == "thin");
    CHECK(list.body["volume_types"][0]["extra_specs"]["volume_backend_name"] == "thin");
    CHECK(list.body["volume_types"][0]["os-volume-type-access:is_public"] == true);
    CHECK(list.body["volume_types"][1]["name"] == "thick");
    const std::string thin = a.type_id("thin");
    CHECK(a.call("GET", "/v3/p/types/default").body["volume_type"]["id"] == thin);
    a.start();
    CHECK(a.type_id("thin") == thin);
    CHECK(a.type_count() == 2);
    // Project-less URLs, as for volumes.
    CHECK(a.call("GET", "/v3/types/" + thin).body["volume_type"]["name"] == "thin");
}

TEST_CASE("the configured default_volume_type is the default type, and a volume created without a type gets it") {
    TypesApi a("default_volume_type = gold\n");
    CHECK(a.call("GET", "/v3/p/types/default").status == 404);
    auto missing = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1}})");
    CHECK(missing.status == 404);
    CHECK(says(missing, "volume.volume_type is not given and the default volume type gold could not be found"));
    auto gold = a.create_type("gold", R"({"volume_backend_name": "thick"})");
    CHECK(a.call("GET", "/v3/p/types/default").body["volume_type"]["id"] == gold["id"]);
    auto v = a.create_volume(R"({"volume": {"size": 1}})");
    CHECK(v["volume_type"] == "gold");
    CHECK(v["volume_type_id"] == gold["id"]);
    CHECK(v["os-vol-host-attr:host"] == "host-a@thick#thick");
    auto refused = a.call("DELETE", "/v3/p/types/" + gold["id"].get<std::string>());
    CHECK(refused.status == 400);
    CHECK(says(refused, "default volume type"));
}

TEST_CASE("type create, show, update, delete: Cinder's shapes and a message naming each bad field") {
    TypesApi a;
    auto r = a.call("POST", "/v3/p/types",
                    R"({"volume_type": {"name": "Gold", "description": "fast", "os-volume-type-access:is_public": "false",
                                        "extra_specs": {"volume_backend_name": "thick", "qos:iops": "100"}}})");
    REQUIRE_MESSAGE(r.status == 200, r.body.dump());
    const std::string id = r.body["volume_type"]["id"];
    CHECK(r.body["volume_type"]["name"] == "Gold");
    CHECK(r.body["volume_type"]["description"] == "fast");
    CHECK(r.body["volume_type"]["is_public"] == false);
    CHECK(r.body["volume_type"]["extra_specs"]["qos:iops"] == "100");
    // cinderclient lists with is_public=None (all); without it only public types, as Cinder.
    CHECK(a.call("GET", "/v3/p/types").body["volume_types"].size() == 2);
    CHECK(a.call("GET", "/v3/p/types?is_public=None").body["volume_types"].size() == 3);
    CHECK(a.call("GET", "/v3/p/types?is_public=false").body["volume_types"].size() == 1);
    CHECK(a.call("GET", "/v3/p/types?is_public=maybe").status == 400);
    CHECK(a.call("GET", "/v3/p/types?sort=name").status == 400);

    struct Bad {
        const char* body;
        const char* says;
    };
    const Bad bad[] = {
        {R"({"volume_type": {}})", "volume_type.name is required"},
        {R"({"volume_type": {"name": ""}})", "volume_type.name must not be empty"},
        {R"({"volume_type": {"name": "   "}})", "volume_type.name must not be empty"},
        {R"({"volume_type": {"name": 7}})", "volume_type.name must be a string"},
        {R"({"volume_type": {"name": "a\u0000b"}})", "NUL"},
        {R"({"volume_type": {"name": "x", "colour": "red"}})", "unknown field 'volume_type.colour'"},
        {R"({"volume_type": {"name": "x", "is_public": true}})", "unknown field 'volume_type.is_public'"},
        {R"({"volume_type": {"name": "x", "os-volume-type-access:is_public": "perhaps"}})", "must be a boolean"},
        {R"({"volume_type": {"name": "x", "description": ["a"]}})", "volume_type.description must be a string"},
        {R"({"volume_type": {"name": "x", "extra_specs": ["a"]}})", "volume_type.extra_specs must be an object"},
        {R"({"volume_type": {"name": "x", "extra_specs": {"a": 1}}})", "volume_type.extra_specs.a must be a string"},
        {R"({"volume_type": {"name": "x", "extra_specs": {"bad*key": "1"}}})", "extra spec key 'bad*key'"},
        {R"({"volume_type": {"name": "x", "extra_specs": {"volmig:host": "nohost"}}})", "volmig:host"},
        {R"({"volume_type": {"name": "x"}, "more": 1})", "unknown field 'more'"},
        {R"({"type": {"name": "x"}})", "unknown field 'type'"},
        {R"([1])", "must be a JSON object"},
    };
    for (const auto& b : bad) {
        auto refused = a.call("POST", "/v3/p/types", b.body);
        const std::string what = std::string(b.body) + " -> " + message_of(refused);
        CHECK_MESSAGE(refused.status == 400, what);
        CHECK_MESSAGE(says(refused, b.says), what);
    }
    const std::string long_name(256, 'n');
    CHECK(says(a.call("POST", "/v3/p/types", R"({"volume_type": {"name": ")" + long_name + "\"}}"), "longer than 255"));
    const std::string long_value(256, 'v');
    CHECK(says(a.call("POST", "/v3/p/types", R"({"volume_type": {"name": "x", "extra_specs": {"k": ")" + long_value + "\"}}}"),
               "longer than 255"));
    CHECK(a.create_type(std::string(255, 'n'))["name"].get<std::string>().size() == 255);
    CHECK(a.type_count() == 4);  // nothing else was created

    // Duplicate names: 409, as Cinder; names keep their case and differ by it.
    auto dup = a.call("POST", "/v3/p/types", R"({"volume_type": {"name": "Gold"}})");
    CHECK(dup.status == 409);
    CHECK(says(dup, "already exists"));
    CHECK(a.call("POST", "/v3/p/types", R"({"volume_type": {"name": "gold"}})").status == 200);

    // Update: what cinderclient sends (nulls for what stays); nothing to change is 400.
    auto up = a.call("PUT", "/v3/p/types/" + id, R"({"volume_type": {"name": null, "description": "faster", "is_public": true}})");
    REQUIRE_MESSAGE(up.status == 200, up.body.dump());
    CHECK(up.body["volume_type"]["name"] == "Gold");
    CHECK(up.body["volume_type"]["description"] == "faster");
    CHECK(up.body["volume_type"]["is_public"] == true);
    CHECK(a.call("PUT", "/v3/p/types/" + id, R"({"volume_type": {"name": "Platinum"}})").body["volume_type"]["name"] == "Platinum");
    CHECK(says(a.call("PUT", "/v3/p/types/" + id, R"({"volume_type": {"name": null, "description": null}})"), "needs name"));
    CHECK(says(a.call("PUT", "/v3/p/types/" + id, R"({"volume_type": {"extra_specs": {}}})"), "unknown field 'volume_type.extra_specs'"));
    CHECK(a.call("PUT", "/v3/p/types/" + id, R"({"volume_type": {"name": "gold"}})").status == 409);
    CHECK(says(a.call("PUT", "/v3/p/types/" + a.type_id("thin"), R"({"volume_type": {"name": "bronze"}})"), "default volume type"));
    CHECK(a.call("GET", "/v3/p/types/" + id).body["volume_type"]["name"] == "Platinum");

    CHECK(a.call("GET", "/v3/p/types/no-such-type").status == 404);
    CHECK(a.call("PATCH", "/v3/p/types/" + id).status == 405);
    CHECK(a.call("DELETE", "/v3/p/types/" + id).status == 202);
    CHECK(a.call("GET", "/v3/p/types/" + id).status == 404);
    CHECK(a.call("DELETE", "/v3/p/types/" + id).status == 404);
}

TEST_CASE("extra specs: list, set several, show, update one, unset, with keys and bodies checked") {
    TypesApi a;
    const std::string id = a.create_type("silver")["id"];
    const std::string base = "/v3/p/types/" + id + "/extra_specs";
    CHECK(a.call("GET", base).body == nlohmann::json::parse(R"({"extra_specs": {}})"));
    auto set = a.call("POST", base, R"({"extra_specs": {"volume_backend_name": "thick", "a:b": "1"}})");
    REQUIRE(set.status == 200);
    CHECK(set.body["extra_specs"]["a:b"] == "1");
    CHECK(a.call("GET", base + "/volume_backend_name").body == nlohmann::json::parse(R"({"volume_backend_name": "thick"})"));
    CHECK(a.call("PUT", base + "/a:b", R"({"a:b": "2"})").body["a:b"] == "2");
    CHECK(a.call("GET", base).body["extra_specs"]["a:b"] == "2");

    CHECK(says(a.call("PUT", base + "/a:b", R"({"c": "2"})"), "not the path's"));
    CHECK(says(a.call("PUT", base + "/a:b", R"({"a:b": "2", "c": "3"})"), "exactly one"));
    CHECK(says(a.call("PUT", base + "/a:b", R"({"a:b": 2})"), "must be a string"));
    CHECK(says(a.call("POST", base, R"({"extra_specs": {}})"), "at least one"));
    CHECK(says(a.call("POST", base, R"({"extra_specs": {"k": "v"}, "x": 1})"), "unknown field 'x'"));
    CHECK(says(a.call("POST", base, R"({"specs": {"k": "v"}})"), "unknown field 'specs'"));
    CHECK(says(a.call("POST", base, R"({"extra_specs": {"k\u0000": "v"}})"), "extra spec key"));
    CHECK(says(a.call("POST", base, R"({"extra_specs": {"k": "v\u0000"}})"), "NUL"));
    CHECK(says(a.call("POST", base, R"({"extra_specs": {"volmig:host": "a@"}})"), "volmig:host"));
    CHECK(a.call("GET", base + "/bad*key").status == 400);
    CHECK(a.call("GET", base + "/missing").status == 404);
    CHECK(a.call("DELETE", base + "/missing").status == 404);
    CHECK(a.call("DELETE", base + "/a:b").status == 202);
    CHECK(a.call("GET", base).body["extra_specs"] == nlohmann::json::parse(R"({"volume_backend_name": "thick"})"));
    CHECK(a.call("GET", "/v3/p/types/nope/extra_specs").status == 404);
}

TEST_CASE("volume_type on create takes a type's name or id, and its volume_backend_name chooses the backend") {
    TypesApi a;
    const std::string gold = a.create_type("gold", R"({"volume_backend_name": "thick"})")["id"];
    auto by_name = a.create_volume(R"({"volume": {"size": 1, "volume_type": "gold"}})");
    CHECK(by_name["volume_type"] == "gold");
    CHECK(by_name["volume_type_id"] == gold);
    CHECK(by_name["os-vol-host-attr:host"] == "host-a@thick#thick");
    auto by_id = a.create_volume(R"({"volume": {"size": 1, "volume_type": ")" + gold + "\"}}");
    CHECK(by_id["volume_type"] == "gold");
    CHECK(by_id["os-vol-host-attr:host"] == "host-a@thick#thick");
    // A backend's own type, and the default (the first backend's).
    auto thin = a.create_volume(R"({"volume": {"size": 1, "volume_type": "thin"}})");
    CHECK(thin["volume_type_id"] == a.type_id("thin"));
    CHECK(thin["os-vol-host-attr:host"] == "host-a@thin#thin");
    auto plain = a.create_volume(R"({"volume": {"size": 1}})");
    CHECK(plain["volume_type"] == "thin");
    CHECK(plain["volume_type_id"] == a.type_id("thin"));
    // A type without placement specs goes to the first backend.
    a.create_type("anywhere");
    CHECK(a.create_volume(R"({"volume": {"size": 1, "volume_type": "anywhere"}})")["os-vol-host-attr:host"] == "host-a@thin#thin");

    auto unknown = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "volume_type": "nope"}})");
    CHECK(unknown.status == 404);
    CHECK(says(unknown, "volume.volume_type 'nope' could not be found"));
    a.create_type("elsewhere", R"({"volume_backend_name": "lvm-gold"})");
    auto absent = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "volume_type": "elsewhere"}})");
    CHECK(absent.status == 400);
    CHECK(says(absent, "volume_backend_name 'lvm-gold', which no backend of host host-a has"));
    a.create_type("peer", R"({"volmig:host": "host-b@thin#thin"})");
    auto on_peer = a.call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "volume_type": "peer"}})");
    CHECK(on_peer.status == 400);
    CHECK(says(on_peer, "host-b@thin#thin"));
    CHECK(a.call("GET", "/v3/p/volumes/detail").body["volumes"].size() == 5);
}

TEST_CASE("a type cannot be deleted, nor its placement specs changed, while a volume has it") {
    TypesApi a;
    const std::string gold = a.create_type("gold", R"({"volume_backend_name": "thick", "other": "x"})")["id"];
    const std::string vol = a.create_volume(R"({"volume": {"size": 1, "volume_type": "gold"}})")["id"];
    auto refused = a.call("DELETE", "/v3/p/types/" + gold);
    CHECK(refused.status == 400);
    CHECK(says(refused, "still in use by 1 volume(s), as " + vol));
    CHECK(says(a.call("PUT", "/v3/p/types/" + gold + "/extra_specs/volume_backend_name", R"({"volume_backend_name": "thin"})"), "in use"));
    CHECK(says(a.call("DELETE", "/v3/p/types/" + gold + "/extra_specs/volume_backend_name"), "in use"));
    CHECK(says(a.call("POST", "/v3/p/types/" + gold + "/extra_specs", R"({"extra_specs": {"volmig:host": "host-a@thin"}})"), "in use"));
    // The same value, and other keys, may be set.
    CHECK(a.call("PUT", "/v3/p/types/" + gold + "/extra_specs/volume_backend_name", R"({"volume_backend_name": "thick"})").status == 200);
    CHECK(a.call("PUT", "/v3/p/types/" + gold + "/extra_specs/other", R"({"other": "y"})").status == 200);
    // A backend's type is in use by the volumes of that backend created before types existed.
    VolumeRecord old;
    old.id = "old-volume";
    old.backend = "thick";
    old.status = VolumeStatus::available;
    REQUIRE(a.parts.store->insert(old).ok());
    CHECK(says(a.call("DELETE", "/v3/p/types/" + a.type_id("thick")), "as old-volume"));
    CHECK(a.volume("old-volume")["volume_type"] == "thick");
    CHECK(a.volume("old-volume")["volume_type_id"].is_null());
    CHECK(a.call("DELETE", "/v3/p/volumes/" + vol).status == 202);
    CHECK(a.call("DELETE", "/v3/p/types/" + gold).status == 202);
}

TEST_CASE("os-retype: in place on the same backend, refused with never, to the type it has, or with bad arguments") {
    TypesApi a;
    a.create_type("thin-gold", R"({"volume_backend_name": "thin"})");
    const std::string vol = a.create_volume(R"({"volume": {"size": 1, "volume_type": "thin"}})")["id"];
    const std::string action = "/v3/p/volumes/" + vol + "/action";
    const std::string location = a.volume(vol)["volmig:location"];
    auto same = a.call("POST", action, R"({"os-retype": {"new_type": "thin", "migration_policy": "never"}})");
    CHECK(same.status == 400);
    CHECK(says(same, "already has volume type thin"));

    auto in_place = a.call("POST", action, R"({"os-retype": {"new_type": "thin-gold"}})");
    CHECK(in_place.status == 202);
    auto v = a.volume(vol);
    CHECK(v["volume_type"] == "thin-gold");
    CHECK(v["volume_type_id"] == a.type_id("thin-gold"));
    CHECK(v["volmig:location"] == location);
    CHECK(v["migration_status"].is_null());

    // A type that says nothing of placement puts the volume anywhere: in place too.
    a.create_type("plain");
    CHECK(a.call("POST", action, R"({"os-retype": {"new_type": "plain"}})").status == 202);
    CHECK(a.volume(vol)["volume_type"] == "plain");
    CHECK(a.call("POST", action, R"({"os-retype": {"new_type": "thin-gold", "migration_policy": "never"}})").status == 202);

    auto never = a.call("POST", action, R"({"os-retype": {"new_type": "thick", "migration_policy": "never"}})");
    CHECK(never.status == 400);
    CHECK(says(never, "needs a migration"));
    CHECK(a.call("POST", action, R"({"os-retype": {"new_type": "thick"}})").status == 400);  // never is the default
    CHECK(a.volume(vol)["volume_type"] == "thin-gold");

    CHECK(a.call("POST", action, R"({"os-retype": {"new_type": "nope", "migration_policy": "on-demand"}})").status == 404);
    CHECK(says(a.call("POST", action, R"({"os-retype": {"migration_policy": "never"}})"), "needs new_type"));
    CHECK(says(a.call("POST", action, R"({"os-retype": {"new_type": 3}})"), "new_type must be"));
    CHECK(says(a.call("POST", action, R"({"os-retype": {"new_type": "thick", "migration_policy": "always"}})"), "never or on-demand"));
    CHECK(says(a.call("POST", action, R"({"os-retype": {"new_type": "thick", "x": 1}})"), "unknown field 'x' in os-retype"));
    CHECK(says(a.call("POST", action, R"({"os-retype": "thick"})"), "takes an object"));
    CHECK(a.call("POST", "/v3/p/volumes/nope/action", R"({"os-retype": {"new_type": "thick"}})").status == 404);
    a.create_type("gone", R"({"volume_backend_name": "nowhere"})");
    CHECK(says(a.call("POST", action, R"({"os-retype": {"new_type": "gone", "migration_policy": "on-demand"}})"), "'nowhere'"));
    CHECK(a.volume(vol)["volume_type"] == "thin-gold");
}

TEST_CASE("os-retype on-demand to another backend migrates the volume, which takes the new type as the migration completes") {
    TypesApi a;
    auto created = a.create_volume(R"({"volume": {"size": 1, "volume_type": "thin"}})");
    const std::string vol = created["id"];
    write_random(created["volmig:location"], 0, 1 << 20, 5);
    const auto before = read_range(created["volmig:location"], 0, 1 << 20);
    auto r = a.call("POST", "/v3/p/volumes/" + vol + "/action", R"({"os-retype": {"new_type": "thick", "migration_policy": "on-demand"}})");
    REQUIRE_MESSAGE(r.status == 202, r.body.dump());
    nlohmann::json v;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    do {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        v = a.volume(vol);
    } while (v["migration_status"] != "success" && v["migration_status"] != "error" && std::chrono::steady_clock::now() < deadline);
    REQUIRE_MESSAGE(v["migration_status"] == "success", v.dump());
    CHECK(v["volume_type"] == "thick");
    CHECK(v["volume_type_id"] == a.type_id("thick"));
    CHECK(v["os-vol-host-attr:host"] == "host-a@thick#thick");
    CHECK(v["volmig:migration"]["destination"] == "host-a@thick#thick");
    {
        auto record = a.parts.volumes->get(vol);
        REQUIRE(record.ok());
        auto attached = a.parts.volumes->attach_for_copy(*record);
        REQUIRE(attached.ok());
        CHECK(read_range(attached->path(), 0, 1 << 20) == before);
    }
    // A migration that is not a retype leaves the type alone, as Cinder's.
    auto back = a.call("POST", "/v3/p/volumes/" + vol + "/action", R"({"os-migrate_volume": {"host": "host-a@thin#thin"}})");
    REQUIRE_MESSAGE(back.status == 202, back.body.dump());
    do {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        v = a.volume(vol);
    } while (v["os-vol-host-attr:host"] != "host-a@thin#thin" && v["migration_status"] != "error" && std::chrono::steady_clock::now() < deadline);
    CHECK(v["os-vol-host-attr:host"] == "host-a@thin#thin");
    CHECK(v["volume_type"] == "thick");
}

TEST_CASE("an in-use volume is retyped in place as Cinder allows, and a retype that needs a migration is refused for it") {
    TypesApi a;
    a.create_type("thin-gold", R"({"volume_backend_name": "thin"})");
    const std::string vol = a.create_volume(R"({"volume": {"size": 1, "volume_type": "thin"}})")["id"];
    REQUIRE(a.parts.store->modify(vol, [](VolumeRecord& v) {
        v.status = VolumeStatus::in_use;
        return success();
    }).ok());
    const std::string action = "/v3/p/volumes/" + vol + "/action";
    CHECK(a.call("POST", action, R"({"os-retype": {"new_type": "thin-gold"}})").status == 202);
    CHECK(a.volume(vol)["volume_type"] == "thin-gold");
    auto moved = a.call("POST", action, R"({"os-retype": {"new_type": "thick", "migration_policy": "on-demand"}})");
    CHECK(moved.status == 400);
    CHECK(says(moved, "in-use"));
    auto v = a.volume(vol);
    CHECK(v["volume_type"] == "thin-gold");
    CHECK(v["migration_status"].is_null());
    CHECK(v["os-vol-host-attr:host"] == "host-a@thin#thin");
}

TEST_CASE("a type that a running retype migration gives its volume cannot be deleted nor its placement changed until it ends") {
    TypesApi a("volume_copy_bps_limit = 1M\n");  // the copy of 3 MiB takes about 3 s
    const std::string target = a.create_type("to-thick", R"({"volume_backend_name": "thick"})")["id"];
    auto created = a.create_volume(R"({"volume": {"size": 1, "volume_type": "thin"}})");
    const std::string vol = created["id"];
    write_random(created["volmig:location"], 0, 3 << 20, 7);
    auto r = a.call("POST", "/v3/p/volumes/" + vol + "/action", R"({"os-retype": {"new_type": "to-thick", "migration_policy": "on-demand"}})");
    REQUIRE_MESSAGE(r.status == 202, r.body.dump());
    auto deleted = a.call("DELETE", "/v3/p/types/" + target);
    CHECK_MESSAGE(deleted.status == 400, deleted.body.dump());
    CHECK(says(deleted, "still in use"));
    auto moved = a.call("PUT", "/v3/p/types/" + target + "/extra_specs/volume_backend_name", R"({"volume_backend_name": "thin"})");
    CHECK_MESSAGE(moved.status == 400, moved.body.dump());
    auto v = a.migration_ended(vol);
    REQUIRE_MESSAGE(v["migration_status"] == "success", v.dump());
    CHECK(v["volume_type_id"] == target);
    CHECK(a.call("GET", "/v3/p/types/" + target).status == 200);
}
