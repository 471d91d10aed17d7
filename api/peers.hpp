// Other daemons, by host name ([peers] in the configuration), and what we ask of them. Every
// call has connect and total timeouts and names the peer in its errors. Peers are expected to
// accept this daemon's auth_token (one service token per deployment).
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "api/daemon_config.hpp"
#include "api/http_client.hpp"
#include "api/volume_service.hpp"

namespace volmig {

class Peers {
public:
    explicit Peers(const DaemonConfig& config) : config_(config) {}

    bool is_local(const std::string& host) const { return host == config_.host; }
    Result<std::string> base_url(const std::string& host) const;

    // A JSON request to a peer's API: Cinder error bodies become Errors carrying the message,
    // 404 -> not_found, other 4xx -> invalid.
    Result<nlohmann::json> call(const std::string& host, const std::string& method, const std::string& path,
                                const nlohmann::json& body = nullptr, std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

    HttpOptions options(std::chrono::milliseconds total) const;

private:
    const DaemonConfig& config_;
};

}  // namespace volmig
