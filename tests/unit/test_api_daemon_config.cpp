// volmigd's own [DEFAULT] and [peers] settings: what is refused, with the key it names; the
// HTTP server's limits, their defaults (those etc/volmig.conf documents) and their bounds.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "api/daemon_config.hpp"

using namespace volmig;

namespace {

Result<DaemonConfig> read(const std::string& extra_defaults, const std::string& peers = "") {
    const std::string text = "[DEFAULT]\nhost = host-a\nauth_strategy = noauth\nstate_path = /nonexistent\nenabled_backends = thin\n" +
                             extra_defaults + "[thin]\nvolume_driver = thin_file\n[peers]\n" + peers;
    auto file = ConfigFile::parse(text, "test.conf");
    REQUIRE(file.ok());
    return read_daemon_config(*file);
}

}  // namespace

TEST_CASE("daemon config: a peer URL must be http(s) and name a host") {
    auto ok = read("", "host-b = http://10.0.0.2:8776/\n");
    REQUIRE(ok.ok());
    CHECK(ok->peers.at("host-b") == "http://10.0.0.2:8776");
    for (const char* bad : {"http://", "https:///v3", "http://:8776", "ftp://host", "host-b:8776"}) {
        CAPTURE(bad);
        auto r = read("", std::string("host-b = ") + bad + "\n");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK(r.error().message.find("host-b") != std::string::npos);
    }
}

TEST_CASE("daemon config: the sweep intervals default to 60 and 30 s and are bounded") {
    auto d = read("");
    REQUIRE(d.ok());
    CHECK(d->forwarding_check_interval == std::chrono::seconds(60));
    CHECK(d->cleanup_retry_interval == std::chrono::seconds(30));
    auto set = read("forwarding_check_interval = 5\ncleanup_retry_interval = 2\n");
    REQUIRE(set.ok());
    CHECK(set->forwarding_check_interval == std::chrono::seconds(5));
    CHECK(set->cleanup_retry_interval == std::chrono::seconds(2));
    for (const char* bad : {"forwarding_check_interval = 0\n", "cleanup_retry_interval = -1\n", "cleanup_retry_interval = soon\n"}) {
        CAPTURE(bad);
        auto r = read(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message.find("interval") != std::string::npos);
    }
}

TEST_CASE("daemon config: the HTTP limits default to what etc/volmig.conf documents") {
    auto c = read("");
    REQUIRE(c.ok());
    auto example = ConfigFile::load(std::string(VOLMIG_SOURCE_DIR) + "/etc/volmig.conf");
    REQUIRE(example.ok());
    auto documented = read_daemon_config(*example);
    REQUIRE_MESSAGE(documented.ok(), (documented.ok() ? "" : documented.error().message));
    CHECK(documented->http.threads == c->http.threads);
    CHECK(documented->http.max_connections_per_client == c->http.max_connections_per_client);
    CHECK(documented->http.max_request_body_size == c->http.max_request_body_size);
    CHECK(documented->http.max_header_size == c->http.max_header_size);
    CHECK(documented->http.client_socket_timeout == c->http.client_socket_timeout);
    CHECK(documented->http.client_keepalive_timeout == c->http.client_keepalive_timeout);
    CHECK(documented->http.stream_socket_timeout == c->http.stream_socket_timeout);
    CHECK(c->http.threads == 1024);
    CHECK(c->http.max_connections_per_client == 64);
    CHECK(c->http.max_request_body_size == 114688);
    CHECK(c->http.max_header_size == 32768);
    CHECK(c->http.client_socket_timeout == std::chrono::seconds(10));
    CHECK(c->http.client_keepalive_timeout == std::chrono::seconds(5));
    CHECK(c->http.stream_socket_timeout == std::chrono::seconds(600));
}

TEST_CASE("daemon config: the HTTP limits are read, sizes with suffixes") {
    auto c = read("http_threads = 64\nmax_connections_per_client = 8\nmax_request_body_size = 1M\nmax_header_size = 8K\n"
                  "client_socket_timeout = 3\nclient_keepalive_timeout = 0\nstream_socket_timeout = 60\n");
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    CHECK(c->http.threads == 64);
    CHECK(c->http.max_connections_per_client == 8);
    CHECK(c->http.max_request_body_size == 1 << 20);
    CHECK(c->http.max_header_size == 8 << 10);
    CHECK(c->http.client_socket_timeout == std::chrono::seconds(3));
    CHECK(c->http.client_keepalive_timeout == std::chrono::seconds(0));
    CHECK(c->http.stream_socket_timeout == std::chrono::seconds(60));
}

TEST_CASE("daemon config: bad HTTP limits are refused with the key and line") {
    struct Case {
        std::string line;
        std::string key;
    };
    for (const Case& c : std::initializer_list<Case>{
             {"http_threads = 8", "http_threads"},                      // below the 16 it needs
             {"http_threads = lots", "http_threads"},
             {"max_connections_per_client = 0", "max_connections_per_client"},
             {"max_connections_per_client = 2000", "max_connections_per_client"},  // more than http_threads
             {"max_request_body_size = 100", "max_request_body_size"},  // below 1 KiB
             {"max_request_body_size = 1G", "max_request_body_size"},
             {"max_request_body_size = big", "max_request_body_size"},
             {"max_header_size = 2M", "max_header_size"},
             {"client_socket_timeout = 0", "client_socket_timeout"},
             {"client_socket_timeout = -1", "client_socket_timeout"},
             {"client_keepalive_timeout = 1h", "client_keepalive_timeout"},
             {"stream_socket_timeout = 5", "stream_socket_timeout"},
         }) {
        CAPTURE(c.line);
        auto r = read(c.line + "\n");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK(r.error().message.find("[DEFAULT] " + c.key) != std::string::npos);
        CHECK(r.error().message.find("test.conf line 6") != std::string::npos);
    }
}

namespace {

// A file in a fresh directory with `mode`; removed with the directory at the end of the test.
struct TlsFixture {
    std::string dir;
    TlsFixture() {
        char pattern[] = "/tmp/volmig-tls-config.XXXXXX";
        dir = ::mkdtemp(pattern);
    }
    ~TlsFixture() { std::filesystem::remove_all(dir); }
    std::string file(const std::string& name, ::mode_t mode) const {
        const std::string path = dir + "/" + name;
        std::ofstream(path) << "-----BEGIN PLACEHOLDER-----\n";
        ::chmod(path.c_str(), mode);
        return path;
    }
};

}  // namespace

TEST_CASE("daemon config: TLS is off by default and plaintext peers are allowed") {
    auto c = read("", "host-b = http://10.0.0.2:8776\n");
    REQUIRE(c.ok());
    CHECK_FALSE(c->serves_tls());
    CHECK_FALSE(c->peer_require_tls);
    CHECK(c->start_warnings.empty());
}

TEST_CASE("daemon config: ssl_cert_file and ssl_key_file go together and must be readable") {
    TlsFixture f;
    const std::string cert = f.file("cert.pem", 0644), key = f.file("key.pem", 0600);
    auto only_cert = read("ssl_cert_file = " + cert + "\n");
    REQUIRE_FALSE(only_cert.ok());
    CHECK(only_cert.error().message.find("ssl_cert_file and ssl_key_file go together") != std::string::npos);
    auto missing = read("ssl_cert_file = " + cert + "\nssl_key_file = " + f.dir + "/nope.pem\n");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == ErrorKind::invalid);
    CHECK(missing.error().message.find("ssl_key_file") != std::string::npos);
    CHECK(missing.error().message.find(f.dir + "/nope.pem") != std::string::npos);
    CHECK(missing.error().message.find("No such file") != std::string::npos);
    auto ca_dir = read("ssl_ca_file = " + f.dir + "\n");
    REQUIRE_FALSE(ca_dir.ok());
    CHECK(ca_dir.error().message.find("ssl_ca_file") != std::string::npos);
    CHECK(ca_dir.error().message.find("not a regular file") != std::string::npos);
    auto both = read("ssl_cert_file = " + cert + "\nssl_key_file = " + key + "\n");
    REQUIRE_MESSAGE(both.ok(), (both.ok() ? "" : both.error().message));
    CHECK(both->serves_tls());
    CHECK(both->start_warnings.empty());
}

TEST_CASE("daemon config: a world-readable key is refused and a group-readable one is a warning") {
    TlsFixture f;
    const std::string cert = f.file("cert.pem", 0644);
    auto world = read("ssl_cert_file = " + cert + "\nssl_key_file = " + f.file("world.key", 0644) + "\n");
    REQUIRE_FALSE(world.ok());
    CHECK(world.error().message.find("readable by every user (mode 0644)") != std::string::npos);
    CHECK(world.error().message.find("chmod 600") != std::string::npos);
    auto group = read("ssl_cert_file = " + cert + "\nssl_key_file = " + f.file("group.key", 0640) + "\n");
    REQUIRE(group.ok());
    REQUIRE(group->start_warnings.size() == 1);
    CHECK(group->start_warnings[0].find("readable by its group (mode 0640)") != std::string::npos);
}

TEST_CASE("daemon config: serving TLS refuses plaintext peers unless peer_require_tls = false") {
    TlsFixture f;
    const std::string tls = "ssl_cert_file = " + f.file("cert.pem", 0644) + "\nssl_key_file = " + f.file("key.pem", 0600) + "\n";
    auto implicit = read(tls, "host-b = http://10.0.0.2:8776\n");
    REQUIRE_FALSE(implicit.ok());
    CHECK(implicit.error().message.find("host-b") != std::string::npos);
    CHECK(implicit.error().message.find("peer_require_tls = false explicitly") != std::string::npos);
    auto allowed = read(tls + "peer_require_tls = false\n", "host-b = http://10.0.0.2:8776\n");
    REQUIRE(allowed.ok());
    CHECK_FALSE(allowed->peer_require_tls);
    auto https = read(tls, "host-b = https://10.0.0.2:8776\n");
    REQUIRE(https.ok());
    CHECK(https->peer_require_tls);
}

TEST_CASE("daemon config: peer_require_tls = true refuses a plaintext peer without serving TLS") {
    auto refused = read("peer_require_tls = true\n", "host-b = https://10.0.0.2:8776\nhost-c = http://10.0.0.3:8776\n");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("[peers] host-c = http://10.0.0.3:8776") != std::string::npos);
    CHECK(refused.error().message.find("peer_require_tls = true") != std::string::npos);
    auto bad = read("peer_require_tls = maybe\n");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("peer_require_tls") != std::string::npos);
}

TEST_CASE("daemon config: max_concurrent_migrations defaults to 4, 0 means no cap, and it is bounded") {
    auto d = read("");
    REQUIRE(d.ok());
    CHECK(d->max_concurrent_migrations == 4);
    auto none = read("max_concurrent_migrations = 0\n");
    REQUIRE(none.ok());
    CHECK(none->max_concurrent_migrations == 0);
    auto sixteen = read("max_concurrent_migrations = 16\n");
    REQUIRE(sixteen.ok());
    CHECK(sixteen->max_concurrent_migrations == 16);
    for (const char* bad : {"max_concurrent_migrations = 1025\n", "max_concurrent_migrations = -1\n", "max_concurrent_migrations = many\n"}) {
        CAPTURE(bad);
        auto r = read(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK(r.error().message.find("max_concurrent_migrations") != std::string::npos);
        CHECK(r.error().message.find("0 to 1024") != std::string::npos);
    }
}

TEST_CASE("daemon config: stream v2 options default to what etc/volmig.conf documents and are checked") {
    auto d = read("");
    REQUIRE(d.ok());
    CHECK(d->migration_streams == 4);
    CHECK(d->migration_streams_auto);
    CHECK(read("migration_streams = auto\n")->migration_streams_auto);
    CHECK_FALSE(read("migration_streams = 4\n")->migration_streams_auto);
    CHECK(d->migration_compression == MigrationCompression::automatic);
    CHECK(d->stream_resume_grace == std::chrono::seconds(120));
    CHECK(d->peer_capabilities_max_age == std::chrono::seconds(30));
    CHECK(read("peer_capabilities_max_age = 0\n")->peer_capabilities_max_age == std::chrono::seconds(0));
    auto set = read("migration_streams = 2\nmigration_compression = none\nstream_resume_grace = 0\n");
    REQUIRE(set.ok());
    CHECK(set->migration_streams == 2);
    CHECK(set->migration_compression == MigrationCompression::none);
    CHECK(set->stream_resume_grace == std::chrono::seconds(0));
    CHECK(read("migration_compression = zstd\n")->migration_compression == MigrationCompression::zstd);
    for (const char* bad : {"migration_streams = 0\n", "migration_streams = 17\n", "migration_compression = gzip\n",
                            "stream_resume_grace = -1\n", "migration_streams = 8\nmax_connections_per_client = 9\n",
                            "peer_capabilities_max_age = 3601\n", "peer_capabilities_max_age = soon\n"}) {
        CAPTURE(bad);
        auto r = read(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        const std::string key = std::string(bad).substr(0, std::string(bad).find(' '));
        CHECK(r.error().message.find(key) != std::string::npos);
    }
}

TEST_CASE("daemon config: migration_workers, accepted by earlier versions, starts with a warning that it has no effect") {
    auto plain = read("");
    REQUIRE(plain.ok());
    CHECK(plain->start_warnings.empty());
    auto set = read("migration_workers = 4\n");
    REQUIRE(set.ok());
    REQUIRE(set->start_warnings.size() == 1);
    CHECK(set->start_warnings[0].find("migration_workers has no effect") != std::string::npos);
    CHECK(set->start_warnings[0].find("max_concurrent_migrations") != std::string::npos);
    auto bad = read("migration_workers = 0\n");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("migration_workers") != std::string::npos);
}
