#include "copy/stream_slices.hpp"

#include <algorithm>

namespace volmig {

std::vector<StreamSlice> plan_slices(const ExtentMap& map, unsigned count, uint64_t c) {
    const uint64_t size = map.size(), total = map.data_bytes();
    std::vector<uint64_t> cuts;
    if (count > 1 && total > 0 && c > 0) {
        uint64_t seen = 0;
        size_t e = 0;
        for (unsigned i = 1; i < count; ++i) {
            const uint64_t want = total / count * i;
            // The offset at which `want` bytes of data lie before it.
            while (e < map.data().size() && seen + map.data()[e].length < want) seen += map.data()[e++].length;
            if (e == map.data().size()) break;
            const uint64_t at = map.data()[e].offset + (want - seen);
            const uint64_t cut = (at + c / 2) / c * c;
            if (cut > 0 && cut < size && (cuts.empty() || cut > cuts.back())) cuts.push_back(cut);
        }
    }
    std::vector<StreamSlice> slices;
    uint64_t start = 0;
    for (uint64_t cut : cuts) {
        slices.push_back({start, cut, start});
        start = cut;
    }
    slices.push_back({start, size, start});
    return slices;
}

uint64_t choose_checkpoint_bytes(uint64_t data_bytes, uint64_t block_size) {
    const uint64_t lowest = std::max<uint64_t>(1ull << 20, block_size), highest = std::max<uint64_t>(64ull << 20, lowest);
    uint64_t c = lowest;
    while (c < highest && c * 2 <= data_bytes / 64) c *= 2;
    return c;
}

}  // namespace volmig
