// For unit tests of REST routes (tests/unit/test_api_*.cpp): a request built as the HTTP server
// builds one, and what tests read of an answer (its fault message, a header).
#pragma once

#include <map>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "api/rest.hpp"

namespace volmig::test {

// `path` may carry a query string ("/v3/p/volumes?limit=2"): it is split into ApiRequest::query
// (no percent-decoding: tests write plain values).
inline ApiRequest api_request(const std::string& method, const std::string& path, const std::string& body = "",
                              std::map<std::string, std::string> headers = {}) {
    ApiRequest r;
    r.method = method;
    const size_t q = path.find('?');
    r.path = path.substr(0, q);
    if (q != std::string::npos) {
        std::stringstream query(path.substr(q + 1));
        std::string pair;
        while (std::getline(query, pair, '&')) {
            const size_t eq = pair.find('=');
            r.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        }
    }
    r.body = body;
    r.headers = std::move(headers);
    r.base_url = "http://127.0.0.1:8776";
    return r;
}

// The message of Cinder's error shape ({"badRequest": {"code": 400, "message": ...}}), or "".
inline std::string message_of(const ApiResponse& r) {
    for (const auto& [k, v] : r.body.items())
        if (v.is_object() && v.contains("message")) return v["message"];
    return "";
}

// POSTs `body` to /v3/p/volumes; REQUIREs 202 and returns the new volume's id.
inline std::string created_volume_id(RestApi& api, const std::string& body) {
    const ApiResponse r = api.handle(api_request("POST", "/v3/p/volumes", body));
    REQUIRE_MESSAGE(r.status == 202, r.body.dump());
    return r.body["volume"]["id"].get<std::string>();
}

inline std::string header_of(const ApiResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
        if (k == name) return v;
    return "";
}

}  // namespace volmig::test
