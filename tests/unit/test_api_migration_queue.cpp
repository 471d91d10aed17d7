// The queue of source-side migrations (api/migration.hpp "The queue"): with
// max_concurrent_migrations = N, later migrations wait as queued records (migration_status
// starting) with a 1-based FIFO position that moves up as jobs end; a queued one holds no
// destination volume, survives a restart in order, and can be abandoned. Real objects: a daemon
// host-a with two thin_file backends and a real SQLite store; the migrations are local copies
// paced by the daemon-wide volume_copy_bps_limit, so that the first one is still copying while
// the others are looked at.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>

#include "api/migration.hpp"
#include "copy/checksum.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/service_fixture.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

struct QueueLab {
    TempDir dir;
    ServiceParts parts;
    Metrics metrics;
    Peers peers;
    std::unique_ptr<MigrationService> migrations;

    static std::string ini(const TempDir& dir, const std::string& extra) {
        return "[DEFAULT]\nhost = host-a\nauth_strategy = noauth\nstate_path = " + dir.file("state") + "\nenabled_backends = one, two\n" +
               extra + "[one]\nvolume_driver = thin_file\npool_path = " + dir.file("one") + "\npool_size = 20G\n" +
               "[two]\nvolume_driver = thin_file\npool_path = " + dir.file("two") + "\npool_size = 20G\n";
    }

    explicit QueueLab(const std::string& extra) : parts(ini(dir, extra)), peers(parts.config) { restart(); }
    ~QueueLab() {
        if (migrations) migrations->stop();
    }

    // A new MigrationService over the same store, as after a restart of the daemon.
    void restart() {
        if (migrations) migrations->stop();
        migrations = std::make_unique<MigrationService>(*parts.volumes, peers, metrics, nullptr);
        REQUIRE(migrations->initialize().ok());
        migrations->resume_after_restart();
    }

    // A 1 GiB volume on backend one holding `data` bytes of random data.
    VolumeRecord volume(const std::string& name, uint64_t data, uint32_t seed) {
        CreateRequest req;
        req.size_gib = 1;
        req.name = name;
        auto v = parts.volumes->create(req);
        REQUIRE(v.ok());
        write_random(v->location, 0, data, seed);
        return *v;
    }

    void migrate(const std::string& id) {
        MigrateRequest req;
        req.volume_id = id;
        req.destination = "host-a@two";
        auto started = migrations->start(req);
        REQUIRE_MESSAGE(started.ok(), (started.ok() ? "" : started.error().message));
    }

    nlohmann::json view(const std::string& id) { return migrations->migration_view(id); }
    std::string state(const std::string& id) { return view(id).value("state", ""); }

    VolumeRecord record(const std::string& id) {
        auto v = parts.volumes->get(id);
        REQUIRE(v.ok());
        return *v;
    }

    size_t volumes_on_two() {
        auto listed = parts.store->list("two");
        REQUIRE(listed.ok());
        return listed->size();
    }

    std::string checksum_of(const std::string& path) { return volume_checksum(path); }

    // Waits until every id's migration ended; while waiting, counts the started (not queued,
    // not ended) ones at each look and returns the most seen at once.
    size_t settle(const std::vector<std::string>& ids, int seconds = 60) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        size_t most = 0;
        while (true) {
            size_t running = 0, ended = 0;
            for (const auto& id : ids) {
                const std::string s = state(id);
                if (s == "success" || s == "error") ++ended;
                else if (s != "queued") ++running;
            }
            most = std::max(most, running);
            if (ended == ids.size()) return most;
            REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the migrations did not end within " << seconds << " s");
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
};

}  // namespace

TEST_CASE("migration queue: with max_concurrent_migrations = 1 later migrations wait queued in FIFO order and move up as jobs end") {
    // 2 MiB each at 4 MiB/s: about half a second per copy.
    QueueLab lab("max_concurrent_migrations = 1\nvolume_copy_bps_limit = 4M\n");
    std::vector<VolumeRecord> v;
    std::vector<std::string> ids, sums;
    for (uint32_t i = 0; i < 3; ++i) {
        v.push_back(lab.volume("q" + std::to_string(i), 2 << 20, 10 + i));
        ids.push_back(v.back().id);
        sums.push_back(lab.checksum_of(v.back().location));
    }
    for (const auto& id : ids) lab.migrate(id);

    CHECK(lab.state(ids[0]) != "queued");
    CHECK(lab.view(ids[0])["queue_position"].is_null());
    CHECK(lab.state(ids[1]) == "queued");
    CHECK(lab.view(ids[1])["queue_position"] == 1);
    CHECK(lab.state(ids[2]) == "queued");
    CHECK(lab.view(ids[2])["queue_position"] == 2);
    // Queued: the volume shows migration_status starting, and nothing was made for it yet.
    CHECK(lab.record(ids[1]).migration_status == VolumeMigrationStatus::starting);
    CHECK(lab.record(ids[2]).status == VolumeStatus::available);
    CHECK(lab.view(ids[2])["destination_volume_id"] == "");
    CHECK(lab.volumes_on_two() <= 1);

    // The first ends, the second starts, the third is first in line.
    REQUIRE(wait_until([&] { return lab.state(ids[0]) == "success"; }));
    REQUIRE(wait_until([&] { return lab.state(ids[1]) != "queued"; }));
    CHECK(lab.view(ids[2])["queue_position"] == 1);

    CHECK(lab.settle(ids) <= 1);
    for (size_t i = 0; i < ids.size(); ++i) {
        CAPTURE(i);
        CHECK(lab.state(ids[i]) == "success");
        VolumeRecord after = lab.record(ids[i]);
        CHECK(after.backend == "two");
        CHECK(lab.checksum_of(after.location) == sums[i]);
    }
}

TEST_CASE("migration queue: a queued migration is abandoned by completion with error = true and the volume stays available") {
    QueueLab lab("max_concurrent_migrations = 1\nvolume_copy_bps_limit = 2M\n");
    VolumeRecord first = lab.volume("first", 2 << 20, 1), second = lab.volume("second", 2 << 20, 2), third = lab.volume("third", 1 << 20, 3);
    const std::string sum = lab.checksum_of(second.location);
    for (const auto* v : {&first, &second, &third}) lab.migrate(v->id);
    REQUIRE(lab.state(second.id) == "queued");

    // A queued migration cannot be completed, nor abandoned naming a volume it never made.
    auto completed = lab.migrations->complete(second.id, "", false);
    REQUIRE_FALSE(completed.ok());
    CHECK(completed.error().message.find("queued") != std::string::npos);
    auto named = lab.migrations->complete(second.id, first.id, true);
    REQUIRE_FALSE(named.ok());
    CHECK(named.error().message.find("new_volume \"\"") != std::string::npos);
    // os-reset_status is refused with the way out.
    Status reset = lab.migrations->refuse_reset_during_migration(lab.record(second.id));
    REQUIRE_FALSE(reset.ok());
    CHECK(reset.error().message.find("queued") != std::string::npos);
    CHECK(lab.state(second.id) == "queued");

    auto abandoned = lab.migrations->complete(second.id, "", true);
    REQUIRE_MESSAGE(abandoned.ok(), abandoned.error().message);
    CHECK(lab.state(second.id) == "error");
    CHECK(lab.view(second.id)["error"].get<std::string>().find("abandoned while queued") != std::string::npos);
    VolumeRecord after = lab.record(second.id);
    CHECK(after.status == VolumeStatus::available);
    CHECK(after.backend == "one");
    CHECK(after.location == second.location);
    CHECK(lab.checksum_of(after.location) == sum);
    CHECK(lab.view(third.id)["queue_position"] == 1);  // moved up
    CHECK(lab.migrations->refuse_reset_during_migration(after).ok());

    lab.settle({first.id, second.id, third.id});
    CHECK(lab.state(first.id) == "success");
    CHECK(lab.state(third.id) == "success");
    CHECK(lab.record(second.id).backend == "one");
}

TEST_CASE("migration queue: a restart keeps queued migrations queued in their order, and they then run") {
    QueueLab lab("max_concurrent_migrations = 1\nvolume_copy_bps_limit = 2M\n");
    std::vector<std::string> ids;
    for (uint32_t i = 0; i < 3; ++i) ids.push_back(lab.volume("r" + std::to_string(i), 2 << 20, 20 + i).id);
    for (const auto& id : ids) lab.migrate(id);
    REQUIRE(lab.state(ids[1]) == "queued");
    REQUIRE(lab.state(ids[2]) == "queued");

    lab.restart();
    // The started one rolled back (a restart interrupts a started migration); the queued ones
    // kept their order: the second runs first, the third waits at position 1.
    REQUIRE(wait_until([&] { return lab.state(ids[0]) == "error"; }));
    REQUIRE(wait_until([&] { return lab.state(ids[1]) != "queued"; }));
    CHECK(lab.state(ids[2]) == "queued");
    CHECK(lab.view(ids[2])["queue_position"] == 1);
    CHECK(lab.settle(ids) <= 1);
    CHECK(lab.state(ids[1]) == "success");
    CHECK(lab.state(ids[2]) == "success");
    CHECK(lab.record(ids[0]).status == VolumeStatus::available);
    CHECK(lab.record(ids[0]).backend == "one");
}

TEST_CASE("migration queue: max_concurrent_migrations = 0 queues nothing") {
    QueueLab lab("max_concurrent_migrations = 0\nvolume_copy_bps_limit = 8M\n");
    std::vector<std::string> ids;
    for (uint32_t i = 0; i < 4; ++i) ids.push_back(lab.volume("u" + std::to_string(i), 1 << 20, 30 + i).id);
    for (const auto& id : ids) lab.migrate(id);
    for (const auto& id : ids) CHECK(lab.state(id) != "queued");
    lab.settle(ids);
    for (const auto& id : ids) CHECK(lab.state(id) == "success");
}
