// GET /v3/{p}/scheduler-stats/get_pools[?detail=true]: Cinder's pools (cinder/api/views/
// scheduler_stats.py), one per backend, from the driver's live usage and the same capability
// document GET /capabilities serves, so that the two never disagree.
#include "api/ops_routes.hpp"

#include <cmath>

#include "copy/json_text.hpp"

namespace volmig {

namespace {

double gib_of(uint64_t bytes) { return std::round(static_cast<double>(bytes) / static_cast<double>(kGiB) * 100.0) / 100.0; }

// A boolean or integer fact of the capability document's properties, as published there.
nlohmann::json property_default(const nlohmann::json& document, const char* key) {
    const auto props = document.find("properties");
    if (props == document.end() || !props->contains(key)) return nullptr;
    return (*props)[key].value("default", nlohmann::json(nullptr));
}

Result<nlohmann::json> pool_capabilities(VolumeService& volumes, Backend& backend) {
    const std::string host_backend = volumes.config().host + "@" + backend.name;
    auto document = volumes.capability_document(host_backend);
    if (!document) return document.take_error();
    auto usage = backend.driver->pool_usage();
    if (!usage) return Error{"backend " + host_backend + ": its pool usage cannot be read: " + usage.error().message};
    auto records = volumes.store().list(backend.name);
    if (!records) return records.take_error();
    uint64_t allocated_gib = 0;  // Cinder's allocated_capacity_gb: the sizes of the volumes it made here
    for (const auto& r : *records)
        if (!r.is_forwarding()) allocated_gib += gib_rounded_up(r.size);
    const bool thin = property_default(*document, "thin_provisioning") == true;
    return nlohmann::json{
        {"pool_name", backend.driver->pool_name()},
        {"volume_backend_name", backend.volume_backend_name},
        {"vendor_name", (*document)["vendor_name"]},
        {"driver_version", (*document)["driver_version"]},
        {"storage_protocol", (*document)["storage_protocol"]},
        {"total_capacity_gb", gib_of(usage->capacity)},
        {"free_capacity_gb", gib_of(usage->free)},
        {"allocated_capacity_gb", allocated_gib},
        {"provisioned_capacity_gb", gib_of(usage->provisioned)},
        {"max_over_subscription_ratio", usage->max_over_subscription_ratio},
        {"reserved_percentage", 0},
        {"thin_provisioning_support", thin},
        {"thick_provisioning_support", !thin},
        {"multiattach", false},
        {"backend_state", "up"},
        {"timestamp", utc_timestamp()},
        // Cinder's extension for sparse copies, as the capability document says it.
        {"sparse_copy_volume", (*document)["sparse_copy_volume"]},
        {"volmig:discard", property_default(*document, "volmig:discard")},
        {"volmig:discard_zeroes", property_default(*document, "volmig:discard_zeroes")},
        {"volmig:block_size", property_default(*document, "volmig:block_size")},
        {"volmig:sparse_copy_policy", property_default(*document, "volmig:sparse_copy_policy")},
        {"volmig:allocated_bytes", usage->allocated},
        {"volmig:driver", backend.driver->driver_name()},
    };
}

}  // namespace

std::optional<ApiResponse> unknown_query(const ApiRequest& request, std::initializer_list<const char*> known) {
    for (const auto& [name, value] : request.query) {
        bool found = false;
        std::string names;
        for (const char* k : known) {
            found = found || name == k;
            names += (names.empty() ? "" : ", ") + std::string(k);
        }
        if (!found)
            return error_response(400, "unknown query parameter " + json_for_message(name) +
                                           (names.empty() ? std::string(" (this route takes none)") : " (known: " + names + ")"));
    }
    return std::nullopt;
}

Result<bool> query_flag(const ApiRequest& request, const std::string& name, bool fallback) {
    const auto it = request.query.find(name);
    if (it == request.query.end()) return fallback;
    return boolean_value(nlohmann::json(it->second), name);
}

void install_pool_routes(RestApi& api, VolumeService& volumes) {
    api.add_collection("scheduler-stats", [&volumes](const ApiRequest& request, const std::string&, const std::vector<std::string>& rest) {
        if (rest.size() != 1 || rest[0] != "get_pools") return error_response(404, "use /v3/{project_id}/scheduler-stats/get_pools");
        if (request.method != "GET") return method_not_allowed("GET");
        if (auto refused = unknown_query(request, {"detail", "name"})) return *refused;
        auto detail = query_flag(request, "detail", false);
        if (!detail) return error_response(detail.error());
        const auto name = request.query.find("name");
        nlohmann::json pools = nlohmann::json::array();
        for (const auto& b : volumes.backends().all()) {
            VolumeRecord probe;  // named exactly as the volumes' hosts are
            probe.backend = b->name;
            nlohmann::json pool = {{"name", volumes.host_of(probe)}};
            if (name != request.query.end() && name->second != pool["name"]) continue;
            if (*detail) {
                auto capabilities = pool_capabilities(volumes, *b);
                if (!capabilities) return error_response(capabilities.error());
                pool["capabilities"] = *capabilities;
            }
            pools.push_back(pool);
        }
        ApiResponse r;
        r.body = {{"pools", pools}};
        return r;
    });
}

}  // namespace volmig
