#include "copy/throttle.hpp"

#include <algorithm>
#include <thread>

namespace volmig {

void Pacer::acquire(uint64_t bytes, uint64_t bytes_per_second, const std::atomic<bool>& stop) {
    if (bytes_per_second == 0 || bytes == 0) return;
    std::chrono::steady_clock::time_point until;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        // Allow a burst of at most ~100 ms worth of bytes after an idle period.
        const auto earliest = now - std::chrono::milliseconds(100);
        if (next_free_ < earliest) next_free_ = earliest;
        next_free_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(static_cast<double>(bytes) / static_cast<double>(bytes_per_second)));
        until = next_free_;
    }
    while (!stop.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
}

uint64_t SharedRate::Share::rate() const {
    const unsigned n = std::max(1u, rate_.shares_.load());
    return rate_.limit_ == 0 ? 0 : std::max<uint64_t>(1, rate_.limit_ / n);
}

}  // namespace volmig
