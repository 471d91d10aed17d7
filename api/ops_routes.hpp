// The operator's read-only routes besides os-services (api/backend_services.hpp), in Cinder's
// shapes, from live facts and the volume records:
//   pool_routes.cpp   GET /v3/{p}/scheduler-stats/get_pools[?detail=true]: one pool per backend
//   usage_routes.cpp  GET /v3/{p}/os-availability-zone, GET /v3/{p}/limits,
//                     GET /v3/{p}/os-quota-sets/{project}[?usage=true] and .../defaults
//                     (volmig enforces no quotas: every limit but the pools' capacity is -1)
#pragma once

#include <initializer_list>
#include <optional>

#include "api/rest.hpp"
#include "api/volume_service.hpp"

namespace volmig {

void install_pool_routes(RestApi& api, VolumeService& volumes);
void install_usage_routes(RestApi& api, VolumeService& volumes);

// The 400 for the first query parameter that is not in `known`, naming it and the known ones.
std::optional<ApiResponse> unknown_query(const ApiRequest& request, std::initializer_list<const char*> known);
// A boolean query parameter (true/false, 1/0, yes/no, any case); `fallback` when absent.
Result<bool> query_flag(const ApiRequest& request, const std::string& name, bool fallback);

}  // namespace volmig
