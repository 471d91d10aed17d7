// The extent stream between a real source and a real destination, in memory: the bytes that
// arrive, the allocation they leave, the wire size, and every malformed stream refused before
// it can write outside the volume.
#include <doctest/doctest.h>

#include <zstd.h>

#include <cstring>
#include <map>

#include "copy/checksum.hpp"
#include "copy/extent_stream.hpp"
#include "copy/stream_slices.hpp"
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
void put32(std::string& wire, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) wire[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
}
std::string record(uint32_t kind, uint32_t aux, uint64_t offset, uint64_t length) {
    std::string r(kRecordHeaderSize, '\0');
    put32(r, 0, kind);
    put32(r, 4, aux);
    put64(r, 8, offset);
    put64(r, 16, length);
    return r;
}
std::string v2_header(uint64_t size, uint64_t start, uint64_t end, uint64_t from, uint32_t flags = kStreamFlagCompressed) {
    std::string h(kStreamHeaderSizeV2, '\0');
    std::memcpy(h.data(), kStreamMagicV2, 8);
    put64(h, 8, size);
    put32(h, 16, 4096);
    put32(h, 20, flags);
    put64(h, 24, start);
    put64(h, 32, end);
    put64(h, 40, from);
    return h;
}

// A v2 slice of `path` as the sender makes it, with its own sums of the ranges it emitted.
std::string slice_of(const std::string& path, StreamSlice slice, uint64_t grid, bool zstd, std::map<uint64_t, ContentChecksum>& sums,
                     const ContentChecksum& confirmed = ContentChecksum(), SendStats* stats = nullptr) {
    auto info = inspect_volume(path);
    REQUIRE(info.ok());
    auto found = discover_extents(*info);
    REQUIRE(found.ok());
    std::string wire;
    SendOptions options;
    options.checkpoint_bytes = grid;
    options.slice = slice;
    options.confirmed = confirmed;
    options.compression = zstd ? StreamCompression::zstd : StreamCompression::none;
    options.on_range = [&](uint64_t k, const ContentChecksum& sum) {
        sums[k] = sum;
        return success();
    };
    auto sent = send_extent_stream(*info, found->map, options, [&](const char* d, size_t n) {
        wire.append(d, n);
        return success();
    });
    REQUIRE_MESSAGE(sent.ok(), (sent.ok() ? "" : sent.error().message));
    if (stats) *stats = *sent;
    return wire;
}

// Receives a v2 slice the way the daemon does: ranges before `from` must be held verified.
Result<ReceiveStats> receive_slice(const std::string& dst, const std::string& wire, uint64_t grid, std::map<uint64_t, ContentChecksum>& held,
                                   bool compression = true, size_t chunk = 7777) {
    auto info = inspect_volume(dst);
    REQUIRE(info.ok());
    ReceiveOptions options;
    options.strategy = Strategy::sparse;
    options.checkpoint_bytes = grid;
    options.allow_compressed = compression;
    options.accept = [&](const StreamHeader& h) -> Result<ContentChecksum> {
        ContentChecksum before;
        for (uint64_t k = h.slice.start / grid; k * grid < h.slice.from; ++k) {
            if (!held.count(k)) return Error{"resumes beyond the verified ranges", ErrorKind::invalid};
            before.merge(held[k]);
        }
        return before;
    };
    options.on_ranges = [&](const std::vector<std::pair<uint64_t, ContentChecksum>>& ranges) {
        for (const auto& [k, sum] : ranges) held[k] = sum;
        return success();
    };
    return receive_extent_stream(*info, options, source_of(wire, chunk));
}

std::string checksum_of_file(const std::string& path, uint64_t size) {
    auto info = inspect_volume(path);
    REQUIRE(info.ok());
    auto sum = checksum_volume(*info, size, std::nullopt, IoMode::automatic, 2, nullptr);
    REQUIRE(sum.ok());
    return *sum;
}

// A source whose data extents are text (compressible) and random bytes (not).
void build_mixed_source(const std::string& path, uint64_t size) {
    create_sparse_file(path, size);
    build_thin_source(path, standard_thin_layout());
    std::vector<unsigned char> text;
    const std::string line = "2026-12-02 05:05:33 volmigd[1234]: migration 42: streaming slice 3 of 4 to host-b\n";
    while (text.size() < 3 * MiB) text.insert(text.end(), line.begin(), line.end());
    text.resize(3 * MiB);
    write_bytes(path, 20 * MiB, text);
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

TEST_CASE("extent stream v2: a volume sent as slices (compressed where it shrinks) arrives identical, and the ranges add up to its checksum") {
    TempDir dir;
    const uint64_t size = 64 * MiB, grid = MiB;
    build_mixed_source(dir.file("src"), size);
    auto info = inspect_volume(dir.file("src"));
    REQUIRE(info.ok());
    auto found = discover_extents(*info);
    REQUIRE(found.ok());
    const std::vector<StreamSlice> slices = plan_slices(found->map, 4, grid);
    REQUIRE(slices.size() == 4);
    CHECK(slices.front().start == 0);
    CHECK(slices.back().end == size);
    std::map<uint64_t, ContentChecksum> sent, held;
    create_sparse_file(dir.file("dst"), size);
    uint64_t compressed = 0, wire = 0;
    for (size_t i = 0; i < slices.size(); ++i) {
        CAPTURE(i);
        if (i) CHECK(slices[i].start == slices[i - 1].end);
        CHECK(slices[i].start % grid == 0);
        SendStats stats;
        const std::string w = slice_of(dir.file("src"), slices[i], grid, true, sent, ContentChecksum(), &stats);
        compressed += stats.compressed_records;
        wire += w.size();
        auto got = receive_slice(dir.file("dst"), w, grid, held);
        REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
        CHECK(got->verified);
        CHECK(got->destination_checksum == stats.checksum);
    }
    CHECK(compressed > 0);  // the text compresses
    CHECK(wire < found->map.data_bytes());
    CHECK(first_difference(dir.file("src"), dir.file("dst"), size) == -1);
    REQUIRE(held.size() == size / grid);
    ContentChecksum total;
    for (const auto& [k, sum] : held) {
        CHECK(sent.at(k) == sum);  // the sender's own sum of every range is the receiver's
        total.merge(sum);
    }
    CHECK(total.finish(size) == checksum_of_file(dir.file("src"), size));
}

TEST_CASE("extent stream v2: a slice cut part-way resumes from its first unverified range and sends only the rest") {
    TempDir dir;
    const uint64_t size = 64 * MiB, grid = MiB;
    build_thin_source(dir.file("src"), standard_thin_layout());
    std::map<uint64_t, ContentChecksum> sent, held;
    const StreamSlice whole{0, size, 0};
    const std::string w = slice_of(dir.file("src"), whole, grid, false, sent);
    create_sparse_file(dir.file("dst"), size);
    // The connection dies after half of the bytes.
    auto cut = receive_slice(dir.file("dst"), w.substr(0, w.size() / 2), grid, held);
    REQUIRE_FALSE(cut.ok());
    CHECK(cut.error().message.find("truncated") != std::string::npos);
    REQUIRE_FALSE(held.empty());
    // Resume from the first range the receiver does not hold with the sender's sum.
    uint64_t k = 0;
    ContentChecksum confirmed;
    while (held.count(k) && held[k] == sent[k]) confirmed.merge(sent[k++]);
    CHECK(k > 0);
    const StreamSlice rest{0, size, k * grid};
    SendStats stats;
    const std::string again = slice_of(dir.file("src"), rest, grid, false, sent, confirmed, &stats);
    CHECK(again.size() < w.size() * 3 / 4);
    auto resumed = receive_slice(dir.file("dst"), again, grid, held);
    REQUIRE_MESSAGE(resumed.ok(), (resumed.ok() ? "" : resumed.error().message));
    CHECK(first_difference(dir.file("src"), dir.file("dst"), size) == -1);

    // A stream that claims to resume beyond what the receiver holds is refused before a write.
    std::map<uint64_t, ContentChecksum> nothing;
    create_sparse_file(dir.file("dst2"), size);
    auto beyond = receive_slice(dir.file("dst2"), again, grid, nothing);
    REQUIRE_FALSE(beyond.ok());
    CHECK(beyond.error().message.find("beyond the verified ranges") != std::string::npos);
    CHECK(allocated_bytes(dir.file("dst2")) == 0);
}

TEST_CASE("extent stream v2: off-grid slices, records beyond the slice, and compressed records that lie are refused before a write") {
    TempDir dir;
    const uint64_t size = 4 * MiB, grid = MiB;
    const std::string plain(64 << 10, 'q');
    std::string frame(ZSTD_compressBound(plain.size()), '\0');
    frame.resize(ZSTD_compress(frame.data(), frame.size(), plain.data(), plain.size(), 1));
    // A bomb: a small frame of 8 MiB of zeros, declared as a 64 KiB record.
    const std::string zeros(8 * MiB, '\0');
    std::string bomb(ZSTD_compressBound(zeros.size()), '\0');
    bomb.resize(ZSTD_compress(bomb.data(), bomb.size(), zeros.data(), zeros.size(), 1));
    REQUIRE(bomb.size() < plain.size());
    const uint32_t fsize = static_cast<uint32_t>(frame.size());
    struct Case {
        std::string name, wire, expect;
        bool compression = true;
    };
    const std::string end_rec = record(kRecordEnd, 0, 2 * MiB, 9) + "xxh3part:";
    std::vector<Case> cases{
        {"start off the grid", v2_header(size, 4096, 2 * MiB, 4096) + end_rec, "checkpoint grid"},
        {"from off the grid", v2_header(size, 0, 2 * MiB, 4096) + end_rec, "checkpoint grid"},
        {"end beyond the volume", v2_header(size, 0, 8 * MiB, 0) + end_rec, "checkpoint grid"},
        {"record beyond the slice", v2_header(size, 0, MiB, 0) + record(kRecordZero, 0, 0, 2 * MiB), "beyond the slice"},
        {"record before the slice", v2_header(size, MiB, 2 * MiB, MiB) + record(kRecordZero, 0, 0, MiB), "overlapping"},
        {"compression not negotiated", v2_header(size, 0, 2 * MiB, 0), "not negotiated", false},
        {"ZDATA without the flag", v2_header(size, 0, 2 * MiB, 0, 0) + record(kRecordZstdData, fsize, 0, plain.size()) + frame,
         "did not announce compression"},
        {"ZDATA not smaller than its record", v2_header(size, 0, 2 * MiB, 0) + record(kRecordZstdData, 70000, 0, 65536) + std::string(70000, 'x'),
         "compressed bytes for"},
        {"ZDATA bomb", v2_header(size, 0, 2 * MiB, 0) + record(kRecordZstdData, static_cast<uint32_t>(bomb.size()), 0, plain.size()) + bomb,
         "declares"},
        {"ZDATA shorter than its frame", v2_header(size, 0, 2 * MiB, 0) + record(kRecordZstdData, fsize - 4, 0, plain.size()) + frame.substr(0, fsize - 4),
         "zstd"},
        {"ZDATA garbage", v2_header(size, 0, 2 * MiB, 0) + record(kRecordZstdData, 100, 0, plain.size()) + std::string(100, 'g'), "not a zstd frame"},
        {"v1 with flags", "VMIGSTR1" + std::string(8, '\0') + std::string("\x00\x10\x00\x00\x01\x00\x00\x00", 8), "flags"},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        create_sparse_file(dir.file("dst"), size);
        std::map<uint64_t, ContentChecksum> held;
        auto r = receive_slice(dir.file("dst"), c.wire, grid, held, c.compression);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK_MESSAGE(r.error().message.find(c.expect) != std::string::npos, r.error().message);
        CHECK(allocated_bytes(dir.file("dst")) == 0);
        CHECK(held.empty());
    }
    // The honest frame is taken.
    std::map<uint64_t, ContentChecksum> held;
    create_sparse_file(dir.file("dst"), size);
    ContentChecksum sum;
    sum.add(0, plain.data(), plain.size());
    const std::string good = v2_header(size, 0, MiB, 0) + record(kRecordZstdData, fsize, 0, plain.size()) + frame +
                             record(kRecordZero, 0, plain.size(), MiB - plain.size()) + record(kRecordEnd, 0, MiB, 41) + sum.partial();
    auto ok = receive_slice(dir.file("dst"), good, grid, held);
    REQUIRE_MESSAGE(ok.ok(), (ok.ok() ? "" : ok.error().message));
    CHECK(ok->compressed_records == 1);
    CHECK(read_range(dir.file("dst"), 0, plain.size()) == std::vector<unsigned char>(plain.size(), 'q'));
}
