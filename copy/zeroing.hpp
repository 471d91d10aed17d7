// Making a byte range of a destination read as zeros, with the cheapest method that is
// guaranteed to work, found by probing in a fixed order and remembering what failed.
//
// Two intents:
//  - release: the range should stop consuming space (full+discard). Order: fallocate
//    PUNCH_HOLE (files; block devices: write-zeroes with unmap), BLKZEROOUT (block devices),
//    fallocate ZERO_RANGE (files), writing zero buffers.
//  - keep_allocated: the range must read as zeros and stay allocated, as dd would leave it
//    (full). Order: fallocate ZERO_RANGE (files), BLKZEROOUT (block devices), writing zeros.
// Plain BLKDISCARD is never used: it does not promise that the range reads as zeros.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "copy/result.hpp"
#include "copy/volume.hpp"

namespace volmig {

enum class ZeroIntent { release, keep_allocated };
enum class ZeroMethod { punch_hole, blkzeroout, zero_range, write_zeros };
constexpr size_t kZeroMethodCount = 4;

std::string to_string(ZeroMethod method);

class RangeZeroer {
public:
    // `fd` is the destination opened for writing (buffered); it must outlive the zeroer.
    // `log` receives one line each time a method is found not to work here. Offsets given to
    // zero() are shifted by `base` in `fd` (a loop device's window of its backing file).
    RangeZeroer(int fd, const VolumeInfo& volume, std::function<void(const std::string&)> log, uint64_t base = 0);

    // Makes [offset, offset + length) read as zeros. Thread-safe. Errors name path and offset.
    // Returns the method that did it (punch_hole is the one that frees the space).
    Result<ZeroMethod> zero(uint64_t offset, uint64_t length, ZeroIntent intent);

    // The method that last succeeded for `intent`, for the report ("fallocate PUNCH_HOLE").
    std::string method_used(ZeroIntent intent) const;

    // Whether release can work at all here, probed without changing any byte: files ask the
    // filesystem for PUNCH_HOLE beyond EOF; block devices look at write_zeroes_max_bytes.
    static bool probe_release(const VolumeInfo& volume, std::string* how);

private:
    Status try_method(ZeroMethod method, uint64_t offset, uint64_t length, bool* unsupported);
    Status write_zeros(uint64_t offset, uint64_t length);

    int fd_;
    VolumeInfo volume_;
    uint64_t base_ = 0;
    std::function<void(const std::string&)> log_;
    std::array<std::atomic<bool>, kZeroMethodCount> unsupported_{};
    std::array<std::atomic<int>, 2> last_used_{};  // per intent, a ZeroMethod or -1
    std::mutex log_mutex_;
};

}  // namespace volmig
