// Planning a migration: the source's facts (local), the destination's capability document
// (local or fetched from the peer), the operators' policies -> a CopyPlan with reasons.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/peers.hpp"
#include "api/volume_service.hpp"
#include "capabilities/negotiation.hpp"

namespace volmig {

struct MigrationPlan {
    HostSpec destination;
    nlohmann::json destination_document;  // as received (null when it could not be fetched)
    CopyPlan plan;
    bool same_daemon = false;
};

// Errors only for what makes planning meaningless (unknown volume, malformed host, the peer
// not in [peers]); an unreachable peer or a bad document gives a safe plan whose reasons say so.
Result<MigrationPlan> plan_migration(VolumeService& service, const Peers& peers, const std::string& volume_id,
                                     const std::string& destination, bool force_full, Strategy requested = Strategy::automatic);

nlohmann::json migration_plan_to_json(const MigrationPlan& plan);

}  // namespace volmig
