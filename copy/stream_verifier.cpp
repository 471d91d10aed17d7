// The receiver's checkpoint thread (copy/stream_verifier.hpp).
#include "copy/stream_verifier.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace volmig {

namespace {

// Verified ranges are made durable (fdatasync) and handed to on_ranges in batches: at least this
// much data written, or this much time, since the last batch (and at the end of the stream).
constexpr uint64_t kDurableBatchBytes = 256ull << 20;
constexpr std::chrono::milliseconds kDurableBatchInterval{1000};

}  // namespace

Result<ContentChecksum> read_back(const DestinationWriter& dst, int fd, uint64_t offset, uint64_t length, AlignedBuffer& buffer) {
    ContentChecksum sum;
    const uint64_t base = dst.base(), end = offset + length;
    const bool file = dst.target().kind == VolumeKind::regular_file;
    uint64_t pos = offset;
    while (pos < end) {
        uint64_t seg_start = pos, seg_end = end;
        if (file) {
            const off_t data = ::lseek(fd, static_cast<off_t>(base + pos), SEEK_DATA);
            if (data < 0) {
                if (errno == ENXIO) break;  // no data after pos
                return Error{"reading back " + dst.target().path + ": SEEK_DATA failed: " + std::strerror(errno), errno, ErrorKind::io};
            }
            if (static_cast<uint64_t>(data) >= base + end) break;
            const off_t hole = ::lseek(fd, data, SEEK_HOLE);
            seg_start = align_down(static_cast<uint64_t>(data) - base, kChecksumChunk);
            seg_start = std::max(seg_start, pos);
            seg_end = hole < 0 ? end : std::min(end, align_up(static_cast<uint64_t>(hole) - base, kChecksumChunk));
        }
        for (uint64_t at = seg_start; at < seg_end;) {
            const uint64_t n = std::min<uint64_t>(buffer.size(), seg_end - at);
            uint64_t got = 0;
            while (got < n) {
                const ssize_t r = ::pread(fd, buffer.data() + got, n - got, static_cast<off_t>(base + at + got));
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0)
                    return Error{"reading back " + dst.target().path + " at offset " + std::to_string(at + got) + ": " +
                                     (r < 0 ? std::strerror(errno) : "unexpected end of file"),
                                 r < 0 ? errno : EIO, ErrorKind::io};
                got += static_cast<uint64_t>(r);
            }
            sum.add(at, buffer.data(), n);
            at += n;
        }
        pos = seg_end;
    }
    return sum;
}

Result<std::unique_ptr<RangeVerifier>> RangeVerifier::start(Config config) {
    Fd reader(::open(("/proc/self/fd/" + std::to_string(config.dst->fd())).c_str(), O_RDONLY | O_CLOEXEC));
    if (reader.get() < 0)
        return Error{"cannot open " + config.dst->target().path + " to read it back: " + std::strerror(errno), errno, ErrorKind::io};
    // The ranges read back were just written: their pages are cached. Readahead would only fill
    // the holes next to them with zeroed pages (measured: 18% of a receiver's CPU on a thin
    // destination), so this reader (an opening of its own) asks for none.
    ::posix_fadvise(reader.get(), 0, 0, POSIX_FADV_RANDOM);
    std::unique_ptr<RangeVerifier> v(new RangeVerifier(std::move(config), std::move(reader)));
    v->next_range_ = v->config_.first_range;
    v->written_at_batch_ = v->config_.bytes_written();
    v->thread_ = std::thread([p = v.get()] { p->run(); });
    return v;
}

RangeVerifier::~RangeVerifier() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    ready_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void RangeVerifier::completed(uint64_t applied_to, uint64_t jobs) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        events_.emplace_back(applied_to, jobs);
    }
    ready_.notify_one();
}

Status RangeVerifier::finish() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        closing_ = true;
    }
    ready_.notify_all();
    if (thread_.joinable()) thread_.join();
    return status_;
}

void RangeVerifier::run() {
    for (;;) {
        std::pair<uint64_t, uint64_t> event;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            ready_.wait(lock, [&] { return !events_.empty() || closing_ || stopping_; });
            if (stopping_) return;
            if (events_.empty()) break;
            event = events_.front();
            events_.pop_front();
        }
        if (!status_.ok()) continue;
        config_.wait_written(event.second);
        if (config_.writes_failed()) continue;  // the writers' error is the one reported
        Status s = verify_up_to(event.first);
        if (s.ok() && (config_.bytes_written() - written_at_batch_ >= kDurableBatchBytes ||
                       std::chrono::steady_clock::now() - batch_started_ >= kDurableBatchInterval))
            s = make_durable();
        if (!s.ok()) {
            status_ = s;
            failed_.store(true);
        }
    }
    // Ranges verified before a failure are still worth keeping for a resume; a failure to keep
    // them only means they are sent again, and the first error is the one to report.
    if (config_.writes_failed()) return;
    Status s = make_durable();
    if (status_.ok() && !s.ok()) {
        status_ = s;
        failed_.store(true);
    }
}

Status RangeVerifier::verify_up_to(uint64_t applied_to) {
    const uint64_t c = config_.checkpoint_bytes, end = config_.slice_end;
    while (next_range_ * c < end && std::min((next_range_ + 1) * c, end) <= applied_to) {
        const uint64_t a = next_range_ * c, b = std::min(a + c, end);
        auto sum = read_back(*config_.dst, reader_.get(), a, b - a, buffer_);
        if (!sum) return sum.error();
        // Read back from the page cache: start its writeback now, so that the batch's fdatasync
        // finds little left to write.
        (void)::sync_file_range(config_.dst->fd(), static_cast<off_t>(config_.dst->base() + a), static_cast<off_t>(b - a),
                                SYNC_FILE_RANGE_WRITE);
        verified_.merge(*sum);
        pending_.emplace_back(next_range_, *sum);
        ++next_range_;
    }
    return success();
}

Status RangeVerifier::make_durable() {
    if (pending_.empty()) return success();
    if (Status s = config_.dst->sync_data(); !s.ok()) return s;
    if (config_.on_ranges)
        if (Status s = config_.on_ranges(pending_); !s.ok()) return s;
    pending_.clear();
    written_at_batch_ = config_.bytes_written();
    batch_started_ = std::chrono::steady_clock::now();
    return success();
}

}  // namespace volmig
