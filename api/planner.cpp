#include "api/planner.hpp"

namespace volmig {

Result<MigrationPlan> plan_migration(VolumeService& service, const Peers& peers, const std::string& volume_id,
                                     const std::string& destination, bool force_full, Strategy requested) {
    auto record = service.get(volume_id);
    if (!record) return record.take_error();
    auto spec = parse_host_spec(destination);
    if (!spec) return spec.take_error();
    Backend* source = service.backends().find(record->backend);
    if (!source) return Error{"the volume's backend " + record->backend + " is not enabled here"};

    MigrationPlan result;
    result.destination = *spec;
    result.same_daemon = peers.is_local(spec->host);
    std::string fetch_problem;
    if (result.same_daemon) {
        auto doc = service.capability_document(spec->host + "@" + spec->backend);
        if (!doc) return doc.take_error();
        result.destination_document = *doc;
    } else {
        auto base = peers.base_url(spec->host);
        if (!base) return base.take_error();
        auto doc = peers.call(spec->host, "GET", "/v3/capabilities/" + spec->host + "@" + spec->backend, nullptr, std::chrono::seconds(15));
        if (doc)
            result.destination_document = *doc;
        else
            fetch_problem = "capabilities of " + destination + " could not be fetched (" + doc.error().message + ")";
    }
    DestinationCapabilities caps = read_capability_document(result.destination_document);
    if (!fetch_problem.empty()) caps.doubts.insert(caps.doubts.begin(), fetch_problem);
    if (caps.backend.empty()) caps.backend = spec->backend;

    SourceFacts facts;
    facts.backend = source->volume_backend_name;
    facts.policy = service.policy_of(source->name);
    facts.block_size = source->driver->facts().block_size;
    auto map = source->driver->extent_map(service.ref_of(*record));
    facts.extent_map_known = map && map->has_value();
    if (result.same_daemon) caps.policy = caps.policy == SparseCopyPolicy::never ? caps.policy : service.policy_of(spec->backend);

    OperatorPolicy policy;
    policy.force_full = force_full;
    policy.requested = requested;
    result.plan = plan_copy(facts, caps, policy);
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
