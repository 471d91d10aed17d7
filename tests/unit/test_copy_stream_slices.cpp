// copy/stream_slices.hpp (how a volume is cut for parallel streams, the checkpoint grid),
// copy/stream_compression.hpp (the gate, zstd round trips and refusals) and the partial checksum text.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "copy/checksum.hpp"
#include "copy/stream_compression.hpp"
#include "copy/stream_slices.hpp"

using namespace volmig;

namespace {
constexpr uint64_t MiB = 1 << 20;
}

TEST_CASE("stream slices: about equal data per slice, on the grid, tiling the volume") {
    // 4 extents of 10 MiB spread over 1 GiB.
    ExtentMap map(1024 * MiB, {{0, 10 * MiB}, {300 * MiB, 10 * MiB}, {600 * MiB, 10 * MiB}, {900 * MiB, 10 * MiB}});
    const auto slices = plan_slices(map, 4, 4 * MiB);
    REQUIRE(slices.size() == 4);
    uint64_t at = 0;
    for (const StreamSlice& s : slices) {
        CHECK(s.start == at);
        CHECK(s.from == s.start);
        CHECK(s.start % (4 * MiB) == 0);
        CHECK(s.end > s.start);
        at = s.end;
    }
    CHECK(at == 1024 * MiB);
    // Each slice holds one extent: cuts fall near 10, 310 and 610 MiB (rounded to the grid).
    CHECK(slices[1].start == 12 * MiB);
    CHECK(slices[2].start == 312 * MiB);
    CHECK(slices[3].start == 612 * MiB);
}

TEST_CASE("stream slices: fewer slices where there is too little to cut, never an empty one") {
    CHECK(plan_slices(ExtentMap(64 * MiB, {}), 4, MiB).size() == 1);                       // no data
    CHECK(plan_slices(ExtentMap(64 * MiB, {{0, 64 * MiB}}), 1, MiB).size() == 1);          // one asked
    CHECK(plan_slices(ExtentMap(2 * MiB, {{0, 2 * MiB}}), 8, MiB).size() == 2);             // two grid cells
    const auto tiny = plan_slices(ExtentMap(64 * MiB, {{0, 4096}}), 4, MiB);               // all data in one cell
    REQUIRE(tiny.size() == 1);
    CHECK(tiny[0].end == 64 * MiB);
    const auto odd = plan_slices(ExtentMap(10 * MiB + 512, {{0, 10 * MiB + 512}}), 3, MiB);  // the last slice ends at the size
    CHECK(odd.back().end == 10 * MiB + 512);
    for (const auto& s : odd) CHECK(s.end > s.start);
}

TEST_CASE("stream slices: the checkpoint grid grows with the data, from 1 MiB to 64 MiB, never below the block size") {
    CHECK(choose_checkpoint_bytes(0, 4096) == MiB);
    CHECK(choose_checkpoint_bytes(64 * MiB, 4096) == MiB);
    CHECK(choose_checkpoint_bytes(256 * MiB, 4096) == 4 * MiB);
    CHECK(choose_checkpoint_bytes(1ull << 40, 4096) == 64 * MiB);
    CHECK(choose_checkpoint_bytes(0, 16 * MiB) == 16 * MiB);
    for (uint64_t data : {uint64_t{0}, 100 * MiB, 5000 * MiB}) CHECK(choose_checkpoint_bytes(data, 4096) % kChecksumChunk == 0);
}

TEST_CASE("partial checksums: text round trip, additive, and anything else refused") {
    ContentChecksum a, b, whole;
    const std::string x(kChecksumChunk, 'x'), y(kChecksumChunk, 'y');
    a.add(0, x.data(), x.size());
    b.add(kChecksumChunk, y.data(), y.size());
    whole.add(0, (x + y).data(), 2 * kChecksumChunk);
    auto parsed = ContentChecksum::parse_partial(a.partial());
    REQUIRE(parsed);
    CHECK(*parsed == a);
    parsed->merge(b);
    CHECK(*parsed == whole);
    CHECK(parsed->finish(MiB) == whole.finish(MiB));
    for (const char* bad : {"", "xxh3part:", "xxh3sum:00000000000000000000000000000000", "xxh3part:0000000000000000000000000000000g",
                            "xxh3part:000000000000000000000000000000000"})
        CHECK_FALSE(ContentChecksum::parse_partial(bad));
}

TEST_CASE("stream compression: text shrinks and comes back exactly, random data is sent raw, the gate backs off") {
    RecordCompressor c;
    RecordDecompressor d;
    std::string text;
    while (text.size() < 256 * 1024) text += "volmig extent stream record, compressible text line\n";
    std::vector<char> frame;
    REQUIRE(c.compress(text.data(), text.size(), frame));
    CHECK(frame.size() < text.size() / 8);
    std::string back(text.size(), '\0');
    CHECK(d.decompress(frame.data(), frame.size(), back.data(), back.size()).ok());
    CHECK(back == text);
    // The frame is refused for any other length (it says its own size), and when cut.
    std::string small(text.size() - 1, '\0');
    CHECK(d.decompress(frame.data(), frame.size(), small.data(), small.size()).error().kind == ErrorKind::invalid);
    CHECK_FALSE(d.decompress(frame.data(), frame.size() - 1, back.data(), back.size()).ok());
    std::string noise(256 * 1024, '\0');
    uint64_t state = 88172645463325252ull;
    for (char& ch : noise) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        ch = static_cast<char>(state);
    }
    CHECK_FALSE(c.compress(noise.data(), noise.size(), frame));

    CompressionGate gate;
    for (int i = 0; i < CompressionGate::kMisses; ++i) {
        CHECK(gate.should_try());
        gate.record(false);
    }
    int skipped = 0;
    while (!gate.should_try()) ++skipped;
    CHECK(skipped == CompressionGate::kSkip);
    gate.record(true);  // a hit resets the count of misses
    for (int i = 0; i < CompressionGate::kMisses - 1; ++i) gate.record(false);
    CHECK(gate.should_try());
}
