// The routes that change a volume's records (api/volume_updates.hpp): metadata CRUD, PUT of a
// volume, os-set_bootable, os-reset_status; through RestApi::handle on real thin_file backends
// and a real SQLite store. Every refusal is checked to change nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "api/migration.hpp"
#include "api/volume_updates.hpp"
#include "tests/support/api_fixture.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/service_fixture.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

// Two thin backends of host-a (a local migration between them), the update routes installed, the
// migration service answering their guard; the log kept.
struct Api {
    TempDir dir;
    std::vector<std::string> log;
    std::mutex log_mutex;
    ServiceParts parts;
    VolumeService& service;
    Metrics metrics;
    std::unique_ptr<Peers> peers;
    std::unique_ptr<MigrationService> migrations;
    std::unique_ptr<RestApi> api;

    static std::string ini(const TempDir& dir) {
        return "[DEFAULT]\nhost = host-a\nauth_strategy = noauth\nstate_path = " + dir.file("state") +
               "\nenabled_backends = thin, thin2\n"
               "[thin]\nvolume_driver = thin_file\nvolume_backend_name = thin\npool_path = " + dir.file("thin") +
               "\npool_size = 10G\n"
               "[thin2]\nvolume_driver = thin_file\nvolume_backend_name = thin2\npool_path = " + dir.file("thin2") + "\npool_size = 10G\n";
    }

    void keep(const std::string& line) {
        std::lock_guard<std::mutex> lock(log_mutex);
        log.push_back(line);
    }

    Api() : parts(ini(dir)), service(*parts.volumes) {
        auto logger = [this](const std::string& l) { keep(l); };
        api = std::make_unique<RestApi>(service, metrics, logger);
        peers = std::make_unique<Peers>(parts.config);
        migrations = std::make_unique<MigrationService>(service, *peers, metrics, logger);
        REQUIRE(migrations->initialize().ok());
        install_volume_updates(*api, service, logger, [this](const VolumeRecord& v) { return migrations->refuse_reset_during_migration(v); });
    }
    ~Api() { migrations->stop(); }

    ApiResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                     std::map<std::string, std::string> headers = {}) {
        return api->handle(api_request(method, path, body, std::move(headers)));
    }
    // A JSON body (only an nlohmann::json: a string literal is a raw body).
    template <typename Json, typename = std::enable_if_t<std::is_same_v<Json, nlohmann::json>>>
    ApiResponse call(const std::string& method, const std::string& path, const Json& body) {
        return call(method, path, body.dump());
    }
    ApiResponse action(const std::string& id, const nlohmann::json& body) { return call("POST", "/v3/p/volumes/" + id + "/action", body); }

    std::string create(nlohmann::json volume = {{"size", 1}, {"name", "v"}}) {
        auto r = call("POST", "/v3/p/volumes", nlohmann::json{{"volume", volume}});
        REQUIRE_MESSAGE(r.status == 202, r.body.dump());
        return r.body["volume"]["id"];
    }
    nlohmann::json view(const std::string& id) {
        auto r = call("GET", "/v3/p/volumes/" + id);
        REQUIRE(r.status == 200);
        return r.body["volume"];
    }
    VolumeRecord record(const std::string& id) {
        auto v = service.get(id);
        REQUIRE(v.ok());
        return *v;
    }
    bool logged(const std::string& text) {
        std::lock_guard<std::mutex> lock(log_mutex);
        for (const auto& l : log)
            if (l.find(text) != std::string::npos) return true;
        return false;
    }
};

// The request is refused with `status`, its message names `word`, and the volume is unchanged.
void refused(Api& a, const std::string& id, const ApiResponse& r, int status, const std::string& word, const VolumeRecord& before) {
    CHECK_MESSAGE(r.status == status, r.body.dump());
    CHECK_MESSAGE(message_of(r).find(word) != std::string::npos, "message: " << message_of(r) << " (expected to name " << word << ")");
    const VolumeRecord after = a.record(id);
    CHECK(after.metadata == before.metadata);
    CHECK(after.name == before.name);
    CHECK(after.description == before.description);
    CHECK(after.status == before.status);
    CHECK(after.migration_status == before.migration_status);
    CHECK(after.bootable == before.bootable);
    CHECK(after.attachments == before.attachments);
}

}  // namespace

TEST_CASE("metadata: GET, POST merges, PUT replaces, one key is shown, set and deleted, views follow") {
    Api a;
    const std::string id = a.create({{"size", 1}, {"metadata", {{"app", "web"}}}});
    const std::string m = "/v3/p/volumes/" + id + "/metadata";
    auto r = a.call("GET", m);
    CHECK(r.status == 200);
    CHECK(r.body == nlohmann::json{{"metadata", {{"app", "web"}}}});
    CHECK(header_of(r, "ETag").size() == 32);

    r = a.call("POST", m, nlohmann::json{{"metadata", {{"tier", "gold"}, {"app", "db"}}}});
    CHECK(r.status == 200);
    CHECK(r.body == nlohmann::json{{"metadata", {{"app", "db"}, {"tier", "gold"}}}});
    r = a.call("PUT", m, nlohmann::json{{"metadata", {{"only", "this"}}}});
    CHECK(r.status == 200);
    CHECK(r.body == nlohmann::json{{"metadata", {{"only", "this"}}}});
    CHECK(a.view(id)["metadata"] == nlohmann::json{{"only", "this"}});

    r = a.call("GET", m + "/only");
    CHECK(r.status == 200);
    CHECK(r.body == nlohmann::json{{"meta", {{"only", "this"}}}});
    r = a.call("PUT", m + "/k2", nlohmann::json{{"meta", {{"k2", "v2"}}}});
    CHECK(r.status == 200);
    CHECK(r.body == nlohmann::json{{"meta", {{"k2", "v2"}}}});
    CHECK(a.view(id)["metadata"] == nlohmann::json{{"only", "this"}, {"k2", "v2"}});
    r = a.call("DELETE", m + "/only");
    CHECK(r.status == 200);
    CHECK(a.call("GET", m + "/only").status == 404);
    CHECK(a.call("DELETE", m + "/only").status == 404);
    CHECK(a.view(id)["metadata"] == nlohmann::json{{"k2", "v2"}});
    // An empty PUT clears it.
    CHECK(a.call("PUT", m, nlohmann::json{{"metadata", nlohmann::json::object()}}).status == 200);
    CHECK(a.view(id)["metadata"] == nlohmann::json::object());

    CHECK(a.call("DELETE", m).status == 405);
    CHECK(header_of(a.call("DELETE", m), "Allow") == "GET, POST, PUT");
    CHECK(a.call("POST", m + "/k").status == 405);
    CHECK(a.call("GET", m + "/a/b").status == 404);
    CHECK(a.call("GET", "/v3/p/volumes/00000000-0000-4000-8000-000000000000/metadata").status == 404);
}

TEST_CASE("metadata: unknown fields, wrong types and bounds are 400 naming the problem, and change nothing") {
    Api a;
    const std::string id = a.create({{"size", 1}, {"metadata", {{"app", "web"}}}});
    const std::string m = "/v3/p/volumes/" + id + "/metadata";
    const VolumeRecord before = a.record(id);
    refused(a, id, a.call("POST", m, nlohmann::json{{"metadata", {{"a", "b"}}}, {"extra", 1}}), 400, "extra", before);
    refused(a, id, a.call("POST", m, nlohmann::json{{"meta", {{"a", "b"}}}}), 400, "meta", before);
    refused(a, id, a.call("PUT", m, nlohmann::json{{"metadata", "a=b"}}), 400, "object of strings", before);
    refused(a, id, a.call("PUT", m, nlohmann::json{{"metadata", {{"n", 5}}}}), 400, "metadata.n must be a string", before);
    refused(a, id, a.call("PUT", m, nlohmann::json{{"metadata", {{"n", nullptr}}}}), 400, "metadata.n must be a string", before);
    refused(a, id, a.call("POST", m, nlohmann::json{{"metadata", {{"", "v"}}}}), 400, "1 to 255 characters", before);
    refused(a, id, a.call("POST", m, nlohmann::json{{"metadata", {{std::string(256, 'k'), "v"}}}}), 400, "1 to 255", before);
    refused(a, id, a.call("POST", m, nlohmann::json{{"metadata", {{"k", std::string(256, 'v')}}}}), 400, "longer than 255", before);
    refused(a, id, a.call("POST", m, R"({"metadata": {"k": "a\u0000b"}})"), 400, "NUL", before);
    refused(a, id, a.call("POST", m, R"({"metadata": {"k\u0000": "v"}})"), 400, "NUL", before);
    refused(a, id, a.call("POST", m, "{\"metadata\": {\"k\": \"\xff\"}}"), 400, "", before);
    refused(a, id, a.call("POST", m, ""), 400, "JSON body", before);
    refused(a, id, a.call("POST", m, "[1]"), 400, "JSON object", before);
    // One key: the body must hold exactly the URL's key.
    refused(a, id, a.call("PUT", m + "/k", nlohmann::json{{"meta", {{"other", "v"}}}}), 400, "key of the URL", before);
    refused(a, id, a.call("PUT", m + "/k", nlohmann::json{{"meta", {{"k", "v"}, {"j", "w"}}}}), 400, "exactly one key", before);
    refused(a, id, a.call("PUT", m + "/k", nlohmann::json{{"meta", nlohmann::json::object()}}), 400, "key of the URL", before);
    refused(a, id, a.call("PUT", m + "/k", nlohmann::json{{"metadata", {{"k", "v"}}}}), 400, "metadata", before);
    refused(a, id, a.call("PUT", m + "/" + std::string(256, 'k'), nlohmann::json{{"meta", {{std::string(256, 'k'), "v"}}}}), 400, "1 to 255",
            before);
    // At the bounds: 255 characters, counted as characters, not bytes.
    std::string wide;
    for (int i = 0; i < 255; ++i) wide += "\xc3\xa9";  // é
    auto r = a.call("POST", m, nlohmann::json{{"metadata", {{std::string(255, 'k'), wide}}}});
    CHECK_MESSAGE(r.status == 200, r.body.dump());
    CHECK(a.view(id)["metadata"][std::string(255, 'k')] == wide);
}

TEST_CASE("metadata: volmig's own keys (volmig:...) are kept by a replace, may be repeated unchanged, never set, changed or removed") {
    Api a;
    const std::string id = a.create({{"size", 1}, {"metadata", {{"volmig:migration_id", "m-1"}, {"app", "web"}}}});
    const std::string m = "/v3/p/volumes/" + id + "/metadata";
    const VolumeRecord before = a.record(id);
    refused(a, id, a.call("POST", m, nlohmann::json{{"metadata", {{"volmig:migration_id", "m-2"}}}}), 400, "volmig's own", before);
    refused(a, id, a.call("POST", m, nlohmann::json{{"metadata", {{"volmig:other", "x"}}}}), 400, "volmig's own", before);
    refused(a, id, a.call("DELETE", m + "/volmig:migration_id"), 400, "cannot be removed", before);
    refused(a, id, a.call("PUT", "/v3/p/volumes/" + id, nlohmann::json{{"volume", {{"metadata", {{"volmig:x", "1"}}}}}}), 400, "volmig's own",
            before);
    // A replace without them keeps them; one that repeats them unchanged (cinderclient's unset) too.
    auto r = a.call("PUT", m, nlohmann::json{{"metadata", {{"tier", "gold"}}}});
    CHECK(r.status == 200);
    CHECK(r.body["metadata"] == nlohmann::json{{"volmig:migration_id", "m-1"}, {"tier", "gold"}});
    r = a.call("PUT", m, nlohmann::json{{"metadata", {{"volmig:migration_id", "m-1"}}}});
    CHECK(r.status == 200);
    CHECK(r.body["metadata"] == nlohmann::json{{"volmig:migration_id", "m-1"}});
}

TEST_CASE("metadata: GET sends an ETag, a PUT with a stale If-Match is 412 and changes nothing, a matching one or * applies") {
    Api a;
    const std::string id = a.create({{"size", 1}, {"metadata", {{"a", "1"}, {"b", "2"}}}});
    const std::string m = "/v3/p/volumes/" + id + "/metadata";
    const std::string etag = header_of(a.call("GET", m), "ETag");
    REQUIRE(!etag.empty());
    CHECK(a.call("POST", m, nlohmann::json{{"metadata", {{"c", "3"}}}}).status == 200);  // someone else changed it
    const VolumeRecord before = a.record(id);
    auto put = [&](const std::string& path, const nlohmann::json& body, const std::string& if_match) {
        return a.call("PUT", path, body.dump(), {{"if-match", if_match}});
    };
    refused(a, id, put(m, {{"metadata", {{"a", "1"}}}}, etag), 412, "If-Match", before);
    auto stale = put(m, {{"metadata", {{"a", "1"}}}}, etag);
    CHECK_MESSAGE(stale.body.contains("preconditionFailed"), stale.body.dump());
    refused(a, id, put(m + "/a", {{"meta", {{"a", "9"}}}}, "\"" + etag + "\""), 412, "If-Match", before);
    const std::string fresh = header_of(a.call("GET", m), "ETag");
    CHECK(fresh != etag);
    auto r = put(m, {{"metadata", {{"a", "1"}}}}, "\"" + fresh + "\"");
    CHECK(r.status == 200);
    CHECK(a.view(id)["metadata"] == nlohmann::json{{"a", "1"}});
    CHECK(put(m + "/z", {{"meta", {{"z", "26"}}}}, "*").status == 200);
    CHECK(a.view(id)["metadata"] == nlohmann::json{{"a", "1"}, {"z", "26"}});
}

TEST_CASE("PUT on a volume changes its name, description and metadata and answers the view, bad fields are 400, not in maintenance or completing") {
    Api a;
    const std::string id = a.create({{"size", 1}, {"name", "old"}, {"description", "d0"}, {"metadata", {{"a", "1"}}}});
    const std::string v = "/v3/p/volumes/" + id;
    auto r = a.call("PUT", v, nlohmann::json{{"volume", {{"name", "  new  "}, {"description", "d1"}, {"metadata", {{"b", "2"}}}}}});
    CHECK_MESSAGE(r.status == 200, r.body.dump());
    CHECK(r.body["volume"]["id"] == id);
    CHECK(r.body["volume"]["name"] == "new");
    CHECK(r.body["volume"]["description"] == "d1");
    CHECK(r.body["volume"]["metadata"] == nlohmann::json{{"b", "2"}});
    CHECK(r.body["volume"]["size"] == 1);
    // openstackclient sends display_name/display_description; null clears.
    r = a.call("PUT", v, nlohmann::json{{"volume", {{"display_name", "osc"}, {"display_description", nullptr}}}});
    CHECK(r.status == 200);
    CHECK(a.view(id)["name"] == "osc");
    CHECK(a.view(id)["description"].is_null());
    CHECK(a.view(id)["metadata"] == nlohmann::json{{"b", "2"}});  // no metadata given: kept
    CHECK(a.call("PUT", v, nlohmann::json{{"volume", nlohmann::json::object()}}).status == 200);

    const VolumeRecord before = a.record(id);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"size", 5}}}}), 400, "volume.size", before);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"name", "x"}}}, {"extra", 1}}), 400, "extra", before);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", "x"}}), 400, "\"volume\" object", before);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"name", 7}}}}), 400, "volume.name must be a string", before);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"display_name", 7}}}}), 400, "volume.display_name", before);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"description", {1}}}}}), 400, "volume.description", before);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"name", std::string(256, 'n')}}}}), 400, "longer than 255", before);
    refused(a, id, a.call("PUT", v, R"({"volume": {"name": "a\u0000b"}})"), 400, "NUL", before);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"name", "ok"}, {"metadata", {{"k", 1}}}}}}), 400, "volume.metadata.k", before);
    refused(a, id, a.call("PUT", v, ""), 400, "JSON body", before);
    CHECK(a.call("PUT", "/v3/p/volumes/00000000-0000-4000-8000-000000000000", nlohmann::json{{"volume", {{"name", "x"}}}}).status == 404);
    CHECK(header_of(a.call("POST", v), "Allow") == "GET, PUT, DELETE");

    // A volume in maintenance is not updated (Cinder's rule), nor its metadata.
    REQUIRE(a.action(id, {{"os-reset_status", {{"status", "maintenance"}}}}).status == 202);
    const VolumeRecord locked = a.record(id);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"name", "x"}}}}), 400, "maintenance", locked);
    refused(a, id, a.call("POST", v + "/metadata", nlohmann::json{{"metadata", {{"k", "v"}}}}), 400, "maintenance", locked);
    refused(a, id, a.call("DELETE", v + "/metadata/b"), 400, "maintenance", locked);
    refused(a, id, a.action(id, {{"os-set_bootable", {{"bootable", true}}}}), 400, "maintenance", locked);

    // Nor while a migration completes: the hand-over carries the records as they were read.
    REQUIRE(a.action(id, {{"os-reset_status", {{"status", "available"}, {"migration_status", "completing"}}}}).status == 202);
    const VolumeRecord completing = a.record(id);
    refused(a, id, a.call("PUT", v, nlohmann::json{{"volume", {{"name", "x"}}}}), 400, "completing a migration", completing);
    refused(a, id, a.call("PUT", v + "/metadata/k", nlohmann::json{{"meta", {{"k", "v"}}}}), 400, "completing a migration", completing);
}

TEST_CASE("os-set_bootable records the flag, shown as \"true\"/\"false\", Cinder's boolean spellings only") {
    Api a;
    const std::string id = a.create();
    CHECK(a.view(id)["bootable"] == "false");
    auto r = a.action(id, {{"os-set_bootable", {{"bootable", true}}}});
    CHECK(r.status == 200);
    CHECK(a.view(id)["bootable"] == "true");
    CHECK(a.record(id).bootable);
    CHECK(a.action(id, {{"os-set_bootable", {{"bootable", "False"}}}}).status == 200);
    CHECK(a.view(id)["bootable"] == "false");
    CHECK(a.action(id, {{"os-set_bootable", {{"bootable", "y"}}}}).status == 200);
    CHECK(a.view(id)["bootable"] == "true");
    const VolumeRecord before = a.record(id);
    refused(a, id, a.action(id, {{"os-set_bootable", {{"bootable", "maybe"}}}}), 400, "bootable must be a boolean", before);
    refused(a, id, a.action(id, {{"os-set_bootable", {{"bootable", 1}}}}), 400, "bootable must be a boolean", before);
    refused(a, id, a.action(id, {{"os-set_bootable", {{"bootable", nullptr}}}}), 400, "bootable must be a boolean", before);
    refused(a, id, a.action(id, {{"os-set_bootable", nlohmann::json::object()}}), 400, "bootable", before);
    refused(a, id, a.action(id, {{"os-set_bootable", {{"bootable", false}, {"force", true}}}}), 400, "force", before);
    refused(a, id, a.action(id, {{"os-set_bootable", true}}), 400, "os-set_bootable", before);
}

TEST_CASE("os-reset_status changes the records Cinder's way, logs old -> new, and refuses what Cinder refuses") {
    Api a;
    const std::string id = a.create();
    auto r = a.action(id, {{"os-reset_status", {{"status", "ERROR"}}}});
    CHECK_MESSAGE(r.status == 202, r.body.dump());
    CHECK(a.view(id)["status"] == "error");
    CHECK(a.logged("os-reset_status of volume " + id + ": status available -> error (records only; no data was touched)"));
    r = a.action(id, {{"os-reset_status", {{"status", "available"}, {"attach_status", nullptr}, {"migration_status", "error"}}}});
    CHECK(r.status == 202);
    CHECK(a.view(id)["status"] == "available");
    CHECK(a.view(id)["migration_status"] == "error");
    CHECK(a.logged("status error -> available, migration_status none -> error"));
    CHECK(a.action(id, {{"os-reset_status", {{"migration_status", "None"}}}}).status == 202);
    CHECK(a.view(id)["migration_status"].is_null());
    CHECK(a.logged("migration_status error -> none"));

    const VolumeRecord before = a.record(id);
    refused(a, id, a.action(id, {{"os-reset_status", nlohmann::json::object()}}), 400, "must specify", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", ""}, {"migration_status", nullptr}}}}), 400, "must specify", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", "available"}, {"force", true}}}}), 400, "force", before);
    refused(a, id, a.action(id, {{"os-reset_status", "available"}}), 400, "os-reset_status", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", 3}}}}), 400, "os-reset_status.status must be a string", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", "bogus"}}}}), 400, "not a volume status", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", "deleting"}}}}), 400, "cannot set status deleting", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", "detaching"}}}}), 400, "cannot set status detaching", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", "in-use"}}}}), 400, "no attachments", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", "backing-up"}}}}), 400, "does not record", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"attach_status", "reserved"}}}}), 400, "attached or detached", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"attach_status", "attached"}}}}), 400, "no attachments", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"migration_status", "target:" + id}}}}), 400, "migration_status must be one of",
            before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"migration_status", "paused"}}}}), 400, "migration_status must be one of", before);
    refused(a, id, a.action("00000000-0000-4000-8000-000000000000", {{"os-reset_status", {{"status", "error"}}}}), 404, "could not be found",
            before);

    // attach_status detached drops the recorded attachments (Cinder's clean-up); in-use needs some.
    REQUIRE(a.service.store().modify(id, [](VolumeRecord& v) {
        v.attachments = R"([{"id": "att-1", "attachment_id": "att-1", "volume_id": "x", "server_id": "s"}])";
        return success();
    }).ok());
    CHECK(a.action(id, {{"os-reset_status", {{"status", "in-use"}}}}).status == 202);
    CHECK(a.view(id)["status"] == "in-use");
    const VolumeRecord in_use = a.record(id);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", "in-use"}, {"attach_status", "detached"}}}}), 400, "no attachments", in_use);
    CHECK(a.action(id, {{"os-reset_status", {{"status", "available"}, {"attach_status", "detached"}}}}).status == 202);
    CHECK(a.view(id)["attachments"] == nlohmann::json::array());
    CHECK(a.view(id)["status"] == "available");
}

TEST_CASE("os-reset_status of a stuck record (no migration running) makes delete and migrate possible again") {
    Api a;
    const std::string id = a.create();
    const std::string other = a.create();
    for (const std::string& v : {id, other})
        REQUIRE(a.service.store().modify(v, [](VolumeRecord& r) {
            r.migration_status = VolumeMigrationStatus::migrating;  // as a crash of an old version could leave it
            return success();
        }).ok());
    CHECK(a.call("DELETE", "/v3/p/volumes/" + id).status == 400);
    MigrateRequest m;
    m.volume_id = other;
    m.destination = "host-a@thin2";
    CHECK_FALSE(a.migrations->start(m).ok());

    CHECK(a.action(id, {{"os-reset_status", {{"migration_status", "none"}}}}).status == 202);
    CHECK(a.call("DELETE", "/v3/p/volumes/" + id).status == 202);
    CHECK(a.call("GET", "/v3/p/volumes/" + id).status == 404);
    CHECK(a.action(other, {{"os-reset_status", {{"migration_status", "error"}}}}).status == 202);
    auto started = a.migrations->start(m);
    REQUIRE_MESSAGE(started.ok(), started.error().message);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (a.record(other).migration_status != VolumeMigrationStatus::success) {
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the migration after the reset did not succeed");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(a.record(other).backend == "thin2");
}

TEST_CASE("os-reset_status of migration_status is refused, naming the migration, while a migration on this daemon drives the volume") {
    Api a;
    const std::string id = a.create();
    MigrateRequest req;
    req.volume_id = id;
    req.destination = "host-a@thin2";
    req.auto_complete = false;
    auto started = a.migrations->start(req);
    REQUIRE(started.ok());
    MigrationStore records(a.service.store());
    std::optional<MigrationRecord> m;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
        auto shown = records.shown_for(id);
        REQUIRE(shown.ok());
        if (*shown && (*shown)->state == MigrationState::awaiting_completion) {
            m = **shown;
            break;
        }
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the migration did not reach awaiting_completion");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string target = m->destination_volume_id;
    CHECK(a.view(target)["migration_status"] == "target:" + id);

    for (const std::string& v : {id, target}) {
        const VolumeRecord before = a.record(v);
        auto r = a.action(v, {{"os-reset_status", {{"migration_status", "none"}}}});
        refused(a, v, r, 400, "migration " + m->id, before);
        CHECK(message_of(r).find("os-migrate_volume_completion") != std::string::npos);
    }
    // A status alone is no business of the migration: it may be reset.
    CHECK(a.action(id, {{"os-reset_status", {{"status", "error"}}}}).status == 202);
    CHECK(a.action(id, {{"os-reset_status", {{"status", "available"}}}}).status == 202);

    // Once abandoned (the job rolls back), the reset goes through.
    auto done = a.migrations->complete(id, target, true);
    REQUIRE(done.ok());
    CHECK(*done == nlohmann::json{{"save_volume_id", id}});
    while (a.record(id).migration_status != VolumeMigrationStatus::error) {
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline + std::chrono::seconds(30), "the abandoned migration did not end");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(a.action(id, {{"os-reset_status", {{"migration_status", "none"}}}}).status == 202);
    CHECK(a.view(id)["migration_status"].is_null());
}

TEST_CASE("a forwarding record's records are changed on its new host") {
    Api a;
    const std::string id = a.create();
    REQUIRE(a.service.store().modify(id, [](VolumeRecord& v) {
        v.moved_to = "host-b@thin#thin";
        v.migration_status = VolumeMigrationStatus::success;
        return success();
    }).ok());
    const VolumeRecord before = a.record(id);
    refused(a, id, a.call("PUT", "/v3/p/volumes/" + id, nlohmann::json{{"volume", {{"name", "x"}}}}), 400, "host-b@thin#thin", before);
    refused(a, id, a.call("POST", "/v3/p/volumes/" + id + "/metadata", nlohmann::json{{"metadata", {{"k", "v"}}}}), 400, "moved", before);
    refused(a, id, a.action(id, {{"os-set_bootable", {{"bootable", true}}}}), 400, "moved", before);
    refused(a, id, a.action(id, {{"os-reset_status", {{"status", "error"}}}}), 400, "moved", before);
}
