// The HTTP server (Poco): turns Poco requests into ApiRequests for RestApi, logs each request,
// and lets streaming endpoints (the migration extent stream) read the request body themselves.
#pragma once

#include <functional>
#include <istream>
#include <memory>
#include <string>

#include "api/rest.hpp"
#include "copy/result.hpp"

namespace Poco {
class ThreadPool;
}
namespace Poco::Net {
class HTTPServer;
class HTTPServerRequest;
class HTTPServerResponse;
}  // namespace Poco::Net

namespace volmig {

// A streaming endpoint: gets the request with its unread body stream; returns the response.
struct StreamRoute {
    std::string method;
    std::string path_prefix;  // e.g. "/volmig/streams/"
    std::function<ApiResponse(const ApiRequest& head, std::istream& body)> handle;
};

class HttpServer {
public:
    HttpServer(RestApi& api, std::function<void(const std::string&)> log);
    ~HttpServer();

    void add_stream_route(StreamRoute route) { streams_.push_back(std::move(route)); }

    // Binds and starts serving on listen:port with `threads` handler threads.
    Status start(const std::string& listen, uint16_t port, unsigned threads);
    // Stops accepting, lets requests in flight finish (up to 5 s, then aborts them), and returns
    // only when no handler runs any more.
    void stop();
    uint16_t port() const { return bound_port_; }

    // Internal: used by the request handler.
    void serve(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

private:
    RestApi& api_;
    std::function<void(const std::string&)> log_;
    std::vector<StreamRoute> streams_;
    std::unique_ptr<Poco::ThreadPool> pool_;  // ours, so that stop() can wait for every handler
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    uint16_t bound_port_ = 0;
};

}  // namespace volmig
