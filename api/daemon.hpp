// The assembled daemon: configuration, store, backends, services, REST API and HTTP server,
// started in order and stopped in reverse. volmigd's main and the integration tests use it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/attachments.hpp"
#include "api/backend_services.hpp"
#include "api/daemon_config.hpp"
#include "api/metrics.hpp"
#include "api/migration.hpp"
#include "api/peers.hpp"
#include "api/rest.hpp"
#include "api/server.hpp"
#include "api/volume_service.hpp"
#include "api/volume_types.hpp"
#include "driver/backends.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

class Daemon {
public:
    static Result<std::unique_ptr<Daemon>> start(const std::string& config_path, std::function<void(const std::string&)> log);
    ~Daemon();
    void stop();

    uint16_t port() const { return server_->port(); }
    VolumeService& volumes() { return *service_; }
    MigrationService& migrations() { return *migrations_; }
    const DaemonConfig& config() const { return config_; }

private:
    Daemon() = default;
    std::function<void(const std::string&)> log_;
    DaemonConfig config_;
    std::unique_ptr<VolumeStore> store_;
    std::unique_ptr<Backends> backends_;
    std::unique_ptr<VolumeService> service_;
    std::unique_ptr<AttachmentService> attachments_;
    std::unique_ptr<Metrics> metrics_;
    std::unique_ptr<Peers> peers_;
    std::unique_ptr<RestApi> api_;
    std::unique_ptr<VolumeTypes> types_;  // outlives migrations_, whose completion steps use it
    std::unique_ptr<MigrationService> migrations_;
    std::unique_ptr<BackendServices> services_;  // os-services and the admission of new volumes
    std::unique_ptr<HttpServer> server_;
    bool stopped_ = false;
};

}  // namespace volmig
