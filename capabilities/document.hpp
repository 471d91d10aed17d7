// The capability document: Cinder's shape (GET /v3/{project_id}/capabilities/{host}), built
// from a backend's live facts, and read back from a peer's JSON with every doubt resolved to
// the safe answer ("not zero-initialized, no discard").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "capabilities/facts.hpp"

namespace volmig {

enum class SparseCopyPolicy { automatic, never };  // operator policy per backend: sparse_copy = auto|never

struct DocumentIdentity {
    std::string host;                 // host@backend as Cinder names the service
    std::string volume_backend_name;
    std::string pool_name;
    std::string driver_name;          // thin_file, thick_file, lvm
    std::string driver_version;
};

nlohmann::json build_capability_document(const DocumentIdentity& id, const BackendFacts& facts, SparseCopyPolicy policy);

// What a planner may believe about a destination, read from its document.
struct DestinationCapabilities {
    bool zero_initialized = false;
    bool discard = false;
    bool discard_zeroes = false;
    bool thin_provisioning = false;
    uint64_t block_size = 4096;
    SparseCopyPolicy policy = SparseCopyPolicy::automatic;
    std::string backend;               // volume_backend_name, for the reasons
    std::vector<std::string> doubts;   // why a fact was taken as false ("properties missing", ...)
};

// Never fails: a missing, malformed or contradictory document yields the safe facts and says why.
DestinationCapabilities read_capability_document(const nlohmann::json& document);

}  // namespace volmig
