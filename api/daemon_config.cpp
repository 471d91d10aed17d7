#include "api/daemon_config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace volmig {

namespace {

Result<uint64_t> size_in_range(const ConfigSection& d, const std::string& key, uint64_t fallback, uint64_t min, uint64_t max) {
    auto v = d.size(key, fallback);
    if (!v) return v;
    if (*v < min || *v > max)
        return Error{d.where(key) + ": " + std::to_string(*v) + " bytes is outside " + std::to_string(min) + " to " + std::to_string(max),
                     ErrorKind::invalid};
    return v;
}

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

Result<HttpLimits> read_http_limits(const ConfigSection& d) {
    HttpLimits h;
    auto threads = d.integer("http_threads", h.threads, 16, 16384);
    if (!threads) return threads.take_error();
    h.threads = static_cast<unsigned>(*threads);
    auto per_client = d.integer("max_connections_per_client", h.max_connections_per_client, 1, h.threads);
    if (!per_client) return per_client.take_error();
    h.max_connections_per_client = static_cast<unsigned>(*per_client);
    auto body = size_in_range(d, "max_request_body_size", h.max_request_body_size, 1 << 10, 64 << 20);
    if (!body) return body.take_error();
    h.max_request_body_size = *body;
    auto header = size_in_range(d, "max_header_size", h.max_header_size, 1 << 10, 1 << 20);
    if (!header) return header.take_error();
    h.max_header_size = *header;
    auto socket_timeout = d.integer("client_socket_timeout", 10, 1, 3600);
    if (!socket_timeout) return socket_timeout.take_error();
    h.client_socket_timeout = std::chrono::seconds(*socket_timeout);
    auto keepalive = d.integer("client_keepalive_timeout", 5, 0, 3600);
    if (!keepalive) return keepalive.take_error();
    h.client_keepalive_timeout = std::chrono::seconds(*keepalive);
    auto stream = d.integer("stream_socket_timeout", 600, 10, 86400);
    if (!stream) return stream.take_error();
    h.stream_socket_timeout = std::chrono::seconds(*stream);
    return h;
}

// A TLS file: it must exist and be readable now, so that a typo is a start error, not a
// failed handshake later.
Status readable_file(const ConfigSection& d, const std::string& key, const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), R_OK) != 0) {
        const std::string why = ::stat(path.c_str(), &st) != 0 ? std::strerror(errno)
                                : !S_ISREG(st.st_mode)         ? "not a regular file"
                                                               : "not readable by this user";
        return Error{d.where(key) + ": cannot read '" + path + "': " + why, ErrorKind::invalid};
    }
    return success();
}

Status read_tls_settings(const ConfigSection& d, DaemonConfig& c) {
    c.ssl_cert_file = d.string("ssl_cert_file", "");
    c.ssl_key_file = d.string("ssl_key_file", "");
    c.ssl_ca_file = d.string("ssl_ca_file", "");
    if (c.ssl_cert_file.empty() != c.ssl_key_file.empty())
        return Error{d.where(c.ssl_cert_file.empty() ? "ssl_key_file" : "ssl_cert_file") +
                         ": ssl_cert_file and ssl_key_file go together: set both to serve HTTPS, or neither",
                     ErrorKind::invalid};
    for (const auto& [key, path] : {std::pair<const char*, std::string>{"ssl_cert_file", c.ssl_cert_file},
                                    {"ssl_key_file", c.ssl_key_file},
                                    {"ssl_ca_file", c.ssl_ca_file}}) {
        if (path.empty()) continue;
        Status ok = readable_file(d, key, path);
        if (!ok.ok()) return ok;
    }
    if (!c.ssl_key_file.empty()) {
        // Anyone on the host could impersonate this daemon with a world-readable key: refused.
        // Group-readable is how Debian shares keys (the ssl-cert group): said, not refused.
        struct stat st {};
        ::stat(c.ssl_key_file.c_str(), &st);
        if (st.st_mode & S_IROTH)
            return Error{d.where("ssl_key_file") + ": '" + c.ssl_key_file + "' is readable by every user (mode " + mode_text(st.st_mode) +
                             "): chmod 600 (or 640 with a dedicated group) and restart",
                         ErrorKind::invalid};
        if (st.st_mode & S_IRGRP)
            c.start_warnings.push_back("ssl_key_file '" + c.ssl_key_file + "' is readable by its group (mode " + mode_text(st.st_mode) +
                                     "): make sure only this daemon's group holds it, or chmod 600");
    }
    const bool explicit_require = d.has("peer_require_tls");
    auto require = d.boolean("peer_require_tls", c.serves_tls());
    if (!require) return require.take_error();
    c.peer_require_tls = *require;
    if (!c.peer_require_tls) return success();
    for (const auto& [name, url] : c.peers) {
        if (url.rfind("https://", 0) == 0) continue;
        if (explicit_require)
            return Error{"[peers] " + name + " = " + url + ": a plaintext peer, but peer_require_tls = true: give its https:// URL",
                         ErrorKind::invalid};
        return Error{"[peers] " + name + " = " + url +
                         ": a plaintext peer, but this daemon serves TLS (ssl_cert_file) and its token must not travel in clear: "
                         "give the peer's https:// URL, or set peer_require_tls = false explicitly to allow it",
                     ErrorKind::invalid};
    }
    return success();
}

}  // namespace

Result<DaemonConfig> read_daemon_config(const ConfigFile& file) {
    const ConfigSection& d = file.section("DEFAULT");
    Status known = d.only({"host", "listen", "port", "auth_strategy", "auth_token", "reader_token", "storage_availability_zone", "state_path", "enabled_backends", "http_threads",
                           "migration_workers", "volume_copy_bps_limit", "peer_timeout", "forwarding_check_interval",
                           "cleanup_retry_interval", "max_connections_per_client", "max_request_body_size", "max_header_size",
                           "client_socket_timeout", "client_keepalive_timeout", "stream_socket_timeout",
                           "default_volume_type", "max_concurrent_migrations", "ssl_cert_file", "ssl_key_file", "ssl_ca_file",
                           "peer_require_tls", "migration_streams", "migration_compression", "stream_resume_grace",
                           "peer_capabilities_max_age"});
    if (!known.ok()) return known.error();
    DaemonConfig c;
    char hostname[256] = "localhost";
    ::gethostname(hostname, sizeof hostname - 1);
    c.host = d.string("host", hostname);
    if (c.host.empty() || c.host.find_first_of("@#/ ") != std::string::npos)
        return Error{d.where("host") + ": '" + c.host + "' cannot be a host name (no @, #, / or spaces)", ErrorKind::invalid};
    c.listen = d.string("listen", "127.0.0.1");
    c.default_volume_type = d.string("default_volume_type", "");
    auto port = d.integer("port", 8776, 1, 65535);
    if (!port) return port.take_error();
    c.port = static_cast<uint16_t>(*port);
    auto strategy = d.choice("auth_strategy", {"token", "noauth"}, "token");
    if (!strategy) return strategy.take_error();
    c.noauth = *strategy == "noauth";
    c.auth_token = d.string("auth_token", "");
    if (!c.noauth && c.auth_token.empty())
        return Error{"[DEFAULT] auth_token is required unless auth_strategy = noauth (" + file.origin() + ")", ErrorKind::invalid};
    if (d.has("reader_token")) {
        c.reader_token = d.string("reader_token", "");
        if (c.reader_token.empty())
            return Error{d.where("reader_token") + ": is set but empty: give the monitoring token, or remove the key", ErrorKind::invalid};
        if (c.reader_token == c.auth_token)
            return Error{d.where("reader_token") + ": must differ from auth_token (the reader token may only read)", ErrorKind::invalid};
    }
    c.availability_zone = d.string("storage_availability_zone", "nova");
    if (c.availability_zone.empty() || c.availability_zone.size() > 255 ||
        std::any_of(c.availability_zone.begin(), c.availability_zone.end(), [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; }))
        return Error{d.where("storage_availability_zone") + ": must be 1 to 255 printable characters", ErrorKind::invalid};
    auto state = d.required("state_path");
    if (!state) return state.take_error();
    c.state_path = *state;
    auto http = read_http_limits(d);
    if (!http) return http.take_error();
    c.http = *http;
    // Accepted by earlier versions and never used: a configuration that sets it still starts.
    if (auto workers = d.integer("migration_workers", 2, 1, 64); !workers) return workers.take_error();
    if (d.has("migration_workers"))
        c.start_warnings.push_back("[DEFAULT] migration_workers has no effect: max_concurrent_migrations limits the migrations that run at once");
    auto bps = d.size("volume_copy_bps_limit", 0);
    if (!bps) return bps.take_error();
    c.volume_copy_bps_limit = *bps;
    auto peer_timeout = d.integer("peer_timeout", 30, 1, 3600);
    if (!peer_timeout) return peer_timeout.take_error();
    c.peer_timeout = std::chrono::seconds(*peer_timeout);
    auto forwarding = d.integer("forwarding_check_interval", 60, 1, 86400);
    if (!forwarding) return forwarding.take_error();
    c.forwarding_check_interval = std::chrono::seconds(*forwarding);
    auto cleanup = d.integer("cleanup_retry_interval", 30, 1, 86400);
    if (!cleanup) return cleanup.take_error();
    c.cleanup_retry_interval = std::chrono::seconds(*cleanup);
    auto concurrent = d.integer("max_concurrent_migrations", c.max_concurrent_migrations, 0, 1024);
    if (!concurrent) return concurrent.take_error();
    c.max_concurrent_migrations = static_cast<unsigned>(*concurrent);
    // Stream v2 (parallel slices, compression, resume): DESIGN.md "The extent stream".
    // auto: up to 4, and 1 to a peer whose round trip is under kOneStreamRoundTrip.
    const bool streams_auto = d.string("migration_streams", "auto") == "auto";
    auto streams = streams_auto ? Result<uint64_t>(4) : d.integer("migration_streams", c.migration_streams, 1, 16);
    if (!streams) return Error{streams.error().message + " (or auto)", streams.error().kind};
    if (*streams + 2 > c.http.max_connections_per_client)
        return Error{d.where("migration_streams") + ": " + std::to_string(*streams) + " streams need max_connections_per_client of at least " +
                         std::to_string(*streams + 2) + " (the streams and the calls beside them), it is " +
                         std::to_string(c.http.max_connections_per_client),
                     ErrorKind::invalid};
    c.migration_streams = static_cast<unsigned>(*streams);
    c.migration_streams_auto = streams_auto;
    auto compression = d.choice("migration_compression", {"auto", "zstd", "none"}, "auto");
    if (!compression) return compression.take_error();
    c.migration_compression = *compression == "zstd" ? MigrationCompression::zstd
                              : *compression == "none" ? MigrationCompression::none
                                                       : MigrationCompression::automatic;
    auto grace = d.integer("stream_resume_grace", 120, 0, 86400);
    if (!grace) return grace.take_error();
    c.stream_resume_grace = std::chrono::seconds(*grace);
    auto capabilities_age = d.integer("peer_capabilities_max_age", 30, 0, 3600);
    if (!capabilities_age) return capabilities_age.take_error();
    c.peer_capabilities_max_age = std::chrono::seconds(*capabilities_age);
    for (const auto& backend : d.list("enabled_backends")) {
        auto policy = file.section(backend).choice("sparse_copy", {"auto", "never"}, "auto");
        if (!policy) return policy.take_error();
        c.sparse_copy_policies[backend] = *policy == "never" ? SparseCopyPolicy::never : SparseCopyPolicy::automatic;
    }
    for (const auto& [name, url] : file.section("peers").values()) {
        if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
            return Error{file.section("peers").where(name) + ": '" + url + "' is not an http:// or https:// URL", ErrorKind::invalid};
        std::string base = url;
        while (!base.empty() && base.back() == '/') base.pop_back();
        const size_t host_at = url.find("://") + 3;  // the scheme was checked above
        if (host_at >= url.size() || url[host_at] == '/' || url[host_at] == ':')
            return Error{file.section("peers").where(name) + ": '" + url + "' names no host", ErrorKind::invalid};
        c.peers[name] = base;
    }
    Status tls = read_tls_settings(d, c);
    if (!tls.ok()) return tls.error();
    return c;
}

}  // namespace volmig
