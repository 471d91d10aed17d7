// The extent stream: how a volume travels between daemons (DESIGN.md "The extent stream").
//
//   header v1  "VMIGSTR1" | u64 volume size | u32 block size | u32 flags (0)                 24 bytes
//   header v2  "VMIGSTR2" | u64 volume size | u32 block size | u32 flags
//              | u64 slice start | u64 slice end | u64 from                                   48 bytes
//   record     u32 kind | u32 aux | u64 offset | u64 length, then for
//     DATA  (1): aux 0, `length` bytes of the volume at `offset` (at most kMaxDataRecord)
//     ZERO  (2): aux 0, nothing: [offset, offset + length) reads as zeros on the source
//     END   (3): aux 0, `length` bytes (1 to 128) of text: v1, the volume's content checksum
//                ("xxh3sum:..."); v2, the partial sum of the whole slice ("xxh3part:...")
//     ZDATA (4): v2 with flag kStreamFlagCompressed only: `aux` bytes (1 to length - 1) of one
//                zstd frame that decompresses to exactly the `length` bytes of the volume at
//                `offset` (at most kMaxDataRecord)
// Integers are little-endian; the block size is a power of two from 512 bytes to 16 MiB. A v1
// stream is the whole volume: records tile [0, size). A v2 stream is one slice [start, end) of
// it, sent from `from` (start when new, later when it resumes): records tile [from, end), in
// order, with no gap or overlap; END follows at offset = end and nothing follows END. start and
// from lie on the checkpoint grid (a multiple of the receiver's checkpoint_bytes), end too
// unless it is the volume's size. A receiver checks all of that before it writes a record, so a
// malformed or truncated stream fails cleanly and never writes outside the volume (or the
// slice); a ZDATA frame is decompressed into a buffer of exactly `length` bytes, and any other
// size is refused before anything is written.
//
// The sender reads only the source's data extents (holes become ZERO records without being
// read) and sends zero blocks inside data as ZERO records, so bytes on the wire are about the
// source's non-zero data. The receiver applies ZERO by the planned strategy: skipped on a
// zero-initialized volume (sparse), zeroed (full) or released (full+discard).
//
// Checkpoints: the volume is cut into ranges of checkpoint_bytes on a grid from offset 0. Each
// time a stream has applied a whole range, the receiver syncs the destination, reads the range
// back and hands its partial checksum to on_ranges (the caller records it durably); the sender
// hands its own sum of every range it emitted to its on_range, so that a resumed stream starts
// at the first range whose two sums are not known to agree.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "copy/checksum.hpp"
#include "copy/copy.hpp"
#include "copy/extent.hpp"
#include "copy/result.hpp"
#include "copy/strategy.hpp"
#include "copy/volume.hpp"

namespace volmig {

class RateLimiter;        // copy/unit_io.hpp
class DestinationWriter;  // copy/destination.hpp

constexpr char kStreamMagic[8] = {'V', 'M', 'I', 'G', 'S', 'T', 'R', '1'};
constexpr char kStreamMagicV2[8] = {'V', 'M', 'I', 'G', 'S', 'T', 'R', '2'};
constexpr uint64_t kMaxDataRecord = 8ull << 20;
constexpr uint32_t kRecordData = 1, kRecordZero = 2, kRecordEnd = 3, kRecordZstdData = 4;
constexpr size_t kStreamHeaderSize = 24, kStreamHeaderSizeV2 = 48, kRecordHeaderSize = 24;
constexpr uint32_t kStreamFlagCompressed = 1;  // v2: ZDATA records may follow
// A record is sent compressed only when it shrinks below 7/8 of its size.
constexpr uint64_t kCompressNumerator = 7, kCompressDenominator = 8;

// A slice of the volume, [start, end), sent from `from`.
struct StreamSlice {
    uint64_t start = 0, end = 0, from = 0;
};

// A stream's header as the receiver read it (v1: the slice is the whole volume, from 0).
struct StreamHeader {
    unsigned version = 1;
    uint64_t volume_size = 0;
    uint32_t block_size = 0;
    uint32_t flags = 0;
    StreamSlice slice;
};

enum class StreamCompression { none, zstd };

class CompressionGate;  // copy/stream_compression.hpp

// Partial checksum of checkpoint range `index` (the range [index * C, (index + 1) * C)).
using RangeChecksumSink = std::function<Status(uint64_t index, const ContentChecksum& sum)>;

// Receives bytes of the stream in order; an error stops the sender.
using ByteSink = std::function<Status(const char* data, size_t length)>;
// Fills up to `capacity` bytes; 0 means the stream ended.
using ByteSource = std::function<Result<size_t>(char* buffer, size_t capacity)>;

struct SendOptions {
    uint64_t block_size = 4096;   // zero detection granularity
    unsigned workers = 4;         // parallel readers (the stream itself stays in order)
    uint64_t request_size = 1 << 20;
    IoMode io = IoMode::automatic;
    uint64_t rate_limit = 0;      // source bytes per second; 0 = unlimited
    SharedRate* shared_rate = nullptr;  // also: one share of a limit shared with other copies (copy/throttle.hpp)
    // When set, used instead of a limiter of the two fields above: the slices of one migration
    // share one limiter, so that a migration holds one share however many slices it has.
    RateLimiter* limiter = nullptr;
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(const Progress&)> on_progress;
    std::chrono::milliseconds progress_interval{500};

    // Stream v2: 0 sends a v1 stream of the whole volume; else the checkpoint grid C, and
    // `slice` says what to send (records from slice.from).
    uint64_t checkpoint_bytes = 0;
    StreamSlice slice;
    ContentChecksum confirmed;  // the sum of the slice's ranges before slice.from (the receiver holds them)
    StreamCompression compression = StreamCompression::none;  // zstd: ZDATA where it pays
    CompressionGate* gate = nullptr;  // with zstd: when to stop trying for a while (may be shared); null: always try
    RangeChecksumSink on_range;       // each range of [from, end) once its sum is final (in order)
};

struct SendStats {
    uint64_t bytes_read = 0;       // read from the source
    uint64_t data_bytes = 0;       // payload of DATA records
    uint64_t zero_bytes = 0;       // covered by ZERO records
    uint64_t wire_bytes = 0;       // everything sent, headers included
    uint64_t records = 0;
    uint64_t compressed_records = 0, compressed_bytes = 0;  // ZDATA records and the data they carry
    std::string checksum;          // as sent in END: v1 the volume's checksum, v2 the slice's partial sum
    double seconds = 0;
};

// Streams `source` ([0, map.size()), or options.slice) into `sink`, reading only the extents of `map`.
Result<SendStats> send_extent_stream(const VolumeInfo& source, const ExtentMap& map, const SendOptions& options, const ByteSink& sink);

// A destination opened once for all the slice streams of one migration: a block device (a thick
// volume's loop device, an LV) is held exclusively while written, so its slices share one opening.
struct ReceiveTarget {
    std::unique_ptr<DestinationWriter> writer;
    uint64_t block_size = 0;
    ~ReceiveTarget();
};
Result<std::shared_ptr<ReceiveTarget>> open_receive_target(const VolumeInfo& destination, IoMode io, uint64_t block_size);

struct ReceiveOptions {
    Strategy strategy = Strategy::full;  // how ZERO records are applied
    IoMode io = IoMode::automatic;
    unsigned writers = 4;                // parallel writes of DATA records
    bool verify = true;                  // read the destination back and compare with END's checksum
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(uint64_t bytes_applied)> on_progress;

    // The checkpoint grid C (a multiple of 64 KiB and of the stream's block size): ranges are
    // synced, read back and verified as they complete (v1 streams too).
    uint64_t checkpoint_bytes = 64ull << 20;
    bool allow_compressed = false;  // ZDATA was negotiated
    // Written through this opening (shared with the migration's other slices) when set; its
    // block size must be the stream's. Else the receiver opens the destination itself.
    std::shared_ptr<ReceiveTarget> target;
    // Called once the header is read and checked, before anything is written: an error refuses
    // the stream (its kind is kept); the answer is the sum of the slice's ranges before `from`
    // that the caller holds verified (v2; ignored for v1).
    std::function<Result<ContentChecksum>(const StreamHeader&)> accept;
    // The ranges the stream completed, read back, and then made durable (fdatasync), in
    // batches (every 256 MiB written or second, and at the end), on the verifier's thread.
    std::function<Status(const std::vector<std::pair<uint64_t, ContentChecksum>>&)> on_ranges;
};

struct ReceiveStats {
    StreamHeader header;
    uint64_t compressed_records = 0;
    uint64_t volume_size = 0;
    uint64_t wire_bytes = 0;
    uint64_t bytes_written = 0;
    uint64_t bytes_skipped = 0, bytes_zeroed = 0, bytes_released = 0;
    std::string zero_method;
    std::string source_checksum;       // from END
    std::string destination_checksum;  // read back after sync (when verifying), in END's form
    bool verified = false;
    double seconds = 0;
};

// Applies a stream to `destination`. Errors: ErrorKind::invalid for a malformed, truncated or
// out-of-bounds stream (nothing outside the volume or slice is ever written); io for write
// failures; mismatch when the read-back checksum differs from END's; what accept() or
// on_range() answered.
Result<ReceiveStats> receive_extent_stream(const VolumeInfo& destination, const ReceiveOptions& options, const ByteSource& source);

}  // namespace volmig
