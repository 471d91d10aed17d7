// thick_file on a real pool file and real loop devices, built through Backends::configure from
// INI text with a real SQLite volume store. Above all: zero_initialized is promised only when it
// is true. A test writes non-zero bytes into a volume, deletes it, and reads what the next
// volume in the same region sees.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
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

std::vector<unsigned char> filled(uint64_t length, unsigned char byte) {
    return std::vector<unsigned char>(length, byte);
}

uint64_t block_device_size(const std::string& device) {
    return std::stoull(sh("blockdev --getsize64 " + device));
}

// Whether one 4 KiB write at `offset` of `path` fails (the descriptor is closed either way).
bool write_fails_at(const std::string& path, uint64_t offset) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const std::vector<unsigned char> buf(4096, 0x22);
    const ssize_t n = ::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    ::close(fd);
    return n <= 0;
}

// A thick_file backend "thick" with its pool file and state directory in one TempDir.
class ThickBackend : public SingleBackendFixture {
  public:
    explicit ThickBackend(std::string options, Start when = Start::now)
        : SingleBackendFixture(
              "thick",
              [options = std::move(options)](const TempDir& d) {
                  return "volume_driver = thick_file\npool_file = " + pool_in(d) + "\n" + options;
              },
              when) {}

    std::string pool() const { return pool_in(dir); }

    using SingleBackendFixture::attach;
    std::unique_ptr<AttachGuard> attach(const VolumeRef& v) {
        return attach(v, AttachMode::block_device);
    }
    // Bytes of a volume, read through its own loop device.
    std::vector<unsigned char> read_volume(const VolumeRef& v, uint64_t offset, uint64_t length) {
        auto a = attach(v);
        return read_range(a->path(), offset, length);
    }
    // (volume id, offset, length) of the recorded pool regions, by offset.
    std::vector<std::tuple<std::string, uint64_t, uint64_t>> extents() {
        auto e = store().pool_extents("thick");
        REQUIRE(e.ok());
        std::vector<std::tuple<std::string, uint64_t, uint64_t>> out;
        for (const auto& x : *e) out.emplace_back(x.volume_id, x.offset, x.length);
        return out;
    }

  private:
    static std::string pool_in(const TempDir& d) { return d.file("pool.img"); }
};

using Extents = std::vector<std::tuple<std::string, uint64_t, uint64_t>>;

// Writes `byte` over a whole volume through its loop device.
void fill_volume(ThickBackend& b, const VolumeRef& v, unsigned char byte) {
    auto a = b.attach(v);
    write_pattern(a->path(), 0, v.size, byte);
    Status s = a->detach();
    REQUIRE(s.ok());
}

// An operator-supplied pool file of `size` bytes, every byte `byte`.
void dirty_pool_file(const std::string& path, uint64_t size, unsigned char byte) {
    create_sparse_file(path, size);
    write_pattern(path, 0, size, byte);
}

VolumeRecord record_of(const VolumeRef& v, VolumeStatus status = VolumeStatus::available) {
    VolumeRecord r;
    r.id = v.id;
    r.name = "name of " + v.id;
    r.backend = "thick";
    r.size = v.size;
    r.location = v.location.value;
    r.status = status;
    return r;
}

}  // namespace

TEST_CASE(
    "driver thick_file: a pool the driver creates itself is preallocated, reads as zeros and is "
    "zero-initialized") {
    ThickBackend b("pool_size = 32M\n");
    REQUIRE(exists(b.pool()));
    CHECK(file_size(b.pool()) == 32 * MiB);
    CHECK(allocated_bytes(b.pool()) >= 32 * MiB);  // thick: preallocated, not a sparse file
    CHECK(nonzero_mib(b.pool(), 32 * MiB) == 0);
    CHECK(any_contains(b.log, "created pool file " + b.pool()));
    CHECK(b.start_report.clean());

    const BackendFacts f = b.driver().facts();
    CHECK(f.zero_initialized);
    CHECK(contains(f.zero_initialized_reason, "created by volmig"));
    CHECK_FALSE(f.thin_provisioning);
    CHECK_FALSE(f.discard);
    CHECK_FALSE(f.discard_zeroes);
    CHECK(f.storage_protocol == "file");

    auto pool = b.driver().pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->capacity == 32 * MiB);
    CHECK(pool->free == 32 * MiB);
    CHECK(pool->allocated == 0);
    CHECK(pool->provisioned == 0);
}

TEST_CASE(
    "driver thick_file: a missing pool file without pool_size, or a pool_size not in whole MiB, is "
    "refused at start") {
    SUBCASE("no pool_size") {
        ThickBackend b("", Start::later);
        auto r = b.try_start();
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK(contains(r.error().message, "[thick] pool_file " + b.pool() + " does not exist"));
        CHECK(contains(r.error().message, "pool_size"));
        CHECK_FALSE(exists(b.pool()));
    }
    SUBCASE("pool_size of 10M + 4K") {
        ThickBackend b("pool_size = 10244K\n", Start::later);
        auto r = b.try_start();
        REQUIRE_FALSE(r.ok());
        CHECK(contains(r.error().message, "[thick] pool_size"));
        CHECK_FALSE(exists(b.pool()));
    }
}

TEST_CASE("driver thick_file: a pool_size that does not match the existing pool file is refused") {
    ThickBackend b("pool_size = 32M\n", Start::later);
    dirty_pool_file(b.pool(), 16 * MiB, 0);
    auto r = b.try_start();
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().message, "[thick] pool_size"));
    CHECK(contains(r.error().message, std::to_string(16 * MiB)));
    CHECK(file_size(b.pool()) == 16 * MiB);  // left as it is
}

TEST_CASE(
    "driver thick_file: a volume is a loop device over its own region of the pool, and only that "
    "region") {
    ThickBackend b("pool_size = 32M\n");
    auto a = b.create("A", 4 * MiB);
    auto v = b.create("B", 8 * MiB);
    CHECK(a.location.value == "0");
    CHECK(v.location.value == std::to_string(4 * MiB));
    CHECK(b.extents() == Extents{{"A", 0, 4 * MiB}, {"B", 4 * MiB, 8 * MiB}});
    {
        auto att = b.attach(v);
        CHECK(att->attachment().is_block_device);
        CHECK(att->attachment().created_loop);
        CHECK(loop_attached_to(att->path(), b.pool()));
        CHECK(block_device_size(att->path()) == 8 * MiB);
        write_pattern(att->path(), 0, 8 * MiB, 0x11);
        CHECK(write_fails_at(att->path(), 8 * MiB));  // the end of B is the end of the device
        const std::string device = att->path();
        REQUIRE(att->detach().ok());
        CHECK_FALSE(loop_attached_to(device, b.pool()));
    }
    CHECK(read_range(b.pool(), 4 * MiB, 8 * MiB) == filled(8 * MiB, 0x11));
    CHECK(read_range(b.pool(), 0, 4 * MiB) == filled(4 * MiB, 0));           // A untouched
    CHECK(read_range(b.pool(), 12 * MiB, 20 * MiB) == filled(20 * MiB, 0));  // free space untouched

    // Any attach mode gives a block device: a thick volume has no file of its own.
    auto as_file = b.driver().attach(a, AttachMode::file_or_block);
    REQUIRE(as_file.ok());
    AttachGuard guard(b.driver(), *as_file);
    CHECK(as_file->is_block_device);
    CHECK(block_device_size(as_file->path) == 4 * MiB);

    auto usage = b.driver().volume_usage(v);
    REQUIRE(usage.ok());
    CHECK(usage->size == 8 * MiB);
    CHECK(usage->allocated == std::optional<uint64_t>(8 * MiB));
    CHECK(usage->data_percent() == 100.0);
    auto pool = b.driver().pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->allocated == 12 * MiB);
    CHECK(pool->provisioned == 12 * MiB);
    CHECK(pool->free == 20 * MiB);
    auto map = b.driver().extent_map(v);
    REQUIRE(map.ok());
    CHECK_FALSE(map->has_value());  // unknown: the caller discovers or copies everything
    auto ids = b.driver().stored_volume_ids();
    REQUIRE(ids.ok());
    CHECK(std::set<std::string>(ids->begin(), ids->end()) == std::set<std::string>{"A", "B"});
}

TEST_CASE("driver thick_file: attach never exposes more than the volume's own region") {
    // A VolumeRef whose size exceeds the recorded region (a stale or wrong record, an extend
    // that was refused) must not give a loop device reaching into the next volume's bytes.
    ThickBackend b("pool_size = 32M\n");
    auto a = b.create("A", 4 * MiB);
    auto v = b.create("B", 4 * MiB);
    fill_volume(b, v, 0x5B);
    auto r = b.driver().attach(VolumeRef{"A", 8 * MiB, a.location}, AttachMode::block_device);
    if (r.ok()) {
        AttachGuard guard(b.driver(), *r);
        CHECK(block_device_size(guard.path()) <= 4 * MiB);
        CHECK(read_range(guard.path(), 4 * MiB, 4096)
                  .empty());  // B's first bytes are not readable through A
    }
    CHECK_FALSE(r.ok());
}

TEST_CASE(
    "driver thick_file: volume_clear = none: a deleted volume's bytes show in the next volume, and "
    "zero_initialized turns false") {
    ThickBackend b("pool_size = 32M\nvolume_clear = none\n");
    auto a = b.create("A", 4 * MiB);
    {
        auto att = b.attach(a);
        write_random(att->path(), 0, 4 * MiB, 9);
    }
    CHECK(b.driver().facts().zero_initialized);  // writing into a volume changes no free space
    b.remove(a);
    CHECK(b.extents().empty());

    const BackendFacts f = b.driver().facts();
    CHECK_FALSE(f.zero_initialized);
    CHECK(contains(f.zero_initialized_reason, "not fully wiped"));
    CHECK(contains(f.zero_initialized_reason, "volume_clear"));

    auto v = b.create("B", 4 * MiB);
    CHECK(v.location.value == "0");  // A's region, reused
    CHECK(b.read_volume(v, 0, 4 * MiB) == random_bytes(b.dir, 0, 4 * MiB, 9));
}

TEST_CASE(
    "driver thick_file: volume_clear = zero: the reused region reads zeros and zero_initialized "
    "stays true") {
    ThickBackend b("pool_size = 32M\nvolume_clear = zero\n");
    auto a = b.create("A", 4 * MiB);
    fill_volume(b, a, 0xEE);
    CHECK(read_range(b.pool(), 0, 4 * MiB) == filled(4 * MiB, 0xEE));
    b.remove(a);
    CHECK(read_range(b.pool(), 0, 4 * MiB) == filled(4 * MiB, 0));
    CHECK(allocated_bytes(b.pool()) >= 32 * MiB);  // wiped, still preallocated
    const BackendFacts f = b.driver().facts();
    CHECK(f.zero_initialized);
    CHECK(contains(f.zero_initialized_reason, "wiped"));

    auto v = b.create("B", 4 * MiB);
    CHECK(v.location.value == "0");
    CHECK(b.read_volume(v, 0, 4 * MiB) == filled(4 * MiB, 0));
}

TEST_CASE(
    "driver thick_file: volume_clear_size wipes only the first MiB: the rest stays stale and "
    "zero_initialized turns false") {
    ThickBackend b("pool_size = 32M\nvolume_clear = zero\nvolume_clear_size = 1\n");
    auto a = b.create("A", 4 * MiB);
    fill_volume(b, a, 0x3C);
    b.remove(a);
    CHECK_FALSE(b.driver().facts().zero_initialized);
    auto v = b.create("B", 4 * MiB);
    CHECK(b.read_volume(v, 0, MiB) == filled(MiB, 0));
    CHECK(b.read_volume(v, MiB, 3 * MiB) == filled(3 * MiB, 0x3C));
}

TEST_CASE(
    "driver thick_file: an operator's pre-filled pool file is dirty: not zero-initialized, and new "
    "volumes read its bytes") {
    ThickBackend b("", Start::later);
    dirty_pool_file(b.pool(), 32 * MiB, 0xAB);
    b.start();
    const BackendFacts f = b.driver().facts();
    CHECK_FALSE(f.zero_initialized);
    CHECK(contains(f.zero_initialized_reason, "not created by volmig"));
    auto pool = b.driver().pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->capacity == 32 * MiB);

    auto v = b.create("V", 8 * MiB);
    CHECK(b.read_volume(v, 0, 8 * MiB) == filled(8 * MiB, 0xAB));
    // Deleting with volume_clear = zero wipes that volume, but the rest of the pool is still dirty.
    b.remove(v);
    CHECK(read_range(b.pool(), 0, 8 * MiB) == filled(8 * MiB, 0));
    CHECK_FALSE(b.driver().facts().zero_initialized);
}

TEST_CASE(
    "driver thick_file: the same dirty pool with zero_on_create = true is zero-initialized: new "
    "volumes read zeros") {
    ThickBackend b("pool_size = 32M\nzero_on_create = true\n", Start::later);
    dirty_pool_file(b.pool(), 32 * MiB, 0xAB);
    b.start();
    const BackendFacts f = b.driver().facts();
    CHECK(f.zero_initialized);
    CHECK(contains(f.zero_initialized_reason, "zero_on_create"));

    auto v = b.create("V", 8 * MiB);
    CHECK(b.read_volume(v, 0, 8 * MiB) == filled(8 * MiB, 0));
    CHECK(read_range(b.pool(), 8 * MiB, 24 * MiB) ==
          filled(24 * MiB, 0xAB));  // only the region was zeroed

    // Growing in place zeroes the added part too.
    auto grown = b.driver().extend(v, 12 * MiB);
    REQUIRE_MESSAGE(grown.ok(), (grown.ok() ? "" : grown.error().message));
    const VolumeRef bigger{"V", 12 * MiB, *grown};
    CHECK(b.read_volume(bigger, 0, 12 * MiB) == filled(12 * MiB, 0));
    CHECK(read_range(b.pool(), 12 * MiB, 20 * MiB) == filled(20 * MiB, 0xAB));
}

TEST_CASE(
    "driver thick_file: extend grows in place when the space after is free, and is refused when it "
    "is in use") {
    ThickBackend b("pool_size = 32M\n");
    auto a = b.create("A", 4 * MiB);
    fill_volume(b, a, 0x21);

    auto grown = b.driver().extend(a, 8 * MiB);
    REQUIRE_MESSAGE(grown.ok(), (grown.ok() ? "" : grown.error().message));
    CHECK(grown->value == a.location.value);  // in place
    CHECK(b.extents() == Extents{{"A", 0, 8 * MiB}});
    const VolumeRef a8{"A", 8 * MiB, *grown};
    {
        auto att = b.attach(a8);
        CHECK(block_device_size(att->path()) == 8 * MiB);
        CHECK(read_range(att->path(), 0, 4 * MiB) == filled(4 * MiB, 0x21));
        CHECK(read_range(att->path(), 4 * MiB, 4 * MiB) == filled(4 * MiB, 0));
    }

    auto v = b.create("B", 4 * MiB);
    CHECK(v.location.value == std::to_string(8 * MiB));
    fill_volume(b, v, 0x42);
    auto refused = b.driver().extend(a8, 12 * MiB);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::refused);
    CHECK(refused.error().code == ENOSPC);
    CHECK(contains(refused.error().message, "volume A"));
    CHECK(contains(refused.error().message, "contiguous"));
    CHECK(b.extents() == Extents{{"A", 0, 8 * MiB}, {"B", 8 * MiB, 4 * MiB}});
    CHECK(b.read_volume(v, 0, 4 * MiB) == filled(4 * MiB, 0x42));

    // The last region grows up to the end of the pool, and no further.
    auto to_end = b.driver().extend(v, 24 * MiB);
    REQUIRE(to_end.ok());
    CHECK(b.extents() == Extents{{"A", 0, 8 * MiB}, {"B", 8 * MiB, 24 * MiB}});
    auto beyond = b.driver().extend(VolumeRef{"B", 24 * MiB, *to_end}, 24 * MiB + 1);
    REQUIRE_FALSE(beyond.ok());
    CHECK(beyond.error().kind == ErrorKind::refused);
}

TEST_CASE("driver thick_file: an exhausted pool refuses a volume, naming the largest free region") {
    ThickBackend b("pool_size = 16M\n");
    b.create("A", 10 * MiB);
    auto r = b.driver().create("B", 8 * MiB);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::refused);
    CHECK(r.error().code == ENOSPC);
    CHECK(contains(r.error().message, "backend thick"));
    CHECK(contains(r.error().message, "no contiguous free region of 8.00 MiB"));
    CHECK(contains(r.error().message, "largest free: 6.00 MiB"));
    CHECK(b.extents() == Extents{{"A", 0, 10 * MiB}});  // nothing recorded for B
    Status room = b.driver().check_capacity(8 * MiB);  // the same answer before anything is created
    REQUIRE_FALSE(room.ok());
    CHECK(room.error().kind == ErrorKind::refused);
    CHECK(contains(room.error().message, "largest free: 6.00 MiB"));
    CHECK(b.driver().check_capacity(6 * MiB).ok());
    b.create("C", 6 * MiB);  // what is left still fits
    CHECK_FALSE(b.driver().create("D", 1).ok());
}

TEST_CASE(
    "driver thick_file: fragmented free space: enough in all but no contiguous region is refused") {
    ThickBackend b("pool_size = 16M\n");
    auto v1 = b.create("v1", 4 * MiB);
    b.create("v2", 4 * MiB);
    auto v3 = b.create("v3", 4 * MiB);
    b.create("v4", 4 * MiB);
    b.remove(v1);
    b.remove(v3);
    auto pool = b.driver().pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->free == 8 * MiB);
    auto big = b.driver().create("big", 8 * MiB);
    REQUIRE_FALSE(big.ok());
    CHECK(big.error().kind == ErrorKind::refused);
    CHECK(contains(big.error().message, "largest free: 4.00 MiB"));
    CHECK_FALSE(b.driver().check_capacity(8 * MiB).ok());
    CHECK(b.driver().check_capacity(4 * MiB).ok());
    CHECK(b.create("fits", 4 * MiB).location.value == "0");
}

TEST_CASE(
    "driver thick_file: first fit: a freed region is reused from its start, the lowest offset "
    "first") {
    ThickBackend b("pool_size = 32M\n");
    b.create("A", 4 * MiB);
    auto v = b.create("B", 4 * MiB);
    b.create("C", 4 * MiB);
    b.remove(v);
    CHECK(b.create("D", 2 * MiB).location.value == std::to_string(4 * MiB));
    CHECK(b.create("E", 2 * MiB).location.value == std::to_string(6 * MiB));
    CHECK(b.create("F", 2 * MiB).location.value == std::to_string(12 * MiB));
    // A size that is not whole MiB takes whole MiB.
    CHECK(b.create("G", 4096).location.value == std::to_string(14 * MiB));
    CHECK(b.create("H", MiB).location.value == std::to_string(15 * MiB));
    CHECK(b.extents() == Extents{{"A", 0, 4 * MiB},
                                 {"D", 4 * MiB, 2 * MiB},
                                 {"E", 6 * MiB, 2 * MiB},
                                 {"C", 8 * MiB, 4 * MiB},
                                 {"F", 12 * MiB, 2 * MiB},
                                 {"G", 14 * MiB, MiB},
                                 {"H", 15 * MiB, MiB}});
}

TEST_CASE(
    "driver thick_file: records, pool extents and the dirty free-space fact survive a restart") {
    ThickBackend b("pool_size = 32M\nvolume_clear = none\n");
    auto a = b.create("A", 4 * MiB);
    auto v = b.create("B", 4 * MiB);
    auto c = b.create("C", 4 * MiB);
    fill_volume(b, v, 0x66);
    fill_volume(b, c, 0x77);
    VolumeRecord ra = record_of(a);
    ra.metadata = R"({"tier":"gold"})";
    REQUIRE(b.store().insert(ra).ok());
    REQUIRE(b.store().insert(record_of(v, VolumeStatus::in_use)).ok());
    b.remove(c);  // volume_clear = none: C's bytes stay in the free space
    REQUIRE_FALSE(b.driver().facts().zero_initialized);

    b.stop();
    b.log.clear();
    b.start();

    CHECK(b.start_report.clean());
    auto got = b.store().get("A");
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->backend == "thick");
    CHECK((*got)->size == 4 * MiB);
    CHECK((*got)->location == "0");
    CHECK((*got)->status == VolumeStatus::available);
    CHECK((*got)->metadata == R"({"tier":"gold"})");
    auto gv = b.store().get("B");
    REQUIRE(gv.ok());
    REQUIRE(gv->has_value());
    CHECK((*gv)->status == VolumeStatus::in_use);
    CHECK(b.extents() == Extents{{"A", 0, 4 * MiB}, {"B", 4 * MiB, 4 * MiB}});

    const BackendFacts f = b.driver().facts();
    CHECK_FALSE(f.zero_initialized);
    CHECK(contains(f.zero_initialized_reason, "not fully wiped"));

    // The allocator knows the regions again: the next volume takes C's old place, with C's bytes.
    auto d = b.create("D", 4 * MiB);
    CHECK(d.location.value == std::to_string(8 * MiB));
    CHECK(b.read_volume(d, 0, 4 * MiB) == filled(4 * MiB, 0x77));
    CHECK(b.read_volume(VolumeRef{"B", 4 * MiB, VolumeLocation{(*gv)->location}}, 0, 4 * MiB) ==
          filled(4 * MiB, 0x66));
}

TEST_CASE("driver thick_file: a volmig-made pool stays zero-initialized across a restart") {
    ThickBackend b("pool_size = 32M\n");
    auto a = b.create("A", 4 * MiB);
    fill_volume(b, a, 0x99);
    b.remove(a);  // volume_clear = zero (the default)
    b.stop();
    b.log.clear();
    b.start();
    const BackendFacts f = b.driver().facts();
    CHECK(f.zero_initialized);
    CHECK_FALSE(any_contains(b.log, "treated as dirty"));
    CHECK_FALSE(any_contains(b.log, "created pool file"));  // the existing file is used
}

TEST_CASE(
    "driver thick_file: a pool file replaced behind volmig's back (renamed over it) is dirty after "
    "a restart") {
    ThickBackend b("pool_size = 32M\n");
    REQUIRE(b.driver().facts().zero_initialized);
    b.stop();
    dirty_pool_file(b.dir.file("replacement.img"), 32 * MiB, 0xAB);
    REQUIRE(::rename(b.dir.file("replacement.img").c_str(), b.pool().c_str()) == 0);
    b.log.clear();
    b.start();
    CHECK(any_contains(b.log, "not the file volmig created"));
    const BackendFacts f = b.driver().facts();
    CHECK_FALSE(f.zero_initialized);
    auto v = b.create("V", 4 * MiB);
    CHECK(b.read_volume(v, 0, 4 * MiB) == filled(4 * MiB, 0xAB));
}

TEST_CASE(
    "driver thick_file: a pool file deleted and re-created in place with dirty bytes is dirty "
    "after a restart") {
    // The same as above with rm + create. Filesystems hand out freed inode numbers again (ext4
    // takes the lowest free one of the group): the new file can then match the device, inode
    // and size that volmig recorded. Filler files are created until one gets the old pool's
    // inode number, which then becomes the new pool file.
    ThickBackend b("pool_size = 32M\n");
    struct stat before {};
    REQUIRE(::stat(b.pool().c_str(), &before) == 0);
    REQUIRE(b.driver().facts().zero_initialized);
    b.stop();
    REQUIRE(::unlink(b.pool().c_str()) == 0);
    bool reused = false;
    for (int i = 0; i < 5000 && !reused; ++i) {
        const std::string filler = b.dir.file("filler-" + std::to_string(i));
        create_sparse_file(filler, 0);
        struct stat st {};
        REQUIRE(::stat(filler.c_str(), &st) == 0);
        if (st.st_ino == before.st_ino) {
            REQUIRE(::rename(filler.c_str(), b.pool().c_str()) == 0);
            reused = true;
        }
    }
    dirty_pool_file(b.pool(), 32 * MiB, 0xAB);  // (creates the file when no filler got the inode)
    struct stat after {};
    REQUIRE(::stat(b.pool().c_str(), &after) == 0);
    const std::string how = reused ? "the old inode number, reused" : "a new inode number";
    INFO("pool inode before " << before.st_ino << ", after " << after.st_ino << ": " << how);
    if (!reused)
        MESSAGE(
            "the filesystem did not hand out the old inode number again: the check below is the "
            "easy case");
    b.start();
    const BackendFacts f = b.driver().facts();
    CHECK_FALSE(f.zero_initialized);
    auto v = b.create("V", 4 * MiB);
    CHECK(b.read_volume(v, 0, 4 * MiB) ==
          filled(4 * MiB, 0xAB));  // what a volume of this pool really holds
}

TEST_CASE(
    "driver thick_file: the orphan check reports records without a region and regions without a "
    "record") {
    ThickBackend b("pool_size = 32M\n");
    auto a = b.create("A", 4 * MiB);
    auto lost = b.create("lost", 4 * MiB);
    b.create("stray", 4 * MiB);  // a region, no record
    REQUIRE(b.store().insert(record_of(a)).ok());
    REQUIRE(b.store().insert(record_of(lost)).ok());
    REQUIRE(b.store()
                .insert(record_of(VolumeRef{"ghost", MiB, VolumeLocation{"20971520"}}, VolumeStatus::error))
                .ok());
    REQUIRE(b.store().insert(record_of(VolumeRef{"pending", MiB, {}}, VolumeStatus::creating)).ok());
    REQUIRE(b.store()
                .remove_pool_extent("thick", "lost")
                .ok());  // its region released behind volmig's back

    OrphanReport report = b.backends().find_orphans();
    CHECK(std::set<std::string>(report.records_without_storage.begin(),
                                report.records_without_storage.end()) ==
          std::set<std::string>{"volume lost on thick (status available)",
                                "volume ghost on thick (status error)"});
    CHECK(report.storage_without_records == std::vector<std::string>{"volume-stray on thick"});

    b.stop();
    b.log.clear();
    b.start();
    CHECK(b.start_report.records_without_storage.size() == 2);
    CHECK(b.start_report.storage_without_records ==
          std::vector<std::string>{"volume-stray on thick"});
    CHECK(any_contains(b.log, "storage without record: volume-stray on thick"));
    CHECK(any_contains(b.log, "record without storage: volume ghost on thick"));
}

TEST_CASE("driver thick_file: an inconsistent allocation table is refused at start") {
    ThickBackend b("pool_size = 32M\n");
    b.create("A", 4 * MiB);
    REQUIRE(b.store().put_pool_extent("thick", {"B", 2 * MiB, 4 * MiB}).ok());  // overlaps A
    b.stop();
    auto r = b.try_start();
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().message, "[thick]"));
    CHECK(contains(r.error().message, "inconsistent"));
    CHECK(contains(r.error().message, "overlap"));
}
