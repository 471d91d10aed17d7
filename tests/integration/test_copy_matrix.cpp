// The copy matrix on real files and loop devices: every strategy, thin and fully allocated
// sources, zeroed and dirty destinations. Each cell asserts the bytes on the destination and
// its allocation, and that holes were never read.
#include <doctest/doctest.h>

#include <memory>

#include "copy/copy.hpp"
#include "tests/support/fixtures.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

constexpr uint64_t MiB = 1 << 20;
constexpr uint64_t kBlock = 4096;

enum class Kind { file, loop };
std::string name(Kind k) { return k == Kind::file ? "file" : "loop"; }

struct Source {
    std::string path;           // what we copy from
    std::string storage;        // the file holding the bytes
    uint64_t size = 0;
    uint64_t nonzero_bytes = 0; // bytes inside data extents that are not zero
    uint64_t allocated = 0;     // bytes in allocated extents (data + written zeros)
    uint64_t extents = 0;
    std::unique_ptr<LoopDevice> loop;
};

Source make_source(const TempDir& dir, bool thin, Kind kind) {
    Source s;
    s.storage = dir.file(thin ? "thin.img" : "full.img");
    if (thin) {
        ThinLayout layout = standard_thin_layout();
        build_thin_source(s.storage, layout);
        s.size = layout.size;
        s.nonzero_bytes = layout.data_bytes();
        s.extents = layout.extent_count();
        s.allocated = layout.data_bytes();
        for (auto& z : layout.zeros) s.allocated += z.second;
    } else {
        s.size = 32 * MiB;
        create_sparse_file(s.storage, s.size);
        write_random(s.storage, 0, s.size, 9);
        write_zeros(s.storage, 12 * MiB, 2 * MiB);  // allocated zeros inside a full volume
        s.nonzero_bytes = s.size - 2 * MiB;
        s.extents = 2;
        s.allocated = s.size;
    }
    s.path = s.storage;
    if (kind == Kind::loop) {
        s.loop = std::make_unique<LoopDevice>(s.storage);
        s.path = s.loop->path();
    }
    return s;
}

struct Destination {
    std::string path;
    std::string storage;
    std::unique_ptr<LoopDevice> loop;
};

Destination make_destination(const TempDir& dir, const std::string& name, uint64_t size, bool dirty, Kind kind) {
    Destination d;
    d.storage = dir.file(name);
    create_sparse_file(d.storage, size);
    if (dirty) write_pattern(d.storage, 0, size, 0xAB);
    d.path = d.storage;
    if (kind == Kind::loop) {
        d.loop = std::make_unique<LoopDevice>(d.storage);
        d.path = d.loop->path();
    }
    return d;
}

void check_cell(Kind src_kind, Kind dst_kind, EngineKind engine) {
    for (bool thin : {true, false}) {
        TempDir dir;
        Source src = make_source(dir, thin, src_kind);
        for (bool dirty : {false, true}) {
            for (Strategy strategy : {Strategy::full, Strategy::sparse, Strategy::full_then_discard, Strategy::automatic}) {
                const std::string cell = "source " + name(src_kind) + (thin ? " thin" : " full") + ", destination " +
                                         name(dst_kind) + (dirty ? " dirty" : " zeroed") + ", strategy " + to_string(strategy) +
                                         ", engine " + to_string(engine);
                INFO(cell);
                Destination dst = make_destination(dir, "dst.img", src.size, dirty, dst_kind);
                CopyOptions options;
                options.engine = engine;
                options.strategy = strategy;
                options.verify = true;
                if (!dirty) options.destination_facts.zero_initialized = true;
                auto report = copy_volume(src.path, dst.path, options);

                if (strategy == Strategy::sparse && dirty) {
                    REQUIRE_FALSE(report.ok());
                    CHECK(report.error().kind == ErrorKind::refused);
                    CHECK(nonzero_mib(dst.path, src.size) == src.size / MiB);  // untouched: still all 0xAB
                    continue;
                }
                REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
                CHECK(first_difference(src.path, dst.path, src.size) == -1);
                CHECK(report->verified);
                CHECK(report->source_checksum == report->destination_checksum);

                const Strategy used = report->strategy;
                if (strategy == Strategy::automatic)
                    CHECK(used == (dirty ? Strategy::full_then_discard : Strategy::sparse));
                else
                    CHECK(used == strategy);

                const uint64_t allocated = allocated_bytes(dst.storage);
                const uint64_t granularity = engine == EngineKind::dd ? MiB : kBlock;  // dd conv=sparse works per bs=1M
                if (used == Strategy::full) {
                    CHECK(allocated >= src.size);
                } else {
                    // Non-zero data written, zero ranges skipped or released: within one block
                    // per extent of the source's non-zero data (+1 block of extent-tree metadata).
                    CHECK(allocated >= src.nonzero_bytes);
                    CHECK(allocated <= src.nonzero_bytes + (src.extents + 1) * granularity);
                }
                if (engine == EngineKind::native) {
                    CHECK(report->bytes_read == src.allocated);  // holes are never read
                    CHECK(report->bytes_written == src.nonzero_bytes);
                    CHECK(report->bytes_written + report->bytes_skipped + report->bytes_zeroed + report->bytes_released == src.size);
                }
            }
        }
    }
}

}  // namespace

TEST_CASE("copy matrix, native engine: file -> file") { check_cell(Kind::file, Kind::file, EngineKind::native); }
TEST_CASE("copy matrix, native engine: file -> loop device") { check_cell(Kind::file, Kind::loop, EngineKind::native); }
TEST_CASE("copy matrix, native engine: loop device -> file") { check_cell(Kind::loop, Kind::file, EngineKind::native); }
TEST_CASE("copy matrix, native engine: loop device -> loop device") { check_cell(Kind::loop, Kind::loop, EngineKind::native); }
TEST_CASE("copy matrix, dd engine: file -> file") { check_cell(Kind::file, Kind::file, EngineKind::dd); }
TEST_CASE("copy matrix, dd engine: loop device -> loop device") { check_cell(Kind::loop, Kind::loop, EngineKind::dd); }

TEST_CASE("copy: buffered and direct I/O modes and small blocks give identical results") {
    TempDir dir;
    Source src = make_source(dir, true, Kind::file);
    for (IoMode io : {IoMode::buffered, IoMode::direct}) {
        for (uint64_t block : {512ull, 4096ull, 65536ull}) {
            INFO("io " << to_string(io) << ", block " << block);
            Destination dst = make_destination(dir, "dst.img", src.size, true, Kind::loop);
            CopyOptions options;
            options.io = io;
            options.block_size = block;
            options.workers = 3;
            options.request_size = 256 * 1024;
            auto report = copy_volume(src.path, dst.path, options);
            REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
            CHECK(first_difference(src.path, dst.path, src.size) == -1);
            CHECK(report->destination_direct == (io == IoMode::direct));
        }
    }
}
