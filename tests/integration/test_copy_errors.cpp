// Bad input and failures part-way: each gives a clear error of the right kind and leaves
// nothing claiming success; nothing is ever written to the source.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

#include "copy/copy.hpp"
#include "tests/support/fixtures.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {
constexpr uint64_t MiB = 1 << 20;
}  // namespace

TEST_CASE("a destination smaller than the source is refused and left untouched") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    create_sparse_file(dir.file("dst"), 16 * MiB);
    write_pattern(dir.file("dst"), 0, 16 * MiB, 0x5A);
    auto r = copy_volume(dir.file("src"), dir.file("dst"), CopyOptions{});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::refused);
    CHECK(contains(r.error().message, "too small"));
    CHECK(contains(r.error().message, dir.file("dst")));
    CHECK(file_size(dir.file("dst")) == 16 * MiB);
    CHECK(read_range(dir.file("dst"), 0, 16 * MiB) == std::vector<unsigned char>(16 * MiB, 0x5A));
}

TEST_CASE("a missing source is reported by name and no destination is created") {
    TempDir dir;
    auto options = CopyOptions{};
    options.create_destination = true;
    auto r = copy_volume(dir.file("nope"), dir.file("dst"), options);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::not_found);
    CHECK(contains(r.error().message, dir.file("nope")));
    CHECK_FALSE(exists(dir.file("dst")));
}

TEST_CASE("a missing destination is an error unless creation is allowed") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    auto r = copy_volume(dir.file("src"), dir.file("dst"), CopyOptions{});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::not_found);
    CHECK_FALSE(exists(dir.file("dst")));
}

TEST_CASE("copying a volume onto itself, or onto a loop device over it, is refused") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    auto same = copy_volume(dir.file("src"), dir.file("src"), CopyOptions{});
    REQUIRE_FALSE(same.ok());
    CHECK(same.error().kind == ErrorKind::refused);
    LoopDevice loop(dir.file("src"));
    auto via_loop = copy_volume(dir.file("src"), loop.path(), CopyOptions{});
    REQUIRE_FALSE(via_loop.ok());
    CHECK(contains(via_loop.error().message, "same storage"));
}

TEST_CASE("sparse onto a destination not declared zeroed is refused and the destination keeps its bytes") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    create_sparse_file(dir.file("dst"), 64 * MiB);
    write_pattern(dir.file("dst"), 0, 64 * MiB, 0xEE);
    LoopDevice dst(dir.file("dst"));
    CopyOptions options;
    options.strategy = Strategy::sparse;
    auto r = copy_volume(dir.file("src"), dst.path(), options);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::refused);
    CHECK(contains(r.error().message, "--dest-zeroed"));
    CHECK(nonzero_mib(dst.path(), 64 * MiB) == 64);
    CHECK(read_range(dst.path(), 0, 4096) == std::vector<unsigned char>(4096, 0xEE));
}

TEST_CASE("forced unsafe sparse onto a dirty destination does leave stale data (why it is refused by default)") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    create_sparse_file(dir.file("dst"), 64 * MiB);
    write_pattern(dir.file("dst"), 0, 64 * MiB, 0xEE);
    LoopDevice dst(dir.file("dst"));
    CopyOptions options;
    options.strategy = Strategy::sparse;
    options.allow_unsafe_sparse = true;
    auto r = copy_volume(dir.file("src"), dst.path(), options);
    REQUIRE(r.ok());
    CHECK(contains(r->reason, "UNSAFE"));
    CHECK(first_difference(dir.file("src"), dst.path(), 64 * MiB) >= 0);
}

TEST_CASE("ENOSPC part-way stops the copy with the path, offset and cause and a created destination is removed") {
    TempDir dir;
    SmallFilesystem fs(dir, 24 * MiB);
    create_sparse_file(dir.file("src"), 64 * MiB);
    write_random(dir.file("src"), 0, 48 * MiB, 3);
    const std::string dst = fs.mount_point() + "/dst.img";
    CopyOptions options;
    options.create_destination = true;
    auto r = copy_volume(dir.file("src"), dst, options);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::io);
    CHECK(r.error().code == ENOSPC);
    CHECK(contains(r.error().message, dst));
    CHECK(contains(r.error().message, "offset"));
    CHECK(contains(r.error().message, "No space left"));
    CHECK_FALSE(exists(dst));
}

TEST_CASE("a destination that is mounted is refused as in use") {
    TempDir dir;
    create_sparse_file(dir.file("src"), 24 * MiB);
    write_random(dir.file("src"), 0, MiB, 1);
    SmallFilesystem fs(dir, 24 * MiB);
    const std::string device = sh("findmnt -n -o SOURCE " + fs.mount_point());
    auto r = copy_volume(dir.file("src"), device.substr(0, device.find('\n')), CopyOptions{});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::refused);
    CHECK(contains(r.error().message, "in use"));
    CHECK(sh("ls " + fs.mount_point()).find("lost+found") != std::string::npos);  // filesystem intact
}

TEST_CASE("cancellation stops the copy and removes a destination it created") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    std::atomic<bool> cancel{true};
    CopyOptions options;
    options.create_destination = true;
    options.cancel = &cancel;
    auto r = copy_volume(dir.file("src"), dir.file("dst"), options);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::cancelled);
    CHECK_FALSE(exists(dir.file("dst")));
}

TEST_CASE("invalid options are rejected before anything is opened") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    for (uint64_t bad_block : {0ull, 100ull, 256ull, 3000ull, 32ull << 20}) {
        CopyOptions options;
        options.block_size = bad_block;
        options.create_destination = true;
        auto r = copy_volume(dir.file("src"), dir.file("dst"), options);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK_FALSE(exists(dir.file("dst")));
    }
}

TEST_CASE("an extent map that does not match the source's size is refused") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    CopyOptions options;
    options.create_destination = true;
    options.source_extents = ExtentMap(MiB, {{0, MiB}});
    auto r = copy_volume(dir.file("src"), dir.file("dst"), options);
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().message, "extent map"));
    CHECK_FALSE(exists(dir.file("dst")));
}
