#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "copy/checksum.hpp"

using volmig::ContentChecksum;
using volmig::kChecksumChunk;

namespace {

std::vector<unsigned char> random_bytes(size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::vector<unsigned char> v(n);
    for (auto& c : v) c = static_cast<unsigned char>(gen() | 1);
    return v;
}

std::string sum_of(const std::vector<unsigned char>& volume) {
    ContentChecksum c;
    c.add(0, volume.data(), volume.size());
    return c.finish(volume.size());
}

}  // namespace

TEST_CASE("checksum: holes need not be read: skipping zero chunks gives the same value") {
    const size_t size = 16 * kChecksumChunk;
    std::vector<unsigned char> volume(size, 0);
    auto data = random_bytes(3 * kChecksumChunk, 1);
    std::copy(data.begin(), data.end(), volume.begin() + 5 * kChecksumChunk);
    ContentChecksum sparse;
    sparse.add(5 * kChecksumChunk, volume.data() + 5 * kChecksumChunk, 3 * kChecksumChunk);
    CHECK(sparse.finish(size) == sum_of(volume));
}

TEST_CASE("checksum: chunks added in any order, by any number of partial sums, agree") {
    const size_t size = 10 * kChecksumChunk + 123;  // short last chunk
    auto volume = random_bytes(size, 2);
    ContentChecksum a, b, c;
    for (size_t i = 10;; --i) {  // backwards, split over two partial sums
        const size_t off = i * kChecksumChunk;
        const size_t n = std::min<size_t>(kChecksumChunk, size - off);
        (i % 2 ? a : b).add(off, volume.data() + off, n);
        if (i == 0) break;
    }
    c.merge(a);
    c.merge(b);
    CHECK(c.finish(size) == sum_of(volume));
}

TEST_CASE("checksum: one flipped bit anywhere changes the value") {
    const size_t size = 4 * kChecksumChunk;
    auto volume = random_bytes(size, 3);
    const std::string original = sum_of(volume);
    for (size_t pos : {size_t{0}, size_t{1}, kChecksumChunk - 1, kChecksumChunk, size / 2 + 7, size - 1}) {
        volume[pos] ^= 0x10;
        CHECK(sum_of(volume) != original);
        volume[pos] ^= 0x10;
    }
    CHECK(sum_of(volume) == original);
}

TEST_CASE("checksum: a zero byte where data was, or data where zeros were, changes the value") {
    std::vector<unsigned char> volume(4 * kChecksumChunk, 0);
    const std::string zeros = sum_of(volume);
    volume[3 * kChecksumChunk + 9] = 1;
    CHECK(sum_of(volume) != zeros);
}

TEST_CASE("checksum: swapping two chunks changes the value") {
    auto volume = random_bytes(2 * kChecksumChunk, 4);
    const std::string original = sum_of(volume);
    std::swap_ranges(volume.begin(), volume.begin() + kChecksumChunk, volume.begin() + kChecksumChunk);
    CHECK(sum_of(volume) != original);
}

TEST_CASE("checksum: the size is part of the value") {
    std::vector<unsigned char> volume(kChecksumChunk, 0);
    ContentChecksum empty;
    CHECK(empty.finish(kChecksumChunk) == sum_of(volume));
    CHECK(empty.finish(kChecksumChunk) != empty.finish(2 * kChecksumChunk));
    CHECK(empty.finish(0).rfind("xxh3sum:", 0) == 0);
}
