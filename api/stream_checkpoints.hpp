// The receiver's durable account of stream v2 targets (DESIGN.md "The extent stream"), in the
// daemon's SQLite database beside the migration records:
//   stream_targets      per target migration: the checkpoint grid C, compression, streams accepted
//   stream_checkpoints  per verified range of a target: its index and partial checksum, written
//                       only after the range was synced and read back
// A restart keeps both, so that a cut stream resumes from what was verified.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "copy/checksum.hpp"
#include "copy/result.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

struct StreamTerms {
    uint64_t checkpoint_bytes = 0;
    bool compression = false;
    unsigned streams = 1;
};

class StreamCheckpoints {
public:
    explicit StreamCheckpoints(VolumeStore& store) : store_(store) {}
    Status ensure_schema();

    // In the transaction that records the target migration.
    static Status save_terms(VolumeStore::Tx& tx, const std::string& migration_id, const StreamTerms& terms);
    Result<std::optional<StreamTerms>> terms(const std::string& migration_id);

    // Records verified ranges (replacing earlier sums of the same ranges).
    Status record(const std::string& migration_id, const std::vector<std::pair<uint64_t, ContentChecksum>>& ranges);
    // The verified ranges: index -> partial sum.
    Result<std::map<uint64_t, ContentChecksum>> ranges(const std::string& migration_id);
    // Drops the ranges [first, last) (a slice about to be sent again from `first`), or all of them.
    Status forget(const std::string& migration_id, uint64_t first, uint64_t last);
    Status forget_all(const std::string& migration_id);

private:
    VolumeStore& store_;
};

}  // namespace volmig
