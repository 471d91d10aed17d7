// The negotiation: a pure function from what the source knows, what the destination says
// about itself, and the operator's policy, to a copy plan with its reasons in words.
//
// Rules (DESIGN.md): the destination is zero-initialized -> sparse; else it can release ranges
// so that they read as zeros -> full+discard; else full. Forcing full is always allowed and
// wins; sparse is never chosen when either backend's policy says sparse_copy = never.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "capabilities/document.hpp"
#include "copy/strategy.hpp"

namespace volmig {

struct SourceFacts {
    std::string backend;             // volume_backend_name, for the reasons
    uint64_t block_size = 4096;
    bool extent_map_known = false;   // holes can be skipped without reading
    SparseCopyPolicy policy = SparseCopyPolicy::automatic;
};

struct OperatorPolicy {
    bool force_full = false;  // force_host_copy-style override for one migration
    // A strategy asked for explicitly (automatic = none). full is always allowed; full+discard
    // too (the engine falls back to writing zeros where release does not work); sparse only onto
    // a destination that is zero-initialized and allows it.
    Strategy requested = Strategy::automatic;
    bool verify = true;
};

struct CopyPlan {
    Strategy strategy = Strategy::full;
    uint64_t block_size = 4096;  // zero-detection granularity
    bool verify = true;
    std::vector<std::string> reasons;
    std::string refused;  // non-empty: the requested strategy is unsafe here, and why
    std::string summary() const;  // reasons joined: "...; ...: full copy"
};

CopyPlan plan_copy(const SourceFacts& source, const DestinationCapabilities& destination, const OperatorPolicy& policy);

nlohmann::json plan_to_json(const CopyPlan& plan);

}  // namespace volmig
