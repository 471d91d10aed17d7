#include "api/http_io.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <stdexcept>

#include "api/tls.hpp"

namespace volmig {

namespace {

int poll_ms(SteadyClock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count() + 1;
    return static_cast<int>(std::clamp<long long>(left, 0, 60 * 60 * 1000));
}

size_t line_end(const std::string& data, size_t from) {
    const size_t nl = data.find('\n', from);
    return nl == std::string::npos ? nl : nl + 1;
}

bool is_line_end(const std::string& line) { return line == "\r\n" || line == "\n"; }

constexpr size_t kMaxChunkLine = 4096;      // a chunk size and its extensions
constexpr size_t kMaxTrailers = 16 << 10;   // all trailer fields of a chunked body

}  // namespace

bool wait_for(int fd, short events, SteadyClock::time_point until) {
    for (;;) {
        if (SteadyClock::now() >= until) return false;
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, poll_ms(until));
        if (r > 0) return true;  // ready, or an error/hang-up the next call reports
        if (r < 0 && errno != EINTR) return true;
    }
}

const char* to_string(ReadOutcome outcome) {
    switch (outcome) {
        case ReadOutcome::ok: return "ok";
        case ReadOutcome::closed: return "the client closed the connection";
        case ReadOutcome::timeout: return "timed out";
        case ReadOutcome::too_long: return "too long";
        case ReadOutcome::malformed: return "malformed chunked framing";
        case ReadOutcome::failed: return "connection error";
    }
    return "?";
}

SteadyClock::time_point SocketReader::wait_limit() const {
    return idle_timeout_ ? SteadyClock::now() + *idle_timeout_ : deadline_;
}

bool SocketReader::wait_readable(SteadyClock::time_point until) const {
    if (tls_ && tls_->has_buffered()) return true;
    return wait_for(fd_, POLLIN, until);
}

long SocketReader::receive_tls(char* buf, size_t n, bool peek) {
    const SteadyClock::time_point until = wait_limit();
    for (;;) {
        size_t got = 0;
        const TlsSession::Io io = tls_->read(buf, n, peek, got);
        if (io == TlsSession::Io::done) return static_cast<long>(got);
        if (io == TlsSession::Io::closed) return 0;
        if (io == TlsSession::Io::failed) {
            last_ = ReadOutcome::failed;
            return -1;
        }
        if (!wait_for(fd_, io == TlsSession::Io::want_write ? POLLOUT : POLLIN, until)) {
            last_ = ReadOutcome::timeout;
            return -1;
        }
    }
}

long SocketReader::receive(char* buf, size_t n, int flags) {
    if (n == 0) return 0;
    if (tls_) return receive_tls(buf, n, (flags & MSG_PEEK) != 0);
    const SteadyClock::time_point until = wait_limit();
    for (;;) {
        const ssize_t r = ::recv(fd_, buf, n, flags | MSG_DONTWAIT);
        if (r >= 0) return static_cast<long>(r);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            last_ = ReadOutcome::failed;
            return -1;
        }
        if (!wait_for(fd_, POLLIN, until)) {
            last_ = ReadOutcome::timeout;
            return -1;
        }
    }
}

ReadOutcome SocketReader::read_exact(std::string& out, size_t n) {
    char buf[64 << 10];
    while (n > 0) {
        const long got = receive(buf, std::min(sizeof buf, n), 0);
        if (got < 0) return last_;
        if (got == 0) return ReadOutcome::closed;
        out.append(buf, static_cast<size_t>(got));
        n -= static_cast<size_t>(got);
    }
    return ReadOutcome::ok;
}

ReadOutcome SocketReader::read_some(char* buf, size_t cap, size_t& got) {
    got = 0;
    const long n = receive(buf, cap, 0);
    if (n < 0) return last_;
    if (n == 0) return ReadOutcome::closed;
    got = static_cast<size_t>(n);
    return ReadOutcome::ok;
}

// A Host header fit to build links from; anything else falls back to the server's address.
bool plausible_host(const std::string& host) {
    if (host.empty() || host.size() > 255) return false;
    return std::all_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
    });
}

// Content-Length as RFC 9110 8.6 has it: digits only.
bool parse_length(const std::string& text, uint64_t& out) {
    if (text.empty() || text.size() > 18) return false;
    out = 0;
    for (char c : text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        out = out * 10 + static_cast<uint64_t>(c - '0');
    }
    return true;
}

size_t head_end(const std::string& data, size_t from) {
    size_t start = 0;
    while (start < data.size() && (data[start] == '\r' || data[start] == '\n')) ++start;
    for (size_t i = std::max(from, start); i < data.size(); ++i) {
        if (data[i] != '\n') continue;
        if (i + 1 < data.size() && data[i + 1] == '\n') return i + 2;
        if (i + 2 < data.size() && data[i + 1] == '\r' && data[i + 2] == '\n') return i + 3;
    }
    return std::string::npos;
}

BodyReader::BodyReader(SocketReader& in, Framing framing, uint64_t length) : in_(in), framing_(framing), left_(length) {
    ended_ = framing == Framing::none || (framing == Framing::length && length == 0);
}

// chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk = 1*"0" [ chunk-ext ] CRLF,
// then trailer fields and a blank line (RFC 9112 7.1).
ReadOutcome BodyReader::next_chunk() {
    std::string line;
    if (in_chunk_) {  // the CRLF after a chunk's data
        ReadOutcome r = in_.read_until(line, 2, line_end);
        if (r != ReadOutcome::ok) return r == ReadOutcome::too_long ? ReadOutcome::malformed : r;
        if (!is_line_end(line)) return ReadOutcome::malformed;
        in_chunk_ = false;
        line.clear();
    }
    ReadOutcome r = in_.read_until(line, kMaxChunkLine, line_end);
    if (r != ReadOutcome::ok) return r == ReadOutcome::too_long ? ReadOutcome::malformed : r;
    uint64_t size = 0;
    size_t i = 0, digits = 0;
    for (; i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i])); ++i, ++digits) {
        if (digits == 15) return ReadOutcome::malformed;  // beyond any body we would take
        const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
        size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (digits == 0) return ReadOutcome::malformed;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i < line.size() && line[i] != ';' && line[i] != '\r' && line[i] != '\n') return ReadOutcome::malformed;
    if (size > 0) {
        left_ = size;
        in_chunk_ = true;
        return ReadOutcome::ok;
    }
    // The last chunk: trailer fields up to the blank line, dropped.
    size_t trailers = 0;
    for (;;) {
        line.clear();
        r = in_.read_until(line, kMaxChunkLine, line_end);
        if (r != ReadOutcome::ok) return r == ReadOutcome::too_long ? ReadOutcome::malformed : r;
        if (is_line_end(line)) break;
        trailers += line.size();
        if (trailers > kMaxTrailers) return ReadOutcome::malformed;
    }
    ended_ = true;
    return ReadOutcome::ok;
}

ReadOutcome BodyReader::read(char* buf, size_t cap, size_t& got) {
    got = 0;
    if (ended_ || cap == 0) return ReadOutcome::ok;
    if (framing_ == Framing::chunked && left_ == 0) {
        ReadOutcome r = next_chunk();
        if (r != ReadOutcome::ok || ended_) return r;
    }
    ReadOutcome r = in_.read_some(buf, static_cast<size_t>(std::min<uint64_t>(cap, left_)), got);
    if (r != ReadOutcome::ok) return r;
    left_ -= got;
    if (framing_ == Framing::length && left_ == 0) ended_ = true;
    return ReadOutcome::ok;
}

ReadOutcome BodyReader::read_all(std::string& out, uint64_t limit) {
    if (framing_ == Framing::length) {
        if (left_ > limit) return ReadOutcome::too_long;
        ReadOutcome r = in_.read_exact(out, static_cast<size_t>(left_));
        if (r == ReadOutcome::ok) {
            left_ = 0;
            ended_ = true;
        }
        return r;
    }
    char buf[16 << 10];
    while (!ended_) {
        size_t got = 0;
        ReadOutcome r = read(buf, sizeof buf, got);
        if (r != ReadOutcome::ok) return r;
        out.append(buf, got);
        if (out.size() > limit) return ReadOutcome::too_long;
    }
    return ReadOutcome::ok;
}

BodyStreamBuf::int_type BodyStreamBuf::underflow() {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    size_t got = 0;
    const ReadOutcome r = body_.read(buffer_, sizeof buffer_, got);
    if (r == ReadOutcome::closed) {
        failure_ = r;
        return traits_type::eof();
    }
    if (r != ReadOutcome::ok) {
        failure_ = r;
        throw std::runtime_error(std::string("reading the request body: ") + to_string(r));  // the istream sets badbit
    }
    if (got == 0) return traits_type::eof();
    setg(buffer_, buffer_, buffer_ + got);
    return traits_type::to_int_type(buffer_[0]);
}

std::streamsize BodyStreamBuf::xsgetn(char* s, std::streamsize n) {
    std::streamsize done = 0;
    while (done < n) {
        if (gptr() < egptr()) {
            const std::streamsize take = std::min<std::streamsize>(egptr() - gptr(), n - done);
            std::copy(gptr(), gptr() + take, s + done);
            gbump(static_cast<int>(take));
            done += take;
            continue;
        }
        // Large reads go straight into the caller's buffer, without a copy through ours.
        size_t got = 0;
        const ReadOutcome r = body_.read(s + done, static_cast<size_t>(n - done), got);
        if (r == ReadOutcome::closed) {
            failure_ = r;
            break;
        }
        if (r != ReadOutcome::ok) {
            failure_ = r;
            throw std::runtime_error(std::string("reading the request body: ") + to_string(r));
        }
        if (got == 0) break;
        done += static_cast<std::streamsize>(got);
    }
    return done;
}

bool send_all(int fd, const std::string& data, SteadyClock::time_point deadline, TlsSession* tls) {
    size_t sent = 0;
    while (tls && sent < data.size()) {
        size_t put = 0;
        const TlsSession::Io io = tls->write(data.data() + sent, data.size() - sent, put);
        if (io == TlsSession::Io::done) {
            sent += put;
            continue;
        }
        if (io != TlsSession::Io::want_read && io != TlsSession::Io::want_write) return false;
        if (!wait_for(fd, io == TlsSession::Io::want_read ? POLLIN : POLLOUT, deadline)) return false;
    }
    while (sent < data.size()) {
        const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (!wait_for(fd, POLLOUT, deadline)) return false;
    }
    return true;
}

}  // namespace volmig
