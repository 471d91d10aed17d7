// Other daemons, by host name ([peers] in the configuration), and a typed client for each.
// Peers are expected to accept this daemon's auth_token (one service token per deployment).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>

#include "api/daemon_config.hpp"
#include "api/peer_client.hpp"

namespace volmig {

class Peers {
public:
    // Makes the client for one peer; the default speaks HTTP. Unit tests of the migration state
    // machine pass a factory of fake peers (fault injection), never the scenario tests.
    using Factory = std::function<std::unique_ptr<PeerClient>(const std::string& host, const std::string& base_url)>;

    explicit Peers(const DaemonConfig& config, Factory factory = nullptr);

    bool is_local(const std::string& host) const { return host == config_.host; }
    Result<std::string> base_url(const std::string& host) const;
    Result<std::unique_ptr<PeerClient>> client(const std::string& host) const;

private:
    std::shared_ptr<HttpConnections> connections_of(const std::string& host) const;

    const DaemonConfig& config_;
    Factory factory_;
    mutable std::mutex mutex_;  // connections_
    mutable std::map<std::string, std::shared_ptr<HttpConnections>> connections_;
};

}  // namespace volmig
