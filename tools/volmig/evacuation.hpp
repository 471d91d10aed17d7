// `volmig evacuate`, the decisions without I/O: which volumes of a backend are moved and why
// the others are skipped, and the progress table (tools/volmig/cmd_evacuate.cpp does the calls).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "copy/result.hpp"

namespace volmig::cli {

// --from HOST@BACKEND and --to HOST@BACKEND[#POOL], checked: both well formed, not the same backend.
struct EvacuationTarget {
    std::string from;         // host@backend
    std::string to;           // as given (host@backend or host@backend#pool)
    std::string to_backend;   // host@backend of `to`
};
Result<EvacuationTarget> parse_evacuation(const std::string& from, const std::string& to);

// host@backend of a view's os-vol-host-attr:host (host@backend#pool); empty when it has none.
std::string host_backend_of(const nlohmann::json& volume_view);

// Why a volume of the evacuated backend is not migrated ("in use", "error: ...",
// "migrating (...)", "status ..."); empty when it is to be migrated.
std::string skip_reason(const nlohmann::json& volume_view);

// One volume being evacuated, as the table shows it.
struct EvacuationRow {
    std::string id, name;
    uint64_t size_gib = 0;
    std::string state;        // a migration state, or "refused" (os-migrate_volume was refused)
    std::string error;        // why it failed (refused or error)
    int queue_position = 0;   // 1-based while queued
    double percent = 0, rate = 0, eta_seconds = -1;

    bool ended() const { return state == "success" || state == "error" || state == "refused"; }
    bool failed() const { return state == "error" || state == "refused"; }
};

// Refreshes `row` from the volume's view (its volmig:migration).
void update_row(EvacuationRow& row, const nlohmann::json& volume_view);

// The table: a header, one line per row (volume, name, size, state, queue position or
// progress %, rate, ETA), each line ending in '\n'.
std::string format_table(const std::vector<EvacuationRow>& rows);

// "1h02m", "3m05s", "42s"; "-" when unknown (negative).
std::string format_eta(double seconds);

}  // namespace volmig::cli
