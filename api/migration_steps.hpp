// What the source side's steps share (migration_source, migration_completion): the volume-record
// half of a step, and stored JSON read back.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/daemon_config.hpp"
#include "api/migration_store.hpp"
#include "api/peer_client.hpp"

namespace volmig {

// The volume-record half of a source step: the volume shows the migration's state (and why it
// failed), and a locked volume is released once the migration ends.
MigrationStore::Also volume_shows(const std::string& volume_id, MigrationState state, const std::string& error = "");

// A stored JSON text (a plan, a report) as JSON; null when it is empty or not JSON.
nlohmann::json json_or_null(const std::string& text);

// Stream v2 (stream_sender.cpp): what a source offers in volmig-prepare_receive (streams,
// compression, its data bytes), and the check of the receiver's answer against the offer. With
// migration_streams = auto, a peer whose measured round trip is under kOneStreamRoundTrip is
// offered one stream (0: not measured, the most are offered).
constexpr std::chrono::microseconds kOneStreamRoundTrip{1000};
void offer_stream_terms(const DaemonConfig& config, uint64_t data_bytes, std::chrono::microseconds round_trip, PrepareRequest& offer);
Status check_stream_terms(const std::string& peer, const PrepareRequest& offer, const PreparedReceiver& answer);

}  // namespace volmig
