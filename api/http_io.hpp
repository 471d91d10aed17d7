// HTTP/1.1 message framing on a connected socket, for the server (api/server.cpp): a reader
// that waits no longer than a deadline (or an idle timeout) and never reads past what it was
// asked for, the request head up to its blank line, request bodies by Content-Length or
// chunked transfer coding, and writing with a deadline.
//
// Never reading ahead is what lets the server answer from a request's head alone (401, 413)
// and leave its body unread, and keeps the next request of a keep-alive connection intact
// without a buffer that outlives the request: a line's end is found by peeking (MSG_PEEK),
// then exactly the bytes up to it are taken.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <streambuf>
#include <string>

namespace volmig {

using SteadyClock = std::chrono::steady_clock;

enum class ReadOutcome {
    ok,
    closed,     // the peer closed the connection (EOF) before what was asked for
    timeout,    // the deadline (or the idle timeout) passed
    too_long,   // a head or line longer than its limit
    malformed,  // framing that breaks HTTP/1.1 (a bad chunk line)
    failed,     // a socket error (reset)
};
const char* to_string(ReadOutcome outcome);

class TlsSession;  // api/tls.hpp

// Reads from a socket, or through a TLS session on it (its handshake done).
class SocketReader {
public:
    explicit SocketReader(int fd, TlsSession* tls = nullptr) : fd_(fd), tls_(tls) {}
    void use_tls(TlsSession* tls) { tls_ = tls; }

    // Every read from now on must complete by `at`.
    void set_deadline(SteadyClock::time_point at) {
        deadline_ = at;
        idle_timeout_.reset();
    }
    // Every read from now on may wait up to `timeout` for more bytes (a long transfer).
    void set_idle_timeout(std::chrono::milliseconds timeout) { idle_timeout_ = timeout; }

    // Appends to `out` the bytes up to and including the end of what `find_end` looks for,
    // and not one byte more. find_end(out, from) returns the index just past the end, or
    // npos, looking at out[from..]. too_long when `limit` bytes arrived without an end.
    template <typename FindEnd>
    ReadOutcome read_until(std::string& out, size_t limit, FindEnd find_end);
    // Appends exactly `n` bytes to `out`.
    ReadOutcome read_exact(std::string& out, size_t n);
    // Reads between 1 and `cap` bytes into `buf`; `got` says how many.
    ReadOutcome read_some(char* buf, size_t cap, size_t& got);
    // Waits until a byte can be read (or the peer closed), up to `until`.
    bool wait_readable(SteadyClock::time_point until) const;

private:
    // recv() that waits (poll) within the deadline; -1 with `last_` set when it fails.
    long receive(char* buf, size_t n, int flags);
    SteadyClock::time_point wait_limit() const;

    long receive_tls(char* buf, size_t n, bool peek);

    int fd_;
    TlsSession* tls_;
    SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
    std::optional<std::chrono::milliseconds> idle_timeout_;
    ReadOutcome last_ = ReadOutcome::ok;
};

// A Host header fit to build links from (letters, digits, . - : [ ] _; at most 255).
bool plausible_host(const std::string& host);
// Content-Length as RFC 9110 8.6 has it: digits only (at most 18 of them).
bool parse_length(const std::string& text, uint64_t& out);

// The index just past the blank line that ends a request head in data[from..] ("\r\n\r\n",
// or bare "\n\n" as lenient servers accept), or npos. Empty lines before the request line do
// not count (RFC 9112 2.2: a server ignores at least one).
size_t head_end(const std::string& data, size_t from);

// A request body as it arrives: `length` bytes, or chunked transfer coding (chunk sizes and
// extensions checked, trailers read and dropped), through a SocketReader.
class BodyReader {
public:
    enum class Framing { none, length, chunked };
    BodyReader(SocketReader& in, Framing framing, uint64_t length = 0);

    // Up to `cap` bytes of the body into `buf`; got = 0 at its end.
    ReadOutcome read(char* buf, size_t cap, size_t& got);
    // The whole body into `out` while it is at most `limit` bytes; too_long as soon as it
    // is larger (the rest is left unread).
    ReadOutcome read_all(std::string& out, uint64_t limit);
    bool ended() const { return ended_; }

private:
    ReadOutcome next_chunk();

    SocketReader& in_;
    Framing framing_;
    uint64_t left_ = 0;  // of the body (length) or of the current chunk (chunked)
    bool in_chunk_ = false;
    bool ended_ = false;
};

// A BodyReader as a std::istream's buffer, for streaming routes: a read that fails (timeout,
// reset, bad framing) sets the stream's badbit; a body cut short by the client closing the
// connection just ends early (the route's own framing says what is missing). failure() keeps
// what happened.
class BodyStreamBuf : public std::streambuf {
public:
    explicit BodyStreamBuf(BodyReader& body) : body_(body) {}
    ReadOutcome failure() const { return failure_; }

protected:
    int_type underflow() override;
    std::streamsize xsgetn(char* s, std::streamsize n) override;

private:
    BodyReader& body_;
    ReadOutcome failure_ = ReadOutcome::ok;
    char buffer_[64 << 10];
};

// Writes all of `data` by `deadline`; false when the peer does not take it in time or is gone.
// Through `tls` when given.
bool send_all(int fd, const std::string& data, SteadyClock::time_point deadline, TlsSession* tls = nullptr);
// Waits for fd to be readable (POLLIN) or writable (POLLOUT) up to `until`; false at `until`.
bool wait_for(int fd, short events, SteadyClock::time_point until);

// ---------------------------------------------------------------------------- inline

template <typename FindEnd>
ReadOutcome SocketReader::read_until(std::string& out, size_t limit, FindEnd find_end) {
    char buf[16 << 10];
    for (;;) {
        const size_t before = out.size();
        if (before > limit) return ReadOutcome::too_long;
        const size_t want = std::min(sizeof buf, limit + 1 - before);
        const long n = receive(buf, want, MSG_PEEK);
        if (n < 0) return last_;
        if (n == 0) return ReadOutcome::closed;
        out.append(buf, static_cast<size_t>(n));
        const size_t end = find_end(out, before >= 2 ? before - 2 : 0);
        const size_t take = end == std::string::npos ? static_cast<size_t>(n) : end - before;
        out.resize(before + take);
        // The bytes were just peeked: this takes them without waiting.
        if (receive(buf, take, 0) != static_cast<long>(take)) return ReadOutcome::failed;
        if (end != std::string::npos) return ReadOutcome::ok;
    }
}

}  // namespace volmig
