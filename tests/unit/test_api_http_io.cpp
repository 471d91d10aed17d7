// api/http_io: request heads and bodies read from a real socket pair, never past what was asked
// for, within deadlines and limits; chunked framing checked; writes with a deadline.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <istream>
#include <string>
#include <vector>

#include "api/http_io.hpp"

using namespace volmig;

namespace {

// Two connected stream sockets: the test writes on `client`, the reader reads `server`.
struct Pair {
    int client = -1, server = -1;
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        client = fds[0];
        server = fds[1];
    }
    ~Pair() {
        if (client >= 0) ::close(client);
        ::close(server);
    }
    void send(const std::string& data) const { REQUIRE(::write(client, data.data(), data.size()) == static_cast<ssize_t>(data.size())); }
    void hang_up() {
        ::close(client);
        client = -1;
    }
    // What is still unread on the server side, without waiting.
    std::string rest() const {
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(server, buf, sizeof buf, MSG_DONTWAIT)) > 0) out.append(buf, static_cast<size_t>(n));
        return out;
    }
};

SteadyClock::time_point in(int ms) { return SteadyClock::now() + std::chrono::milliseconds(ms); }

ReadOutcome read_head(const Pair& p, std::string& head, size_t limit = 1024, int ms = 1000) {
    SocketReader reader(p.server);
    reader.set_deadline(in(ms));
    return reader.read_until(head, limit, head_end);
}

// A whole body through BodyReader::read_all.
ReadOutcome body_of(const Pair& p, BodyReader::Framing framing, uint64_t length, std::string& out, uint64_t limit = 1 << 20) {
    SocketReader reader(p.server);
    reader.set_deadline(in(1000));
    BodyReader body(reader, framing, length);
    return body.read_all(out, limit);
}

// Sends `wire` and reads one body framed as given: it must read as `body`, leaving `rest`.
void check_framed(BodyReader::Framing framing, uint64_t length, const std::string& wire, const std::string& body,
                  const std::string& rest) {
    Pair p;
    p.send(wire);
    std::string got;
    REQUIRE(body_of(p, framing, length, got) == ReadOutcome::ok);
    CHECK(got == body);
    CHECK(p.rest() == rest);
}

}  // namespace

TEST_CASE("http_io: a head is read up to its blank line and the body after it is left unread") {
    Pair p;
    p.send("POST /v3/volumes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    std::string head;
    REQUIRE(read_head(p, head) == ReadOutcome::ok);
    CHECK(head == "POST /v3/volumes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
    CHECK(p.rest() == "hello");
}

TEST_CASE("http_io: a head that arrives in pieces, the blank line split across them, is read whole") {
    Pair p;
    std::string head;
    SocketReader reader(p.server);
    reader.set_deadline(in(1000));
    p.send("GET / HTTP/1.1\r\nHost: x\r\n\r");
    // The head is not complete: within the deadline the reader keeps waiting, and gets the rest.
    p.send("\nGET /next");
    REQUIRE(reader.read_until(head, 1024, head_end) == ReadOutcome::ok);
    CHECK(head == "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(p.rest() == "GET /next");
}

TEST_CASE("http_io: head_end ignores empty lines before the request line and accepts bare LF") {
    CHECK(head_end("\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0) == std::string("\r\n\r\nGET / HTTP/1.1\r\n\r\n").size());
    CHECK(head_end("GET / HTTP/1.1\n\n", 0) == 16);
    CHECK(head_end("GET / HTTP/1.1\r\nHost: x\r\n", 0) == std::string::npos);
    CHECK(head_end("\r\n", 0) == std::string::npos);
}

TEST_CASE("http_io: a head larger than the limit is too_long, having read no more than limit + 1 bytes") {
    Pair p;
    p.send("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n\r\n");
    std::string head;
    CHECK(read_head(p, head, 1000) == ReadOutcome::too_long);
    CHECK(head.size() == 1001);
}

TEST_CASE("http_io: a half-sent head times out at the deadline, and a hang-up is closed") {
    Pair p;
    p.send("GET / HTTP/1.1\r\nHost: x\r\nX-Auth-");
    std::string head;
    const auto start = SteadyClock::now();
    CHECK(read_head(p, head, 1024, 200) == ReadOutcome::timeout);
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
    CHECK(waited >= 190);
    CHECK(waited < 1000);
    p.hang_up();
    std::string more;
    CHECK(read_head(p, more) == ReadOutcome::closed);
}

TEST_CASE("http_io: a Content-Length body is read exactly, and one cut short is closed") {
    check_framed(BodyReader::Framing::length, 10, "0123456789NEXT", "0123456789", "NEXT");
    Pair q;
    q.send("01234");
    q.hang_up();
    std::string cut;
    CHECK(body_of(q, BodyReader::Framing::length, 10, cut) == ReadOutcome::closed);
}

TEST_CASE("http_io: a Content-Length above the limit is too_long before a byte is read") {
    Pair p;
    p.send("abc");
    std::string body;
    CHECK(body_of(p, BodyReader::Framing::length, 2 << 20, body, 1 << 20) == ReadOutcome::too_long);
    CHECK(body.empty());
    CHECK(p.rest() == "abc");
}

TEST_CASE("http_io: a chunked body is decoded, extensions and trailers dropped, the next request left unread") {
    check_framed(BodyReader::Framing::chunked, 0, "5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                 "hello, world", "GET / HTTP/1.1\r\n\r\n");
}

TEST_CASE("http_io: a chunked body is counted as it arrives and refused past the limit") {
    Pair p;
    const std::string chunk(4096, 'x');
    std::string wire;
    for (int i = 0; i < 8; ++i) wire += "1000\r\n" + chunk + "\r\n";
    p.send(wire);  // 32 KiB so far, and no last chunk: the limit must stop it, not the end
    std::string body;
    CHECK(body_of(p, BodyReader::Framing::chunked, 0, body, 10000) == ReadOutcome::too_long);
    CHECK(body.size() <= 10000 + 16384);
}

TEST_CASE("http_io: malformed chunked framing is refused") {
    for (const std::string& wire : std::vector<std::string>{"zz\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n", "5 junk\r\nhello\r\n0\r\n\r\n",
                                   "ffffffffffffffff\r\n", std::string(5000, '1') + "\r\n"}) {
        CAPTURE(wire.substr(0, 40));
        Pair p;
        p.send(wire);
        std::string body;
        CHECK(body_of(p, BodyReader::Framing::chunked, 0, body) == ReadOutcome::malformed);
    }
}

TEST_CASE("http_io: a body stream for streaming routes ends early when the client hangs up, and sets badbit on a timeout") {
    {
        Pair p;
        p.send("5\r\nhello\r\n");
        p.hang_up();
        SocketReader reader(p.server);
        reader.set_idle_timeout(std::chrono::milliseconds(500));
        BodyReader body(reader, BodyReader::Framing::chunked);
        BodyStreamBuf buffer(body);
        std::istream stream(&buffer);
        char buf[64];
        stream.read(buf, sizeof buf);
        CHECK(stream.gcount() == 5);
        CHECK_FALSE(stream.bad());
        CHECK(buffer.failure() == ReadOutcome::closed);
    }
    {
        Pair p;
        p.send("abc");
        SocketReader reader(p.server);
        reader.set_idle_timeout(std::chrono::milliseconds(100));
        BodyReader body(reader, BodyReader::Framing::length, 10);
        BodyStreamBuf buffer(body);
        std::istream stream(&buffer);
        char buf[64];
        stream.read(buf, sizeof buf);
        CHECK(stream.bad());
        CHECK(buffer.failure() == ReadOutcome::timeout);
    }
}

TEST_CASE("http_io: send_all gives up at its deadline when the peer does not read") {
    Pair p;
    const std::string big(8 << 20, 'x');  // more than the socket buffers hold
    const auto start = SteadyClock::now();
    CHECK_FALSE(send_all(p.server, big, in(200)));
    CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count() < 1000);
    CHECK(send_all(p.client, "ok", in(200)));
}
