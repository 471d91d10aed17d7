// The cinder-volume services of this daemon, one per backend (Cinder's host@backend), as
// os-services shows them: enabled, or disabled by the operator with a reason. The disabled
// state is kept in the daemon's SQLite database (table backend_services) and survives a
// restart. A disabled backend admits no new volume, a client's or a migration's destination:
// install() makes that VolumeService's admission hook and adds the os-services routes.
#pragma once

#include <optional>
#include <string>

#include "api/rest.hpp"
#include "api/volume_service.hpp"

namespace volmig {

struct ServiceState {
    bool disabled = false;
    std::string disabled_reason;  // empty: none given
    std::string updated_at;       // when it was last enabled or disabled; empty: never
};

class BackendServices {
public:
    explicit BackendServices(VolumeService& volumes) : volumes_(volumes) {}

    Status initialize();  // creates the table

    // A backend's state (enabled when nothing was recorded).
    Result<ServiceState> state(const std::string& backend);
    // Disables (with a reason, or keeping the recorded one when `reason` is nullopt) or enables
    // (clearing the reason) a backend; one transaction.
    Status set(const std::string& backend, bool disabled, const std::optional<std::string>& reason);
    // refused, naming the backend and the reason, when it is disabled.
    Status admits(const Backend& backend);

    // GET /v3/{p}/os-services, PUT /v3/{p}/os-services/{enable,disable,disable-log-reason}; the
    // admission hook.
    void install(RestApi& api);

private:
    ApiResponse list(const ApiRequest& request);
    ApiResponse update(const ApiRequest& request, const std::string& action);

    VolumeService& volumes_;
};

}  // namespace volmig
