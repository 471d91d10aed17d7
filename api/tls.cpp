#include "api/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

#include <fcntl.h>
#include <poll.h>

#include <cstdio>
#include <mutex>

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/SSLManager.h>

#include "api/daemon_config.hpp"
#include "api/http_io.hpp"

namespace volmig {

namespace {

// OpenSSL's error queue, oldest first, as words; the queue is emptied.
std::string openssl_errors() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char text[256];
        ERR_error_string_n(e, text, sizeof text);
        const char* reason = ERR_reason_error_string(e);
        if (!out.empty()) out += "; ";
        out += reason ? reason : text;
    }
    return out.empty() ? std::string("unknown OpenSSL error") : out;
}

void initialize_once() {
    static std::once_flag once;
    std::call_once(once, [] { Poco::Net::initializeSSL(); });
}

}  // namespace

class TlsServerContext::Impl {
public:
    Poco::Net::Context::Ptr context;
};

TlsServerContext::~TlsServerContext() = default;

Status check_ca_file(const std::string& option, const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return Error{"[DEFAULT] " + option + ": cannot read '" + path + "'", ErrorKind::invalid};
    unsigned count = 0;
    while (X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
        ++count;
        X509_free(cert);
    }
    std::fclose(f);
    ERR_clear_error();  // the end of the file reads as an error
    if (count == 0)
        return Error{"[DEFAULT] " + option + ": '" + path + "' holds no PEM certificate (-----BEGIN CERTIFICATE-----)", ErrorKind::invalid};
    return success();
}

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::load(const DaemonConfig& config) {
    initialize_once();
    std::shared_ptr<TlsServerContext> out(new TlsServerContext());
    out->impl_ = std::make_unique<Impl>();
    try {
        Poco::Net::Context::Params params;
        params.verificationMode = Poco::Net::Context::VERIFY_NONE;  // clients authenticate with tokens
        params.loadDefaultCAs = false;
        params.cipherList = "HIGH:!aNULL:!MD5:!RC4";
        out->impl_->context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
        out->impl_->context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    } catch (const Poco::Exception& e) {
        return Error{"cannot set up TLS: " + e.displayText(), ErrorKind::failed};
    }
    SSL_CTX* ctx = out->impl_->context->sslContext();
    // A client that closes without close_notify has closed (as over plain TCP), not failed.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, config.ssl_cert_file.c_str()) != 1)
        return Error{"[DEFAULT] ssl_cert_file: cannot load '" + config.ssl_cert_file + "' as a PEM certificate: " + openssl_errors(),
                     ErrorKind::invalid};
    const bool key_loaded = SSL_CTX_use_PrivateKey_file(ctx, config.ssl_key_file.c_str(), SSL_FILETYPE_PEM) == 1;
    if (!key_loaded && ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        return Error{"[DEFAULT] ssl_key_file: '" + config.ssl_key_file + "' is not the key of the certificate in ssl_cert_file '" +
                         config.ssl_cert_file + "'",
                     ErrorKind::invalid};
    }
    if (!key_loaded)
        return Error{"[DEFAULT] ssl_key_file: cannot load '" + config.ssl_key_file + "' as a PEM private key (unencrypted): " +
                         openssl_errors(),
                     ErrorKind::invalid};
    if (SSL_CTX_check_private_key(ctx) != 1)
        return Error{"[DEFAULT] ssl_key_file: '" + config.ssl_key_file + "' is not the key of the certificate in ssl_cert_file '" +
                         config.ssl_cert_file + "': " + openssl_errors(),
                     ErrorKind::invalid};
    if (!config.ssl_ca_file.empty()) {
        Status ca = check_ca_file("ssl_ca_file", config.ssl_ca_file);
        if (!ca.ok()) return ca.error();
    }
    return out;
}

TlsSession::TlsSession(const TlsServerContext& context, int fd) {
    ssl_ = SSL_new(context.impl().context->sslContext());
    if (ssl_) {
        SSL_set_fd(ssl_, fd);
        SSL_set_accept_state(ssl_);
    } else {
        error_ = openssl_errors();
    }
}

TlsSession::~TlsSession() {
    if (ssl_) SSL_free(ssl_);
}

TlsSession::Io TlsSession::outcome(int rc) {
    const int e = SSL_get_error(ssl_, rc);
    switch (e) {
        case SSL_ERROR_WANT_READ: return Io::want_read;
        case SSL_ERROR_WANT_WRITE: return Io::want_write;
        case SSL_ERROR_ZERO_RETURN: return Io::closed;
        case SSL_ERROR_SYSCALL:
            error_ = ERR_peek_error() ? openssl_errors() : "the client closed the connection";
            return Io::failed;
        default: {
            const unsigned long first = ERR_peek_error();
            if (ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST) plaintext_http_ = true;
            error_ = openssl_errors();
            return Io::failed;
        }
    }
}

TlsSession::Io TlsSession::handshake() {
    if (!ssl_) return Io::failed;
    ERR_clear_error();
    const int rc = SSL_do_handshake(ssl_);
    return rc == 1 ? Io::done : outcome(rc);
}

TlsSession::Io TlsSession::read(char* buf, size_t n, bool peek, size_t& got) {
    got = 0;
    if (!ssl_) return Io::failed;
    ERR_clear_error();
    const int rc = peek ? SSL_peek_ex(ssl_, buf, n, &got) : SSL_read_ex(ssl_, buf, n, &got);
    if (rc == 1) return Io::done;
    got = 0;
    return outcome(rc);
}

TlsSession::Io TlsSession::write(const char* buf, size_t n, size_t& put) {
    put = 0;
    if (!ssl_) return Io::failed;
    ERR_clear_error();
    const int rc = SSL_write_ex(ssl_, buf, n, &put);
    if (rc == 1) return Io::done;
    put = 0;
    return outcome(rc);
}

bool TlsSession::accept(int fd, std::chrono::steady_clock::time_point deadline, std::string& why) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        why = "cannot make the socket non-blocking";
        return false;
    }
    for (;;) {
        const Io io = handshake();
        if (io == Io::done) return true;
        if (io == Io::want_read || io == Io::want_write) {
            if (wait_for(fd, io == Io::want_read ? POLLIN : POLLOUT, deadline)) continue;
            why = "no TLS handshake within client_socket_timeout";
            return false;
        }
        if (plaintext_http_) {
            const std::string body =
                R"json({"badRequest": {"code": 400, "message": "this port serves HTTPS only: use an https:// URL (and the CA that signed the daemon's certificate)"}})json";
            const std::string answer = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body;
            (void)send_all(fd, answer, std::chrono::steady_clock::now() + std::chrono::seconds(1));
            why = "the client spoke plain HTTP to the HTTPS port (answered 400)";
        } else {
            why = io == Io::closed ? "the client closed the connection during the TLS handshake" : "TLS handshake failed: " + error_;
        }
        return false;
    }
}

bool TlsSession::has_buffered() const { return ssl_ && SSL_pending(ssl_) > 0; }

void TlsSession::close_notify() {
    if (!ssl_) return;
    ERR_clear_error();
    (void)SSL_shutdown(ssl_);  // best effort: the connection closes either way
    ERR_clear_error();
}

std::string TlsSession::description() const {
    if (!ssl_) return "";
    const char* cipher = SSL_get_cipher_name(ssl_);
    return std::string(SSL_get_version(ssl_)) + " " + (cipher ? cipher : "");
}

}  // namespace volmig
