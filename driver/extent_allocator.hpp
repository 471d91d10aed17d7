// First-fit allocation of contiguous regions in a fixed-size pool (thick_file's pool file, like
// a volume group carved into linear volumes). Pure logic over plain data: which regions are
// used, where a new one fits, whether one can grow in place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace volmig {

struct PoolRegion {
    std::string owner;  // volume id
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t end() const { return offset + length; }
};

class ExtentAllocator {
public:
    // `alignment`: every region starts on, and is rounded up to, a multiple of it.
    ExtentAllocator(uint64_t capacity, uint64_t alignment, std::vector<PoolRegion> used);

    // The lowest offset where `length` (rounded up) fits, or nullopt when no gap is big enough.
    std::optional<PoolRegion> allocate(const std::string& owner, uint64_t length);
    // Grows `owner`'s region to `new_length` when the space right after it is free.
    std::optional<PoolRegion> grow_in_place(const std::string& owner, uint64_t new_length);
    bool release(const std::string& owner);

    uint64_t capacity() const { return capacity_; }
    uint64_t used_bytes() const;
    uint64_t largest_free() const;
    const std::vector<PoolRegion>& regions() const { return used_; }
    uint64_t round(uint64_t length) const;

    // Regions that overlap each other or reach beyond the capacity (a corrupt table).
    std::vector<std::string> conflicts() const;

private:
    uint64_t capacity_;
    uint64_t alignment_;
    std::vector<PoolRegion> used_;  // sorted by offset
};

}  // namespace volmig
