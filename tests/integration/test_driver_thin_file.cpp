// thin_file on real files and real loop devices, built through Backends::configure from INI text
// with a real SQLite volume store: sparse creation, attachment as a loop device or as the file,
// Data% and pool arithmetic, over-subscription, extension, extent maps, facts, persistence of
// records across a restart, and the orphan check.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "driver/backends.hpp"
#include "driver/config.hpp"
#include "driver/driver.hpp"
#include "driver/loop_device.hpp"
#include "driver/volume_store.hpp"
#include "tests/support/driver_fixtures.hpp"
#include "tests/support/fixtures.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB;


uint64_t block_device_size(const std::string& device) {
    const std::string out = sh("blockdev --getsize64 " + device);
    return std::stoull(out);
}

// A thin_file backend "thin" with its pool directory and state directory in one TempDir.
class ThinBackend : public SingleBackendFixture {
  public:
    explicit ThinBackend(
        std::string options = "pool_size = 256M\nmax_over_subscription_ratio = 2\n")
        : SingleBackendFixture("thin", [options = std::move(options)](const TempDir& d) {
              return "volume_driver = thin_file\npool_path = " + pool_in(d) + "\n" + options;
          }) {}

    std::string pool() const { return pool_in(dir); }
    std::string file_of(const std::string& id) const { return pool() + "/volume-" + id; }

  private:
    static std::string pool_in(const TempDir& d) { return d.file("pool"); }
};

VolumeRecord record_of(const VolumeRef& v, VolumeStatus status = VolumeStatus::available) {
    VolumeRecord r;
    r.id = v.id;
    r.name = "name of " + v.id;
    r.backend = "thin";
    r.size = v.size;
    r.location = v.location.value;
    r.status = status;
    return r;
}

}  // namespace

TEST_CASE("driver thin_file: start() creates the pool directory and reports a clean orphan check") {
    ThinBackend b;
    struct stat st {};
    REQUIRE(::stat(b.pool().c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK(b.start_report.clean());
    CHECK(any_contains(b.log, "created pool directory " + b.pool()));
    CHECK(b.driver().driver_name() == "thin_file");
    CHECK(b.driver().backend_name() == "thin");
    CHECK(b.driver().pool_name() == "thin");
}

TEST_CASE("driver thin_file: a pool_path that is a regular file is refused at start") {
    TempDir dir;
    create_sparse_file(dir.file("not-a-dir"), 0);
    auto store = VolumeStore::open(dir.file("state"));
    REQUIRE(store.ok());
    auto config = ConfigFile::parse(
        "[DEFAULT]\nenabled_backends = t\n[t]\nvolume_driver = thin_file\npool_path = " +
            dir.file("not-a-dir") + "\n",
        "volmig.conf");
    REQUIRE(config.ok());
    auto backends = Backends::configure(*config, **store, nullptr);
    REQUIRE(backends.ok());
    auto started = (*backends)->start();
    REQUIRE_FALSE(started.ok());
    CHECK(contains(started.error().message, "[t] pool_path"));
    CHECK(contains(started.error().message, "not a directory"));
}

TEST_CASE("driver thin_file: a new volume is a sparse file of the right size that reads as zeros") {
    ThinBackend b;
    auto v = b.create("a1", 64 * MiB);
    CHECK(v.location.value == b.file_of("a1"));
    REQUIRE(exists(b.file_of("a1")));
    CHECK(file_size(b.file_of("a1")) == 64 * MiB);
    CHECK(allocated_bytes(b.file_of("a1")) == 0);
    CHECK(nonzero_mib(b.file_of("a1"), 64 * MiB) == 0);
    CHECK(read_range(b.file_of("a1"), 64 * MiB - 4096, 4096) ==
          std::vector<unsigned char>(4096, 0));

    auto usage = b.driver().volume_usage(v);
    REQUIRE(usage.ok());
    CHECK(usage->size == 64 * MiB);
    REQUIRE(usage->allocated);
    CHECK(*usage->allocated == 0);
    CHECK(usage->data_percent() == 0.0);

    auto map = b.driver().extent_map(v);
    REQUIRE(map.ok());
    REQUIRE(map->has_value());
    CHECK((*map)->size() == 64 * MiB);
    CHECK((*map)->data().empty());
}

TEST_CASE(
    "driver thin_file: creating an id that already exists fails and leaves the existing volume "
    "alone") {
    ThinBackend b;
    auto v = b.create("dup", 8 * MiB);
    write_pattern(v.location.value, 0, MiB, 0x5A);
    auto again = b.driver().create("dup", 16 * MiB);
    REQUIRE_FALSE(again.ok());
    CHECK(contains(again.error().message, b.file_of("dup")));
    CHECK(file_size(b.file_of("dup")) == 8 * MiB);
    CHECK(read_range(b.file_of("dup"), 0, MiB) == std::vector<unsigned char>(MiB, 0x5A));
}

TEST_CASE(
    "driver thin_file: attached as a block device, data written survives detach and re-attach") {
    ThinBackend b;
    auto v = b.create("blk", 32 * MiB);
    const auto expected = random_bytes(b.dir, 5 * MiB, 3 * MiB, 7);
    std::string first_device;
    {
        auto a = b.attach(v, AttachMode::block_device);
        first_device = a->path();
        CHECK(a->attachment().is_block_device);
        CHECK(a->attachment().created_loop);
        CHECK(contains(a->path(), "/dev/loop"));
        struct stat st {};
        REQUIRE(::stat(a->path().c_str(), &st) == 0);
        CHECK(S_ISBLK(st.st_mode));
        CHECK(loop_attached_to(a->path(), b.file_of("blk")));
        CHECK(block_device_size(a->path()) == 32 * MiB);
        CHECK(read_range(a->path(), 0, 32 * MiB) == std::vector<unsigned char>(32 * MiB, 0));
        write_random(a->path(), 5 * MiB, 3 * MiB, 7);
        Status detached = a->detach();
        REQUIRE_MESSAGE(detached.ok(), (detached.ok() ? "" : detached.error().message));
        CHECK_FALSE(loop_attached_to(first_device, b.file_of("blk")));
    }
    // The bytes are in the volume file ...
    CHECK(read_range(b.file_of("blk"), 5 * MiB, 3 * MiB) == expected);
    CHECK(nonzero_mib(b.file_of("blk"), 32 * MiB) == 3);
    // ... and read back through a new attachment.
    auto again = b.attach(v, AttachMode::block_device);
    CHECK(read_range(again->path(), 5 * MiB, 3 * MiB) == expected);
    CHECK(read_range(again->path(), 0, 5 * MiB) == std::vector<unsigned char>(5 * MiB, 0));
    CHECK(read_range(again->path(), 8 * MiB, 24 * MiB) == std::vector<unsigned char>(24 * MiB, 0));
}

TEST_CASE(
    "driver thin_file: attached as a file, the attachment is the volume file itself and detach "
    "keeps it") {
    ThinBackend b;
    auto v = b.create("f", 16 * MiB);
    auto a = b.attach(v, AttachMode::file_or_block);
    CHECK(a->path() == b.file_of("f"));
    CHECK_FALSE(a->attachment().is_block_device);
    CHECK_FALSE(a->attachment().created_loop);
    write_pattern(a->path(), 4 * MiB, 64 * KiB, 0xC3);
    Status detached = a->detach();
    REQUIRE(detached.ok());
    REQUIRE(exists(b.file_of("f")));
    auto again = b.attach(v, AttachMode::file_or_block);
    CHECK(read_range(again->path(), 4 * MiB, 64 * KiB) ==
          std::vector<unsigned char>(64 * KiB, 0xC3));
    CHECK(read_range(again->path(), 4 * MiB + 64 * KiB, 4096) ==
          std::vector<unsigned char>(4096, 0));
}

TEST_CASE("driver thin_file: Data% is the written share of the volume") {
    ThinBackend b;
    auto v = b.create("pct", 64 * MiB);
    {
        auto a = b.attach(v, AttachMode::block_device);
        write_random(a->path(), 0, 4 * MiB, 1);
        write_random(a->path(), 32 * MiB, 4 * MiB, 2);
    }
    const uint64_t allocated = allocated_bytes(b.file_of("pct"));  // syncs first
    CHECK(allocated >= 8 * MiB);
    CHECK(allocated <= 8 * MiB + 64 * KiB);  // at most some filesystem metadata on top
    auto usage = b.driver().volume_usage(v);
    REQUIRE(usage.ok());
    CHECK(usage->size == 64 * MiB);
    REQUIRE(usage->allocated);
    CHECK(*usage->allocated == allocated);
    CHECK(usage->data_percent() == doctest::Approx(12.5).epsilon(0.01));
}

TEST_CASE("driver thin_file: pool usage adds up the volumes' sizes and allocations") {
    ThinBackend b;  // pool_size 256M, ratio 2
    auto v1 = b.create("p1", 64 * MiB);
    auto v2 = b.create("p2", 32 * MiB);
    write_random(v1.location.value, 0, 4 * MiB, 1);
    write_random(v2.location.value, 8 * MiB, 2 * MiB, 2);
    const uint64_t allocated =
        allocated_bytes(v1.location.value) + allocated_bytes(v2.location.value);
    CHECK(allocated >= 6 * MiB);

    auto pool = b.driver().pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->capacity == 256 * MiB);
    CHECK(pool->provisioned == 96 * MiB);
    CHECK(pool->allocated == allocated);
    struct statvfs vfs {};
    REQUIRE(::statvfs(b.pool().c_str(), &vfs) == 0);
    CHECK(pool->free == std::min<uint64_t>(256 * MiB - allocated,
                                           static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize));
    CHECK(pool->max_over_subscription_ratio == 2.0);
    CHECK(pool->data_percent() ==
          doctest::Approx(100.0 * static_cast<double>(allocated) / (256.0 * MiB)));

    REQUIRE(b.driver().remove(v2).ok());
    auto after = b.driver().pool_usage();
    REQUIRE(after.ok());
    CHECK(after->provisioned == 64 * MiB);
    CHECK(after->allocated == allocated_bytes(v1.location.value));
}

TEST_CASE("driver thin_file: pool free space is capped by what the pool's filesystem holds") {
    TempDir outer;
    SmallFilesystem fs(outer, 64 * MiB);
    auto store = VolumeStore::open(outer.file("state"));
    REQUIRE(store.ok());
    auto config = ConfigFile::parse(
        "[DEFAULT]\nenabled_backends = t\n[t]\nvolume_driver = thin_file\npool_path = " +
            fs.mount_point() + "/pool\npool_size = 10G\n",
        "volmig.conf");
    REQUIRE(config.ok());
    auto backends = Backends::configure(*config, **store, nullptr);
    REQUIRE(backends.ok());
    REQUIRE((*backends)->start().ok());
    auto& driver = *(*backends)->first().driver;
    auto pool = driver.pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->capacity == 10ull << 30);
    CHECK(pool->free < 64 * MiB);  // not 10 GiB
    CHECK(pool->free > 32 * MiB);
}

TEST_CASE("driver thin_file: without pool_size the pool is the whole filesystem") {
    ThinBackend b("");
    struct statvfs vfs {};
    REQUIRE(::statvfs(b.pool().c_str(), &vfs) == 0);
    auto pool = b.driver().pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->capacity == static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize);
    CHECK(pool->max_over_subscription_ratio == 20.0);
}

TEST_CASE(
    "driver thin_file: provisioning beyond pool_size x max_over_subscription_ratio is refused") {
    ThinBackend b("pool_size = 64M\nmax_over_subscription_ratio = 1.5\n");  // limit: 96 MiB
    CHECK(b.driver().check_capacity(96 * MiB).ok());
    CHECK_FALSE(b.driver().check_capacity(96 * MiB + 1).ok());
    auto a = b.create("a", 64 * MiB);
    b.create("b", 32 * MiB);  // exactly at the limit
    auto c = b.driver().create("c", 1 * MiB);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().kind == ErrorKind::refused);
    CHECK(c.error().code == ENOSPC);
    CHECK(contains(c.error().message, "backend thin"));
    CHECK(contains(c.error().message, "max_over_subscription_ratio"));
    CHECK(contains(c.error().message, "96.0 MiB"));
    CHECK_FALSE(exists(b.file_of("c")));
    Status room = b.driver().check_capacity(MiB);  // the same answer without creating anything
    REQUIRE_FALSE(room.ok());
    CHECK(room.error().kind == ErrorKind::refused);
    CHECK(room.error().message == c.error().message);
    CHECK(b.driver().check_capacity(0).ok());

    auto grown = b.driver().extend(a, 65 * MiB);
    REQUIRE_FALSE(grown.ok());
    CHECK(grown.error().kind == ErrorKind::refused);
    CHECK(contains(grown.error().message, "volume a"));
    CHECK(file_size(b.file_of("a")) == 64 * MiB);

    // Over-subscription counts sizes, not allocation: nothing is written, still refused.
    CHECK(allocated_bytes(b.file_of("a")) == 0);
    auto pool = b.driver().pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->provisioned == 96 * MiB);
}

TEST_CASE(
    "driver thin_file: extend grows the file, keeps the data and the new tail reads as zeros") {
    ThinBackend b;
    auto v = b.create("ext", 16 * MiB);
    const auto expected = random_bytes(b.dir, 15 * MiB, MiB, 3);
    write_random(v.location.value, 15 * MiB, MiB, 3);
    const uint64_t allocated_before = allocated_bytes(v.location.value);

    auto location = b.driver().extend(v, 48 * MiB);
    REQUIRE_MESSAGE(location.ok(), (location.ok() ? "" : location.error().message));
    CHECK(location->value == v.location.value);
    CHECK(file_size(v.location.value) == 48 * MiB);
    CHECK(allocated_bytes(v.location.value) == allocated_before);  // the new tail is a hole
    const VolumeRef grown{v.id, 48 * MiB, *location};
    auto a = b.attach(grown, AttachMode::block_device);
    CHECK(block_device_size(a->path()) == 48 * MiB);
    CHECK(read_range(a->path(), 15 * MiB, MiB) == expected);
    CHECK(read_range(a->path(), 16 * MiB, 32 * MiB) == std::vector<unsigned char>(32 * MiB, 0));
    auto usage = b.driver().volume_usage(grown);
    REQUIRE(usage.ok());
    CHECK(usage->size == 48 * MiB);
}

TEST_CASE(
    "driver thin_file: extend never shrinks a volume: a smaller size is refused and the data "
    "kept") {
    // The interface says new_size > size; a caller's mistake must not cut the volume's tail off.
    ThinBackend b;
    auto v = b.create("shrink", 16 * MiB);
    write_pattern(v.location.value, 12 * MiB, MiB, 0x77);
    auto r = b.driver().extend(v, 8 * MiB);
    CHECK_FALSE(r.ok());
    CHECK(file_size(v.location.value) == 16 * MiB);
    CHECK(read_range(v.location.value, 12 * MiB, MiB) == std::vector<unsigned char>(MiB, 0x77));
}

TEST_CASE("driver thin_file: the extent map is exactly the written ranges") {
    ThinBackend b;
    auto v = b.create("map", 64 * MiB);
    {
        auto a = b.attach(v, AttachMode::block_device);
        write_random(a->path(), 0, MiB, 1);
        write_random(a->path(), 8 * MiB, 2 * MiB + 64 * KiB, 2);
        write_random(a->path(), 63 * MiB, MiB, 3);
    }
    ::sync();
    auto map = b.driver().extent_map(v);
    REQUIRE_MESSAGE(map.ok(), (map.ok() ? "" : map.error().message));
    REQUIRE(map->has_value());
    CHECK((*map)->size() == 64 * MiB);
    CHECK((*map)->data() ==
          std::vector<Extent>{{0, MiB}, {8 * MiB, 2 * MiB + 64 * KiB}, {63 * MiB, MiB}});
    CHECK((*map)->data_bytes() == 4 * MiB + 64 * KiB);
}

TEST_CASE("driver thin_file: remove deletes the file: removing again is not an error") {
    ThinBackend b;
    auto v = b.create("gone", 8 * MiB);
    write_pattern(v.location.value, 0, MiB, 1);
    REQUIRE(exists(b.file_of("gone")));
    REQUIRE(b.driver().remove(v).ok());
    CHECK_FALSE(exists(b.file_of("gone")));
    CHECK(b.driver().remove(v).ok());
    auto ids = b.driver().stored_volume_ids();
    REQUIRE(ids.ok());
    CHECK(ids->empty());
    auto usage = b.driver().volume_usage(v);
    REQUIRE_FALSE(usage.ok());
    CHECK(contains(usage.error().message, b.file_of("gone")));
}

TEST_CASE("driver thin_file: facts: thin, zero-initialized, discard that reads back zeros") {
    ThinBackend b;
    const BackendFacts f = b.driver().facts();
    CHECK(f.thin_provisioning);
    CHECK(f.zero_initialized);
    CHECK(contains(f.zero_initialized_reason, "sparse"));
    CHECK(f.discard);  // ext4/xfs under /var/tmp punch holes
    CHECK(f.discard_zeroes);
    CHECK(f.storage_protocol == "file");
    struct statvfs vfs {};
    REQUIRE(::statvfs(b.pool().c_str(), &vfs) == 0);
    CHECK(f.block_size == vfs.f_bsize);
    CHECK_FALSE(exists(b.pool() + "/.volmig-discard-probe"));  // the probe leaves nothing behind
    auto ids = b.driver().stored_volume_ids();
    REQUIRE(ids.ok());
    CHECK(ids->empty());
}

TEST_CASE("driver thin_file: volume records survive a restart") {
    ThinBackend b;
    auto v1 = b.create("r1", 8 * MiB);
    auto v2 = b.create("r2", 16 * MiB);
    write_pattern(v2.location.value, 0, MiB, 0x42);
    VolumeRecord r1 = record_of(v1);
    r1.metadata = R"({"k":"v"})";
    r1.attached_path = "/dev/loop99";
    REQUIRE(b.store().insert(r1).ok());
    REQUIRE(b.store().insert(record_of(v2, VolumeStatus::in_use)).ok());
    auto before = b.store().get("r1");
    REQUIRE(before.ok());
    REQUIRE(before->has_value());

    b.stop();
    b.start();

    CHECK(b.start_report.clean());
    auto got = b.store().get("r1");
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    const VolumeRecord& r = **got;
    CHECK(r.id == "r1");
    CHECK(r.name == "name of r1");
    CHECK(r.backend == "thin");
    CHECK(r.size == 8 * MiB);
    CHECK(r.location == b.file_of("r1"));
    CHECK(r.status == VolumeStatus::available);
    CHECK(r.metadata == R"({"k":"v"})");
    CHECK(r.attached_path == "/dev/loop99");
    CHECK(r.created_at == (*before)->created_at);
    CHECK_FALSE(r.created_at.empty());
    auto all = b.store().list("thin");
    REQUIRE(all.ok());
    CHECK(all->size() == 2);
    // The storage is still there and still holds its data.
    const VolumeRef v2_again{"r2", 16 * MiB, VolumeLocation{(*b.store().get("r2"))->location}};
    auto a = b.attach(v2_again, AttachMode::block_device);
    CHECK(read_range(a->path(), 0, MiB) == std::vector<unsigned char>(MiB, 0x42));
}

TEST_CASE(
    "driver thin_file: the orphan check reports a record without its file and a file without a "
    "record") {
    ThinBackend b;
    auto kept = b.create("kept", 8 * MiB);
    auto lost = b.create("lost", 8 * MiB);
    REQUIRE(b.store().insert(record_of(kept)).ok());
    REQUIRE(b.store().insert(record_of(lost)).ok());
    REQUIRE(b.store()
                .insert(record_of(VolumeRef{"new", MiB, {}}, VolumeStatus::creating))
                .ok());                   // no file yet: fine
    b.create("stray", 4 * MiB);           // storage, no record
    ::unlink(b.file_of("lost").c_str());  // deleted behind volmig's back

    OrphanReport report = b.backends().find_orphans();
    CHECK_FALSE(report.clean());
    CHECK(report.records_without_storage ==
          std::vector<std::string>{"volume lost on thin (status available)"});
    CHECK(report.storage_without_records == std::vector<std::string>{"volume-stray on thin"});

    // start() after a restart runs the same check and logs it.
    b.stop();
    b.log.clear();
    b.start();
    CHECK(b.start_report.records_without_storage == report.records_without_storage);
    CHECK(b.start_report.storage_without_records == report.storage_without_records);
    CHECK(any_contains(b.log, "record without storage: volume lost on thin"));
    CHECK(any_contains(b.log, "storage without record: volume-stray on thin"));
}
