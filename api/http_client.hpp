// HTTP requests with libcurl: the CLI talking to a daemon, and a daemon talking to its peers.
// Every request has a connect timeout and a total timeout; failures say which URL, what went
// wrong in words, and what to check.
//
// https:// URLs are always verified: the certificate must chain to ca_file (or the system's CAs)
// and name the URL's host; there is no switch to turn that off. A failed verification says why
// in words ("certificate verification failed: certificate has expired") and which setting to
// check (ca_hint).
//
// Connection reuse (HttpConnections): calls through one pool reuse its idle easy handles and so
// their open connections (and TLS sessions). A connection idle for longer than kMaxReuseAge is
// not reused, which keeps requests clear of the server closing it (volmigd's
// client_keepalive_timeout is 5 s). A reused connection that still turns out closed before any
// answer: libcurl resends the request on a new one, which is right for GET, HEAD and DELETE;
// a POST or PUT body is given to libcurl as a stream that cannot be rewound, so that such a call
// fails ("the connection closed before an answer; the call may have been applied") instead of
// being sent twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "copy/result.hpp"

namespace volmig {

struct HttpResponse {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
};

// Idle connections to reuse, for calls to one server (a peer). Thread-safe.
class HttpConnections {
public:
    explicit HttpConnections(size_t max_idle = 4) : max_idle_(max_idle) {}
    ~HttpConnections();
    HttpConnections(const HttpConnections&) = delete;
    HttpConnections& operator=(const HttpConnections&) = delete;

    // New TCP connections made by calls through this pool (libcurl's CURLINFO_NUM_CONNECTS),
    // and calls made.
    uint64_t connections_made() const { return connections_.load(); }
    uint64_t calls() const { return calls_.load(); }
    // The shortest of the last calls' times from request sent to first byte of the answer (a
    // round trip plus the server's work; bodies streamed up are not counted); 0 before any.
    std::chrono::microseconds round_trip() const;

    // For http_request(): an easy handle (reset, its connection cache kept), and back.
    void* take();
    void give(void* handle, uint64_t new_connections, std::chrono::microseconds round_trip = {});

private:
    const size_t max_idle_;
    mutable std::mutex mutex_;
    std::vector<void*> idle_;
    std::array<std::chrono::microseconds, 8> round_trips_{};
    size_t next_round_trip_ = 0;
    std::atomic<uint64_t> connections_{0}, calls_{0};
};

constexpr std::chrono::seconds kMaxReuseAge{2};

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
    // TLS: the CA file https:// servers are verified against (empty: the system's CAs), and the
    // setting a verification failure tells the user to check.
    std::string ca_file;
    std::string ca_hint = "ssl_ca_file";
    bool require_tls = false;                // an http:// URL is refused before anything is sent
    HttpConnections* connections = nullptr;  // reuse connections of this pool; null: a new one per call
};

Result<HttpResponse> http_request(const std::string& method, const std::string& url, const std::string& body,
                                  const HttpOptions& options = {});

// "{\"badRequest\": {\"message\": \"...\"}}" -> "...", else the body itself (trimmed).
std::string error_message_from_body(const std::string& body);

}  // namespace volmig
