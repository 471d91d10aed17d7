// driver/volume_store: the session machinery: writes are durable when they return and grouped
// under concurrency (fewer WAL flushes than commits), reads see what was written, read sessions
// refuse writes, and a store reopened on the same file finds every acknowledged record.
#include <doctest/doctest.h>

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Exception.h>

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "driver/volume_store.hpp"
#include "tests/support/fixtures.hpp"

using namespace volmig;
using namespace volmig::test;
using namespace Poco::Data::Keywords;

namespace {

std::unique_ptr<VolumeStore> open_store(const TempDir& dir) {
    auto s = VolumeStore::open(dir.file("state"));
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
    return std::move(*s);
}

VolumeRecord record(const std::string& id) {
    VolumeRecord r;
    r.id = id;
    r.name = "v-" + id;
    r.backend = "thin";
    r.size = 1 << 30;
    r.status = VolumeStatus::available;
    return r;
}

}  // namespace

TEST_CASE("volume store: a write returns once flushed, and is read back at once") {
    TempDir dir;
    auto store = open_store(dir);
    const auto before = store->write_counts();
    REQUIRE(store->insert(record("a")).ok());
    const auto after = store->write_counts();
    CHECK(after.commits == before.commits + 1);
    CHECK(after.flushes == before.flushes + 1);
    auto got = store->get("a");
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->name == "v-a");
    VolumeRecord changed = **got;
    changed.status = VolumeStatus::deleting;
    REQUIRE(store->update(changed).ok());
    CHECK((*store->get("a"))->status == VolumeStatus::deleting);
    CHECK(store->update(record("missing")).error().kind == ErrorKind::not_found);
}

TEST_CASE("volume store: concurrent writers share WAL flushes, and every write is there afterwards") {
    TempDir dir;
    auto store = open_store(dir);
    const auto before = store->write_counts();
    constexpr int kThreads = 16, kEach = 25;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i)
                if (!store->insert(record(std::to_string(t) + "-" + std::to_string(i))).ok()) ++failures;
        });
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    const auto after = store->write_counts();
    const uint64_t commits = after.commits - before.commits, flushes = after.flushes - before.flushes;
    INFO("commits " << commits << ", flushes " << flushes);
    CHECK(commits == kThreads * kEach);
    CHECK(flushes < commits);
    CHECK(flushes >= 1);
    auto all = store->list();
    REQUIRE(all.ok());
    CHECK(all->size() == static_cast<size_t>(kThreads * kEach));
}

TEST_CASE("volume store: what was acknowledged is found by a store reopened on the same file") {
    TempDir dir;
    {
        auto store = open_store(dir);
        for (int i = 0; i < 20; ++i) REQUIRE(store->insert(record("r" + std::to_string(i))).ok());
        REQUIRE(store->remove("r3").ok());
        REQUIRE(store->set_backend_fact("thin", "k", "v").ok());
    }
    auto again = open_store(dir);
    auto all = again->list();
    REQUIRE(all.ok());
    CHECK(all->size() == 19);
    CHECK_FALSE(again->get("r3")->has_value());
    CHECK(again->backend_fact("thin", "k")->value_or("") == "v");
}

TEST_CASE("volume store: a transaction is one flush on commit, its reads see its own writes, and a rollback writes nothing") {
    TempDir dir;
    auto store = open_store(dir);
    const auto before = store->write_counts();
    Status done = store->transaction([&](VolumeStore::Tx& tx) -> Status {
        for (int i = 0; i < 5; ++i)
            if (Status s = tx.insert(record("t" + std::to_string(i))); !s.ok()) return s;
        auto inside = store->get("t3");  // through the store, on the same thread: the write connection
        REQUIRE(inside.ok());
        CHECK(inside->has_value());
        int n = 0;
        store->with_read_session([&](Poco::Data::Session& s) {
            s << "SELECT count(*) FROM volumes", into(n), now;
            return 0;
        });
        CHECK(n == 5);
        return tx.modify("t1", [](VolumeRecord& r) {
            r.status = VolumeStatus::deleting;
            return success();
        });
    });
    REQUIRE(done.ok());
    const auto after = store->write_counts();
    CHECK(after.commits == before.commits + 1);
    CHECK(after.flushes == before.flushes + 1);
    CHECK((*store->get("t1"))->status == VolumeStatus::deleting);

    Status refused = store->transaction([&](VolumeStore::Tx& tx) -> Status {
        REQUIRE(tx.insert(record("gone")).ok());
        return Error{"changed my mind", ErrorKind::refused};
    });
    CHECK_FALSE(refused.ok());
    CHECK_FALSE(store->get("gone")->has_value());
    CHECK(store->write_counts().flushes == after.flushes);
}

TEST_CASE("volume store: while one thread is in a transaction, another reads the last commit without waiting") {
    TempDir dir;
    auto store = open_store(dir);
    REQUIRE(store->insert(record("x")).ok());
    std::atomic<bool> inside{false}, read{false};
    std::thread writer([&] {
        (void)store->transaction([&](VolumeStore::Tx& tx) -> Status {
            CHECK(tx.insert(record("y")).ok());
            inside = true;
            for (int i = 0; i < 200 && !read; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
            return success();
        });
    });
    while (!inside) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto all = store->list();  // would wait for the transaction if it needed the write connection
    read = true;
    writer.join();
    REQUIRE(all.ok());
    CHECK(all->size() == 1);
    CHECK(store->list()->size() == 2);
}

TEST_CASE("volume store: with_session writes are durable on return, and with_read_session refuses writes") {
    TempDir dir;
    auto store = open_store(dir);
    Status created = store->with_session([](Poco::Data::Session& s) -> Status {
        s << "CREATE TABLE IF NOT EXISTS t (x INTEGER)", now;
        s << "INSERT INTO t VALUES (1)", now;
        return success();
    });
    REQUIRE(created.ok());
    const auto counts = store->write_counts();
    CHECK(counts.flushes >= 1);
    int n = 0;
    store->with_read_session([&](Poco::Data::Session& s) {
        s << "SELECT count(*) FROM t", into(n), now;
        return 0;
    });
    CHECK(n == 1);
    bool refused = false;
    store->with_read_session([&](Poco::Data::Session& s) {
        try {
            s << "INSERT INTO t VALUES (2)", now;
        } catch (const Poco::Exception&) {
            refused = true;
        }
        return 0;
    });
    CHECK(refused);
    // A read through with_session commits nothing and so does not wait for a flush.
    store->with_session([&](Poco::Data::Session& s) {
        s << "SELECT count(*) FROM t", into(n), now;
        return 0;
    });
    CHECK(store->write_counts().flushes == counts.flushes);
}

TEST_CASE("volume store: a schema 1 database is upgraded in place, its records kept, the new fields at their defaults") {
    TempDir dir;
    ::mkdir(dir.file("state").c_str(), 0700);
    {
        Poco::Data::SQLite::Connector::registerConnector();
        Poco::Data::Session old("SQLite", dir.file("state") + "/volmig.sqlite");
        old << "CREATE TABLE volumes (id TEXT PRIMARY KEY, name TEXT NOT NULL, backend TEXT NOT NULL, size INTEGER NOT NULL,"
               " location TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
               " metadata TEXT NOT NULL DEFAULT '{}', attached_path TEXT NOT NULL DEFAULT '', project_id TEXT NOT NULL DEFAULT '',"
               " error TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '', name_id TEXT NOT NULL DEFAULT '',"
               " migration_status TEXT NOT NULL DEFAULT '', moved_to TEXT NOT NULL DEFAULT '')",
            now;
        old << "CREATE TABLE backend_facts (backend TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (backend, key))",
            now;
        old << "CREATE TABLE pool_extents (backend TEXT NOT NULL, volume_id TEXT NOT NULL, offset INTEGER NOT NULL,"
               " length INTEGER NOT NULL, PRIMARY KEY (backend, volume_id))",
            now;
        old << "INSERT INTO volumes (id, name, backend, size, location, status, created_at, updated_at, metadata)"
               " VALUES ('old-1', 'kept', 'thin', 1073741824, 'old-1', 'available', '2026-01-01T00:00:00.000000',"
               " '2026-01-01T00:00:00.000000', '{\"k\": \"v\"}')",
            now;
        old << "PRAGMA user_version = 1", now;
    }
    auto store = open_store(dir);
    auto got = store->get("old-1");
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    const VolumeRecord& r = **got;
    CHECK(r.name == "kept");
    CHECK(r.metadata == "{\"k\": \"v\"}");
    CHECK(r.status == VolumeStatus::available);
    CHECK(r.volume_type_id.empty());
    CHECK_FALSE(r.bootable);
    CHECK(r.attachments == "[]");
    VolumeRecord changed = r;
    changed.volume_type_id = "type-1";
    changed.bootable = true;
    changed.attachments = "[{\"id\": \"a\"}]";
    REQUIRE(store->update(changed).ok());
    auto again = open_store(dir)->get("old-1");
    REQUIRE(again.ok());
    REQUIRE(again->has_value());
    CHECK((*again)->volume_type_id == "type-1");
    CHECK((*again)->bootable);
    CHECK((*again)->attachments == "[{\"id\": \"a\"}]");
}
