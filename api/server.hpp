// The HTTP/1.1 server. Poco's TCPServer accepts connections and gives each one a thread of its
// own, up to http_threads; this file reads every request itself (api/http_io.hpp), so that what
// a client holds before it has authenticated is bounded (HttpLimits, etc/volmig.conf):
//   - connections: max_connections_per_client per client address and http_threads in all;
//     one more is closed at once, counted in /metrics and logged (at most one line per 10 s);
//   - a request head: at most max_header_size, complete within client_socket_timeout of the
//     connection's start (or of the first byte of a later request on it); a keep-alive
//     connection idle for client_keepalive_timeout is closed;
//   - before any body byte is read: the token is checked (RestApi::authorize) and the declared
//     Content-Length against max_request_body_size; a refusal (401, 413) is answered from the
//     head, the connection closed and its body left unread;
//   - a JSON body: counted as it arrives (chunked too), at most max_request_body_size, and in
//     by the head's deadline; a response must be taken within client_socket_timeout.
// Streaming routes (the migration extent stream) read their own body after the same head
// checks, waiting up to stream_socket_timeout for more bytes, and the connection closes after.
// With TLS (use_tls), the handshake is under the same deadline as the first head; a failed or
// plaintext handshake is logged (at most one line per 10 s) and closes the connection.
// Every request that got as far as a head gets an HTTP answer (a malformed head or URI is
// 400, JSON that cannot be serialised as UTF-8 has the bad bytes replaced) and a log line:
// method, path (control and non-ASCII bytes escaped), status, milliseconds.
#pragma once

#include <functional>
#include <istream>
#include <memory>
#include <string>

#include "api/daemon_config.hpp"
#include "api/metrics.hpp"
#include "api/rest.hpp"
#include "api/tls.hpp"
#include "copy/result.hpp"

namespace volmig {

// A streaming endpoint: gets the request head (already authorized by RestApi::authorize) and
// its unread body as a stream; a failed read sets the stream's badbit. Returns the response.
struct StreamRoute {
    std::string method;
    std::string path_prefix;  // e.g. "/volmig/v1/streams/"
    std::function<ApiResponse(const ApiRequest& head, std::istream& body)> handle;
};

class HttpServer {
public:
    HttpServer(RestApi& api, Metrics& metrics, HttpLimits limits, std::function<void(const std::string&)> log);
    ~HttpServer();

    void add_stream_route(StreamRoute route);
    // Serves HTTPS only (before start()): every connection's TLS handshake must complete within
    // client_socket_timeout of its start, like a request head.
    void use_tls(std::shared_ptr<TlsServerContext> context);

    // Raises the open-file limit as http_threads needs, binds and starts serving listen:port.
    Status start(const std::string& listen, uint16_t port);
    // Stops accepting, closes idle connections, lets requests in flight finish (up to 5 s, then
    // cuts what remains: a stream still arriving) and returns when no handler runs any more.
    void stop();
    uint16_t port() const;

    class Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace volmig
