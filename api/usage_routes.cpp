// Availability zones, limits and quota sets in Cinder's shapes (cinder/api/contrib/
// availability_zones.py, cinder/api/v3/limits.py with used_limits.py, contrib/quotas.py), with
// real figures: usage from the volume records, the volume capacity from the pools. volmig
// enforces no quotas: every other limit is -1, and the quota sets cannot be changed.
#include "api/ops_routes.hpp"

#include <cmath>

#include "copy/json_text.hpp"

namespace volmig {

namespace {

struct Usage {
    uint64_t volumes = 0;
    uint64_t gigabytes = 0;
};

// The volumes held here of `project`, or of every project when empty: not forwarding records
// (the volume is elsewhere), nor a migration's destination volumes (as Cinder's temporary
// volumes, they are the migrating volume's, not one more).
Result<Usage> usage_of(VolumeService& volumes, const std::string& project) {
    auto records = volumes.store().list();
    if (!records) return records.take_error();
    Usage u;
    for (const auto& r : *records) {
        if (r.is_forwarding() || r.migration_status == VolumeMigrationStatus::target) continue;
        if (!project.empty() && r.project_id != project) continue;
        ++u.volumes;
        u.gigabytes += gib_rounded_up(r.size);
    }
    return u;
}

// What the pools can provision, in whole GiB: capacity x max_over_subscription_ratio each, the
// bound a create is checked against.
Result<uint64_t> provisionable_gib(VolumeService& volumes) {
    uint64_t total = 0;
    for (const auto& b : volumes.backends().all()) {
        auto pool = b->driver->pool_usage();
        if (!pool) return Error{"backend " + b->name + ": its pool usage cannot be read: " + pool.error().message};
        total += static_cast<uint64_t>(std::floor(static_cast<double>(pool->capacity) * pool->max_over_subscription_ratio / kGiB));
    }
    return total;
}

// The project a request is about: ?project_id= or ?tenant_id= (Cinder's admin form), else the path's.
std::string project_of(const ApiRequest& request, const std::string& path_project) {
    for (const char* key : {"project_id", "tenant_id"})
        if (auto it = request.query.find(key); it != request.query.end()) return it->second;
    return path_project;
}

const char* const kQuotaKeys[] = {"volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes", "per_volume_gigabytes", "groups"};

nlohmann::json quota_set(const std::string& project, const Usage* usage) {
    nlohmann::json set = {{"id", project}};
    for (const char* key : kQuotaKeys) {
        if (!usage) {
            set[key] = -1;
            continue;
        }
        const std::string k = key;
        const uint64_t in_use = k == "volumes" ? usage->volumes : k == "gigabytes" ? usage->gigabytes : 0;
        set[key] = {{"limit", -1}, {"in_use", in_use}, {"reserved", 0}, {"allocated", 0}};
    }
    return set;
}

ApiResponse availability_zones(VolumeService& volumes, const ApiRequest& request, const std::vector<std::string>& rest) {
    if (!rest.empty()) return error_response(404, "use /v3/{project_id}/os-availability-zone");
    if (request.method != "GET") return method_not_allowed("GET");
    if (auto refused = unknown_query(request, {})) return *refused;
    // As Cinder: the zone is available while one of its services takes new volumes.
    bool available = false;
    for (const auto& b : volumes.backends().all()) available = available || volumes.admits(*b).ok();
    ApiResponse r;
    r.body = {{"availabilityZoneInfo", {{{"zoneName", volumes.config().availability_zone}, {"zoneState", {{"available", available}}}}}}};
    return r;
}

ApiResponse limits(VolumeService& volumes, const ApiRequest& request, const std::string& project_id, const std::vector<std::string>& rest) {
    if (!rest.empty()) return error_response(404, "use /v3/{project_id}/limits");
    if (request.method != "GET") return method_not_allowed("GET");
    if (auto refused = unknown_query(request, {"project_id", "tenant_id"})) return *refused;
    auto usage = usage_of(volumes, project_of(request, project_id));
    if (!usage) return error_response(usage.error());
    auto capacity = provisionable_gib(volumes);
    if (!capacity) return error_response(capacity.error());
    ApiResponse r;
    r.body = {{"limits",
               {{"rate", nlohmann::json::array()},
                {"absolute",
                 {{"maxTotalVolumes", -1},
                  {"maxTotalSnapshots", -1},
                  {"maxTotalVolumeGigabytes", *capacity},
                  {"maxTotalBackups", -1},
                  {"maxTotalBackupGigabytes", -1},
                  {"totalVolumesUsed", usage->volumes},
                  {"totalGigabytesUsed", usage->gigabytes},
                  {"totalSnapshotsUsed", 0},
                  {"totalBackupsUsed", 0},
                  {"totalBackupGigabytesUsed", 0}}}}}};
    return r;
}

ApiResponse quota_sets(VolumeService& volumes, const ApiRequest& request, const std::vector<std::string>& rest) {
    const bool defaults = rest.size() == 2 && rest[1] == "defaults";
    if (rest.empty() || rest.size() > 2 || (rest.size() == 2 && !defaults))
        return error_response(404, "use /v3/{project_id}/os-quota-sets/{project} or /os-quota-sets/{project}/defaults");
    if (!defaults && (request.method == "PUT" || request.method == "DELETE"))
        return error_response(400, "volmig enforces no quotas: the quota sets are read-only (every limit is -1)");
    if (request.method != "GET") return method_not_allowed(defaults ? "GET" : "GET, PUT, DELETE");
    const std::string& project = rest[0];
    if (!is_utf8_text(project) || project.size() > 255) return error_response(400, "the project id must be UTF-8 text of at most 255 bytes");
    ApiResponse r;
    if (defaults) {
        if (auto refused = unknown_query(request, {})) return *refused;
        r.body = {{"quota_set", quota_set(project, nullptr)}};
        return r;
    }
    if (auto refused = unknown_query(request, {"usage"})) return *refused;
    auto with_usage = query_flag(request, "usage", false);
    if (!with_usage) return error_response(with_usage.error());
    auto usage = usage_of(volumes, project);
    if (!usage) return error_response(usage.error());
    r.body = {{"quota_set", *with_usage ? quota_set(project, &*usage) : quota_set(project, nullptr)}};
    return r;
}

}  // namespace

void install_usage_routes(RestApi& api, VolumeService& volumes) {
    api.add_collection("os-availability-zone", [&volumes](const ApiRequest& request, const std::string&, const std::vector<std::string>& rest) {
        return availability_zones(volumes, request, rest);
    });
    api.add_collection("limits", [&volumes](const ApiRequest& request, const std::string& project_id, const std::vector<std::string>& rest) {
        return limits(volumes, request, project_id, rest);
    });
    api.add_collection("os-quota-sets", [&volumes](const ApiRequest& request, const std::string&, const std::vector<std::string>& rest) {
        return quota_sets(volumes, request, rest);
    });
}

}  // namespace volmig
