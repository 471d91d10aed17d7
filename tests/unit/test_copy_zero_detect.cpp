#include <doctest/doctest.h>

#include <vector>

#include "copy/zero_detect.hpp"

using volmig::BlockRun;
using volmig::find_block_runs;
using volmig::is_zero;

TEST_CASE("is_zero: empty and all-zero buffers of every small length are zero") {
    std::vector<unsigned char> buf(300, 0);
    for (size_t n = 0; n <= buf.size(); ++n) CHECK(is_zero(buf.data(), n));
}

TEST_CASE("is_zero: a block with only its last byte set is data") {
    for (size_t n : {1u, 7u, 8u, 15u, 16u, 127u, 128u, 129u, 4096u, 65536u}) {
        std::vector<unsigned char> buf(n, 0);
        buf[n - 1] = 1;
        CHECK_FALSE(is_zero(buf.data(), n));
    }
}

TEST_CASE("is_zero: a block of all 0xFF is data") {
    std::vector<unsigned char> buf(4096, 0xFF);
    CHECK_FALSE(is_zero(buf.data(), buf.size()));
}

TEST_CASE("is_zero: one non-zero byte at every position of a buffer is found") {
    const size_t n = 3 * 4096 + 17;
    std::vector<unsigned char> buf(n + 8, 0);
    for (size_t misalign = 0; misalign < 8; misalign += 3) {
        unsigned char* p = buf.data() + misalign;  // unaligned starts too
        for (size_t i = 0; i < n; ++i) {
            p[i] = static_cast<unsigned char>(1u << (i % 8));
            REQUIRE_FALSE(is_zero(p, n));
            p[i] = 0;
        }
        CHECK(is_zero(p, n));
    }
}

TEST_CASE("find_block_runs: every block holding one non-zero byte is data, the others zero") {
    const size_t block = 512, blocks = 40;
    std::vector<unsigned char> buf(block * blocks, 0);
    std::vector<BlockRun> runs;
    for (size_t i = 0; i < buf.size(); i += 37) {
        buf[i] = 0x80;
        find_block_runs(buf.data(), buf.size(), block, runs);
        const size_t data_block = i / block;
        // Expect: [zero run][one data block][zero run], with empty runs omitted.
        size_t covered = 0;
        for (const BlockRun& r : runs) {
            CHECK(r.offset == covered);
            const bool contains = data_block * block >= r.offset && data_block * block < r.offset + r.length;
            CHECK(r.zero == !contains);
            if (contains) CHECK(r.length == block);
            covered += r.length;
        }
        CHECK(covered == buf.size());
        buf[i] = 0;
    }
}

TEST_CASE("find_block_runs: adjacent blocks of one kind merge and a short last block counts") {
    std::vector<unsigned char> buf(4096 * 5 + 100, 0);
    buf[4096 * 1 + 5] = 1;
    buf[4096 * 2 + 4095] = 1;
    buf[4096 * 5 + 99] = 1;  // in the short tail block
    std::vector<BlockRun> runs;
    find_block_runs(buf.data(), buf.size(), 4096, runs);
    REQUIRE(runs.size() == 4);
    CHECK((runs[0].zero && runs[0].offset == 0 && runs[0].length == 4096));
    CHECK((!runs[1].zero && runs[1].offset == 4096 && runs[1].length == 8192));
    CHECK((runs[2].zero && runs[2].offset == 3 * 4096 && runs[2].length == 2 * 4096));
    CHECK((!runs[3].zero && runs[3].offset == 5 * 4096 && runs[3].length == 100));
}

TEST_CASE("find_block_runs: an all-zero buffer is one zero run, an empty buffer none") {
    std::vector<unsigned char> buf(1 << 20, 0);
    std::vector<BlockRun> runs;
    find_block_runs(buf.data(), buf.size(), 4096, runs);
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].zero);
    CHECK(runs[0].length == buf.size());
    find_block_runs(buf.data(), 0, 4096, runs);
    CHECK(runs.empty());
}
