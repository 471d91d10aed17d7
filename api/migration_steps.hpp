// What the source side's steps share (migration_source, migration_completion): the volume-record
// half of a step, and stored JSON read back.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/migration_store.hpp"

namespace volmig {

// The volume-record half of a source step: the volume shows the migration's state (and why it
// failed), and a locked volume is released once the migration ends.
MigrationStore::Also volume_shows(const std::string& volume_id, MigrationState state, const std::string& error = "");

// A stored JSON text (a plan, a report) as JSON; null when it is empty or not JSON.
nlohmann::json json_or_null(const std::string& text);

}  // namespace volmig
