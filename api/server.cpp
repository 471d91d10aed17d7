#include "api/server.hpp"

#include <chrono>
#include <sstream>
#include <thread>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

namespace volmig {

namespace {

constexpr std::streamsize kMaxBody = 8 << 20;  // JSON requests; streams are read by their route

class Handler : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(HttpServer& server) : server_(server) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
        server_.serve(request, response);
    }

private:
    HttpServer& server_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(HttpServer& server) : server_(server) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override { return new Handler(server_); }

private:
    HttpServer& server_;
};

ApiRequest head_of(Poco::Net::HTTPServerRequest& request) {
    ApiRequest r;
    r.method = request.getMethod();
    Poco::URI uri(request.getURI());
    r.path = uri.getPath();
    for (const auto& [k, v] : uri.getQueryParameters()) r.query[k] = v;
    for (const auto& [k, v] : request) {
        std::string name = k;
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        r.headers[name] = v;
    }
    const std::string host = request.getHost().empty() ? request.serverAddress().toString() : request.getHost();
    r.base_url = "http://" + host;
    return r;
}

void send(Poco::Net::HTTPServerResponse& response, const ApiResponse& r) {
    response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(r.status));
    for (const auto& [k, v] : r.headers) response.set(k, v);
    std::string body;
    if (!r.text.empty() || r.content_type.rfind("text/", 0) == 0) {
        body = r.text;
        response.setContentType(r.content_type);
    } else if (!r.body.is_null()) {
        body = r.body.dump();
        response.setContentType("application/json");
    }
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    std::ostream& out = response.send();
    out << body;
}

}  // namespace

HttpServer::HttpServer(RestApi& api, std::function<void(const std::string&)> log) : api_(api), log_(std::move(log)) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start(const std::string& listen, uint16_t port, unsigned threads) {
    try {
        // Bind without SO_REUSEPORT (Poco's address constructor sets it): a second daemon on the
        // same port must fail to start, not share the port and answer half the requests.
        Poco::Net::ServerSocket socket;
        socket.bind(Poco::Net::SocketAddress(listen, port), /*reuseAddress=*/true, /*reusePort=*/false);
        socket.listen(64);
        bound_port_ = socket.address().port();
        auto* params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(static_cast<int>(threads));
        params->setMaxQueued(256);
        params->setKeepAlive(true);
        params->setTimeout(Poco::Timespan(600, 0));  // streams may pause while the receiver writes
        pool_ = std::make_unique<Poco::ThreadPool>(2, static_cast<int>(threads) + 4, 60);
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), *pool_, socket, params);
        server_->start();
    } catch (const Poco::Exception& e) {
        return Error{"cannot listen on " + listen + ":" + std::to_string(port) + ": " + e.displayText() +
                         " (is another daemon using the port?)",
                     ErrorKind::invalid};
    }
    return success();
}

void HttpServer::stop() {
    if (!server_) return;
    server_->stopAll(false);
    // Give requests in flight a moment to finish their responses, then cut what remains
    // (idle keep-alive connections, a stream still arriving) and wait for every handler thread.
    for (int i = 0; i < 50 && server_->currentConnections() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server_->stopAll(true);
    pool_->joinAll();
    server_.reset();
    pool_.reset();
}

void HttpServer::serve(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    const auto start = std::chrono::steady_clock::now();
    ApiRequest head;
    ApiResponse result;
    try {
        head = head_of(request);
        bool streamed = false;
        for (const auto& route : streams_) {
            if (head.method == route.method && head.path.rfind(route.path_prefix, 0) == 0) {
                result = route.handle(head, request.stream());
                streamed = true;
                break;
            }
        }
        if (!streamed) {
            std::string body;
            Poco::StreamCopier::copyToString(request.stream(), body, 65536);
            if (static_cast<std::streamsize>(body.size()) > kMaxBody) {
                result = error_response(413, "request body larger than 8 MiB");
            } else {
                head.body = std::move(body);
                result = api_.handle(head);
            }
        }
    } catch (const std::exception& e) {
        result = error_response(500, std::string("internal error: ") + e.what());
    }
    try {
        send(response, result);
    } catch (const Poco::Exception& e) {
        if (log_) log_("could not send the response to " + head.method + " " + head.path + ": " + e.displayText());
    }
    if (log_) {
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::ostringstream line;
        line.precision(1);
        line << std::fixed << head.method << " " << head.path << " " << result.status << " " << ms << " ms";
        log_(line.str());
    }
}

}  // namespace volmig
