// Engine features on real volumes: extent discovery, caller-supplied extent maps, loop windows,
// verification, progress, rate limiting, fstrim.
#include <doctest/doctest.h>

#include <chrono>

#include "copy/copy.hpp"
#include "copy/volume.hpp"
#include "tests/support/fixtures.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {
constexpr uint64_t MiB = 1 << 20;
}

TEST_CASE("extent discovery on a file with holes finds exactly the written ranges") {
    TempDir dir;
    ThinLayout layout = standard_thin_layout();
    build_thin_source(dir.file("src"), layout);
    auto info = inspect_volume(dir.file("src"));
    REQUIRE(info.ok());
    auto found = discover_extents(*info);
    REQUIRE(found.ok());
    std::vector<Extent> expected;
    for (auto& [o, l] : layout.data) expected.push_back({o, l});
    for (auto& [o, l] : layout.zeros) expected.push_back({o, l});  // written zeros are allocated
    CHECK(found->map.data() == ExtentMap(layout.size, expected).data());
    CHECK(found->method.find("SEEK_DATA") != std::string::npos);
}

TEST_CASE("extent discovery on a loop device uses its backing file, within its offset and size limit") {
    TempDir dir;
    create_sparse_file(dir.file("pool"), 32 * MiB);
    write_random(dir.file("pool"), 2 * MiB, MiB, 1);       // before the window
    write_random(dir.file("pool"), 9 * MiB, 64 * 1024, 2);  // inside: 1 MiB into the window
    write_random(dir.file("pool"), 20 * MiB, MiB, 3);      // after the window
    LoopDevice loop(dir.file("pool"), 8 * MiB, 8 * MiB);
    auto info = inspect_volume(loop.path());
    REQUIRE(info.ok());
    REQUIRE(info->loop.has_value());
    CHECK(info->size == 8 * MiB);
    CHECK(info->loop->offset == 8 * MiB);
    auto found = discover_extents(*info);
    REQUIRE(found.ok());
    CHECK(found->map.data() == std::vector<Extent>{{MiB, 64 * 1024}});
    CHECK(found->method.find(dir.file("pool")) != std::string::npos);
    auto allocation = measure_allocation(*info);
    REQUIRE(allocation.ok());
    CHECK(allocation->allocated == 64 * 1024);
    // And the copy of the window carries exactly the window's bytes.
    CopyOptions options;
    options.create_destination = true;
    auto r = copy_volume(loop.path(), dir.file("copy"), options);
    REQUIRE(r.ok());
    CHECK(r->bytes_read == 64 * 1024);
    CHECK(read_range(dir.file("copy"), 0, 8 * MiB) == read_range(dir.file("pool"), 8 * MiB, 8 * MiB));
}

TEST_CASE("a caller-supplied extent map is what gets read (e.g. an LVM thin map of a block device)") {
    TempDir dir;
    ThinLayout layout = standard_thin_layout();
    build_thin_source(dir.file("src"), layout);
    std::vector<Extent> data;
    for (auto& [o, l] : layout.data) data.push_back({o, l});
    CopyOptions options;
    options.create_destination = true;
    options.source_extents = ExtentMap(layout.size, data);
    options.verify = true;
    auto r = copy_volume(dir.file("src"), dir.file("dst"), options);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    CHECK(r->bytes_read == layout.data_bytes());
    CHECK(r->extent_method == "extent map supplied by the caller");
    CHECK(first_difference(dir.file("src"), dir.file("dst"), layout.size) == -1);
}

TEST_CASE("verification reads the destination: one changed byte changes its checksum") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    CopyOptions options;
    options.create_destination = true;
    options.verify = true;
    auto r = copy_volume(dir.file("src"), dir.file("dst"), options);
    REQUIRE(r.ok());
    auto dst = inspect_volume(dir.file("dst"));
    auto before = checksum_volume(*dst, dst->size, std::nullopt, IoMode::automatic, 2, nullptr);
    REQUIRE(before.ok());
    CHECK(*before == r->destination_checksum);
    write_pattern(dir.file("dst"), 33 * MiB + 17, 1, 0x01);  // inside a hole of the source
    auto after = checksum_volume(*dst, dst->size, std::nullopt, IoMode::automatic, 2, nullptr);
    REQUIRE(after.ok());
    CHECK(*after != *before);
}

TEST_CASE("progress reports end at the total of source data") {
    TempDir dir;
    ThinLayout layout = standard_thin_layout();
    build_thin_source(dir.file("src"), layout);
    std::vector<Progress> seen;
    CopyOptions options;
    options.create_destination = true;
    options.progress_interval = std::chrono::milliseconds(1);
    options.on_progress = [&](const Progress& p) { seen.push_back(p); };
    auto r = copy_volume(dir.file("src"), dir.file("dst"), options);
    REQUIRE(r.ok());
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.back().bytes_done == seen.back().bytes_total);
    CHECK(seen.back().bytes_total == r->source_data_bytes);
    for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].bytes_done >= seen[i - 1].bytes_done);
}

TEST_CASE("the rate limit holds the copy to about the requested pace") {
    TempDir dir;
    create_sparse_file(dir.file("src"), 8 * MiB);
    write_random(dir.file("src"), 0, 8 * MiB, 5);
    CopyOptions options;
    options.create_destination = true;
    options.rate_limit = 16 * MiB;  // 8 MiB at 16 MiB/s: about half a second
    const auto start = std::chrono::steady_clock::now();
    auto r = copy_volume(dir.file("src"), dir.file("dst"), options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(r.ok());
    CHECK(seconds >= 0.35);  // the limiter allows a 100 ms burst
    CHECK(first_difference(dir.file("src"), dir.file("dst"), 8 * MiB) == -1);
}

TEST_CASE("full+discard with --fstrim trims the filesystem holding the destination file") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    SmallFilesystem fs(dir, 256 * MiB);
    const std::string dst = fs.mount_point() + "/volume";
    CopyOptions options;
    options.create_destination = true;
    options.strategy = Strategy::full_then_discard;
    options.fstrim_after = true;
    auto r = copy_volume(dir.file("src"), dst, options);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    CHECK(r->post_copy.find("fstrim " + fs.mount_point()) == 0);
    CHECK(first_difference(dir.file("src"), dst, 64 * MiB) == -1);
}

TEST_CASE("a loop device written through its backing file shows the new bytes through the device, cache or not") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    create_sparse_file(dir.file("pool"), 80 * MiB);
    write_pattern(dir.file("pool"), 0, 80 * MiB, 0xAB);
    LoopDevice loop(dir.file("pool"), 8 * MiB, 64 * MiB);  // a window, like a thick_file volume
    // Cache the device's old bytes through the page cache, as any reader would.
    CHECK(read_range(loop.path(), 5 * MiB, 4096) == std::vector<unsigned char>(4096, 0xAB));
    CopyOptions options;
    options.strategy = Strategy::full;
    auto r = copy_volume(dir.file("src"), loop.path(), options);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    bool bypassed = false;
    for (const auto& w : r->warnings) bypassed = bypassed || w.find("backing file") != std::string::npos;
    CHECK(bypassed);
    CHECK(first_difference(dir.file("src"), loop.path(), 64 * MiB) == -1);  // buffered reads of the device
    // And nothing outside the window moved.
    CHECK(read_range(dir.file("pool"), 0, 8 * MiB) == std::vector<unsigned char>(8 * MiB, 0xAB));
    CHECK(read_range(dir.file("pool"), 72 * MiB, 8 * MiB) == std::vector<unsigned char>(8 * MiB, 0xAB));
    // --direct writes through the device itself.
    options.io = IoMode::direct;
    auto d = copy_volume(dir.file("src"), loop.path(), options);
    REQUIRE(d.ok());
    CHECK(d->destination_direct);
    CHECK(first_difference(dir.file("src"), loop.path(), 64 * MiB) == -1);
}
