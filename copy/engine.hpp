// The interface between copy_volume()'s shared pre-flight and the engines that move bytes.
// Internal to copy/.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "copy/copy.hpp"
#include "copy/extent.hpp"
#include "copy/strategy.hpp"
#include "copy/volume.hpp"

namespace volmig {

struct EngineJob {
    const VolumeInfo& source;
    const VolumeInfo& destination;
    const ExtentMap& extents;  // the source's data extents
    Strategy strategy;         // resolved: full, sparse or full_then_discard
    const CopyOptions& options;
};

struct EngineResult {
    uint64_t bytes_read = 0, bytes_written = 0, bytes_skipped = 0, bytes_zeroed = 0, bytes_released = 0;
    std::string zero_method;
    bool source_direct = false, destination_direct = false;
    std::optional<std::string> source_checksum;  // computed on the fly when verifying
    std::vector<std::string> warnings;
};

// Both engines write the destination completely for the strategy and sync it before returning.
Result<EngineResult> run_native_engine(const EngineJob& job);
Result<EngineResult> run_dd_engine(const EngineJob& job);

}  // namespace volmig
