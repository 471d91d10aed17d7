// The extent stream between a real source and a real destination, in memory: the bytes that
// arrive, the allocation they leave, the wire size, and every malformed stream refused before
// it can write outside the volume.
#include <doctest/doctest.h>

#include <cstring>

#include "copy/extent_stream.hpp"
#include "copy/volume.hpp"
#include "tests/support/fixtures.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

constexpr uint64_t MiB = 1 << 20;

std::string stream_of(const std::string& path, uint64_t block = 4096) {
    auto info = inspect_volume(path);
    REQUIRE(info.ok());
    auto found = discover_extents(*info);
    REQUIRE(found.ok());
    std::string wire;
    SendOptions options;
    options.block_size = block;
    auto sent = send_extent_stream(*info, found->map, options, [&](const char* d, size_t n) {
        wire.append(d, n);
        return success();
    });
    REQUIRE_MESSAGE(sent.ok(), (sent.ok() ? "" : sent.error().message));
    CHECK(sent->wire_bytes == wire.size());
    return wire;
}

ByteSource source_of(const std::string& wire, size_t chunk = 7777) {
    auto pos = std::make_shared<size_t>(0);
    return [wire, pos, chunk](char* buf, size_t cap) -> Result<size_t> {
        const size_t n = std::min({cap, chunk, wire.size() - *pos});
        std::memcpy(buf, wire.data() + *pos, n);
        *pos += n;
        return n;
    };
}

Result<ReceiveStats> receive(const std::string& dst, const std::string& wire, Strategy strategy) {
    auto info = inspect_volume(dst);
    REQUIRE(info.ok());
    ReceiveOptions options;
    options.strategy = strategy;
    return receive_extent_stream(*info, options, source_of(wire));
}

void put64(std::string& wire, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) wire[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

TEST_CASE("extent stream: a thin volume arrives identical, and the wire carries about its non-zero data") {
    TempDir dir;
    ThinLayout layout = standard_thin_layout();
    build_thin_source(dir.file("src"), layout);
    const std::string wire = stream_of(dir.file("src"));
    CHECK(wire.size() <= layout.data_bytes() * 105 / 100);
    CHECK(wire.size() >= layout.data_bytes());
    for (Strategy strategy : {Strategy::sparse, Strategy::full, Strategy::full_then_discard}) {
        INFO(to_string(strategy));
        create_sparse_file(dir.file("dst"), layout.size);
        if (strategy != Strategy::sparse) write_pattern(dir.file("dst"), 0, layout.size, 0xAB);  // dirty
        auto got = receive(dir.file("dst"), wire, strategy);
        REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
        CHECK(got->verified);
        CHECK(got->source_checksum == got->destination_checksum);
        CHECK(first_difference(dir.file("src"), dir.file("dst"), layout.size) == -1);
        CHECK(got->bytes_written == layout.data_bytes());
        const uint64_t allocated = allocated_bytes(dir.file("dst"));
        if (strategy == Strategy::full) CHECK(allocated >= layout.size);
        else CHECK(allocated <= layout.data_bytes() + (layout.extent_count() + 1) * 4096);
    }
}

TEST_CASE("extent stream: a receiver larger than the stream keeps its tail, one smaller refuses") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    const std::string wire = stream_of(dir.file("src"));
    create_sparse_file(dir.file("big"), 80 * MiB);
    write_pattern(dir.file("big"), 64 * MiB, 16 * MiB, 0x11);
    REQUIRE(receive(dir.file("big"), wire, Strategy::sparse).ok());
    CHECK(read_range(dir.file("big"), 70 * MiB, 4096) == std::vector<unsigned char>(4096, 0x11));
    create_sparse_file(dir.file("small"), 32 * MiB);
    auto r = receive(dir.file("small"), wire, Strategy::sparse);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::invalid);
    CHECK(allocated_bytes(dir.file("small")) == 0);
}

TEST_CASE("extent stream: malformed and truncated streams are refused, and nothing lands outside the volume") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    const std::string good = stream_of(dir.file("src"));
    // The first record follows the 24-byte header: a DATA record of 1 MiB at offset 0.
    const size_t first = kStreamHeaderSize;
    struct Case {
        std::string name;
        std::string wire;
        std::string expect;
    };
    std::vector<Case> cases;
    cases.push_back({"bad magic", "XMIGSTR1" + good.substr(8), "magic"});
    cases.push_back({"empty", "", "truncated"});
    cases.push_back({"header only", good.substr(0, kStreamHeaderSize), "without an END record"});
    cases.push_back({"cut inside a DATA record", good.substr(0, first + kRecordHeaderSize + 1000), "truncated"});
    cases.push_back({"cut before END", good.substr(0, good.size() - 60), "truncated"});
    cases.push_back({"trailing bytes", good + "x", "follow the END"});
    std::string unknown = good;
    unknown[first] = 9;
    cases.push_back({"unknown kind", unknown, "unknown record kind"});
    std::string gap = good;
    put64(gap, first + 8, 4096);
    cases.push_back({"gap before the first record", gap, "out-of-order or missing"});
    std::string huge = good;
    put64(huge, 8, 1ull << 50);
    cases.push_back({"size beyond the destination", huge, "holds only"});
    std::string beyond = good;
    put64(beyond, first + 16, 65 * MiB);
    cases.push_back({"record beyond the volume", beyond, "beyond the volume"});
    std::string too_big;
    too_big = good.substr(0, kStreamHeaderSize);
    too_big += std::string(kRecordHeaderSize, '\0');
    too_big[first] = 1;
    put64(too_big, first + 16, 16 * MiB);
    cases.push_back({"DATA record over the limit", too_big, "exceeds the limit"});
    std::string early_end = good.substr(0, kStreamHeaderSize) + std::string(kRecordHeaderSize, '\0');
    early_end[first] = 3;
    put64(early_end, first + 16, 10);
    cases.push_back({"END before the volume", early_end, "before the whole volume"});

    for (const auto& c : cases) {
        INFO(c.name);
        create_sparse_file(dir.file("dst"), 64 * MiB + 4096);
        write_pattern(dir.file("dst"), 64 * MiB, 4096, 0x5C);  // a canary just past the volume
        auto r = receive(dir.file("dst"), c.wire, Strategy::sparse);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK_MESSAGE(r.error().message.find(c.expect) != std::string::npos, r.error().message);
        CHECK(read_range(dir.file("dst"), 64 * MiB, 4096) == std::vector<unsigned char>(4096, 0x5C));
    }
}

TEST_CASE("extent stream: a corrupted payload is caught by the read-back checksum") {
    TempDir dir;
    build_thin_source(dir.file("src"), standard_thin_layout());
    std::string wire = stream_of(dir.file("src"));
    wire[kStreamHeaderSize + kRecordHeaderSize + 100] ^= 0x40;  // inside the first DATA record
    create_sparse_file(dir.file("dst"), 64 * MiB);
    auto r = receive(dir.file("dst"), wire, Strategy::sparse);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::mismatch);
}
