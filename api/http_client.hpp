// HTTP requests with libcurl: the CLI talking to a daemon, and a daemon talking to its peers.
// Every request has a connect timeout and a total timeout; failures say which URL, what went
// wrong in words, and what to check.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "copy/result.hpp"

namespace volmig {

struct HttpResponse {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
};

struct HttpOptions {
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
    std::chrono::milliseconds total_timeout{std::chrono::seconds(60)};  // 0 = none (streams)
    // Abort when fewer than 1 byte/s moved for this long (0 = never): a stalled peer on a stream.
    std::chrono::seconds stall_timeout{0};
    std::vector<std::string> headers;                                   // "Name: value"
    // A longer response body fails the request: a broken or hostile server cannot fill memory.
    size_t max_response_bytes = 16 << 20;
    // Streaming upload: called for the next chunk of the body; returns bytes placed in buf (0 at
    // the end). When set, `body` is ignored and the request uses chunked transfer encoding.
    std::function<Result<size_t>(char* buf, size_t capacity)> body_source;
};

Result<HttpResponse> http_request(const std::string& method, const std::string& url, const std::string& body,
                                  const HttpOptions& options = {});

// "{\"badRequest\": {\"message\": \"...\"}}" -> "...", else the body itself (trimmed).
std::string error_message_from_body(const std::string& body);

}  // namespace volmig
