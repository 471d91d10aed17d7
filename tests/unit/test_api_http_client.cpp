// api/http_client: connection reuse through HttpConnections, and what happens when a reused
// connection closes after the server got the request: a GET is sent again on a new connection,
// a POST is not (it may have been applied) and fails saying so. Against a real socket server
// on 127.0.0.1 that answers each connection's first request and closes at its second.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "api/http_client.hpp"

using namespace volmig;

namespace {

class OneAnswerServer {
public:
    explicit OneAnswerServer(std::chrono::milliseconds delay = {}) : delay_(delay) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        REQUIRE(::listen(fd_, 8) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~OneAnswerServer() {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/x"; }
    int requests() const { return requests_.load(); }
    int connections() const { return connections_.load(); }

private:
    // A request: its head, and as many body bytes as Content-Length says.
    bool read_request(int c) {
        std::string got;
        char buf[4096];
        size_t body_at = std::string::npos, length = 0;
        for (;;) {
            if (body_at != std::string::npos && got.size() >= body_at + length) return true;
            const ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) return false;
            got.append(buf, static_cast<size_t>(n));
            if (body_at == std::string::npos && got.find("\r\n\r\n") != std::string::npos) {
                body_at = got.find("\r\n\r\n") + 4;
                const size_t cl = got.find("Content-Length: ");
                if (cl != std::string::npos && cl < body_at) length = std::stoul(got.substr(cl + 16));
            }
        }
    }
    void serve() {
        for (;;) {
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            ++connections_;
            if (read_request(c)) {
                ++requests_;
                std::this_thread::sleep_for(delay_);
                const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                (void)::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
                if (read_request(c)) ++requests_;  // and then gone, without an answer
            }
            ::close(c);
        }
    }

    std::chrono::milliseconds delay_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<int> requests_{0}, connections_{0};
};

}  // namespace

// A server, a pool, and a first call of `method` answered on the pool's first connection.
struct Reused {
    OneAnswerServer server;
    HttpConnections pool;
    HttpOptions options;
    explicit Reused(const std::string& method) {
        options.connections = &pool;
        auto first = http_request(method, server.url(), method == "POST" ? R"({"a": 1})" : "", options);
        REQUIRE(first.ok());
        CHECK(first->body == "ok");
        CHECK(pool.connections_made() == 1);
        CHECK(pool.calls() == 1);
    }
};

TEST_CASE("http_client: a GET on a reused connection that closed is sent again on a new one") {
    Reused r("GET");
    auto second = http_request("GET", r.server.url(), "", r.options);
    REQUIRE_MESSAGE(second.ok(), (second.ok() ? "" : second.error().message));
    CHECK(second->body == "ok");
    // Sent on the reused connection (which proves the reuse), then again on a new one.
    CHECK(r.server.requests() == 3);
    CHECK(r.server.connections() == 2);
    CHECK(r.pool.connections_made() == 2);
}

TEST_CASE("http_client: a POST on a reused connection that closed is not sent twice") {
    Reused r("POST");
    auto second = http_request("POST", r.server.url(), R"({"a": 2})", r.options);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.find("may have been applied, and was not sent again") != std::string::npos);
    // libcurl connects again to retry, then finds it cannot rewind the body: nothing is sent.
    CHECK(r.server.requests() == 2);
}

TEST_CASE("http_client: require_tls refuses an http:// URL before sending anything") {
    OneAnswerServer server;
    HttpOptions o;
    o.require_tls = true;
    auto r = http_request("GET", server.url(), "", o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::refused);
    CHECK(r.error().message.find("TLS is required (peer_require_tls)") != std::string::npos);
    CHECK(server.connections() == 0);
}

TEST_CASE("http_client: the pool measures the round trip of its calls, a slow answer as slow") {
    OneAnswerServer fast, slow(std::chrono::milliseconds(40));
    HttpConnections fast_pool, slow_pool;
    CHECK(fast_pool.round_trip().count() == 0);  // nothing measured yet
    HttpOptions options;
    options.connections = &fast_pool;
    REQUIRE(http_request("GET", fast.url(), "", options).ok());
    options.connections = &slow_pool;
    REQUIRE(http_request("GET", slow.url(), "", options).ok());
    CHECK(fast_pool.round_trip().count() > 0);
    CHECK(fast_pool.round_trip() < std::chrono::milliseconds(40));
    CHECK(slow_pool.round_trip() >= std::chrono::milliseconds(40));
    CHECK(slow_pool.round_trip() < std::chrono::seconds(5));
}
