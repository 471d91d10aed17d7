// The copy engine's entry point: copy one volume (file or block device) onto another of at
// least the same size, with a strategy that never leaves stale bytes behind.
//
// copy_volume() does the pre-flight every engine shares (inspect both ends, refuse what would
// be unsafe or impossible, choose the strategy, find the source's extents), runs the chosen
// engine, syncs, optionally verifies, and returns a report. It never writes to the source.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "copy/extent.hpp"
#include "copy/result.hpp"
#include "copy/strategy.hpp"
#include "copy/volume.hpp"

namespace volmig {

class SharedRate;  // copy/throttle.hpp

enum class EngineKind { native, dd };
std::string to_string(EngineKind engine);
Result<EngineKind> parse_engine(const std::string& text);

// O_DIRECT use. automatic: block devices direct (reads and writes, where aligned); regular files
// through the page cache (a file source is usually cached; a file destination is written with
// write-behind, see destination.hpp).
enum class IoMode { automatic, direct, buffered };
std::string to_string(IoMode mode);

struct Progress {
    uint64_t bytes_done = 0;   // source data bytes processed
    uint64_t bytes_total = 0;  // source data bytes to process (holes excluded)
    double elapsed_seconds = 0;
    double rate = 0;           // bytes/s over the run so far
    double eta_seconds = -1;   // -1 while unknown
};

struct CopyOptions {
    Strategy strategy = Strategy::automatic;
    DestinationFacts destination_facts;  // what the caller knows; release is probed if unknown
    // A strategy decided elsewhere (a migration's negotiation, with its reasons): used as it is,
    // never chosen again from facts. `strategy` and `destination_facts` are then ignored.
    std::optional<StrategyChoice> decided;
    bool allow_unsafe_sparse = false;
    EngineKind engine = EngineKind::native;
    IoMode io = IoMode::automatic;
    uint64_t block_size = 4096;        // zero-detection granularity: power of two, 512 B..16 MiB
    uint64_t request_size = 1 << 20;   // largest single read/write
    unsigned workers = 8;              // parallel requests in flight (1..64)
    uint64_t rate_limit = 0;           // source bytes per second; 0 = unlimited
    SharedRate* shared_rate = nullptr; // also: one share of a limit shared with other copies (copy/throttle.hpp)
    bool verify = false;               // compare logical-content checksums at the end
    bool create_destination = false;   // create a missing destination file (it then reads as zeros)
    bool fstrim_after = false;         // FITRIM the filesystem holding a file destination afterwards
    std::optional<ExtentMap> source_extents;  // known data extents of the source (e.g. LVM thin)
    std::function<void(const Progress&)> on_progress;
    std::chrono::milliseconds progress_interval{250};
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(const std::string&)> log;  // warnings and fallbacks, one line each
};

struct CopyReport {
    std::string engine;
    std::string source;
    std::string destination;
    Strategy strategy = Strategy::full;
    std::string reason;
    uint64_t size = 0;                // logical bytes copied: the source's size
    uint64_t source_data_bytes = 0;   // inside the source's data extents
    uint64_t source_extent_count = 0;
    std::string extent_method;
    bool destination_created = false;

    uint64_t bytes_read = 0;          // read from the source
    uint64_t bytes_written = 0;       // data written to the destination
    uint64_t bytes_skipped = 0;       // not written (sparse: holes and zero blocks)
    uint64_t bytes_zeroed = 0;        // made zero and kept allocated (full)
    uint64_t bytes_released = 0;      // released as zeros (full+discard)
    std::string zero_method;          // how zero ranges were zeroed or released
    bool source_direct = false;
    bool destination_direct = false;
    std::string post_copy;            // e.g. "fstrim /srv: 1.2 GiB trimmed"

    double seconds = 0;
    Allocation source_before, source_after, destination_before, destination_after;

    bool verified = false;
    std::string source_checksum;
    std::string destination_checksum;
    std::vector<std::string> warnings;

    double throughput() const { return seconds > 0 ? static_cast<double>(size) / seconds : 0; }
};

// Copies `source` onto `destination`. Errors (the message names path, offset and cause):
// source missing; destination missing (without create_destination), too small, the same
// storage as the source, or in use; sparse refused; ENOSPC/EIO/short writes; cancellation;
// verification mismatch. A destination created by this call is removed again on failure.
Result<CopyReport> copy_volume(const std::string& source, const std::string& destination, const CopyOptions& options);

// Checksum of the logical content of [0, length) of a volume (holes as zeros), reading only
// the extents of `map` (discovered when not given). See checksum.hpp for the definition.
Result<std::string> checksum_volume(const VolumeInfo& volume, uint64_t length, const std::optional<ExtentMap>& map,
                                    IoMode io, unsigned workers, const std::atomic<bool>* cancel);

}  // namespace volmig
