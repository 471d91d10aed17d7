#include "api/planner.hpp"

#include <algorithm>

namespace volmig {

Result<MigrationPlan> plan_migration(VolumeService& service, const VolumeRecord& source, const HostSpec& destination, bool same_daemon,
                                     const FetchedDocument& fetched, bool force_full, Strategy requested) {
    Backend* backend = service.backends().find(source.backend);
    if (!backend) return Error{"the volume's backend " + source.backend + " is not enabled here"};

    MigrationPlan result;
    result.destination = destination;
    result.same_daemon = same_daemon;
    result.destination_document = fetched.document;
    DestinationCapabilities caps = read_capability_document(fetched.document);
    if (!fetched.problem.empty()) caps.doubts.insert(caps.doubts.begin(), fetched.problem);
    if (!fetched.age.empty()) caps.doubts.push_back("capabilities as " + fetched.age);
    if (caps.backend.empty()) caps.backend = destination.backend;

    SourceFacts facts;
    facts.backend = backend->volume_backend_name;
    facts.policy = service.policy_of(backend->name);
    facts.block_size = backend->driver->facts().block_size;
    auto map = backend->driver->extent_map(service.ref_of(source));
    if (map && *map && (*map)->size() == source.size) result.source_extents = **map;
    facts.extent_map_known = result.source_extents.has_value();
    if (same_daemon && caps.policy != SparseCopyPolicy::never) caps.policy = service.policy_of(destination.backend);

    OperatorPolicy policy;
    policy.force_full = force_full;
    policy.requested = requested;
    result.plan = plan_copy(facts, caps, policy);

    const nlohmann::json& doc = fetched.document;
    // Names from the peer's document become part of host@backend#pool: printable and short, or
    // the name the operator asked for.
    auto text_field = [&](const char* key, const std::string& fallback) {
        if (!doc.is_object() || !doc.contains(key) || !doc[key].is_string()) return fallback;
        const std::string value = doc[key].get<std::string>();
        const bool printable = std::all_of(value.begin(), value.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f && c != '#' && c != '@'; });
        return !value.empty() && value.size() <= 255 && printable ? value : fallback;
    };
    result.volume_type = text_field("volume_backend_name", destination.backend);
    const std::string pool = text_field("pool_name", destination.pool.empty() ? destination.backend : destination.pool);
    result.destination_pool = destination.host + "@" + destination.backend + "#" + pool;
    return result;
}

nlohmann::json migration_plan_to_json(const MigrationPlan& p) {
    nlohmann::json j = plan_to_json(p.plan);
    j["destination"] = p.destination.host + "@" + p.destination.backend + (p.destination.pool.empty() ? "" : "#" + p.destination.pool);
    j["same_daemon"] = p.same_daemon;
    j["destination_capabilities"] = p.destination_document;
    if (!p.plan.refused.empty()) j["refused"] = p.plan.refused;
    return j;
}

}  // namespace volmig
