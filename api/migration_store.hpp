// Migration records in the daemon's SQLite database, so that a job survives a restart: the
// source side's job (role "source") and the receiving side's target (role "target").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "copy/result.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

struct MigrationRecord {
    std::string id;
    std::string role = "source";   // source: this daemon copies out; target: it receives
    std::string volume_id;         // source role: the migrating volume; target role: the new volume
    std::string peer_volume_id;    // source role: the destination volume; target role: the source volume
    std::string destination;       // host@backend#pool
    std::string source_host;       // host@backend#pool the volume came from
    std::string state;             // starting, migrating, awaiting_completion, completing, success, error
    bool force_full = false;
    std::string requested_strategy;  // "" or full, sparse, full+discard (volmig:strategy)
    bool auto_complete = true;
    bool lock_volume = false;
    std::string plan;              // JSON
    std::string report;            // JSON
    std::string error;
    std::string stream_token;      // target role: what the sender must present
    // The source's storage, kept until completion deletes it (source role).
    std::string source_backend, source_location, source_storage_id;
    uint64_t source_size = 0;
    uint64_t bytes_done = 0, bytes_total = 0;
    double rate = 0, eta_seconds = -1;
    std::string created_at, updated_at;

    bool finished() const { return state == "success" || state == "error"; }
};

class MigrationStore {
public:
    explicit MigrationStore(VolumeStore& store);
    Status ensure_schema();
    Status save(const MigrationRecord& record);  // insert or replace by id; sets updated_at
    Result<std::optional<MigrationRecord>> get(const std::string& id);
    // The newest migration of `volume_id` in `role`.
    Result<std::optional<MigrationRecord>> latest(const std::string& volume_id, const std::string& role);
    Result<std::vector<MigrationRecord>> unfinished(const std::string& role);
    // Earlier failed source-side jobs of a volume whose destination volume is still to delete.
    Result<std::vector<MigrationRecord>> failed_with_cleanup_pending(const std::string& volume_id);
    // The completed target-side record of a volume that migrated to this daemon (adopted).
    Result<std::optional<MigrationRecord>> arrived(const std::string& volume_id);

private:
    Result<std::vector<MigrationRecord>> query(const std::string& where, const std::vector<std::string>& args);
    VolumeStore& store_;
};

}  // namespace volmig
