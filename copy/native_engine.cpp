// The native engine: N workers take work items from a cursor over the source's extents, read
// the data (never the holes), classify blocks as data or zero, write data (O_DIRECT where it
// can) and zero, release or skip the zero ranges as the strategy says.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "copy/checksum.hpp"
#include "copy/engine.hpp"
#include "copy/fd.hpp"
#include "copy/unit_io.hpp"
#include "copy/zero_detect.hpp"
#include "copy/zeroing.hpp"

namespace volmig {

namespace {

constexpr uint64_t kMaxHoleItem = 256ull << 20;

// The destination, opened for buffered writes and, when allowed, for O_DIRECT writes.
class DestinationWriter {
public:
    static Result<std::unique_ptr<DestinationWriter>> open(const VolumeInfo& volume, IoMode io, uint64_t block_size,
                                                           std::vector<std::string>& warnings) {
        auto w = std::unique_ptr<DestinationWriter>(new DestinationWriter(volume));
        // O_EXCL on a block device fails with EBUSY while it is mounted or held by another user.
        const int excl = volume.kind == VolumeKind::block_device ? O_EXCL : 0;
        w->fd_ = Fd(::open(volume.path.c_str(), O_WRONLY | O_CLOEXEC | excl));
        if (!w->fd_) {
            if (errno == EBUSY)
                return Error{"destination " + volume.path + " is in use (mounted, or held open exclusively): unmount or release it first",
                             EBUSY, ErrorKind::refused};
            return errno_error("cannot open destination " + volume.path + " for writing").with_kind(ErrorKind::refused);
        }
        if (io == IoMode::buffered) return w;
        if (block_size % volume.logical_block_size != 0) {
            const std::string why = "O_DIRECT not used on " + volume.path + ": block size " + std::to_string(block_size) +
                                    " is not a multiple of its alignment " + std::to_string(volume.logical_block_size);
            if (io == IoMode::direct)
                return Error{why + "; choose --block-size " + std::to_string(volume.logical_block_size) + " or more", ErrorKind::refused};
            warnings.push_back(why);
            return w;
        }
        w->direct_fd_ = Fd(::open(volume.path.c_str(), O_WRONLY | O_CLOEXEC | O_DIRECT));
        if (!w->direct_fd_) {
            const Error e = errno_error("cannot open " + volume.path + " with O_DIRECT");
            if (io == IoMode::direct) return Error{e.message + "; run without --direct", e.code, ErrorKind::refused};
            warnings.push_back(e.message + "; writing through the page cache");
        }
        return w;
    }

    int fd() const { return fd_.get(); }
    bool direct() const { return direct_fd_.get() >= 0; }

    Status write(uint64_t offset, const char* buf, uint64_t length) {
        const uint64_t align = volume_.logical_block_size;
        uint64_t direct_len = 0;
        if (direct() && offset % align == 0) direct_len = align_down(length, align);
        if (direct_len) {
            Status s = write_all(direct_fd_.get(), offset, buf, direct_len);
            if (!s.ok()) return s;
        }
        if (direct_len < length) {
            Status s = write_all(fd_.get(), offset + direct_len, buf + direct_len, length - direct_len);
            if (!s.ok()) return s;
            buffered_since_sync_ = true;
        }
        return success();
    }

    // Page-cache writes: start writeback of the range now and drop what an earlier call
    // started, so memory stays flat and the final sync has little left to do.
    void write_behind(uint64_t offset, uint64_t length, WorkItem& previous) {
        if (direct() && !buffered_since_sync_) return;
        ::sync_file_range(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE);
        if (previous.length) {
            ::sync_file_range(fd_.get(), static_cast<off_t>(previous.offset), static_cast<off_t>(previous.length),
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
            ::posix_fadvise(fd_.get(), static_cast<off_t>(previous.offset), static_cast<off_t>(previous.length), POSIX_FADV_DONTNEED);
        }
        previous = {offset, length, false};
    }

    Status sync() {
        if (::fsync(fd_.get()) != 0) return errno_error("fsync of destination " + volume_.path);
        return success();
    }

private:
    explicit DestinationWriter(const VolumeInfo& v) : volume_(v) {}

    Status write_all(int fd, uint64_t offset, const char* buf, uint64_t length) {
        uint64_t done = 0;
        while (done < length) {
            const ssize_t n = ::pwrite(fd, buf + done, length - done, static_cast<off_t>(offset + done));
            if (n < 0) {
                if (errno == EINTR) continue;
                const int err = errno;
                std::string hint;
                if (err == ENOSPC) hint = " (the destination's storage is full: free space or grow the pool, then retry)";
                return Error{"write error on destination " + volume_.path + " at offset " + std::to_string(offset + done) +
                                 ": " + std::strerror(err) + hint,
                             err};
            }
            if (n == 0)
                return Error{"short write on destination " + volume_.path + " at offset " + std::to_string(offset + done) +
                             ": the device accepted no more bytes"};
            done += static_cast<uint64_t>(n);
        }
        return success();
    }

    VolumeInfo volume_;
    Fd fd_, direct_fd_;
    std::atomic<bool> buffered_since_sync_{false};
};

// Per-worker tallies, summed at the end (no shared counters on the hot path).
struct Tally {
    uint64_t read = 0, written = 0, skipped = 0, zeroed = 0, released = 0;
    ContentChecksum checksum;
};

// A worker's pending zero range: adjacent zero ranges are merged into one call.
class ZeroBatch {
public:
    ZeroBatch(Strategy strategy, RangeZeroer& zeroer, Tally& tally) : strategy_(strategy), zeroer_(zeroer), tally_(tally) {}

    Status add(uint64_t offset, uint64_t length) {
        if (strategy_ == Strategy::sparse) {
            tally_.skipped += length;
            return success();
        }
        if (length_ && offset == offset_ + length_) {
            length_ += length;
            return success();
        }
        Status s = flush();
        offset_ = offset;
        length_ = length;
        return s;
    }

    Status flush() {
        if (!length_) return success();
        const bool release = strategy_ == Strategy::full_then_discard;
        Status s = zeroer_.zero(offset_, length_, release ? ZeroIntent::release : ZeroIntent::keep_allocated);
        if (s.ok()) (release ? tally_.released : tally_.zeroed) += length_;
        length_ = 0;
        return s;
    }

private:
    Strategy strategy_;
    RangeZeroer& zeroer_;
    Tally& tally_;
    uint64_t offset_ = 0, length_ = 0;
};

}  // namespace

Result<EngineResult> run_native_engine(const EngineJob& job) {
    const CopyOptions& opt = job.options;
    EngineResult result;

    const bool source_direct = opt.io == IoMode::direct || (opt.io == IoMode::automatic && job.source.kind == VolumeKind::block_device);
    auto reader = UnitReader::open(job.source, job.extents, source_direct);
    if (!reader) return reader.error().with_kind(ErrorKind::refused);
    if (source_direct && !reader->direct()) {
        if (opt.io == IoMode::direct)
            return Error{"cannot open source " + job.source.path + " with O_DIRECT; run without --direct", ErrorKind::refused};
        result.warnings.push_back("source " + job.source.path + " read through the page cache: O_DIRECT not available");
    }
    auto writer = DestinationWriter::open(job.destination, opt.io, opt.block_size, result.warnings);
    if (!writer) return writer.take_error();
    DestinationWriter& dst = **writer;

    std::mutex log_mutex;
    RangeZeroer zeroer(dst.fd(), job.destination, [&](const std::string& line) {
        std::lock_guard<std::mutex> lock(log_mutex);
        result.warnings.push_back(line);
        if (opt.log) opt.log(line);
    });

    const uint64_t grid = std::max<uint64_t>(kChecksumChunk, opt.block_size);
    WorkCursor cursor(job.extents, grid, std::max<uint64_t>(opt.request_size, grid), kMaxHoleItem);
    RateLimiter limiter(opt.rate_limit);
    ProgressMeter progress(job.extents.data_bytes(), opt.on_progress, opt.progress_interval);
    FirstError failure;
    std::vector<Tally> tallies(opt.workers);
    const size_t buffer_size = static_cast<size_t>(std::max<uint64_t>(opt.request_size, grid));

    run_workers(opt.workers, [&](unsigned index) {
        Tally& tally = tallies[index];
        ZeroBatch zeros(job.strategy, zeroer, tally);
        std::unique_ptr<AlignedBuffer> buffer;
        std::vector<BlockRun> runs;
        WorkItem item, previous_write;
        auto fail = [&](Error e) { failure.set(std::move(e)); };
        while (!failure.failed()) {
            if (opt.cancel && opt.cancel->load()) {
                fail(Error{"copy cancelled at the operator's request", ECANCELED, ErrorKind::cancelled});
                break;
            }
            if (!cursor.next(item)) break;
            if (item.hole) {
                Status s = zeros.add(item.offset, item.length);
                if (!s.ok()) fail(s.error());
                continue;
            }
            if (!buffer) buffer = std::make_unique<AlignedBuffer>(buffer_size);
            char* buf = buffer->data();
            limiter.acquire(item.length, failure.stop_flag());
            auto got = reader->fill(item, buf);
            if (!got) {
                fail(got.take_error());
                break;
            }
            tally.read += *got;
            progress.add(*got);
            if (opt.verify) tally.checksum.add(item.offset, buf, item.length);
            find_block_runs(buf, item.length, opt.block_size, runs);
            for (const BlockRun& run : runs) {
                // Data and zero ranges never overlap, so their order does not matter.
                Status s = run.zero ? zeros.add(item.offset + run.offset, run.length)
                                    : dst.write(item.offset + run.offset, buf + run.offset, run.length);
                if (!s.ok()) {
                    fail(s.error());
                    break;
                }
                if (!run.zero) tally.written += run.length;
            }
            dst.write_behind(item.offset, item.length, previous_write);
        }
        if (!failure.failed()) {
            Status s = zeros.flush();
            if (!s.ok()) fail(s.error());
        }
    });
    progress.finish();
    if (failure.failed()) return failure.take();

    Status synced = dst.sync();
    if (!synced.ok()) return synced.error();

    ContentChecksum sum;
    for (const Tally& t : tallies) {
        result.bytes_read += t.read;
        result.bytes_written += t.written;
        result.bytes_skipped += t.skipped;
        result.bytes_zeroed += t.zeroed;
        result.bytes_released += t.released;
        sum.merge(t.checksum);
    }
    if (opt.verify) result.source_checksum = sum.finish(job.source.size);
    result.zero_method = zeroer.method_used(job.strategy == Strategy::full_then_discard ? ZeroIntent::release : ZeroIntent::keep_allocated);
    result.source_direct = reader->direct();
    result.destination_direct = dst.direct();
    return result;
}

}  // namespace volmig
