// The receiving half of the extent stream (copy/extent_stream.hpp): every record is checked
// before anything is written for it; ranges of the checkpoint grid are read back as they
// complete, on the verifier's thread (copy/stream_verifier.hpp).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>

#include "copy/checksum.hpp"
#include "copy/destination.hpp"
#include "copy/fd.hpp"
#include "copy/extent_stream.hpp"
#include "copy/stream_codec.hpp"
#include "copy/stream_compression.hpp"
#include "copy/stream_verifier.hpp"
#include "copy/unit_io.hpp"
#include "copy/zeroing.hpp"

namespace volmig {

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

Error as_io(const Error& e) { return e.kind == ErrorKind::failed ? e.with_kind(ErrorKind::io) : e; }

// DATA payloads (raw or zstd) waiting to be written, handed from the reading thread to the writers.
class WriteQueue {
public:
    struct Job {
        uint64_t offset = 0, length = 0;
        uint64_t compressed = 0;  // > 0: buffer holds a zstd frame of this size
        std::unique_ptr<AlignedBuffer> buffer;
        uint64_t number = 0;      // 1, 2, ... in the order pushed
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
        freed_.notify_all();
    }
    void push(Job job) {
        std::lock_guard<std::mutex> lock(mutex_);
        job.number = ++pushed_;
        jobs_.push_back(std::move(job));
        ready_.notify_one();
    }
    uint64_t pushed() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return pushed_;
    }
    bool pop(Job& job) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !jobs_.empty() || stopped_; });
        if (jobs_.empty()) return false;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        return true;
    }
    void done(uint64_t number) {
        std::lock_guard<std::mutex> lock(mutex_);
        finished_.insert(number);
        while (!finished_.empty() && *finished_.begin() == finished_prefix_ + 1) {
            finished_.erase(finished_.begin());
            ++finished_prefix_;
        }
        freed_.notify_all();
    }
    // Waits until jobs 1 to `number` have been written (or failed); writers work off every job
    // pushed, even after stop().
    void wait_written(uint64_t number) {
        std::unique_lock<std::mutex> lock(mutex_);
        freed_.wait(lock, [&] { return finished_prefix_ >= number; });
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
    uint64_t pushed_ = 0, finished_prefix_ = 0;
    std::set<uint64_t> finished_;  // finished out of order, above finished_prefix_
    mutable std::mutex mutex_;
    std::condition_variable ready_, freed_;
    std::deque<Job> jobs_;
    std::vector<std::unique_ptr<AlignedBuffer>> spare_;
    bool stopped_ = false;
};

Result<StreamHeader> read_header(const VolumeInfo& destination, const ReceiveOptions& opt, const ByteSource& source, uint64_t& wire) {
    char raw[kStreamHeaderSizeV2];
    Status s = read_exact(source, raw, kStreamHeaderSize, wire, "the stream header");
    if (!s.ok()) return s.error();
    StreamHeader h;
    if (std::memcmp(raw, kStreamMagic, 8) == 0) h.version = 1;
    else if (std::memcmp(raw, kStreamMagicV2, 8) == 0) h.version = 2;
    else return Error{"not a volmig extent stream (bad magic)", ErrorKind::invalid};
    h.volume_size = get_u64(raw + 8);
    h.block_size = get_u32(raw + 16);
    h.flags = get_u32(raw + 20);
    if (h.version == 2) {
        s = read_exact(source, raw + kStreamHeaderSize, kStreamHeaderSizeV2 - kStreamHeaderSize, wire, "the stream header");
        if (!s.ok()) return s.error();
        h.slice = {get_u64(raw + 24), get_u64(raw + 32), get_u64(raw + 40)};
    } else {
        h.slice = {0, h.volume_size, 0};
    }
    const uint32_t known = h.version == 2 ? kStreamFlagCompressed : 0;
    if (h.flags & ~known) return Error{"the stream uses flags this receiver does not know", ErrorKind::invalid};
    if ((h.flags & kStreamFlagCompressed) && !opt.allow_compressed)
        return Error{"the stream announces compressed records, but compression was not negotiated for it", ErrorKind::invalid};
    if (h.volume_size > destination.size)
        return Error{"the stream carries " + std::to_string(h.volume_size) + " bytes but the destination " + destination.path +
                         " holds only " + std::to_string(destination.size),
                     ErrorKind::invalid};
    if (h.block_size < 512 || h.block_size > (16u << 20) || (h.block_size & (h.block_size - 1)))
        return Error{"the stream's block size " + std::to_string(h.block_size) + " is invalid", ErrorKind::invalid};
    const uint64_t c = opt.checkpoint_bytes;
    if (c == 0 || c % kChecksumChunk || c % h.block_size)
        return Error{"the checkpoint size " + std::to_string(c) + " is not a multiple of 64 KiB and of the stream's block size " +
                         std::to_string(h.block_size),
                     ErrorKind::invalid};
    const StreamSlice& sl = h.slice;
    const bool on_grid = sl.start < sl.end && sl.end <= h.volume_size && sl.start <= sl.from && sl.from <= sl.end &&
                         sl.start % c == 0 && (sl.end % c == 0 || sl.end == h.volume_size) && (sl.from % c == 0 || sl.from == sl.end);
    if (!on_grid && !(h.version == 1 && h.volume_size == 0))  // an empty v1 volume has no slice; a v2 slice is never empty
        return Error{"the slice [" + std::to_string(sl.start) + ", " + std::to_string(sl.end) + ") from " + std::to_string(sl.from) +
                         " is not a slice of the volume's " + std::to_string(h.volume_size) + " bytes on the checkpoint grid of " +
                         std::to_string(c) + " bytes",
                     ErrorKind::invalid};
    return h;
}

}  // namespace

ReceiveTarget::~ReceiveTarget() = default;

Result<std::shared_ptr<ReceiveTarget>> open_receive_target(const VolumeInfo& destination, IoMode io, uint64_t block_size) {
    std::vector<std::string> warnings;
    auto writer = DestinationWriter::open(destination, io, block_size, warnings);
    if (!writer) return writer.take_error();
    auto target = std::make_shared<ReceiveTarget>();
    target->writer = std::move(*writer);
    target->block_size = block_size;
    return target;
}

Result<ReceiveStats> receive_extent_stream(const VolumeInfo& destination, const ReceiveOptions& opt, const ByteSource& source) {
    const auto start = std::chrono::steady_clock::now();
    ReceiveStats stats;
    auto parsed = read_header(destination, opt, source, stats.wire_bytes);
    if (!parsed) return parsed.take_error();
    const StreamHeader h = *parsed;
    stats.header = h;
    stats.volume_size = h.volume_size;
    const uint64_t size = h.volume_size, c = opt.checkpoint_bytes, slice_end = h.slice.end;
    ContentChecksum verified_sum;  // the slice's ranges before `from` (verified earlier), then this stream's
    if (opt.accept) {
        auto accepted = opt.accept(h);
        if (!accepted) return accepted.take_error();
        if (h.version == 2) verified_sum = *accepted;
    }

    std::unique_ptr<DestinationWriter> own;
    if (opt.target) {
        if (opt.target->block_size != h.block_size)
            return Error{"the stream's block size " + std::to_string(h.block_size) + " is not the " + std::to_string(opt.target->block_size) +
                             " its migration was prepared with",
                         ErrorKind::invalid};
    } else {
        std::vector<std::string> warnings;
        auto writer = DestinationWriter::open(destination, opt.io, h.block_size, warnings);
        if (!writer) return writer.take_error();
        own = std::move(*writer);
    }
    DestinationWriter& dst = opt.target ? *opt.target->writer : *own;
    RangeZeroer zeroer(dst.fd(), dst.target(), nullptr, dst.base());
    ZeroTally zero_tally;
    ZeroBatch zeros(opt.strategy, zeroer, zero_tally);

    const unsigned writers = std::max(1u, opt.writers);
    WriteQueue queue(writers * 2);
    FirstError failure;
    std::atomic<uint64_t> written{0};
    std::atomic<uint64_t> compressed{0};
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < writers; ++i)
        threads.emplace_back([&] {
            std::unique_ptr<RecordDecompressor> decompressor;
            std::unique_ptr<AlignedBuffer> plain;
            WriteQueue::Job job;
            while (queue.pop(job)) {
                if (!failure.failed()) {
                    const char* bytes = job.buffer->data();
                    Status w;
                    if (job.compressed) {
                        // Decompressed in full and its size checked before a byte is written.
                        if (!decompressor) decompressor = std::make_unique<RecordDecompressor>();
                        if (!plain) plain = std::make_unique<AlignedBuffer>(static_cast<size_t>(kMaxDataRecord));
                        w = decompressor->decompress(job.buffer->data(), job.compressed, plain->data(), job.length);
                        if (!w.ok()) w = Error{w.error().message + " (record at offset " + std::to_string(job.offset) + ")", ErrorKind::invalid};
                        bytes = plain->data();
                        compressed.fetch_add(1);
                    }
                    if (w.ok()) w = dst.write(job.offset, bytes, job.length);
                    if (!w.ok()) failure.set(as_io(w.error()));
                    else if (opt.on_progress) opt.on_progress(written.fetch_add(job.length) + job.length);
                    else written.fetch_add(job.length);
                }
                queue.give_buffer(std::move(job.buffer));
                queue.done(job.number);
            }
        });
    auto finish_writers = [&] {
        queue.stop();
        for (auto& t : threads) t.join();
        threads.clear();
    };

    // Checkpoints: ranges [k * c, (k + 1) * c) of the slice, read back once every record
    // covering them is applied, on the verifier's thread; made durable and reported in batches.
    std::unique_ptr<RangeVerifier> verifier;
    if (opt.verify) {
        RangeVerifier::Config vc;
        vc.dst = &dst;
        vc.checkpoint_bytes = c;
        vc.slice_end = slice_end;
        vc.first_range = h.slice.from / c;
        vc.verified = verified_sum;
        vc.wait_written = [&](uint64_t jobs) { queue.wait_written(jobs); };
        vc.writes_failed = [&] { return failure.failed(); };
        vc.bytes_written = [&] { return written.load(); };
        vc.on_ranges = opt.on_ranges;
        auto started = RangeVerifier::start(std::move(vc));
        if (!started) {
            finish_writers();
            return started.take_error();
        }
        verifier = std::move(*started);
    }
    uint64_t announced = h.slice.from / c;  // ranges below it are handed to the verifier
    auto checkpoint = [&](uint64_t applied_to) -> Status {
        if (!verifier || announced * c >= slice_end || std::min((announced + 1) * c, slice_end) > applied_to) return success();
        if (Status s = zeros.flush(); !s.ok()) return as_io(s.error());
        verifier->completed(applied_to, queue.pushed());
        announced = applied_to >= slice_end ? (slice_end + c - 1) / c : applied_to / c;
        return success();
    };

    // Read and check every record before anything is written for it.
    uint64_t expected = h.slice.from;
    bool ended = false;
    Status status;
    while (!failure.failed() && !(verifier && verifier->failed())) {
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
            status = Error{"the stream is truncated: it stopped at offset " + std::to_string(expected) + " of " + std::to_string(slice_end) +
                               " without an END record",
                           ErrorKind::invalid};
            break;
        }
        stats.wire_bytes += 1;
        status = read_exact(source, rec + 1, sizeof rec - 1, stats.wire_bytes, "a record header");
        if (!status.ok()) break;
        const uint32_t kind = get_u32(rec), aux = get_u32(rec + 4);
        const uint64_t offset = get_u64(rec + 8), length = get_u64(rec + 16);
        const std::string where = " at offset " + std::to_string(offset) + " (expected " + std::to_string(expected) + ")";
        if (aux != 0 && kind != kRecordZstdData) {
            status = Error{"malformed record header" + where, ErrorKind::invalid};
            break;
        }
        if (kind == kRecordEnd) {
            if (offset != slice_end || expected != slice_end) {
                status = Error{"END record" + where + " before the whole " + (h.version == 2 ? "slice" : "volume") + " was sent",
                               ErrorKind::invalid};
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
        const bool zstd = kind == kRecordZstdData;
        if (kind != kRecordData && kind != kRecordZero && !zstd) {
            status = Error{"unknown record kind " + std::to_string(kind) + where, ErrorKind::invalid};
            break;
        }
        if (zstd && !(h.flags & kStreamFlagCompressed)) {
            status = Error{"compressed (ZDATA) record" + where + " in a stream that did not announce compression", ErrorKind::invalid};
            break;
        }
        if (offset != expected) {
            status = Error{std::string(offset < expected ? "overlapping" : "out-of-order or missing") + " record" + where,
                           ErrorKind::invalid};
            break;
        }
        if (length == 0 || length > slice_end - offset) {
            status = Error{"record of " + std::to_string(length) + " bytes" + where + " reaches beyond the " +
                               (h.version == 2 ? "slice's end at " + std::to_string(slice_end)
                                               : "volume's " + std::to_string(size) + " bytes"),
                           ErrorKind::invalid};
            break;
        }
        if (kind == kRecordZero) {
            status = zeros.add(offset, length);
            if (!status.ok()) {
                status = as_io(status.error());
                break;
            }
        } else {
            if (length > kMaxDataRecord) {
                status = Error{"DATA record of " + std::to_string(length) + " bytes" + where + " exceeds the limit of " +
                                   std::to_string(kMaxDataRecord),
                               ErrorKind::invalid};
                break;
            }
            if (zstd && (aux == 0 || aux >= length)) {
                status = Error{"ZDATA record" + where + " carries " + std::to_string(aux) + " compressed bytes for " + std::to_string(length) +
                                   " (expected 1 to " + std::to_string(length - 1) + ")",
                               ErrorKind::invalid};
                break;
            }
            const uint64_t payload = zstd ? aux : length;
            auto buffer = queue.take_buffer(payload);
            status = read_exact(source, buffer->data(), payload, stats.wire_bytes, zstd ? "a ZDATA record" : "a DATA record");
            if (!status.ok()) {
                queue.give_buffer(std::move(buffer));
                break;
            }
            queue.push({offset, length, zstd ? aux : 0, std::move(buffer)});
        }
        expected = offset + length;
        status = checkpoint(expected);
        if (!status.ok()) break;
    }
    if (status.ok() && ended) {
        // Nothing may follow END.
        char extra = 0;
        auto more = source(&extra, 1);
        if (!more) status = more.error();
        else if (*more != 0) status = Error{"bytes follow the END record", ErrorKind::invalid};
    }
    if (status.ok()) status = zeros.flush();
    if (status.ok() && !failure.failed()) status = checkpoint(slice_end);
    // Every write lands (or fails) before the verifier works off the last ranges: ranges verified
    // before a failure are still worth keeping for a resume (the verifier makes them durable
    // unless a write failed); the stream's own error is the one to report.
    finish_writers();
    Status checked = verifier ? verifier->finish() : success();
    if (failure.failed()) return failure.take();
    if (!status.ok()) return as_io(status.error());
    if (!checked.ok()) return as_io(checked.error());
    if (verifier) verified_sum = verifier->verified();
    Status synced = dst.sync();
    if (!synced.ok()) return synced.error().with_kind(ErrorKind::io);

    stats.bytes_written = written.load();
    stats.compressed_records = compressed.load();
    stats.bytes_skipped = zero_tally.skipped;
    stats.bytes_zeroed = zero_tally.zeroed;
    stats.bytes_released = zero_tally.released;
    stats.zero_method = zeroer.method_used(opt.strategy == Strategy::full_then_discard ? ZeroIntent::release : ZeroIntent::keep_allocated);
    if (opt.verify) {
        stats.destination_checksum = h.version == 2 ? verified_sum.partial() : verified_sum.finish(size);
        stats.verified = true;
        if (stats.destination_checksum != stats.source_checksum)
            return Error{"verification FAILED on " + destination.path + ": the source sent " + stats.source_checksum + ", the destination holds " +
                             stats.destination_checksum,
                         ErrorKind::mismatch};
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stats;
}

}  // namespace volmig
