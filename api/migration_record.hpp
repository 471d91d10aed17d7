// A migration as both daemons record it: its role on this daemon, its state, and the moves
// between states that are allowed (DESIGN.md "Migration states").
//
// Source role (this daemon copies the volume out):
//   [queued ->] starting -> migrating -> [awaiting_completion ->] completing -> releasing -> success
//   any of queued, starting, migrating, awaiting_completion, completing -> error
// queued: waiting for one of max_concurrent_migrations slots; nothing has been done yet (no
// destination volume), and the volume shows migration_status starting.
// completing -> error only once the destination is known not to have adopted the volume;
// releasing means the destination owns the volume and only the source's old storage is left to
// delete, so it never goes back.
// Target role (this daemon receives it):
//   receiving -> streaming -> received -> success (the adoption: one transaction)
//   receiving, streaming, received -> error
// adopting is a state volmig 0.1 wrote between two steps of the adoption; a restart resolves it
// to success or back to received.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "copy/strategy.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

enum class MigrationRole { source, target };
std::string to_string(MigrationRole role);
std::optional<MigrationRole> parse_migration_role(const std::string& text);

enum class MigrationState {
    // source
    queued,
    starting,
    migrating,
    awaiting_completion,
    completing,
    releasing,
    // target
    receiving,
    streaming,
    received,
    adopting,
    // both
    success,
    error,
};
std::string to_string(MigrationState state);
std::optional<MigrationState> parse_migration_state(const std::string& text);

// Whether a migration in `role` may move from `from` to `to`.
bool transition_allowed(MigrationRole role, MigrationState from, MigrationState to);
inline bool is_final(MigrationState s) { return s == MigrationState::success || s == MigrationState::error; }

// The source's old storage, kept until the destination owns the volume.
struct SourceStorage {
    std::string backend;     // backend section name
    std::string location;    // the driver's VolumeLocation
    std::string storage_id;  // the id its storage is named after
    uint64_t size = 0;
};

struct MigrationRecord {
    std::string id;
    MigrationRole role = MigrationRole::source;
    MigrationState state = MigrationState::starting;
    std::string volume_id;              // the migrating volume's id: the same on both daemons
    std::string destination_volume_id;  // the new volume on the destination, under its temporary id
    std::string source_host;            // host@backend#pool the volume leaves
    std::string destination;            // host@backend#pool it goes to

    // What was asked for (source role).
    bool force_full = false;
    Strategy requested_strategy = Strategy::automatic;  // volmig:strategy
    bool auto_complete = true;
    bool lock_volume = false;

    // The strategy in force: source role, the plan's; target role, the one this receiver applies.
    std::optional<Strategy> strategy;
    uint64_t block_size = 4096;
    std::string plan;    // JSON: the plan with its reasons, as shown in the API
    std::string report;  // JSON: the copy's report

    std::string error;         // why it failed, or what completion is waiting for
    std::string stream_token;  // the receiver's one-time token for the stream and the adoption
    SourceStorage source;      // source role
    bool cleanup_pending = false;  // source role, error: the destination volume is still to delete

    uint64_t bytes_done = 0, bytes_total = 0;
    double rate = 0, eta_seconds = -1;
    std::string created_at, updated_at;
    int64_t sequence = 0;  // the store's insertion order: newest is largest

    bool finished() const { return is_final(state); }
};

// The migration_status (Cinder's) a volume shows while its source-side migration is in `state`.
VolumeMigrationStatus volume_migration_status_of(MigrationState state);

}  // namespace volmig
