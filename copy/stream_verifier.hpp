// The receiver's checkpoint work (copy/extent_stream.hpp "Checkpoints"), off the stream's path:
// ranges of the grid are read back, summed and made durable on a thread of their own while the
// stream goes on arriving and being written. Internal to copy/.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "copy/checksum.hpp"
#include "copy/destination.hpp"
#include "copy/fd.hpp"
#include "copy/result.hpp"
#include "copy/unit_io.hpp"

namespace volmig {

using RangeSums = std::vector<std::pair<uint64_t, ContentChecksum>>;

// The content checksum of [offset, offset + length) of the destination as it reads now through
// `fd`. Regular files skip their holes (SEEK_DATA); offsets and the length are on the 64 KiB
// grid, except that the range may end at the end of the volume.
Result<ContentChecksum> read_back(const DestinationWriter& dst, int fd, uint64_t offset, uint64_t length, AlignedBuffer& buffer);

class RangeVerifier {
public:
    struct Config {
        DestinationWriter* dst = nullptr;
        uint64_t checkpoint_bytes = 0;
        uint64_t slice_end = 0;
        uint64_t first_range = 0;          // the index of the first range this stream completes
        ContentChecksum verified;          // the sum of the slice's ranges verified before it
        // Blocks until the first `jobs` writes queued are on the destination (or failed).
        std::function<void(uint64_t jobs)> wait_written;
        std::function<bool()> writes_failed;  // no range is read back or recorded after a failed write
        std::function<uint64_t()> bytes_written;
        std::function<Status(const RangeSums&)> on_ranges;  // after the fdatasync that makes them durable
    };

    // Opens the destination again for reading (through /proc: a loop device's backing file may
    // not be reachable by a path) and starts the thread.
    static Result<std::unique_ptr<RangeVerifier>> start(Config config);
    ~RangeVerifier();  // stops and joins (what is queued is dropped)

    // Every range that ends at or below `applied_to` is complete once the first `jobs` writes
    // are done (the stream's zero ranges below it already applied).
    void completed(uint64_t applied_to, uint64_t jobs);
    // Set once a range failed to read back or to be made durable.
    bool failed() const { return failed_.load(); }
    // Works off what is queued, makes it durable and stops. The first error, if any.
    Status finish();
    // The sum of every range verified (valid after finish()).
    const ContentChecksum& verified() const { return verified_; }

private:
    RangeVerifier(Config config, Fd reader) : config_(std::move(config)), reader_(std::move(reader)), verified_(config_.verified) {}
    void run();
    Status verify_up_to(uint64_t applied_to);
    Status make_durable();

    Config config_;
    Fd reader_;
    AlignedBuffer buffer_{1 << 20};
    ContentChecksum verified_;
    uint64_t next_range_ = 0;
    RangeSums pending_;
    uint64_t written_at_batch_ = 0;
    std::chrono::steady_clock::time_point batch_started_ = std::chrono::steady_clock::now();

    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::pair<uint64_t, uint64_t>> events_;  // (applied_to, jobs)
    bool closing_ = false, stopping_ = false;
    std::atomic<bool> failed_{false};
    Status status_;
    std::thread thread_;
};

}  // namespace volmig
