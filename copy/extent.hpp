// Extents and extent maps: which byte ranges of a volume hold allocated data.
//
// An ExtentMap is plain data: the volume size plus sorted, non-overlapping, non-adjacent data
// extents. Everything outside the extents is a hole that reads as zeros. Extent discovery
// (extent_discovery.hpp) produces maps; callers that know better (an LVM thin pool's mapping)
// may build and pass their own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "copy/result.hpp"

namespace volmig {

struct Extent {
    uint64_t offset = 0;
    uint64_t length = 0;

    uint64_t end() const { return offset + length; }
    bool operator==(const Extent& other) const {
        return offset == other.offset && length == other.length;
    }
};

class ExtentMap {
public:
    ExtentMap() = default;
    // Sorts, clips to [0, size), drops empty extents and merges overlapping or adjacent ones.
    ExtentMap(uint64_t size, std::vector<Extent> data_extents);

    // The whole volume is data: what we assume when nothing better is known.
    static ExtentMap all_data(uint64_t size);

    uint64_t size() const { return size_; }
    const std::vector<Extent>& data() const { return data_; }
    uint64_t data_bytes() const;
    // The complement of data() within [0, size).
    std::vector<Extent> holes() const;

private:
    uint64_t size_ = 0;
    std::vector<Extent> data_;
};

// Extent maps as JSON text: {"size": N, "extents": [[offset, length], ...]}. Rejects extents
// beyond the size, negative or non-integer numbers, with a message naming the entry.
Result<ExtentMap> parse_extent_map_json(const std::string& text);
std::string extent_map_to_json(const ExtentMap& map);

}  // namespace volmig
