#include "copy/unit_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace volmig {

uint64_t align_down(uint64_t value, uint64_t alignment) { return value - value % alignment; }
uint64_t align_up(uint64_t value, uint64_t alignment) {
    const uint64_t rem = value % alignment;
    return rem ? value + (alignment - rem) : value;
}

// ---------------------------------------------------------------------------- WorkCursor

WorkCursor::WorkCursor(const ExtentMap& map, uint64_t grid, uint64_t max_unit, uint64_t max_hole)
    : map_(map), grid_(grid), max_unit_(std::max(grid, align_down(max_unit, grid))), max_hole_(std::max(grid, align_down(max_hole, grid))) {}

bool WorkCursor::next(WorkItem& item) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t size = map_.size();
    const auto& extents = map_.data();
    if (pos_ >= size) return false;
    while (index_ < extents.size() && extents[index_].end() <= pos_) ++index_;

    if (index_ == extents.size()) {  // only hole left
        item = {pos_, std::min(size - pos_, max_hole_), true};
        pos_ += item.length;
        return true;
    }
    const uint64_t unit_start = std::max(pos_, align_down(extents[index_].offset, grid_));
    if (unit_start > pos_) {
        item = {pos_, std::min(unit_start - pos_, max_hole_), true};
        pos_ += item.length;
        return true;
    }
    // A data unit from pos_: take extents while their grid cells touch, up to max_unit.
    const uint64_t limit = std::min(size, pos_ + max_unit_);
    uint64_t end = pos_;
    for (size_t j = index_; j < extents.size(); ++j) {
        const uint64_t cell = align_down(extents[j].offset, grid_);
        if (cell >= limit || (j > index_ && cell > end)) break;
        end = std::min(limit, align_up(extents[j].end(), grid_));
        if (extents[j].end() > end) break;  // continues past the limit: the next unit takes it
    }
    end = std::min(std::max(end, pos_ + 1), size);
    item = {pos_, end - pos_, false};
    pos_ = end;
    return true;
}

// ---------------------------------------------------------------------------- AlignedBuffer

void AlignedBuffer::Free::operator()(char* p) const { std::free(p); }

AlignedBuffer::AlignedBuffer(size_t size) : size_(size) {
    void* p = nullptr;
    if (::posix_memalign(&p, 4096, std::max<size_t>(size, 4096)) != 0) throw std::bad_alloc();
    data_.reset(static_cast<char*>(p));
}

// ---------------------------------------------------------------------------- UnitReader

Result<UnitReader> UnitReader::open(const VolumeInfo& volume, const ExtentMap& map, bool direct) {
    UnitReader reader(volume, map);
    reader.fd_ = Fd(::open(volume.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!reader.fd_) return errno_error("cannot open " + volume.path + " for reading");
    if (direct) reader.direct_fd_ = Fd(::open(volume.path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT));
    if (!direct) ::posix_fadvise(reader.fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    return reader;
}

Status UnitReader::read_exact(uint64_t offset, char* buf, uint64_t length) const {
    const uint64_t align = volume_->logical_block_size;
    const bool use_direct = direct_fd_.get() >= 0 && offset % align == 0 && length % align == 0 &&
                            reinterpret_cast<uintptr_t>(buf) % align == 0;
    const int fd = use_direct ? direct_fd_.get() : fd_.get();
    uint64_t done = 0;
    while (done < length) {
        const ssize_t n = ::pread(fd, buf + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error("read error on source " + volume_->path + " at offset " + std::to_string(offset + done));
        }
        if (n == 0)
            return Error{"source " + volume_->path + " ended at offset " + std::to_string(offset + done) +
                         ", before its expected size " + std::to_string(volume_->size) + " (did it shrink during the copy?)"};
        done += static_cast<uint64_t>(n);
    }
    return success();
}

Result<uint64_t> UnitReader::fill(const WorkItem& item, char* buf) const {
    const auto& extents = map_->data();
    auto it = std::upper_bound(extents.begin(), extents.end(), item.offset,
                               [](uint64_t off, const Extent& e) { return off < e.end(); });
    const uint64_t align = volume_->logical_block_size;
    uint64_t cursor = item.offset, bytes_read = 0;
    for (; it != extents.end() && it->offset < item.end(); ++it) {
        // Widen to the O_DIRECT alignment, but never past the unit or the previous piece.
        uint64_t a = std::max(cursor, align_down(std::max(it->offset, item.offset), align));
        uint64_t b = std::min(item.end(), align_up(std::min(it->end(), item.end()), align));
        // Merge with following extents that start within the widened piece.
        while (std::next(it) != extents.end() && align_down(std::next(it)->offset, align) <= b && b < item.end()) {
            ++it;
            b = std::min(item.end(), align_up(std::min(it->end(), item.end()), align));
        }
        if (a > cursor) std::memset(buf + (cursor - item.offset), 0, a - cursor);
        Status s = read_exact(a, buf + (a - item.offset), b - a);
        if (!s.ok()) return s.error();
        bytes_read += b - a;
        cursor = b;
    }
    if (cursor < item.end()) std::memset(buf + (cursor - item.offset), 0, item.end() - cursor);
    return bytes_read;
}

// ---------------------------------------------------------------------------- RateLimiter

RateLimiter::RateLimiter(uint64_t bytes_per_second, SharedRate* shared) : rate_(bytes_per_second) {
    if (shared && shared->limit() > 0) share_ = std::make_unique<SharedRate::Share>(*shared);
}

void RateLimiter::acquire(uint64_t bytes, const std::atomic<bool>& stop) {
    pacer_.acquire(bytes, rate_, stop);
    if (share_) share_->acquire(bytes, stop);
}

// ---------------------------------------------------------------------------- ProgressMeter

ProgressMeter::ProgressMeter(uint64_t total, std::function<void(const Progress&)> callback, std::chrono::milliseconds interval)
    : total_(total), callback_(std::move(callback)), interval_(interval) {
    if (!callback_) return;
    thread_ = std::thread([this] {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!finished_.load()) {
            if (wake_.wait_for(lock, interval_, [this] { return finished_.load(); })) break;
            callback_(snapshot());
        }
    });
}

ProgressMeter::~ProgressMeter() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        finished_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ProgressMeter::finish() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (finished_.exchange(true)) return;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (callback_) callback_(snapshot());
}

Progress ProgressMeter::snapshot() const {
    Progress p;
    p.bytes_done = std::min(done_.load(std::memory_order_relaxed), total_);
    p.bytes_total = total_;
    p.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    p.rate = p.elapsed_seconds > 0 ? static_cast<double>(p.bytes_done) / p.elapsed_seconds : 0;
    p.eta_seconds = p.rate > 0 ? static_cast<double>(p.bytes_total - p.bytes_done) / p.rate : -1;
    return p;
}

// ---------------------------------------------------------------------------- FirstError

void FirstError::set(Error error) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failed_.load()) return;
    error_ = std::move(error);
    failed_ = true;
}

Error FirstError::take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
}

void run_workers(unsigned count, const std::function<void(unsigned)>& body) {
    std::vector<std::thread> threads;
    threads.reserve(count);
    for (unsigned i = 0; i < count; ++i) threads.emplace_back(body, i);
    for (auto& t : threads) t.join();
}

}  // namespace volmig
