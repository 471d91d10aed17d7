// Attachments and connections through RestApi::handle: every status transition and every
// refused one, the validation of every body, connections on a real thin_file file and a real
// thick_file loop device (what is written through the device is in the volume's storage), a
// restart between initialize and terminate, and the in-use rules of delete, extend and
// migration. Real SQLite store, real drivers on temp files (loop devices need root, as the
// other API tests' thick volumes do).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "api/attachments.hpp"
#include "copy/fd.hpp"
#include "api/migration.hpp"
#include "driver/loop_device.hpp"
#include "tests/support/api_fixture.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/service_fixture.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

const std::string kServer = "8c1e2d7e-5a7b-4a7e-9d55-0d6f3c1b2a90";
const std::string kConnector = R"({"connector": {"host": "compute-1", "initiator": "iqn.1993-08.org.debian:01:abc", "ip": "10.0.0.5"}})";
const std::string kInitialize = R"({"os-initialize_connection": )" + kConnector + "}";
const std::string kTerminate = R"({"os-terminate_connection": )" + kConnector + "}";

struct Api {
    TempDir dir;
    std::unique_ptr<ServiceParts> parts;
    std::unique_ptr<AttachmentService> attachments;
    Metrics metrics;
    std::unique_ptr<RestApi> api;
    std::unique_ptr<Peers> peers;
    std::unique_ptr<MigrationService> migrations;
    std::vector<std::string> log;

    std::string ini() const {
        return "[DEFAULT]\nhost = host-a\nauth_strategy = noauth\nstate_path = " + dir.file("state") +
               "\nenabled_backends = thin, small\n"
               "[thin]\nvolume_driver = thin_file\nvolume_backend_name = thin\npool_path = " + dir.file("thin") +
               "\npool_size = 10G\n"
               "[small]\nvolume_driver = thick_file\nvolume_backend_name = small\npool_file = " + dir.file("small.pool") +
               "\npool_size = 3G\n";
    }

    Api() { start(); }
    ~Api() { stop(); }

    // As the daemon starts: connections known before the volume service reconciles.
    void start() {
        parts = std::make_unique<ServiceParts>(ini());
        auto logger = [this](const std::string& l) { log.push_back(l); };
        attachments = std::make_unique<AttachmentService>(*parts->volumes, logger);
        REQUIRE(attachments->initialize().ok());
        parts->volumes->reconcile_after_restart();
        attachments->reconcile_after_restart();
        api = std::make_unique<RestApi>(*parts->volumes, metrics, logger);
        attachments->install(*api);
        peers = std::make_unique<Peers>(parts->config);
        migrations = std::make_unique<MigrationService>(*parts->volumes, *peers, metrics, logger);
        REQUIRE(migrations->initialize().ok());
    }
    void stop() {
        if (migrations) migrations->stop();
        migrations.reset();
        peers.reset();
        api.reset();
        attachments.reset();
        parts.reset();
    }
    void restart() {
        stop();
        start();
    }

    ApiResponse call(const std::string& method, const std::string& path, const std::string& body = "") {
        ApiRequest r;
        r.method = method;
        r.path = path;
        r.body = body;
        r.base_url = "http://127.0.0.1:8776";
        return api->handle(r);
    }
    ApiResponse action(const std::string& id, const std::string& body) { return call("POST", "/v3/p/volumes/" + id + "/action", body); }
    std::string create(const std::string& type = "thin") {
        auto r = call("POST", "/v3/p/volumes", R"({"volume": {"size": 1, "volume_type": ")" + type + R"("}})");
        REQUIRE_MESSAGE(r.status == 202, r.body.dump());
        return r.body["volume"]["id"];
    }
    nlohmann::json show(const std::string& id) {
        auto r = call("GET", "/v3/p/volumes/" + id);
        REQUIRE(r.status == 200);
        return r.body["volume"];
    }
    VolumeRecord record(const std::string& id) {
        auto r = parts->volumes->get(id);
        REQUIRE(r.ok());
        return *r;
    }
    // reserve + attach to kServer.
    std::string attached(const std::string& type = "thin") {
        const std::string id = create(type);
        REQUIRE(action(id, R"({"os-reserve": null})").status == 202);
        REQUIRE(action(id, R"({"os-attach": {"instance_uuid": ")" + kServer + R"(", "mountpoint": "/dev/vdb", "mode": "rw"}})").status == 202);
        return id;
    }
    void set_status(const std::string& id, VolumeStatus status) {
        REQUIRE(parts->store->modify(id, [&](VolumeRecord& v) {
                    v.status = status;
                    return success();
                }).ok());
    }
    Result<MigrationRecord> migrate(const std::string& id) {
        MigrateRequest req;
        req.volume_id = id;
        req.destination = "host-a@small";
        return migrations->start(req);
    }
    std::vector<std::string> loops_of(const std::string& id) {
        auto v = record(id);
        auto devices = parts->backends->find(v.backend)->driver->attached_devices(parts->volumes->ref_of(v));
        REQUIRE(devices.ok());
        return *devices;
    }
    uint64_t region_offset(const std::string& id) {
        auto extents = parts->store->pool_extents("small");
        REQUIRE(extents.ok());
        for (const auto& e : *extents)
            if (e.volume_id == id) return e.offset;
        FAIL("volume " << id << " has no region");
        return 0;
    }
};

bool says(const ApiResponse& r, int status, const std::string& text) {
    const bool ok = r.status == status && message_of(r).find(text) != std::string::npos;
    if (!ok) MESSAGE("status " << r.status << ": " << r.body.dump());
    return ok;
}

void write_at(const std::string& path, uint64_t offset, const std::string& bytes) {
    Fd fd(::open(path.c_str(), O_WRONLY));
    REQUIRE(fd.get() >= 0);
    REQUIRE(::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes.size()));
    REQUIRE(::fsync(fd.get()) == 0);
}

std::string read_at(const std::string& path, uint64_t offset, size_t n) {
    Fd fd(::open(path.c_str(), O_RDONLY));
    REQUIRE(fd.get() >= 0);
    std::string out(n, '\0');
    REQUIRE(::pread(fd.get(), out.data(), n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n));
    return out;
}

}  // namespace

TEST_CASE("os-reserve, os-unreserve: available -> attaching -> available: other states are refused naming the status") {
    Api a;
    const std::string id = a.create();
    CHECK(a.action(id, R"({"os-reserve": null})").status == 202);
    CHECK(a.show(id)["status"] == "attaching");
    CHECK(says(a.action(id, R"({"os-reserve": null})"), 400, "is attaching: os-reserve needs an available volume (status available)"));
    CHECK(a.action(id, R"({"os-unreserve": {}})").status == 202);
    CHECK(a.show(id)["status"] == "available");
    CHECK(says(a.action(id, R"({"os-unreserve": null})"), 400, "is available: os-unreserve needs a reserved volume (status attaching)"));
    CHECK(a.show(id)["attachments"] == nlohmann::json::array());
}

TEST_CASE("os-attach records Cinder's attachment and makes the volume in-use: the same server again is what it is, another is refused") {
    Api a;
    const std::string id = a.create();
    CHECK(says(a.action(id, R"({"os-attach": {"instance_uuid": ")" + kServer + R"(", "mountpoint": "/dev/vdb"}})"), 400,
               "is available: os-attach needs a volume reserved with os-reserve"));
    REQUIRE(a.action(id, R"({"os-reserve": null})").status == 202);
    CHECK(a.action(id, R"({"os-attach": {"instance_uuid": ")" + kServer + R"(", "mountpoint": "/dev/vdb", "mode": "rw"}})").status == 202);
    auto v = a.show(id);
    CHECK(v["status"] == "in-use");
    REQUIRE(v["attachments"].size() == 1);
    const auto& at = v["attachments"][0];
    CHECK(at["id"] == id);
    CHECK(at["volume_id"] == id);
    CHECK(at["server_id"] == kServer);
    CHECK(at["host_name"].is_null());
    CHECK(at["device"] == "/dev/vdb");
    CHECK(at["attachment_id"].get<std::string>().size() == 36);
    CHECK(at["attached_at"].get<std::string>().size() == 26);
    // The same server again: 202, nothing added.
    CHECK(a.action(id, R"({"os-attach": {"instance_uuid": ")" + kServer + R"(", "mountpoint": "/dev/vdb"}})").status == 202);
    CHECK(a.show(id)["attachments"].size() == 1);
    CHECK(says(a.action(id, R"({"os-attach": {"host_name": "other-host", "mountpoint": "/dev/vdc"}})"), 400, "multiattach is not supported"));
    CHECK(a.show(id)["attachments"] == v["attachments"]);
    // Attached to a host (no server).
    const std::string h = a.create();
    REQUIRE(a.action(h, R"({"os-reserve": null})").status == 202);
    CHECK(a.action(h, R"({"os-attach": {"host_name": "backup-host", "mountpoint": "/mnt/x", "mode": "ro"}})").status == 202);
    auto hv = a.show(h);
    CHECK(hv["attachments"][0]["host_name"] == "backup-host");
    CHECK(hv["attachments"][0]["server_id"].is_null());
    // os-unreserve of a volume that was attached while reserved goes back to in-use.
    a.set_status(h, VolumeStatus::attaching);
    CHECK(a.action(h, R"({"os-unreserve": null})").status == 202);
    CHECK(a.show(h)["status"] == "in-use");
}

TEST_CASE("os-begin_detaching, os-roll_detaching, os-detach: in-use -> detaching -> in-use -> detaching -> available") {
    Api a;
    const std::string id = a.attached();
    const std::string attachment = a.show(id)["attachments"][0]["attachment_id"];
    CHECK(says(a.action(id, R"({"os-roll_detaching": null})"), 400, "is in-use: os-roll_detaching needs a detaching volume"));
    CHECK(a.action(id, R"({"os-begin_detaching": null})").status == 202);
    CHECK(a.show(id)["status"] == "detaching");
    CHECK(says(a.action(id, R"({"os-begin_detaching": null})"), 400, "is detaching: os-begin_detaching needs an attached volume"));
    CHECK(a.action(id, R"({"os-roll_detaching": null})").status == 202);
    CHECK(a.show(id)["status"] == "in-use");
    REQUIRE(a.action(id, R"({"os-begin_detaching": null})").status == 202);
    CHECK(says(a.action(id, R"({"os-detach": {"attachment_id": "00000000-0000-4000-8000-000000000000"}})"), 400,
               "has no attachment 00000000-0000-4000-8000-000000000000"));
    CHECK(a.show(id)["status"] == "detaching");
    CHECK(a.action(id, R"({"os-detach": {"attachment_id": ")" + attachment + R"("}})").status == 202);
    auto v = a.show(id);
    CHECK(v["status"] == "available");
    CHECK(v["attachments"] == nlohmann::json::array());
    CHECK(says(a.action(id, R"({"os-detach": {"attachment_id": null}})"), 400, "is available: os-detach needs an attached volume"));
    CHECK(says(a.action(id, R"({"os-begin_detaching": null})"), 400, "is available: os-begin_detaching needs an attached volume"));
    // os-detach without an attachment id (cinderclient's default) detaches the only one, from in-use too.
    const std::string other = a.attached();
    CHECK(a.action(other, R"({"os-detach": {"attachment_id": null}})").status == 202);
    CHECK(a.show(other)["status"] == "available");
    // begin_detaching of an in-use volume with no attachment recorded (an operator's reset) says so.
    a.set_status(other, VolumeStatus::in_use);
    CHECK(says(a.action(other, R"({"os-begin_detaching": null})"), 400, "has no attachment recorded"));
}

TEST_CASE("attachment bodies are validated field by field, and a refused request changes nothing") {
    Api a;
    const std::string id = a.create();
    REQUIRE(a.action(id, R"({"os-reserve": null})").status == 202);
    const auto before = a.show(id);
    const std::string mp = R"(, "mountpoint": "/dev/vdb")";
    const std::vector<std::pair<std::string, std::string>> bad{
        {R"({"os-attach": null})", "os-attach takes an object"},
        {R"({"os-attach": "x"})", "os-attach takes an object"},
        {R"({"os-attach": {"instance_uuid": ")" + kServer + R"(", "mountpoint": "/dev/vdb", "bogus": 1}})", "unknown field 'bogus' in os-attach"},
        {R"({"os-attach": {"instance_uuid": ")" + kServer + R"("}})", "os-attach needs mountpoint"},
        {R"({"os-attach": {"mountpoint": "/dev/vdb"}})", "needs instance_uuid or host_name"},
        {R"({"os-attach": {"instance_uuid": ")" + kServer + R"(", "host_name": "h")" + mp + "}}", "instance_uuid or host_name, not both"},
        {R"({"os-attach": {"instance_uuid": "not-a-uuid")" + mp + "}}", "instance_uuid must be a UUID"},
        {R"({"os-attach": {"instance_uuid": 7)" + mp + "}}", "instance_uuid must be a string"},
        {R"({"os-attach": {"instance_uuid": null)" + mp + "}}", "instance_uuid must be a string"},
        {R"({"os-attach": {"host_name": ")" + std::string(256, 'h') + R"(")" + mp + "}}", "host_name must be 0 to 255 characters"},
        {R"({"os-attach": {"host_name": "h", "mountpoint": ""}})", "mountpoint must be 1 to 255 characters"},
        {R"({"os-attach": {"host_name": "h", "mountpoint": ")" + std::string(256, 'm') + R"("}})", "mountpoint must be 1 to 255"},
        {R"({"os-attach": {"host_name": "h", "mountpoint": ["/dev/vdb"]}})", "mountpoint must be a string"},
        {R"({"os-attach": {"host_name": "h", "mountpoint": "/dev/vdb\u0000x"}})", "mountpoint must be UTF-8 text without NUL"},
        {R"({"os-attach": {"host_name": "h")" + mp + R"(, "mode": "rx"}})", "mode must be rw or ro"},
        {R"({"os-attach": {"host_name": "h")" + mp + R"(, "mode": true}})", "mode must be a string"},
        {R"({"os-reserve": {"x": 1}})", "os-reserve takes no arguments"},
        {R"({"os-unreserve": 5})", "os-unreserve takes no arguments"},
        {R"({"os-begin_detaching": "now"})", "os-begin_detaching takes no arguments"},
        {R"({"os-roll_detaching": [1]})", "os-roll_detaching takes no arguments"},
        {R"({"os-detach": "x"})", "os-detach takes an object"},
        {R"({"os-detach": {"attachment": "x"}})", "unknown field 'attachment' in os-detach"},
        {R"({"os-detach": {"attachment_id": "nope"}})", "attachment_id must be a UUID or null"},
        {R"({"os-detach": {"attachment_id": 3}})", "attachment_id must be a UUID or null"},
        {R"({"os-initialize_connection": null})", "os-initialize_connection takes an object"},
        {R"({"os-initialize_connection": {}})", "os-initialize_connection needs connector"},
        {R"({"os-initialize_connection": {"connector": "compute-1"}})", "connector must be an object (the connector of os-brick"},
        {R"({"os-initialize_connection": {"connector": null}})", "connector must be an object ("},
        {R"({"os-initialize_connection": {"connector": {}, "x": 1}})", "unknown field 'x' in os-initialize_connection"},
        {R"({"os-initialize_connection": {"connector": {"host": 5}}})", "connector.host must be a string"},
        {R"({"os-initialize_connection": {"connector": {"host": "compute\u0000x"}}})", "connector.host must be 0 to 255 characters of text"},
        {R"({"os-initialize_connection": {"connector": {"host": ")" + std::string(256, 'h') + R"("}}})", "connector.host must be 0 to 255"},
        {R"({"os-initialize_connection": {"connector": {"host": "h", "pad": ")" + std::string(17000, 'p') + R"("}}})", "connector is larger than"},
        {R"({"os-terminate_connection": []})", "os-terminate_connection takes an object"},
        {R"({"os-terminate_connection": {}})", "os-terminate_connection needs connector"},
        {R"({"os-terminate_connection": {"connector": 1}})", "connector must be an object or null"},
        {R"({"os-terminate_connection": {"connector": {}, "force": true}})", "unknown field 'force' in os-terminate_connection"},
    };
    for (const auto& [body, text] : bad) {
        CAPTURE(body);
        CHECK(says(a.action(id, body), 400, text));
    }
    auto after = a.show(id);
    CHECK(after["status"] == before["status"]);
    CHECK(after["attachments"] == before["attachments"]);
    auto open = a.attachments->connections().of_volume(id);
    REQUIRE(open.ok());
    CHECK(open->empty());
    // Unknown volumes are 404 for every action.
    for (const char* body : {R"({"os-reserve": null})", R"({"os-detach": null})", R"({"os-terminate_connection": {"connector": null}})"})
        CHECK(a.action("00000000-0000-4000-8000-000000000000", body).status == 404);
}

TEST_CASE("a volume in a migration or moved to another host takes no attachment action") {
    Api a;
    const std::string id = a.create();
    REQUIRE(a.parts->store->modify(id, [](VolumeRecord& v) {
                v.migration_status = VolumeMigrationStatus::migrating;
                return success();
            }).ok());
    CHECK(says(a.action(id, R"({"os-reserve": null})"), 400, "is in a migration (migrating): os-reserve waits for it to end"));
    a.set_status(id, VolumeStatus::attaching);
    CHECK(says(a.action(id, kInitialize), 400,
               "is in a migration (migrating): os-initialize_connection waits"));
    const std::string moved = a.create();
    REQUIRE(a.parts->store->modify(moved, [](VolumeRecord& v) {
                v.moved_to = "host-b@thin#thin";
                return success();
            }).ok());
    CHECK(says(a.action(moved, R"({"os-reserve": null})"), 400, "has moved to host-b@thin#thin"));
}

TEST_CASE("thin_file: os-initialize_connection hands out the volume's file: the same connector gets the same connection: terminate ends it") {
    Api a;
    const std::string id = a.create();
    CHECK(says(a.action(id, kInitialize), 400, "is available: os-initialize_connection needs a reserved or attached volume"));
    REQUIRE(a.action(id, R"({"os-reserve": null})").status == 202);
    auto r = a.action(id, kInitialize);
    REQUIRE_MESSAGE(r.status == 200, r.body.dump());
    const auto& info = r.body["connection_info"];
    CHECK(info["driver_volume_type"] == "local");
    const std::string path = info["data"]["device_path"];
    CHECK(path == a.record(id).location);
    CHECK(info["data"]["volume_id"] == id);
    CHECK(info["data"]["access_mode"] == "rw");
    CHECK(info["enforce_multipath"] == false);
    write_at(path, 4096, "written through the connection");
    CHECK(read_at(a.record(id).location, 4096, 30) == "written through the connection");
    auto again = a.action(id, kInitialize);
    CHECK(again.body["connection_info"]["data"]["volmig:connection_id"] == info["data"]["volmig:connection_id"]);
    auto open = a.attachments->connections().of_volume(id);
    REQUIRE(open.ok());
    CHECK(open->size() == 1);
    CHECK(a.action(id, kTerminate).status == 202);
    open = a.attachments->connections().of_volume(id);
    REQUIRE(open.ok());
    CHECK(open->empty());
    CHECK(a.show(id)["status"] == "attaching");  // terminate leaves the status as it is
    CHECK(a.action(id, kTerminate).status == 202);  // nothing left to release: nothing to do
    CHECK(exists(path));
}

TEST_CASE("thick_file: the connection is a loop device over the volume's region, released by terminate") {
    Api a;
    const std::string keep_out = a.create("small");  // a neighbour whose bytes must stay out of reach
    const std::string id = a.attached("small");
    const std::string pool = a.dir.file("small.pool");
    auto r = a.action(id, kInitialize);
    REQUIRE_MESSAGE(r.status == 200, r.body.dump());
    const std::string device = r.body["connection_info"]["data"]["device_path"];
    CHECK(device.rfind("/dev/loop", 0) == 0);
    CHECK(r.body["connection_info"]["data"]["volmig:block_device"] == true);
    CHECK(a.loops_of(id) == std::vector<std::string>{device});
    CHECK(loop_attached_to(device, pool));
    write_at(device, 1 << 20, "bytes through the loop device");
    CHECK(read_at(pool, a.region_offset(id) + (1 << 20), 29) == "bytes through the loop device");
    struct stat st {};
    REQUIRE(::stat(device.c_str(), &st) == 0);
    Fd fd(::open(device.c_str(), O_RDONLY));
    REQUIRE(fd.get() >= 0);
    CHECK(::lseek(fd.get(), 0, SEEK_END) == static_cast<off_t>(1ull << 30));  // the volume, not the pool
    fd = Fd();
    // A second host gets a device of its own; terminating one leaves the other.
    auto second = a.action(id, R"({"os-initialize_connection": {"connector": {"host": "compute-2"}}})");
    REQUIRE(second.status == 200);
    const std::string device2 = second.body["connection_info"]["data"]["device_path"];
    CHECK(device2 != device);
    CHECK(a.loops_of(id).size() == 2);
    CHECK(a.action(id, kTerminate).status == 202);
    CHECK(a.loops_of(id) == std::vector<std::string>{device2});
    CHECK(a.action(id, R"({"os-terminate_connection": {"connector": null}})").status == 202);  // null: every connection
    CHECK(a.loops_of(id).empty());
    CHECK(a.loops_of(keep_out).empty());
}

TEST_CASE("a connection survives a restart, is never released as a copy attachment, and terminate after the restart releases it") {
    Api a;
    const std::string id = a.attached("small");
    auto r = a.action(id, kInitialize);
    REQUIRE(r.status == 200);
    const std::string device = r.body["connection_info"]["data"]["device_path"];
    write_at(device, 0, "before the restart");
    // A copy attachment recorded on the same volume (as a crash mid-attach leaves it): the
    // restart releases what copies attached, and must keep the connection's device.
    REQUIRE(a.parts->store->modify(id, [](VolumeRecord& v) {
                v.attached_path = "attaching";
                return success();
            }).ok());
    a.restart();
    CHECK(a.record(id).attached_path.empty());
    CHECK(a.loops_of(id) == std::vector<std::string>{device});
    CHECK(loop_attached_to(device, a.dir.file("small.pool")));
    CHECK(read_at(device, 0, 18) == "before the restart");
    CHECK(a.show(id)["status"] == "in-use");
    // The same connector after the restart gets the same device.
    CHECK(a.action(id, kInitialize).body["connection_info"]["data"]["device_path"] == device);
    CHECK(a.action(id, kTerminate).status == 202);
    CHECK(a.loops_of(id).empty());
    struct stat st {};
    CHECK((::stat(device.c_str(), &st) != 0 || !loop_attached_to(device, a.dir.file("small.pool"))));
}

TEST_CASE("a restart releases what a crash left behind a connection being set up, and drops a connection whose device is gone") {
    Api a;
    const std::string id = a.attached("small");
    // A crash between losetup and recording the device: the intent is recorded, the loop exists.
    ConnectionRecord c{"11111111-1111-4111-8111-111111111111", id, "host:compute-1", "compute-1", "{}", "", false,
                       ConnectionState::connecting, utc_timestamp()};
    REQUIRE(a.attachments->connections().insert(c).ok());
    auto v = a.record(id);
    auto leaked = a.parts->backends->find("small")->driver->attach(a.parts->volumes->ref_of(v), AttachMode::file_or_block);
    REQUIRE(leaked.ok());
    CHECK(a.loops_of(id).size() == 1);
    CHECK(says(a.call("DELETE", "/v3/p/volumes/" + id), 400, "Invalid volume"));
    a.restart();
    CHECK(a.loops_of(id).empty());
    auto open = a.attachments->connections().of_volume(id);
    REQUIRE(open.ok());
    CHECK(open->empty());
    // A connected record whose loop device went away (the host rebooted) is dropped, and
    // terminate then has nothing to do.
    auto r = a.action(id, kInitialize);
    REQUIRE(r.status == 200);
    REQUIRE(detach_loop(r.body["connection_info"]["data"]["device_path"]).ok());
    a.restart();
    open = a.attachments->connections().of_volume(id);
    REQUIRE(open.ok());
    CHECK(open->empty());
    CHECK(a.action(id, kTerminate).status == 202);
    CHECK(a.loops_of(id).empty());
}

TEST_CASE("in use: delete, extend and migration of a volume attaching, in-use, detaching or reserved are refused and change nothing") {
    Api a;
    const std::string id = a.attached();
    const auto before = a.show(id);
    for (VolumeStatus status : {VolumeStatus::in_use, VolumeStatus::attaching, VolumeStatus::detaching, VolumeStatus::reserved}) {
        CAPTURE(to_string(status));
        a.set_status(id, status);
        CHECK(says(a.call("DELETE", "/v3/p/volumes/" + id), 400,
                   "Invalid volume: Volume status must be available or error or error_deleting or error_extending and must not be migrating, "
                   "attached"));
        CHECK(says(a.action(id, R"({"os-extend": {"new_size": 2}})"), 400, "volmig does not extend a volume in use"));
        auto m = a.migrate(id);
        REQUIRE_FALSE(m.ok());
        CHECK(m.error().kind == ErrorKind::invalid);
        CHECK(m.error().message.find("is " + to_string(status)) != std::string::npos);
        CHECK(m.error().message.find("a later version moves in-use volumes") != std::string::npos);
    }
    a.set_status(id, VolumeStatus::in_use);
    CHECK(message_of(a.call("DELETE", "/v3/p/volumes/" + id)).find("attached to server " + kServer + " as /dev/vdb") != std::string::npos);
    auto after = a.show(id);
    CHECK(after["size"] == before["size"]);
    CHECK(after["attachments"] == before["attachments"]);
    CHECK(after["migration_status"].is_null());
    CHECK(exists(a.record(id).location));
}

TEST_CASE("in use: an open connection keeps an available volume from delete, extend and migration until it is terminated") {
    Api a;
    const std::string id = a.create("small");
    REQUIRE(a.action(id, R"({"os-reserve": null})").status == 202);
    REQUIRE(a.action(id, kInitialize).status == 200);
    REQUIRE(a.action(id, R"({"os-unreserve": null})").status == 202);
    CHECK(a.show(id)["status"] == "available");
    CHECK(says(a.call("DELETE", "/v3/p/volumes/" + id), 400, "has an open connection for host compute-1"));
    CHECK(says(a.action(id, R"({"os-extend": {"new_size": 2}})"), 400, "has an open connection for host compute-1"));
    auto m = a.migrate(id);
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().message.find("has an open connection") != std::string::npos);
    CHECK(a.loops_of(id).size() == 1);
    CHECK(a.action(id, kTerminate).status == 202);
    CHECK(a.loops_of(id).empty());
    CHECK(a.action(id, R"({"os-extend": {"new_size": 2}})").status == 202);
    CHECK(a.call("DELETE", "/v3/p/volumes/" + id).status == 202);
}

TEST_CASE("thick_file: a volume keeps at most kMaxConnectionsPerVolume connections, so that connectors cannot use up the loop devices") {
    Api a;
    const std::string id = a.attached("small");
    for (size_t i = 0; i < kMaxConnectionsPerVolume; ++i) {
        auto r = a.action(id, R"({"os-initialize_connection": {"connector": {"host": "compute-)" + std::to_string(i) + R"("}}})");
        REQUIRE_MESSAGE(r.status == 200, r.body.dump());
    }
    CHECK(a.loops_of(id).size() == kMaxConnectionsPerVolume);
    CHECK(says(a.action(id, R"({"os-initialize_connection": {"connector": {"host": "one-too-many"}}})"), 400, "open connections"));
    CHECK(says(a.action(id, R"({"os-initialize_connection": {"connector": {"initiator": "iqn.x"}}})"), 400, "open connections"));
    CHECK(a.loops_of(id).size() == kMaxConnectionsPerVolume);
    // A connector that has its connection still gets it.
    CHECK(a.action(id, R"({"os-initialize_connection": {"connector": {"host": "compute-0"}}})").status == 200);
    CHECK(a.action(id, R"({"os-terminate_connection": {"connector": {"host": "compute-0"}}})").status == 202);
    CHECK(a.action(id, R"({"os-initialize_connection": {"connector": {"host": "one-more"}}})").status == 200);
    CHECK(a.action(id, R"({"os-terminate_connection": {"connector": null}})").status == 202);
    CHECK(a.loops_of(id).empty());
}

TEST_CASE("a volume attached to one server attaches to no other, also after a reset of its status alone to available") {
    Api a;
    const std::string id = a.attached();
    a.set_status(id, VolumeStatus::available);  // what os-reset_status {"status": "available"} leaves: the attachment kept
    REQUIRE(a.action(id, R"({"os-reserve": null})").status == 202);
    CHECK(says(a.action(id, R"({"os-attach": {"host_name": "other-host", "mountpoint": "/dev/vdc"}})"), 400, "attached already"));
    CHECK(says(a.action(id, R"({"os-attach": {"instance_uuid": "99999999-2222-3333-4444-555555555555", "mountpoint": "/dev/vdc"}})"), 400,
               "attached already"));
    CHECK(a.show(id)["attachments"].size() == 1);
    CHECK(a.show(id)["status"] == "attaching");
    // The server it is attached to may attach again (as Cinder: what it already is).
    CHECK(a.action(id, R"({"os-attach": {"instance_uuid": ")" + kServer + R"(", "mountpoint": "/dev/vdb"}})").status == 202);
    CHECK(a.show(id)["status"] == "in-use");
    CHECK(a.show(id)["attachments"].size() == 1);
}
