#include "api/server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerParams.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>

#include "api/http_io.hpp"
#include "api/log.hpp"
#include "api/open_files.hpp"

namespace volmig {

namespace {

using Clock = SteadyClock;

// After refusing a request from its head, the connection is closed; first its unread body is
// read and dropped for a moment, so that the client gets the answer rather than a reset.
constexpr size_t kLingerBytes = 1 << 20;
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);
constexpr auto kStopGrace = std::chrono::seconds(5);

std::string seconds(std::chrono::seconds s) { return std::to_string(s.count()) + " s"; }

std::string ms_text(Clock::time_point start) {
    std::ostringstream out;
    out.precision(1);
    out << std::fixed << std::chrono::duration<double, std::milli>(Clock::now() - start).count() << " ms";
    return out.str();
}

class Connection;

}  // namespace

class HttpServer::Impl {
public:
    Impl(RestApi& a, Metrics& m, HttpLimits l, std::function<void(const std::string&)> lg)
        : api(a), metrics(m), limits(l), log(std::move(lg)) {}

    // The accept thread asks, for every new connection: within the limits?
    bool admit(const Poco::Net::StreamSocket& socket);
    // A connection's thread: its client address (admit() noted it by descriptor), registered.
    std::string enter(int fd, Connection* connection);
    void leave(const std::string& address, Connection* connection);
    enum class Which { idle, all };
    // Wakes connection threads out of their reads and writes (stop()): those waiting for a
    // request, or all.
    void abort_connections(Which which);
    size_t connection_count() {
        std::lock_guard<std::mutex> lock(mutex);
        return connections.size();
    }
    void say(const std::string& line) {
        if (log) log(line);
    }

    RestApi& api;
    Metrics& metrics;
    const HttpLimits limits;
    std::function<void(const std::string&)> log;
    std::vector<StreamRoute> streams;
    std::shared_ptr<TlsServerContext> tls;
    std::atomic<bool> stopping{false};
    std::unique_ptr<Poco::ThreadPool> pool;
    std::unique_ptr<Poco::Net::TCPServer> tcp;
    uint16_t port = 0;

private:
    void note_refusal(ConnectionRefusal reason, const std::string& address, unsigned open_from_address);

public:
    // A failed TLS handshake, logged at most once per kRefusalLogInterval with a count.
    void note_handshake_failure(const std::string& address, const std::string& why);

private:
    CountedLog handshake_failures{kRefusalLogInterval};

    std::mutex mutex;  // everything below
    std::map<std::string, unsigned> per_client;  // open (or queued) connections by client address
    std::map<int, std::string> admitted;         // descriptor -> client address, until its thread starts
    unsigned open = 0;
    std::set<Connection*> connections;           // those whose thread runs
    CountedLog refusals{kRefusalLogInterval};
};

namespace {

// One client connection on its own thread: requests one after the other (keep-alive).
class Connection : public Poco::Net::TCPServerConnection {
public:
    Connection(const Poco::Net::StreamSocket& socket, HttpServer::Impl& server)
        : Poco::Net::TCPServerConnection(socket), server_(server), fd_(socket.impl()->sockfd()), reader_(fd_) {
        client_ = server_.enter(fd_, this);
        try {
            server_address_ = this->socket().address().toString();
        } catch (const Poco::Exception&) {
            server_address_ = "localhost";
        }
    }
    // Leaves the registry before the base class's socket is closed, so that stop() never
    // shuts down a descriptor that may already belong to someone else.
    ~Connection() override { server_.leave(client_, this); }

    void run() override;
    // From stop(), under the server's lock: wakes the thread out of any read or write.
    void abort() { ::shutdown(fd_, SHUT_RDWR); }
    bool idle() const { return idle_.load(); }

private:
    // Serves one request; returns whether the connection may carry another.
    bool serve_request(Clock::time_point deadline);
    bool serve_stream(const StreamRoute& route, ApiRequest& head, BodyReader& body, bool expect_continue, Clock::time_point start);
    // Answers a request from its head (or what there is of one) and closes: returns false.
    bool refuse(int status, const std::string& message, const ApiRequest& head, Clock::time_point start, bool body_unread);
    bool send(const ApiResponse& response, const ApiRequest& head, Clock::time_point start, bool keep_alive);
    void send_continue();
    void linger_and_close();
    bool to_head(const Poco::Net::HTTPRequest& request, ApiRequest& head, std::string& why);

    HttpServer::Impl& server_;
    const int fd_;
    SocketReader reader_;
    std::unique_ptr<TlsSession> tls_;
    std::string client_;
    std::string server_address_;
    std::atomic<bool> idle_{true};
};

void Connection::run() {
    const HttpLimits& limits = server_.limits;
    Clock::time_point deadline = Clock::now() + limits.client_socket_timeout;
    if (server_.tls) {
        tls_ = std::make_unique<TlsSession>(*server_.tls, fd_);
        std::string why;
        if (!tls_->accept(fd_, deadline, why)) {
            server_.note_handshake_failure(client_, why);
            return;
        }
        reader_.use_tls(tls_.get());
    }
    for (bool first = true;; first = false) {
        // Waiting for a request: idle, so that stop() may close the connection at once. The
        // flag is set before `stopping` is read, and stop() sets `stopping` before it looks at
        // the flags: one of the two sees the other.
        idle_ = true;
        if (server_.stopping) return;
        if (!first) {
            if (limits.client_keepalive_timeout.count() == 0) return;
            if (!reader_.wait_readable(Clock::now() + limits.client_keepalive_timeout)) return;
            deadline = Clock::now() + limits.client_socket_timeout;
        } else if (!reader_.wait_readable(deadline)) {
            return;
        }
        idle_ = false;
        if (!serve_request(deadline)) return;
    }
}

bool Connection::to_head(const Poco::Net::HTTPRequest& request, ApiRequest& head, std::string& why) {
    head.method = request.getMethod();
    head.path = request.getURI();  // raw, for the log, until it is decoded
    try {
        Poco::URI uri(request.getURI());
        head.path = uri.getPath();
        for (const auto& [k, v] : uri.getQueryParameters()) head.query[k] = v;
    } catch (const Poco::Exception& e) {
        why = "the request target is not a valid URI (" + e.message() + ")";
        return false;
    }
    for (const auto& [k, v] : request) {
        std::string name = k;
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        head.headers[name] = v;
    }
    const std::string host = request.getHost();
    head.base_url = (tls_ ? "https://" : "http://") + (plausible_host(host) ? host : server_address_);
    return true;
}

bool Connection::serve_request(Clock::time_point deadline) {
    const HttpLimits& limits = server_.limits;
    const Clock::time_point start = Clock::now();
    ApiRequest head;
    reader_.set_deadline(deadline);
    std::string raw;
    const ReadOutcome got = reader_.read_until(raw, limits.max_header_size, head_end);
    if (got == ReadOutcome::too_long)
        return refuse(431, "the request line and headers are larger than max_header_size (" + std::to_string(limits.max_header_size) +
                               " bytes)",
                      head, start, true);
    if (got == ReadOutcome::timeout && raw.find_first_not_of("\r\n") != std::string::npos)
        return refuse(408, "the request head did not arrive within client_socket_timeout (" + seconds(limits.client_socket_timeout) + ")",
                      head, start, true);
    if (got != ReadOutcome::ok) return false;  // closed, reset, or nothing sent at all

    Poco::Net::HTTPRequest request;
    try {
        std::istringstream in(raw);
        request.read(in);
    } catch (const Poco::Exception& e) {
        return refuse(400, "malformed request head: " + e.message(), head, start, true);
    }
    head.method = request.getMethod();
    head.path = request.getURI();
    if (request.getVersion() != Poco::Net::HTTPMessage::HTTP_1_1 && request.getVersion() != Poco::Net::HTTPMessage::HTTP_1_0)
        return refuse(505, "HTTP version '" + request.getVersion() + "' is not supported: use HTTP/1.1", head, start, true);
    std::string why;
    if (!to_head(request, head, why)) return refuse(400, why, head, start, true);

    // Framing, from the head alone (RFC 9112 6): chunked, Content-Length, or no body.
    BodyReader::Framing framing = BodyReader::Framing::none;
    uint64_t length = 0;
    const bool has_length = request.has("Content-Length");
    if (request.has("Transfer-Encoding")) {
        if (!request.getChunkedTransferEncoding())
            return refuse(501, "Transfer-Encoding '" + request.get("Transfer-Encoding") + "' is not supported (only chunked)", head, start, true);
        if (has_length) return refuse(400, "a request cannot have both Transfer-Encoding and Content-Length", head, start, true);
        framing = BodyReader::Framing::chunked;
    } else if (has_length) {
        if (!parse_length(request.get("Content-Length"), length))
            return refuse(400, "Content-Length '" + request.get("Content-Length") + "' is not a number of bytes", head, start, true);
        framing = BodyReader::Framing::length;
    }
    const bool body_follows = framing == BodyReader::Framing::chunked || length > 0;

    // Authentication, before one byte of the body is read.
    if (auto refused = server_.api.authorize(head)) {
        server_.metrics.record_request(head.method, refused->status);
        send(*refused, head, start, false);
        if (body_follows) linger_and_close();
        return false;
    }
    const bool expect_continue = request.getExpectContinue() && request.getVersion() == Poco::Net::HTTPMessage::HTTP_1_1;
    BodyReader body(reader_, framing, length);
    for (const auto& route : server_.streams)
        if (head.method == route.method && head.path.rfind(route.path_prefix, 0) == 0)
            return serve_stream(route, head, body, expect_continue, start);

    if (framing == BodyReader::Framing::length && length > limits.max_request_body_size)
        return refuse(413, "the request body (" + std::to_string(length) + " bytes) is larger than max_request_body_size (" +
                               std::to_string(limits.max_request_body_size) + " bytes)",
                      head, start, true);
    if (expect_continue && body_follows) send_continue();
    const ReadOutcome read = body.read_all(head.body, limits.max_request_body_size);
    if (read == ReadOutcome::too_long)
        return refuse(413, "the request body is larger than max_request_body_size (" + std::to_string(limits.max_request_body_size) + " bytes)",
                      head, start, true);
    if (read == ReadOutcome::timeout)
        return refuse(408, "the request body did not arrive within client_socket_timeout (" + seconds(limits.client_socket_timeout) + ")",
                      head, start, true);
    if (read == ReadOutcome::malformed) return refuse(400, "malformed chunked request body", head, start, true);
    if (read != ReadOutcome::ok) {
        server_.say(head.method + " " + printable(head.path) + ": the client went away while sending the body (" + to_string(read) + ")");
        return false;
    }

    ApiResponse response;
    try {
        response = server_.api.handle(head);
    } catch (const std::exception& e) {
        response = error_response(500, std::string("internal error: ") + e.what());
    } catch (...) {
        response = error_response(500, "internal error");
    }
    const bool keep_alive = request.getKeepAlive() && !server_.stopping && limits.client_keepalive_timeout.count() > 0;
    return send(response, head, start, keep_alive) && keep_alive;
}

bool Connection::serve_stream(const StreamRoute& route, ApiRequest& head, BodyReader& body, bool expect_continue, Clock::time_point start) {
    if (expect_continue) send_continue();
    reader_.set_idle_timeout(server_.limits.stream_socket_timeout);
    auto buffer = std::make_unique<BodyStreamBuf>(body);
    std::istream in(buffer.get());
    ApiResponse response;
    try {
        response = route.handle(head, in);
    } catch (const std::exception& e) {
        response = error_response(500, std::string("internal error: ") + e.what());
    } catch (...) {
        response = error_response(500, "internal error");
    }
    server_.metrics.record_request(head.method, response.status);
    send(response, head, start, false);
    if (!body.ended()) linger_and_close();
    return false;
}

bool Connection::refuse(int status, const std::string& message, const ApiRequest& head, Clock::time_point start, bool body_unread) {
    server_.metrics.record_request(head.method.empty() ? "-" : head.method, status);
    send(error_response(status, message), head, start, false);
    if (body_unread) linger_and_close();
    return false;
}

bool Connection::send(const ApiResponse& r, const ApiRequest& head, Clock::time_point start, bool keep_alive) {
    std::string body;
    std::string content_type;
    if (!r.text.empty() || r.content_type.rfind("text/", 0) == 0) {
        body = r.text;
        content_type = r.content_type;
    } else if (!r.body.is_null()) {
        // Views carry what clients sent (names, paths, Host): bytes that are not UTF-8 are
        // replaced rather than failing the answer.
        body = r.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        content_type = "application/json";
    }
    Poco::Net::HTTPResponse response;
    response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(r.status));
    for (const auto& [k, v] : r.headers) response.set(k, v);
    if (!content_type.empty()) response.setContentType(content_type);
    response.setContentLength64(static_cast<Poco::Int64>(body.size()));
    response.setKeepAlive(keep_alive);
    response.setDate(Poco::Timestamp());
    std::ostringstream out;
    response.write(out);
    std::string bytes = out.str();
    if (head.method != "HEAD") bytes += body;
    // Logged before it is sent: a client that has its answer finds the line already there.
    const std::string what = (head.method.empty() ? "-" : head.method) + " " + (head.path.empty() ? "-" : printable(head.path));
    server_.say(what + " " + std::to_string(r.status) + " " + ms_text(start));
    const bool sent = send_all(fd_, bytes, Clock::now() + server_.limits.client_socket_timeout, tls_.get());
    if (!sent) server_.say(what + ": the client did not take the answer within client_socket_timeout, or went away");
    return sent;
}

void Connection::send_continue() {
    (void)send_all(fd_, "HTTP/1.1 100 Continue\r\n\r\n", Clock::now() + server_.limits.client_socket_timeout, tls_.get());
}

void Connection::linger_and_close() {
    if (tls_) tls_->close_notify();
    ::shutdown(fd_, SHUT_WR);
    reader_.set_deadline(Clock::now() + kLingerTime);
    char buf[16 << 10];
    size_t dropped = 0, got = 0;
    while (dropped < kLingerBytes && reader_.read_some(buf, sizeof buf, got) == ReadOutcome::ok) dropped += got;
}

class Factory : public Poco::Net::TCPServerConnectionFactory {
public:
    explicit Factory(HttpServer::Impl& server) : server_(server) {}
    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
        return new Connection(socket, server_);
    }

private:
    HttpServer::Impl& server_;
};

class Admission : public Poco::Net::TCPServerConnectionFilter {
public:
    explicit Admission(HttpServer::Impl& server) : server_(server) {}
    bool accept(const Poco::Net::StreamSocket& socket) override { return server_.admit(socket); }

private:
    HttpServer::Impl& server_;
};

}  // namespace

bool HttpServer::Impl::admit(const Poco::Net::StreamSocket& socket) {
    std::string address;
    int fd = -1;
    try {
        address = socket.peerAddress().host().toString();
        fd = socket.impl()->sockfd();
    } catch (const Poco::Exception&) {
        return false;  // gone already
    }
    std::lock_guard<std::mutex> lock(mutex);
    auto it = per_client.emplace(address, 0).first;
    ConnectionRefusal reason = ConnectionRefusal::server_full;
    if (open < limits.threads) {
        if (it->second < limits.max_connections_per_client) {
            ++it->second;
            ++open;
            admitted[fd] = address;
            metrics.connection_opened();
            return true;
        }
        reason = ConnectionRefusal::per_client;
    }
    const unsigned from_address = it->second;
    if (from_address == 0) per_client.erase(it);
    metrics.connection_refused(reason);
    note_refusal(reason, address, from_address);
    return false;
}

void HttpServer::Impl::note_refusal(ConnectionRefusal reason, const std::string& address, unsigned open_from_address) {
    const uint64_t n = refusals.note(Clock::now());
    if (n == 0) return;
    const std::string why = reason == ConnectionRefusal::per_client
                                ? address + " has " + std::to_string(open_from_address) + " open (max_connections_per_client = " +
                                      std::to_string(limits.max_connections_per_client) + ")"
                                : "all http_threads (" + std::to_string(limits.threads) + ") are serving connections";
    say("refused " + std::to_string(n) + " connection(s) " + refusals.period() + ", the latest from " + address + ": " + why);
}

void HttpServer::Impl::note_handshake_failure(const std::string& address, const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex);
    const uint64_t n = handshake_failures.note(Clock::now());
    if (n == 0) return;
    say("closed " + std::to_string(n) + " connection(s) without a TLS session " + handshake_failures.period() + ", the latest from " +
        address + ": " + why);
}

std::string HttpServer::Impl::enter(int fd, Connection* connection) {
    std::lock_guard<std::mutex> lock(mutex);
    connections.insert(connection);
    auto it = admitted.find(fd);
    if (it == admitted.end()) return std::string();
    std::string address = std::move(it->second);
    admitted.erase(it);
    return address;
}

void HttpServer::Impl::leave(const std::string& address, Connection* connection) {
    std::lock_guard<std::mutex> lock(mutex);
    connections.erase(connection);
    auto it = per_client.find(address);
    if (it == per_client.end()) return;
    if (--it->second == 0) per_client.erase(it);
    --open;
    metrics.connection_closed();
}

void HttpServer::Impl::abort_connections(Which which) {
    std::lock_guard<std::mutex> lock(mutex);
    for (Connection* c : connections)
        if (which == Which::all || c->idle()) c->abort();
}

HttpServer::HttpServer(RestApi& api, Metrics& metrics, HttpLimits limits, std::function<void(const std::string&)> log)
    : impl_(std::make_unique<Impl>(api, metrics, limits, std::move(log))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::add_stream_route(StreamRoute route) { impl_->streams.push_back(std::move(route)); }

void HttpServer::use_tls(std::shared_ptr<TlsServerContext> context) { impl_->tls = std::move(context); }

uint16_t HttpServer::port() const { return impl_->port; }

Status HttpServer::start(const std::string& listen, uint16_t port) {
    const unsigned threads = impl_->limits.threads;
    Status files = ensure_open_files(threads);
    if (!files.ok()) return files;
    try {
        // Bind without SO_REUSEPORT (Poco's address constructor sets it): a second daemon on the
        // same port must fail to start, not share the port and answer half the requests.
        Poco::Net::ServerSocket socket;
        socket.bind(Poco::Net::SocketAddress(listen, port), /*reuseAddress=*/true, /*reusePort=*/false);
        socket.listen(static_cast<int>(std::min(threads, 4096u)));
        impl_->port = socket.address().port();
        auto* params = new Poco::Net::TCPServerParams;
        params->setMaxThreads(static_cast<int>(threads));
        // Admission keeps the connections at most http_threads, so the queue never refuses one
        // it admitted (which would leave its address counted).
        params->setMaxQueued(static_cast<int>(threads));
        params->setThreadIdleTime(Poco::Timespan(1, 0));
        // Every thread is started now: a burst of hundreds of new connections would otherwise
        // start hundreds of threads from the accept thread, and stall every accept behind them
        // (measured: 550 new connections delayed a normal request by 400-500 ms; with the
        // threads already there, by under 50 ms). An idle thread costs about 10 KiB.
        impl_->pool = std::make_unique<Poco::ThreadPool>(static_cast<int>(threads), static_cast<int>(threads) + 2, 30);
        impl_->tcp = std::make_unique<Poco::Net::TCPServer>(new Factory(*impl_), *impl_->pool, socket, params);
        impl_->tcp->setConnectionFilter(new Admission(*impl_));
        impl_->tcp->start();
    } catch (const Poco::Exception& e) {
        impl_->tcp.reset();
        impl_->pool.reset();
        return Error{"cannot listen on " + listen + ":" + std::to_string(port) + ": " + e.displayText() +
                         " (is another daemon using the port?)",
                     ErrorKind::invalid};
    }
    return success();
}

void HttpServer::stop() {
    if (!impl_->tcp) return;
    impl_->tcp->stop();  // no new connections; those accepted but not started are dropped
    impl_->stopping = true;
    impl_->abort_connections(Impl::Which::idle);
    const auto give_up = Clock::now() + kStopGrace;
    while (impl_->connection_count() > 0 && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    impl_->abort_connections(Impl::Which::all);
    impl_->pool->joinAll();
    impl_->tcp.reset();
    impl_->pool.reset();
}

}  // namespace volmig
