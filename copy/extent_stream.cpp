#include "copy/extent_stream.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>

#include "copy/checksum.hpp"
#include "copy/destination.hpp"
#include "copy/unit_io.hpp"
#include "copy/zero_detect.hpp"
#include "copy/zeroing.hpp"

namespace volmig {

namespace {

void put_u32(char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u64(char* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t get_u32(const char* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
uint64_t get_u64(const char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

void record_header(char* out, uint32_t kind, uint64_t offset, uint64_t length) {
    put_u32(out, kind);
    put_u32(out + 4, 0);
    put_u64(out + 8, offset);
    put_u64(out + 16, length);
}

// Emits records in volume order, merging adjacent ZERO ranges, counting what it sends.
class RecordWriter {
public:
    RecordWriter(const ByteSink& sink, SendStats& stats) : sink_(sink), stats_(stats) {}

    Status zero(uint64_t offset, uint64_t length) {
        if (zero_length_ && offset == zero_offset_ + zero_length_) {
            zero_length_ += length;
            return success();
        }
        Status s = flush_zero();
        zero_offset_ = offset;
        zero_length_ = length;
        return s;
    }

    Status data(uint64_t offset, const char* bytes, uint64_t length) {
        Status s = flush_zero();
        if (!s.ok()) return s;
        for (uint64_t done = 0; done < length;) {  // never more than kMaxDataRecord per record
            const uint64_t n = std::min(kMaxDataRecord, length - done);
            s = emit(kRecordData, offset + done, n, bytes + done);
            if (!s.ok()) return s;
            stats_.data_bytes += n;
            done += n;
        }
        return success();
    }

    Status end(uint64_t size, const std::string& checksum) {
        Status s = flush_zero();
        if (!s.ok()) return s;
        return emit(kRecordEnd, size, checksum.size(), checksum.data());
    }

private:
    Status flush_zero() {
        if (!zero_length_) return success();
        Status s = emit(kRecordZero, zero_offset_, zero_length_, nullptr);
        stats_.zero_bytes += zero_length_;
        zero_length_ = 0;
        return s;
    }

    Status emit(uint32_t kind, uint64_t offset, uint64_t length, const char* payload) {
        char header[kRecordHeaderSize];
        record_header(header, kind, offset, length);
        Status s = sink_(header, sizeof header);
        if (!s.ok()) return s;
        stats_.wire_bytes += sizeof header;
        ++stats_.records;
        if (payload && length) {
            s = sink_(payload, length);
            if (!s.ok()) return s;
            stats_.wire_bytes += length;
        }
        return success();
    }

    const ByteSink& sink_;
    SendStats& stats_;
    uint64_t zero_offset_ = 0, zero_length_ = 0;
};

}  // namespace

Result<SendStats> send_extent_stream(const VolumeInfo& source, const ExtentMap& map, const SendOptions& opt, const ByteSink& sink) {
    const auto start = std::chrono::steady_clock::now();
    SendStats stats;
    const bool direct = opt.io == IoMode::direct || (opt.io == IoMode::automatic && source.kind == VolumeKind::block_device);
    auto reader = UnitReader::open(source, map, direct);
    if (!reader) return reader.take_error();

    char header[kStreamHeaderSize];
    std::memcpy(header, kStreamMagic, 8);
    put_u64(header + 8, map.size());
    put_u32(header + 16, static_cast<uint32_t>(opt.block_size));
    put_u32(header + 20, 0);
    Status opened = sink(header, sizeof header);
    if (!opened.ok()) return opened.error();
    stats.wire_bytes += sizeof header;

    const uint64_t grid = std::max<uint64_t>(kChecksumChunk, opt.block_size);
    WorkCursor cursor(map, grid, std::max<uint64_t>(opt.request_size, grid), 1ull << 40);
    RecordWriter records(sink, stats);
    ProgressMeter progress(map.data_bytes(), opt.on_progress, opt.progress_interval);
    RateLimiter limiter(opt.rate_limit, opt.shared_rate);
    FirstError failure;
    std::vector<ContentChecksum> sums(std::max(1u, opt.workers));
    std::vector<uint64_t> read_bytes(sums.size(), 0);

    // Workers read ahead in parallel; each waits for its turn to emit, so records stay in order
    // and at most `workers` units are held in memory.
    std::mutex turn_mutex, cursor_mutex;
    std::condition_variable turn_changed;
    uint64_t next_sequence = 0, next_to_emit = 0;

    run_workers(static_cast<unsigned>(sums.size()), [&](unsigned index) {
        AlignedBuffer buffer(static_cast<size_t>(std::max<uint64_t>(opt.request_size, grid)));
        std::vector<BlockRun> runs;
        while (!failure.failed()) {
            WorkItem item;
            uint64_t sequence = 0;
            {
                std::lock_guard<std::mutex> lock(cursor_mutex);
                if (!cursor.next(item)) break;
                sequence = next_sequence++;
            }
            Status status;
            if (opt.cancel && opt.cancel->load()) status = Error{"stream cancelled", ECANCELED, ErrorKind::cancelled};
            if (status.ok() && !item.hole) {
                limiter.acquire(item.length, failure.stop_flag());
                auto got = reader->fill(item, buffer.data());
                if (!got) {
                    status = got.error();
                } else {
                    read_bytes[index] += *got;
                    progress.add(*got);
                    sums[index].add(item.offset, buffer.data(), item.length);
                    find_block_runs(buffer.data(), item.length, opt.block_size, runs);
                }
            }
            std::unique_lock<std::mutex> lock(turn_mutex);
            turn_changed.wait(lock, [&] { return next_to_emit == sequence || failure.failed(); });
            if (!status.ok()) failure.set(status.error());
            if (!failure.failed()) {
                if (item.hole) {
                    status = records.zero(item.offset, item.length);
                } else {
                    for (const BlockRun& run : runs) {
                        status = run.zero ? records.zero(item.offset + run.offset, run.length)
                                          : records.data(item.offset + run.offset, buffer.data() + run.offset, run.length);
                        if (!status.ok()) break;
                    }
                }
                if (!status.ok()) failure.set(status.error());
            }
            ++next_to_emit;
            turn_changed.notify_all();
        }
    });
    progress.finish();
    if (failure.failed()) return failure.take();

    ContentChecksum total;
    for (size_t i = 0; i < sums.size(); ++i) {
        total.merge(sums[i]);
        stats.bytes_read += read_bytes[i];
    }
    stats.checksum = total.finish(map.size());
    Status ended = records.end(map.size(), stats.checksum);
    if (!ended.ok()) return ended.error();
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stats;
}

// ---------------------------------------------------------------------------- receiving

namespace {

// Reads exactly n bytes, or reports how the stream ended short.
Status read_exact(const ByteSource& source, char* buf, size_t n, uint64_t& wire, const char* what) {
    size_t done = 0;
    while (done < n) {
        auto got = source(buf + done, n - done);
        if (!got) return got.error();
        if (*got == 0)
            return Error{std::string("the stream is truncated: it ended inside ") + what + " (" + std::to_string(done) + " of " +
                             std::to_string(n) + " bytes)",
                         ErrorKind::invalid};
        done += *got;
    }
    wire += n;
    return success();
}

// DATA payloads waiting to be written, handed from the reading thread to the writers.
class WriteQueue {
public:
    struct Job {
        uint64_t offset = 0, length = 0;
        std::unique_ptr<AlignedBuffer> buffer;
    };

    explicit WriteQueue(size_t buffers) : capacity_(buffers) {}

    std::unique_ptr<AlignedBuffer> take_buffer(uint64_t length) {
        std::unique_lock<std::mutex> lock(mutex_);
        freed_.wait(lock, [&] { return !spare_.empty() || allocated_ < capacity_ || stopped_; });
        std::unique_ptr<AlignedBuffer> b;
        if (!spare_.empty()) {
            b = std::move(spare_.back());
            spare_.pop_back();
        }
        if (!b || b->size() < length) {
            if (!b) ++allocated_;
            b = std::make_unique<AlignedBuffer>(static_cast<size_t>(std::max<uint64_t>(length, 1 << 20)));
        }
        return b;
    }
    void give_buffer(std::unique_ptr<AlignedBuffer> b) {
        std::lock_guard<std::mutex> lock(mutex_);
        spare_.push_back(std::move(b));
        freed_.notify_one();
    }
    void push(Job job) {
        std::lock_guard<std::mutex> lock(mutex_);
        jobs_.push_back(std::move(job));
        ready_.notify_one();
    }
    bool pop(Job& job) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !jobs_.empty() || stopped_; });
        if (jobs_.empty()) return false;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        return true;
    }
    void stop() {
        std::lock_guard<std::mutex> lock(mutex_);
        stopped_ = true;
        ready_.notify_all();
        freed_.notify_all();
    }

private:
    size_t capacity_;
    size_t allocated_ = 0;
    std::mutex mutex_;
    std::condition_variable ready_, freed_;
    std::deque<Job> jobs_;
    std::vector<std::unique_ptr<AlignedBuffer>> spare_;
    bool stopped_ = false;
};

}  // namespace

Result<ReceiveStats> receive_extent_stream(const VolumeInfo& destination, const ReceiveOptions& opt, const ByteSource& source) {
    const auto start = std::chrono::steady_clock::now();
    ReceiveStats stats;
    char header[kStreamHeaderSize];
    Status s = read_exact(source, header, sizeof header, stats.wire_bytes, "the stream header");
    if (!s.ok()) return s.error();
    if (std::memcmp(header, kStreamMagic, 8) != 0) return Error{"not a volmig extent stream (bad magic)", ErrorKind::invalid};
    const uint64_t size = get_u64(header + 8);
    const uint32_t block_size = get_u32(header + 16);
    if (get_u32(header + 20) != 0) return Error{"the stream uses flags this receiver does not know", ErrorKind::invalid};
    if (size > destination.size)
        return Error{"the stream carries " + std::to_string(size) + " bytes but the destination " + destination.path + " holds only " +
                         std::to_string(destination.size),
                     ErrorKind::invalid};
    if (block_size < 512 || block_size > (16u << 20) || (block_size & (block_size - 1)))
        return Error{"the stream's block size " + std::to_string(block_size) + " is invalid", ErrorKind::invalid};
    stats.volume_size = size;

    std::vector<std::string> warnings;
    auto writer = DestinationWriter::open(destination, opt.io, block_size, warnings);
    if (!writer) return writer.take_error();
    DestinationWriter& dst = **writer;
    RangeZeroer zeroer(dst.fd(), dst.target(), nullptr, dst.base());
    ZeroTally zero_tally;
    ZeroBatch zeros(opt.strategy, zeroer, zero_tally);

    const unsigned writers = std::max(1u, opt.writers);
    WriteQueue queue(writers * 2);
    FirstError failure;
    std::atomic<uint64_t> written{0};
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < writers; ++i)
        threads.emplace_back([&] {
            WriteQueue::Job job;
            while (queue.pop(job)) {
                if (!failure.failed()) {
                    Status w = dst.write(job.offset, job.buffer->data(), job.length);
                    if (!w.ok()) failure.set(w.error().kind == ErrorKind::failed ? w.error().with_kind(ErrorKind::io) : w.error());
                    else if (opt.on_progress) opt.on_progress(written.fetch_add(job.length) + job.length);
                    else written.fetch_add(job.length);
                }
                queue.give_buffer(std::move(job.buffer));
            }
        });
    auto finish_writers = [&] {
        queue.stop();
        for (auto& t : threads) t.join();
        threads.clear();
    };

    // Read and check every record before anything is written for it.
    uint64_t expected = 0;
    bool ended = false;
    Status status;
    while (!failure.failed()) {
        if (opt.cancel && opt.cancel->load()) {
            status = Error{"receiving cancelled", ECANCELED, ErrorKind::cancelled};
            break;
        }
        char rec[kRecordHeaderSize];
        auto first = source(rec, 1);  // a clean end here means the END record never came
        if (!first) {
            status = first.error();
            break;
        }
        if (*first == 0) {
            status = Error{"the stream is truncated: it stopped at offset " + std::to_string(expected) + " of " + std::to_string(size) +
                               " without an END record",
                           ErrorKind::invalid};
            break;
        }
        stats.wire_bytes += 1;
        status = read_exact(source, rec + 1, sizeof rec - 1, stats.wire_bytes, "a record header");
        if (!status.ok()) break;
        const uint32_t kind = get_u32(rec);
        const uint64_t offset = get_u64(rec + 8), length = get_u64(rec + 16);
        const std::string where = " at offset " + std::to_string(offset) + " (expected " + std::to_string(expected) + ")";
        if (get_u32(rec + 4) != 0) {
            status = Error{"malformed record header" + where, ErrorKind::invalid};
            break;
        }
        if (kind == kRecordEnd) {
            if (offset != size || expected != size) {
                status = Error{"END record" + where + " before the whole volume was sent", ErrorKind::invalid};
                break;
            }
            if (length == 0 || length > 128) {
                status = Error{"END record carries a checksum of " + std::to_string(length) + " bytes", ErrorKind::invalid};
                break;
            }
            std::string checksum(length, '\0');
            status = read_exact(source, checksum.data(), length, stats.wire_bytes, "the END record");
            if (!status.ok()) break;
            stats.source_checksum = checksum;
            ended = true;
            break;
        }
        if (kind != kRecordData && kind != kRecordZero) {
            status = Error{"unknown record kind " + std::to_string(kind) + where, ErrorKind::invalid};
            break;
        }
        if (offset != expected) {
            status = Error{std::string(offset < expected ? "overlapping" : "out-of-order or missing") + " record" + where,
                           ErrorKind::invalid};
            break;
        }
        if (length == 0 || length > size - offset) {
            status = Error{"record of " + std::to_string(length) + " bytes" + where + " reaches beyond the volume's " +
                               std::to_string(size) + " bytes",
                           ErrorKind::invalid};
            break;
        }
        if (kind == kRecordZero) {
            status = zeros.add(offset, length);
            if (!status.ok()) break;
        } else {
            if (length > kMaxDataRecord) {
                status = Error{"DATA record of " + std::to_string(length) + " bytes" + where + " exceeds the limit of " +
                                   std::to_string(kMaxDataRecord),
                               ErrorKind::invalid};
                break;
            }
            auto buffer = queue.take_buffer(length);
            status = read_exact(source, buffer->data(), length, stats.wire_bytes, "a DATA record");
            if (!status.ok()) {
                queue.give_buffer(std::move(buffer));
                break;
            }
            queue.push({offset, length, std::move(buffer)});
        }
        expected = offset + length;
    }
    if (status.ok() && ended) {
        // Nothing may follow END.
        char extra = 0;
        auto more = source(&extra, 1);
        if (!more) status = more.error();
        else if (*more != 0) status = Error{"bytes follow the END record", ErrorKind::invalid};
    }
    if (status.ok()) status = zeros.flush();
    finish_writers();
    if (failure.failed()) return failure.take();
    if (!status.ok()) return status.error().kind == ErrorKind::failed ? status.error().with_kind(ErrorKind::io) : status.error();
    Status synced = dst.sync();
    if (!synced.ok()) return synced.error().with_kind(ErrorKind::io);

    stats.bytes_written = written.load();
    stats.bytes_skipped = zero_tally.skipped;
    stats.bytes_zeroed = zero_tally.zeroed;
    stats.bytes_released = zero_tally.released;
    stats.zero_method = zeroer.method_used(opt.strategy == Strategy::full_then_discard ? ZeroIntent::release : ZeroIntent::keep_allocated);
    if (opt.verify) {
        auto sum = checksum_volume(destination, size, std::nullopt, IoMode::automatic, std::max(2u, writers), opt.cancel);
        if (!sum) return sum.take_error();
        stats.destination_checksum = *sum;
        stats.verified = true;
        if (*sum != stats.source_checksum)
            return Error{"verification FAILED on " + destination.path + ": the source sent " + stats.source_checksum + ", the destination holds " +
                             *sum,
                         ErrorKind::mismatch};
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stats;
}

}  // namespace volmig
