#include "api/peers.hpp"

#include <algorithm>

namespace volmig {

Result<std::string> Peers::base_url(const std::string& host) const {
    auto it = config_.peers.find(host);
    if (it == config_.peers.end())
        return Error{"host '" + host + "' is neither this daemon (" + config_.host + ") nor listed in [peers]", ErrorKind::not_found};
    return it->second;
}

HttpOptions Peers::options(std::chrono::milliseconds total) const {
    HttpOptions o;
    o.connect_timeout = std::min<std::chrono::milliseconds>(std::chrono::seconds(5), config_.peer_timeout);
    o.total_timeout = total;
    o.headers.push_back("X-Auth-Token: " + (config_.noauth ? std::string("volmig:") + config_.host : config_.auth_token));
    o.headers.push_back("Accept: application/json");
    o.headers.push_back("OpenStack-API-Version: volume 3.0");
    return o;
}

Result<nlohmann::json> Peers::call(const std::string& host, const std::string& method, const std::string& path,
                                   const nlohmann::json& body, std::chrono::milliseconds timeout) const {
    auto base = base_url(host);
    if (!base) return base.take_error();
    auto response = http_request(method, *base + path, body.is_null() ? std::string() : body.dump(), options(std::min(timeout, std::chrono::milliseconds(config_.peer_timeout))));
    if (!response) return Error{"peer " + host + ": " + response.error().message};
    if (response->status >= 400) {
        const std::string message = "peer " + host + " answered " + std::to_string(response->status) + " to " + method + " " + path + ": " +
                                    error_message_from_body(response->body);
        return Error{message, response->status == 404 ? ErrorKind::not_found : response->status < 500 ? ErrorKind::invalid : ErrorKind::failed};
    }
    if (response->body.empty()) return nlohmann::json(nullptr);
    auto doc = nlohmann::json::parse(response->body, nullptr, false);
    if (doc.is_discarded()) return Error{"peer " + host + " answered " + method + " " + path + " with a body that is not JSON"};
    return doc;
}

}  // namespace volmig
