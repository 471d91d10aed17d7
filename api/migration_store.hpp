// Migration records in the daemon's SQLite database, so that a migration survives a restart.
//
// Every change of state goes through transition(): it checks that the move is allowed for the
// record's role, writes it only if the stored state is still the one the caller read (a second
// writer fails instead of overwriting), commits it together with whatever volume records the
// step changes, and reports failure instead of letting a caller go on as if it had been saved.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/migration_record.hpp"
#include "copy/result.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

class MigrationStore {
public:
    using Also = std::function<Status(VolumeStore::Tx&)>;

    explicit MigrationStore(VolumeStore& store);
    Status ensure_schema();  // creates the table, converting records of earlier volmig versions

    // A new record (its state is its first state); sets id order, created_at and updated_at.
    Status insert(MigrationRecord& record, const Also& also = nullptr);
    // Moves `record` to `to` and saves its other fields, atomically with `also`. On failure the
    // record keeps its previous state in memory too.
    Status transition(MigrationRecord& record, MigrationState to, const Also& also = nullptr);
    // Saves fields other than the state (the stored state must still be record.state).
    Status save(MigrationRecord& record, const Also& also = nullptr);
    // Progress only (bytes, rate, ETA): a failure here loses nothing a restart needs.
    Status save_progress(const MigrationRecord& record);

    Result<std::optional<MigrationRecord>> get(const std::string& id);
    // The migration a volume's view shows: the newest one that moved it (a source record, or a
    // target record that ended in its adoption here), or the one filling it (a target record of
    // a volume still under its temporary id).
    Result<std::optional<MigrationRecord>> shown_for(const std::string& volume_id);
    // shown_for() of many volumes (a listing) with one query: by volume id, those that have one.
    Result<std::map<std::string, MigrationRecord>> shown_for(const std::vector<std::string>& volume_ids);
    // The target record of a temporary volume that is not finished (at most one may exist).
    Result<std::optional<MigrationRecord>> active_target(const std::string& destination_volume_id);
    // The target record of a temporary volume holding `stream_token`.
    Result<std::optional<MigrationRecord>> target_with_token(const std::string& destination_volume_id, const std::string& stream_token);
    Result<std::vector<MigrationRecord>> unfinished(MigrationRole role);
    // Failed source-side migrations (of one volume, or all) whose destination volume is still to delete.
    Result<std::vector<MigrationRecord>> cleanup_pending(const std::optional<std::string>& volume_id);

private:
    Status write(MigrationRecord& record, std::optional<MigrationState> expected, const Also& also);
    Result<std::vector<MigrationRecord>> query(const std::string& where, const std::vector<std::string>& args,
                                               const std::string& order = "seq");
    VolumeStore& store_;
};

}  // namespace volmig
