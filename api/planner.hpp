// Planning a migration: the source's facts (local), the destination's capability document (as
// the caller obtained it), the operators' policies -> a plan with its reasons, and what the job
// needs to carry it out (the destination's volume type and pool, the source's extent map).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/volume_service.hpp"
#include "capabilities/negotiation.hpp"
#include "copy/extent.hpp"

namespace volmig {

// The destination's capability document, or why there is none (the plan is then the safe one).
struct FetchedDocument {
    nlohmann::json document;  // null when it could not be had
    std::string problem;      // "capabilities of host-b@thin could not be fetched (...)"
    std::string age;          // "fetched 12 s ago" when it came from the cache
};

struct MigrationPlan {
    HostSpec destination;                  // as asked for
    nlohmann::json destination_document;   // as received
    CopyPlan plan;
    bool same_daemon = false;
    std::string volume_type;               // the destination backend's volume_backend_name
    std::string destination_pool;          // host@backend#pool as the destination names its pool
    std::optional<ExtentMap> source_extents;  // the source driver's map, fetched once (none: discover)
};

// Errors only for what makes planning meaningless (the source's backend not enabled); a missing
// or malformed document gives a safe plan whose reasons say so.
Result<MigrationPlan> plan_migration(VolumeService& service, const VolumeRecord& source, const HostSpec& destination, bool same_daemon,
                                     const FetchedDocument& document, bool force_full, Strategy requested = Strategy::automatic);

nlohmann::json migration_plan_to_json(const MigrationPlan& plan);

}  // namespace volmig
