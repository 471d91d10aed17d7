#include "copy/zero_detect.hpp"

#include <cstring>

namespace volmig {

namespace {

inline uint64_t load64(const unsigned char* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);  // unaligned-safe; compiles to one load
    return v;
}

}  // namespace

bool is_zero(const void* data, size_t length) {
    const auto* p = static_cast<const unsigned char*>(data);
    // Data blocks usually have a non-zero byte near the start or the end: reject them cheaply.
    if (length >= 16) {
        if (load64(p) | load64(p + length - 8)) return false;
    }
    size_t i = 0;
    // 128 bytes per round: sixteen independent ORs that the compiler turns into vector ORs.
    for (; i + 128 <= length; i += 128) {
        uint64_t acc = 0;
        for (size_t k = 0; k < 128; k += 8) acc |= load64(p + i + k);
        if (acc) return false;
    }
    for (; i + 8 <= length; i += 8)
        if (load64(p + i)) return false;
    for (; i < length; ++i)
        if (p[i]) return false;
    return true;
}

void find_block_runs(const void* data, size_t length, size_t block_size, std::vector<BlockRun>& runs) {
    runs.clear();
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t off = 0; off < length; off += block_size) {
        const size_t n = length - off < block_size ? length - off : block_size;
        const bool zero = is_zero(p + off, n);
        if (!runs.empty() && runs.back().zero == zero)
            runs.back().length += n;
        else
            runs.push_back({off, n, zero});
    }
}

}  // namespace volmig
