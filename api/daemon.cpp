#include "api/daemon.hpp"

#include "api/volume_updates.hpp"
#include "api/ops_routes.hpp"

namespace volmig {

Result<std::unique_ptr<Daemon>> Daemon::start(const std::string& config_path, std::function<void(const std::string&)> log) {
    std::unique_ptr<Daemon> d(new Daemon());
    d->log_ = log;
    auto file = ConfigFile::load(config_path);
    if (!file) return file.take_error();
    auto config = read_daemon_config(*file);
    if (!config) return config.take_error();
    d->config_ = *config;
    for (const auto& warning : d->config_.start_warnings)
        if (log) log("warning: " + warning);
    std::shared_ptr<TlsServerContext> tls;
    if (d->config_.serves_tls()) {
        auto loaded = TlsServerContext::load(d->config_);
        if (!loaded) return loaded.take_error();
        tls = *loaded;
    } else if (!d->config_.ssl_ca_file.empty()) {
        Status ca = check_ca_file("ssl_ca_file", d->config_.ssl_ca_file);
        if (!ca.ok()) return ca.error();
    }

    auto store = VolumeStore::open(d->config_.state_path);
    if (!store) return store.take_error();
    d->store_ = std::move(*store);
    auto backends = Backends::configure(*file, *d->store_, log);
    if (!backends) return backends.take_error();
    d->backends_ = std::move(*backends);
    auto started = d->backends_->start();
    if (!started) return started.take_error();

    d->service_ = std::make_unique<VolumeService>(d->config_, *d->backends_, *d->store_, log);
    // Connections first, so that the volume service keeps their devices when it releases what
    // copies had attached.
    d->attachments_ = std::make_unique<AttachmentService>(*d->service_, log);
    Status connections = d->attachments_->initialize();
    if (!connections.ok()) return connections.error();
    d->service_->reconcile_after_restart();
    d->attachments_->reconcile_after_restart();
    d->metrics_ = std::make_unique<Metrics>();
    d->metrics_->add_gauges(
        {{"volmig_volumes", "Volume records held by a backend (forwarding records of volumes that moved away included)."},
         {"volmig_pool_allocated_bytes", "Bytes of a backend's pool actually consumed by volumes."},
         {"volmig_pool_capacity_bytes", "Bytes a backend's pool can hold."},
         {"volmig_pool_provisioned_bytes", "Sum of the sizes of a backend's volumes."}},
        [daemon = d.get()](auto emit) {
        for (const auto& b : daemon->backends_->all()) {
            const std::string labels = "backend=\"" + b->name + "\"";
            auto records = daemon->store_->list(b->name);
            if (records) emit("volmig_volumes", labels, static_cast<double>(records->size()));
            auto pool = b->driver->pool_usage();
            if (pool) {
                emit("volmig_pool_allocated_bytes", labels, static_cast<double>(pool->allocated));
                emit("volmig_pool_capacity_bytes", labels, static_cast<double>(pool->capacity));
                emit("volmig_pool_provisioned_bytes", labels, static_cast<double>(pool->provisioned));
            }
        }
    });
    d->peers_ = std::make_unique<Peers>(d->config_);
    d->api_ = std::make_unique<RestApi>(*d->service_, *d->metrics_, log);
    d->server_ = std::make_unique<HttpServer>(*d->api_, *d->metrics_, d->config_.http, log);
    if (tls) d->server_->use_tls(tls);
    d->migrations_ = std::make_unique<MigrationService>(*d->service_, *d->peers_, *d->metrics_, log);
    Status schema = d->migrations_->initialize();
    if (!schema.ok()) return schema.error();
    d->migrations_->install(*d->api_, *d->server_);
    d->attachments_->install(*d->api_);
    install_volume_updates(*d->api_, *d->service_, log,
                           [migrations = d->migrations_.get()](const VolumeRecord& v) { return migrations->refuse_reset_during_migration(v); });
    d->services_ = std::make_unique<BackendServices>(*d->service_);
    Status services = d->services_->initialize();
    if (!services.ok()) return services.error();
    d->services_->install(*d->api_);
    install_pool_routes(*d->api_, *d->service_);
    install_usage_routes(*d->api_, *d->service_);
    d->types_ = std::make_unique<VolumeTypes>(*d->service_, d->config_.default_volume_type, log);
    Status types = d->types_->initialize();
    if (!types.ok()) return types.error();
    d->types_->install(*d->api_, *d->migrations_);
    d->migrations_->resume_after_restart();
    Status listening = d->server_->start(d->config_.listen, d->config_.port);
    if (!listening.ok()) return listening.error();
    if (log)
        log("serving host " + d->config_.host + " on " + (tls ? "https://" : "http://") + d->config_.listen + ":" + std::to_string(d->server_->port()) + " with " +
            std::to_string(d->backends_->all().size()) + " backend(s)" + (d->config_.noauth ? " (noauth)" : ""));
    return d;
}

void Daemon::stop() {
    if (stopped_) return;
    stopped_ = true;
    // No new migrations; then no new requests (handlers finish or are cut and joined); then the
    // running migrations are cancelled and roll back (they need the peers, not our server).
    if (migrations_) migrations_->refuse_new();
    if (server_) server_->stop();
    if (migrations_) migrations_->stop();
}

Daemon::~Daemon() { stop(); }

}  // namespace volmig
