// The extent stream: how a volume travels between daemons (DESIGN.md "Wire format").
//
//   header  "VMIGSTR1" | u64 volume size | u32 block size | u32 flags (0)
//   record  u32 kind | u32 zero | u64 offset | u64 length, then for
//             DATA (1): `length` bytes of the volume at `offset`
//             ZERO (2): nothing: [offset, offset + length) reads as zeros on the source
//             END  (3): `length` bytes (1 to 128) of text: the source's logical-content checksum
// Integers are little-endian; the block size is a power of two from 512 bytes to 16 MiB. DATA
// and ZERO records (length > 0) tile [0, size) exactly, in order, with no gap or overlap; END
// follows at offset = size and nothing follows END. A DATA record is at most kMaxDataRecord bytes. A receiver checks all of that before it writes a record, so a
// malformed or truncated stream fails cleanly and never writes outside the volume.
//
// The sender reads only the source's data extents (holes become ZERO records without being
// read) and sends zero blocks inside data as ZERO records, so bytes on the wire are about the
// source's non-zero data. The receiver applies ZERO by the planned strategy: skipped on a
// zero-initialized volume (sparse), zeroed (full) or released (full+discard).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "copy/copy.hpp"
#include "copy/extent.hpp"
#include "copy/result.hpp"
#include "copy/strategy.hpp"
#include "copy/volume.hpp"

namespace volmig {

constexpr char kStreamMagic[8] = {'V', 'M', 'I', 'G', 'S', 'T', 'R', '1'};
constexpr uint64_t kMaxDataRecord = 8ull << 20;
constexpr uint32_t kRecordData = 1, kRecordZero = 2, kRecordEnd = 3;
constexpr size_t kStreamHeaderSize = 24, kRecordHeaderSize = 24;

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
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(const Progress&)> on_progress;
    std::chrono::milliseconds progress_interval{500};
};

struct SendStats {
    uint64_t bytes_read = 0;       // read from the source
    uint64_t data_bytes = 0;       // payload of DATA records
    uint64_t zero_bytes = 0;       // covered by ZERO records
    uint64_t wire_bytes = 0;       // everything sent, headers included
    uint64_t records = 0;
    std::string checksum;          // the source's logical content, as sent in END
    double seconds = 0;
};

// Streams `source` ([0, map.size())) into `sink`, reading only the extents of `map`.
Result<SendStats> send_extent_stream(const VolumeInfo& source, const ExtentMap& map, const SendOptions& options, const ByteSink& sink);

struct ReceiveOptions {
    Strategy strategy = Strategy::full;  // how ZERO records are applied
    IoMode io = IoMode::automatic;
    unsigned writers = 4;                // parallel writes of DATA records
    bool verify = true;                  // read the destination back and compare with END's checksum
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(uint64_t bytes_applied)> on_progress;
};

struct ReceiveStats {
    uint64_t volume_size = 0;
    uint64_t wire_bytes = 0;
    uint64_t bytes_written = 0;
    uint64_t bytes_skipped = 0, bytes_zeroed = 0, bytes_released = 0;
    std::string zero_method;
    std::string source_checksum;       // from END
    std::string destination_checksum;  // read back after sync (when verifying)
    bool verified = false;
    double seconds = 0;
};

// Applies a stream to `destination`. Errors: ErrorKind::invalid for a malformed, truncated or
// out-of-bounds stream (nothing outside the volume is ever written); io for write failures;
// mismatch when the read-back checksum differs from END's.
Result<ReceiveStats> receive_extent_stream(const VolumeInfo& destination, const ReceiveOptions& options, const ByteSource& source);

}  // namespace volmig
