// TLS for the HTTP server (api/server.cpp): the certificate and key loaded once at start
// through Poco NetSSL's Context, and a session per accepted connection driven by the server's
// own non-blocking reads and writes.
//
// Why not Poco's SecureServerSocket/SecureStreamSocket for the connections: the server reads
// requests itself (api/http_io.hpp) with a deadline per request, peeks to never read past a
// request's head (MSG_PEEK), and writes with a deadline. A SecureStreamSocket does a blocking
// handshake and blocking reads under a socket timeout and cannot peek; the session below keeps
// every one of those properties over TLS: the handshake too must finish within
// client_socket_timeout of the connection's start, and a client that speaks plain HTTP to the
// TLS port gets a plain 400 that says so, then the connection is closed.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "copy/result.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace volmig {

struct DaemonConfig;

class TlsServerContext {
public:
    // Loads ssl_cert_file (a chain, leaf first), ssl_key_file (checked against the certificate)
    // and checks that ssl_ca_file holds at least one PEM certificate; every error names the
    // option and the file. TLS 1.2 at least.
    static Result<std::shared_ptr<TlsServerContext>> load(const DaemonConfig& config);
    ~TlsServerContext();

    class Impl;
    Impl& impl() const { return *impl_; }

private:
    TlsServerContext() = default;
    std::unique_ptr<Impl> impl_;
};

// Checks that `path` holds at least one PEM certificate: "[DEFAULT] <option>: '<path>': why".
Status check_ca_file(const std::string& option, const std::string& path);

// One server-side TLS session on a connected, non-blocking use of `fd` (the caller owns fd).
class TlsSession {
public:
    enum class Io { done, want_read, want_write, closed, failed };

    TlsSession(const TlsServerContext& context, int fd);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    // One step of the handshake; done when it completed.
    Io handshake();
    // The whole handshake by `deadline` (the socket is made non-blocking). A client that sent
    // plain HTTP gets a plain 400 that says to use https://, and false like any failure;
    // `why` says what happened ("timed out", OpenSSL's reason).
    bool accept(int fd, std::chrono::steady_clock::time_point deadline, std::string& why);
    // Between 1 and n bytes of plaintext into buf (got), without waiting; peek leaves them to
    // the next read.
    Io read(char* buf, size_t n, bool peek, size_t& got);
    Io write(const char* buf, size_t n, size_t& put);
    // Plaintext already decrypted and waiting: readable without the socket being readable.
    bool has_buffered() const;
    // Sends close_notify (one attempt, no waiting).
    void close_notify();
    // What failed last, in words (OpenSSL's reason).
    const std::string& error() const { return error_; }
    // The client spoke plain HTTP to the TLS port (seen by the handshake).
    bool plaintext_http() const { return plaintext_http_; }
    // "TLSv1.3 TLS_AES_256_GCM_SHA384", once the handshake is done.
    std::string description() const;

private:
    Io outcome(int rc);

    ::ssl_st* ssl_ = nullptr;
    std::string error_;
    bool plaintext_http_ = false;
};

}  // namespace volmig
