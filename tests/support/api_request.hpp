// A REST request as the HTTP server hands it to RestApi::handle, from a method, a path with an
// optional query string (split at '&' and '=', not percent-decoded) and a body.
#pragma once

#include <map>
#include <sstream>
#include <string>

#include "api/rest.hpp"

namespace volmig::test {

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

}  // namespace volmig::test
