// Internals shared by the native engine and the checksum reader: cutting an extent map into
// work items, reading a unit's data into a buffer (never reading holes), pacing, progress.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "copy/copy.hpp"
#include "copy/extent.hpp"
#include "copy/fd.hpp"
#include "copy/result.hpp"
#include "copy/throttle.hpp"
#include "copy/volume.hpp"

namespace volmig {

// A piece of work: a data unit (read, inspect, write) or a hole (never read).
struct WorkItem {
    uint64_t offset = 0;
    uint64_t length = 0;
    bool hole = false;
    uint64_t end() const { return offset + length; }
};

// Hands out work items in volume order, thread-safely and without materialising the list.
// Data units start and end on the `grid` (except at the end of the volume), cover data extents
// whose grid cells touch, and are at most `max_unit` long; everything between them is a hole
// item of at most `max_hole`. Units never split a checksum chunk, so chunk sums stay exact.
class WorkCursor {
public:
    WorkCursor(const ExtentMap& map, uint64_t grid, uint64_t max_unit, uint64_t max_hole);
    bool next(WorkItem& item);

private:
    const ExtentMap& map_;
    uint64_t grid_, max_unit_, max_hole_;
    std::mutex mutex_;
    uint64_t pos_ = 0;
    size_t index_ = 0;
};

// A heap buffer aligned for O_DIRECT.
class AlignedBuffer {
public:
    explicit AlignedBuffer(size_t size);
    char* data() { return data_.get(); }
    size_t size() const { return size_; }

private:
    struct Free {
        void operator()(char* p) const;
    };
    std::unique_ptr<char, Free> data_;
    size_t size_;
};

// Reads the data of a unit into a buffer: extents are read (O_DIRECT when aligned and enabled,
// widened to the alignment within the unit), everything else is zero-filled, not read.
class UnitReader {
public:
    // Opens `volume` read-only, and also with O_DIRECT when `direct`; if O_DIRECT cannot be
    // opened, `direct()` turns false (callers that insisted report the error themselves).
    static Result<UnitReader> open(const VolumeInfo& volume, const ExtentMap& map, bool direct);

    // Fills buf[0, item.length) with the content of the unit; returns the bytes read.
    Result<uint64_t> fill(const WorkItem& item, char* buf) const;
    bool direct() const { return direct_fd_.get() >= 0; }

private:
    UnitReader(const VolumeInfo& v, const ExtentMap& m) : volume_(&v), map_(&m) {}
    Status read_exact(uint64_t offset, char* buf, uint64_t length) const;

    const VolumeInfo* volume_;
    const ExtentMap* map_;
    Fd fd_;
    Fd direct_fd_;
};

// The pacing of one copy: its own limit (bytes per second, 0 = none) and, when `shared` is given
// (a process-wide limit, copy/throttle.hpp), one share of it, held for the limiter's lifetime:
// construct one per copy, shared by all its workers. acquire() sleeps in short steps, so that
// cancellation works.
class RateLimiter {
public:
    explicit RateLimiter(uint64_t bytes_per_second, SharedRate* shared = nullptr);
    void acquire(uint64_t bytes, const std::atomic<bool>& stop);

private:
    uint64_t rate_;
    Pacer pacer_;
    std::unique_ptr<SharedRate::Share> share_;
};

// Calls on_progress every interval from its own thread while a run goes on, and once at the end.
class ProgressMeter {
public:
    ProgressMeter(uint64_t total, std::function<void(const Progress&)> callback, std::chrono::milliseconds interval);
    ~ProgressMeter();
    void add(uint64_t bytes) { done_.fetch_add(bytes, std::memory_order_relaxed); }
    void finish();

private:
    Progress snapshot() const;
    uint64_t total_;
    std::function<void(const Progress&)> callback_;
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::atomic<uint64_t> done_{0};
    std::atomic<bool> finished_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::thread thread_;
};

// The first error of a parallel run wins; later ones are dropped. stop() tells workers to quit.
class FirstError {
public:
    void set(Error error);
    bool failed() const { return failed_.load(); }
    const std::atomic<bool>& stop_flag() const { return failed_; }
    Error take();

private:
    std::atomic<bool> failed_{false};
    std::mutex mutex_;
    Error error_;
};

// Runs `body(worker_index)` on `count` threads and joins them.
void run_workers(unsigned count, const std::function<void(unsigned)>& body);

uint64_t align_down(uint64_t value, uint64_t alignment);
uint64_t align_up(uint64_t value, uint64_t alignment);

}  // namespace volmig
