#include "capabilities/negotiation.hpp"

#include <algorithm>

namespace volmig {

std::string CopyPlan::summary() const {
    std::string out;
    for (const auto& r : reasons) out += (out.empty() ? "" : "; ") + r;
    return out;
}

CopyPlan plan_copy(const SourceFacts& source, const DestinationCapabilities& dst, const OperatorPolicy& policy) {
    CopyPlan plan;
    plan.verify = policy.verify;
    const std::string name = "destination " + (dst.backend.empty() ? std::string("backend") : dst.backend);
    for (const auto& doubt : dst.doubts) plan.reasons.push_back(name + ": " + doubt);
    // Zero detection at the destination's allocation granularity: a smaller zero block saves
    // nothing there. Bounded to what the engine accepts.
    plan.block_size = std::clamp<uint64_t>(std::max<uint64_t>(dst.block_size, 4096), 4096, 1 << 20);

    if (policy.requested != Strategy::automatic && !policy.force_full) {
        const bool sparse_allowed = dst.zero_initialized && dst.policy != SparseCopyPolicy::never && source.policy != SparseCopyPolicy::never;
        if (policy.requested == Strategy::sparse && !sparse_allowed) {
            plan.strategy = Strategy::full;
            plan.refused = name + (dst.zero_initialized ? " forbids sparse copies (sparse_copy = never)"
                                                        : " does not report cinder_sparse_copy_volume=true: a sparse copy would leave stale data");
            plan.reasons.push_back("sparse requested but refused: " + plan.refused);
            return plan;
        }
        if (policy.requested == Strategy::full_then_discard && !(dst.discard && dst.discard_zeroes)) {
            // Releasing where the destination does not promise zeros (or cannot release at all,
            // like a thick volume whose space must stay allocated) is not ours to do: full.
            plan.strategy = Strategy::full;
            plan.reasons.push_back("full+discard requested, but " + name +
                                   " cannot release ranges so that they read as zeros: full copy, zero ranges written as zeros");
            return plan;
        }
        plan.strategy = policy.requested;
        plan.reasons.push_back(to_string(policy.requested) + " requested for this migration");
        return plan;
    }
    if (policy.force_full) {
        plan.strategy = Strategy::full;
        plan.reasons.push_back("full copy forced for this migration (force_host_copy): every byte written");
        return plan;
    }
    const bool sparse_allowed = dst.policy != SparseCopyPolicy::never && source.policy != SparseCopyPolicy::never;
    if (dst.zero_initialized && sparse_allowed) {
        plan.strategy = Strategy::sparse;
        plan.reasons.push_back(name + " reports cinder_sparse_copy_volume=true: new volumes read as zeros, so holes and zero blocks are skipped: sparse copy");
    } else if (dst.discard && dst.discard_zeroes) {
        plan.strategy = Strategy::full_then_discard;
        std::string why = dst.zero_initialized ? name + " is zero-initialized but sparse_copy = never"
                                               : name + " reports cinder_sparse_copy_volume=false";
        plan.reasons.push_back(why + ", and released ranges read as zeros: data written, zero ranges released (full+discard)");
    } else {
        plan.strategy = Strategy::full;
        std::string why = dst.zero_initialized ? name + " is zero-initialized but sparse_copy = never"
                                               : name + " reports cinder_sparse_copy_volume=false";
        why += dst.discard ? " and its discard does not promise zeros" : " and no discard";
        plan.reasons.push_back(why + ": full copy");
    }
    if (!sparse_allowed && dst.zero_initialized)
        plan.reasons.push_back(std::string("sparse_copy = never on the ") + (source.policy == SparseCopyPolicy::never ? "source" : "destination") +
                               " backend");
    plan.reasons.push_back(source.extent_map_known
                               ? "source extents known from its backend: holes are not read"
                               : "the source backend keeps no extent map: extents are found on the attached volume where it can "
                                 "tell (files, loop devices), otherwise every byte is read");
    return plan;
}

nlohmann::json plan_to_json(const CopyPlan& plan) {
    return {{"strategy", to_string(plan.strategy)},
            {"block_size", plan.block_size},
            {"verify", plan.verify},
            {"reasons", plan.reasons},
            {"summary", plan.summary()}};
}

}  // namespace volmig
