// The sending half of the extent stream; the receiving half is stream_receive.cpp.
#include "copy/extent_stream.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>

#include "copy/checksum.hpp"
#include "copy/stream_codec.hpp"
#include "copy/stream_compression.hpp"
#include "copy/unit_io.hpp"
#include "copy/zero_detect.hpp"

namespace volmig {

namespace {

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
            s = emit(kRecordData, 0, offset + done, n, bytes + done, n);
            if (!s.ok()) return s;
            stats_.data_bytes += n;
            done += n;
        }
        return success();
    }

    // A run compressed by a worker (at most kMaxDataRecord of data).
    Status compressed(uint64_t offset, uint64_t length, const std::vector<char>& frame) {
        Status s = flush_zero();
        if (!s.ok()) return s;
        s = emit(kRecordZstdData, static_cast<uint32_t>(frame.size()), offset, length, frame.data(), frame.size());
        if (!s.ok()) return s;
        stats_.data_bytes += length;
        ++stats_.compressed_records;
        stats_.compressed_bytes += length;
        return success();
    }

    Status end(uint64_t offset, const std::string& checksum) {
        Status s = flush_zero();
        if (!s.ok()) return s;
        return emit(kRecordEnd, 0, offset, checksum.size(), checksum.data(), checksum.size());
    }

private:
    Status flush_zero() {
        if (!zero_length_) return success();
        Status s = emit(kRecordZero, 0, zero_offset_, zero_length_, nullptr, 0);
        stats_.zero_bytes += zero_length_;
        zero_length_ = 0;
        return s;
    }

    Status emit(uint32_t kind, uint32_t aux, uint64_t offset, uint64_t length, const char* payload, uint64_t payload_length) {
        char header[kRecordHeaderSize];
        record_header(header, kind, aux, offset, length);
        Status s = sink_(header, sizeof header);
        if (!s.ok()) return s;
        stats_.wire_bytes += sizeof header;
        ++stats_.records;
        if (payload && payload_length) {
            s = sink_(payload, payload_length);
            if (!s.ok()) return s;
            stats_.wire_bytes += payload_length;
        }
        return success();
    }

    const ByteSink& sink_;
    SendStats& stats_;
    uint64_t zero_offset_ = 0, zero_length_ = 0;
};

// A run of a unit as a worker prepared it: zero, raw data, or data with its zstd frame.
struct PreparedRun {
    BlockRun run;
    bool compressed = false;
    std::vector<char> frame;
};

// The extents of `map` inside [from, end), in a map of size `end`.
ExtentMap clip_map(const ExtentMap& map, uint64_t from, uint64_t end) {
    std::vector<Extent> inside;
    for (const Extent& e : map.data()) {
        const uint64_t a = std::max(e.offset, from), b = std::min(e.offset + e.length, end);
        if (a < b) inside.push_back({a, b - a});
    }
    return ExtentMap(end, std::move(inside));
}

Status check_slice(const SendOptions& opt, uint64_t size) {
    const uint64_t c = opt.checkpoint_bytes;
    const StreamSlice& s = opt.slice;
    if (c % kChecksumChunk || c % opt.block_size)
        return Error{"the checkpoint size " + std::to_string(c) + " is not a multiple of 64 KiB and of the block size", ErrorKind::invalid};
    if (!(s.start < s.end && s.end <= size && s.start <= s.from && s.from <= s.end && s.start % c == 0 &&
          (s.end % c == 0 || s.end == size) && (s.from % c == 0 || s.from == s.end)))
        return Error{"the slice [" + std::to_string(s.start) + ", " + std::to_string(s.end) + ") from " + std::to_string(s.from) +
                         " does not lie on the checkpoint grid of the volume",
                     ErrorKind::invalid};
    return success();
}

}  // namespace

Result<SendStats> send_extent_stream(const VolumeInfo& source, const ExtentMap& full_map, const SendOptions& opt, const ByteSink& sink) {
    const auto start = std::chrono::steady_clock::now();
    SendStats stats;
    const uint64_t size = full_map.size();
    const bool sliced = opt.checkpoint_bytes > 0;
    if (sliced)
        if (Status s = check_slice(opt, size); !s.ok()) return s.error();
    const uint64_t from = sliced ? opt.slice.from : 0, end = sliced ? opt.slice.end : size;
    const ExtentMap map = sliced ? clip_map(full_map, from, end) : full_map;
    const bool direct = opt.io == IoMode::direct || (opt.io == IoMode::automatic && source.kind == VolumeKind::block_device);
    auto reader = UnitReader::open(source, map, direct);
    if (!reader) return reader.take_error();

    char header[kStreamHeaderSizeV2];
    std::memcpy(header, sliced ? kStreamMagicV2 : kStreamMagic, 8);
    put_u64(header + 8, size);
    put_u32(header + 16, static_cast<uint32_t>(opt.block_size));
    const bool compress = sliced && opt.compression == StreamCompression::zstd;
    put_u32(header + 20, compress ? kStreamFlagCompressed : 0);
    if (sliced) {
        put_u64(header + 24, opt.slice.start);
        put_u64(header + 32, opt.slice.end);
        put_u64(header + 40, opt.slice.from);
    }
    const size_t header_size = sliced ? kStreamHeaderSizeV2 : kStreamHeaderSize;
    Status opened = sink(header, header_size);
    if (!opened.ok()) return opened.error();
    stats.wire_bytes += header_size;

    const uint64_t grid = std::max<uint64_t>(kChecksumChunk, opt.block_size);
    WorkCursor cursor(map, grid, std::max<uint64_t>(opt.request_size, grid), 1ull << 40);
    RecordWriter records(sink, stats);
    ProgressMeter progress(map.data_bytes(), opt.on_progress, opt.progress_interval);
    RateLimiter own_limiter(opt.limiter ? 0 : opt.rate_limit, opt.limiter ? nullptr : opt.shared_rate);
    RateLimiter& limiter = opt.limiter ? *opt.limiter : own_limiter;
    FirstError failure;
    const unsigned workers = std::max(1u, opt.workers);

    // Per checkpoint range: the sum of what was emitted, handed to on_range once the emitted
    // position has passed the range's end. Held under turn_mutex.
    const uint64_t c = sliced ? opt.checkpoint_bytes : std::max<uint64_t>(size, 1);  // v1: one range, the volume
    std::map<uint64_t, ContentChecksum> ranges;
    for (uint64_t k = from / c; k * c < end; ++k) ranges[k];
    ContentChecksum total = opt.confirmed;
    uint64_t next_range = from / c;
    auto pass = [&](uint64_t emitted_to) -> Status {  // ranges wholly emitted
        while (next_range * c < end && std::min((next_range + 1) * c, end) <= emitted_to) {
            if (opt.on_range)
                if (Status s = opt.on_range(next_range, ranges[next_range]); !s.ok()) return s;
            ++next_range;
        }
        return success();
    };

    // Workers read ahead in parallel (and compress); each waits for its turn to emit, so records
    // stay in order and at most `workers` units are held in memory.
    std::mutex turn_mutex, cursor_mutex;
    std::condition_variable turn_changed;
    uint64_t next_sequence = 0, next_to_emit = 0;
    std::vector<uint64_t> read_bytes(workers, 0);

    run_workers(workers, [&](unsigned index) {
        AlignedBuffer buffer(static_cast<size_t>(std::max<uint64_t>(opt.request_size, grid)));
        std::vector<BlockRun> runs;
        std::vector<PreparedRun> prepared;
        std::vector<std::pair<uint64_t, ContentChecksum>> sums;
        std::unique_ptr<RecordCompressor> compressor;
        if (compress) compressor = std::make_unique<RecordCompressor>();
        while (!failure.failed()) {
            WorkItem item;
            uint64_t sequence = 0;
            {
                std::lock_guard<std::mutex> lock(cursor_mutex);
                if (!cursor.next(item)) break;
                sequence = next_sequence++;
            }
            // Items before `from` (a hole of the clipped map) are not this stream's.
            if (item.end() <= from) item.length = 0;
            else if (item.offset < from) {
                item.length = item.end() - from;
                item.offset = from;
            }
            Status status;
            sums.clear();
            prepared.clear();
            if (opt.cancel && opt.cancel->load()) status = Error{"stream cancelled", ECANCELED, ErrorKind::cancelled};
            if (status.ok() && item.length && !item.hole) {
                limiter.acquire(item.length, failure.stop_flag());
                auto got = reader->fill(item, buffer.data());
                if (!got) {
                    status = got.error();
                } else {
                    read_bytes[index] += *got;
                    progress.add(*got);
                    for (uint64_t at = item.offset; at < item.end();) {  // a unit may cross a range boundary
                        const uint64_t stop = std::min(item.end(), (at / c + 1) * c);
                        ContentChecksum piece;
                        piece.add(at, buffer.data() + (at - item.offset), stop - at);
                        sums.emplace_back(at / c, piece);
                        at = stop;
                    }
                    find_block_runs(buffer.data(), item.length, opt.block_size, runs);
                    for (const BlockRun& run : runs) {
                        PreparedRun p;
                        p.run = run;
                        if (!run.zero && compressor && run.length <= kMaxDataRecord && (!opt.gate || opt.gate->should_try())) {
                            p.compressed = compressor->compress(buffer.data() + run.offset, run.length, p.frame);
                            if (opt.gate) opt.gate->record(p.compressed);
                        }
                        prepared.push_back(std::move(p));
                    }
                }
            }
            std::unique_lock<std::mutex> lock(turn_mutex);
            turn_changed.wait(lock, [&] { return next_to_emit == sequence || failure.failed(); });
            if (!status.ok()) failure.set(status.error());
            if (!failure.failed() && item.length) {
                for (const auto& [k, piece] : sums) {
                    ranges[k].merge(piece);
                    total.merge(piece);
                }
                if (item.hole) {
                    status = records.zero(item.offset, item.length);
                } else {
                    for (const PreparedRun& p : prepared) {
                        const uint64_t at = item.offset + p.run.offset;
                        status = p.run.zero ? records.zero(at, p.run.length)
                                 : p.compressed ? records.compressed(at, p.run.length, p.frame)
                                                : records.data(at, buffer.data() + p.run.offset, p.run.length);
                        if (!status.ok()) break;
                    }
                }
                if (status.ok()) status = pass(item.end());
                if (!status.ok()) failure.set(status.error());
            }
            ++next_to_emit;
            turn_changed.notify_all();
        }
    });
    progress.finish();
    if (failure.failed()) return failure.take();
    for (uint64_t n : read_bytes) stats.bytes_read += n;
    if (Status s = pass(end); !s.ok()) return s.error();
    stats.checksum = sliced ? total.partial() : total.finish(size);
    Status ended = records.end(end, stats.checksum);
    if (!ended.ok()) return ended.error();
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stats;
}

}  // namespace volmig
