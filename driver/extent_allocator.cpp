#include "driver/extent_allocator.hpp"

#include <algorithm>

namespace volmig {

ExtentAllocator::ExtentAllocator(uint64_t capacity, uint64_t alignment, std::vector<PoolRegion> used)
    : capacity_(capacity), alignment_(alignment ? alignment : 1), used_(std::move(used)) {
    std::sort(used_.begin(), used_.end(), [](const PoolRegion& a, const PoolRegion& b) { return a.offset < b.offset; });
}

uint64_t ExtentAllocator::round(uint64_t length) const {
    const uint64_t rem = length % alignment_;
    return rem ? length + (alignment_ - rem) : length;
}

std::optional<PoolRegion> ExtentAllocator::allocate(const std::string& owner, uint64_t length) {
    const uint64_t need = round(length);
    if (need == 0 || need > capacity_) return std::nullopt;
    uint64_t pos = 0;
    for (size_t i = 0; i <= used_.size(); ++i) {
        const uint64_t gap_end = i < used_.size() ? used_[i].offset : capacity_;
        if (gap_end >= pos && gap_end - pos >= need) {
            PoolRegion region{owner, pos, need};
            used_.insert(used_.begin() + static_cast<long>(i), region);
            return region;
        }
        if (i < used_.size()) pos = std::max(pos, round(used_[i].end()));
    }
    return std::nullopt;
}

std::optional<PoolRegion> ExtentAllocator::grow_in_place(const std::string& owner, uint64_t new_length) {
    for (size_t i = 0; i < used_.size(); ++i) {
        if (used_[i].owner != owner) continue;
        const uint64_t need = round(new_length);
        const uint64_t limit = i + 1 < used_.size() ? used_[i + 1].offset : capacity_;
        if (need <= used_[i].length) return used_[i];
        if (used_[i].offset + need > limit) return std::nullopt;
        used_[i].length = need;
        return used_[i];
    }
    return std::nullopt;
}

bool ExtentAllocator::release(const std::string& owner) {
    auto it = std::find_if(used_.begin(), used_.end(), [&](const PoolRegion& r) { return r.owner == owner; });
    if (it == used_.end()) return false;
    used_.erase(it);
    return true;
}

uint64_t ExtentAllocator::used_bytes() const {
    uint64_t total = 0;
    for (const auto& r : used_) total += r.length;
    return total;
}

uint64_t ExtentAllocator::largest_free() const {
    uint64_t best = 0, pos = 0;
    for (const auto& r : used_) {
        if (r.offset > pos) best = std::max(best, r.offset - pos);
        pos = std::max(pos, r.end());
    }
    if (capacity_ > pos) best = std::max(best, capacity_ - pos);
    return best;
}

std::vector<std::string> ExtentAllocator::conflicts() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < used_.size(); ++i) {
        if (used_[i].end() > capacity_)
            out.push_back("volume " + used_[i].owner + " reaches beyond the pool (" + std::to_string(used_[i].end()) + " > " +
                          std::to_string(capacity_) + ")");
        if (i + 1 < used_.size() && used_[i].end() > used_[i + 1].offset)
            out.push_back("volumes " + used_[i].owner + " and " + used_[i + 1].owner + " overlap");
    }
    return out;
}

}  // namespace volmig
