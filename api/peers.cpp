#include "api/peers.hpp"

namespace volmig {

Peers::Peers(const DaemonConfig& config, Factory factory) : config_(config), factory_(std::move(factory)) {
    if (!factory_) {
        factory_ = [this](const std::string& host, const std::string& base_url) {
            PeerSettings s;
            s.own_host = config_.host;
            s.auth_token = config_.noauth ? "" : config_.auth_token;
            s.call_timeout = config_.peer_timeout;
            s.ca_file = config_.ssl_ca_file;
            s.require_tls = config_.peer_require_tls;
            s.connections = connections_of(host);
            return make_http_peer_client(host, base_url, s);
        };
    }
}

std::shared_ptr<HttpConnections> Peers::connections_of(const std::string& host) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& pool = connections_[host];
    if (!pool) pool = std::make_shared<HttpConnections>();
    return pool;
}

Result<std::string> Peers::base_url(const std::string& host) const {
    auto it = config_.peers.find(host);
    if (it == config_.peers.end())
        return Error{"host '" + host + "' is neither this daemon (" + config_.host + ") nor listed in [peers]", ErrorKind::not_found};
    return it->second;
}

Result<std::unique_ptr<PeerClient>> Peers::client(const std::string& host) const {
    auto base = base_url(host);
    if (!base) return base.take_error();
    return factory_(host, *base);
}

}  // namespace volmig
