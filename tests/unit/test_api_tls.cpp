// api/tls: loading the server's certificate and key and checking the CA file at start, each
// error naming the option and the file. Keys and certificates are made with the openssl CLI.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "api/daemon_config.hpp"
#include "api/tls.hpp"

using namespace volmig;

namespace {

struct Certs {
    std::string dir;
    Certs() {
        char pattern[] = "/tmp/volmig-tls-unit.XXXXXX";
        dir = ::mkdtemp(pattern);
        for (const char* name : {"one", "two"}) {
            const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" +
                                    std::string(name) + " -keyout " + dir + "/" + name + ".key -out " + dir + "/" + name +
                                    ".pem 2>/dev/null";
            REQUIRE(std::system(cmd.c_str()) == 0);
        }
        std::ofstream(dir + "/junk.pem") << "not a certificate\n";
    }
    ~Certs() { std::filesystem::remove_all(dir); }
    DaemonConfig config(const std::string& cert, const std::string& key, const std::string& ca = "") const {
        DaemonConfig c;
        c.ssl_cert_file = dir + "/" + cert;
        c.ssl_key_file = dir + "/" + key;
        if (!ca.empty()) c.ssl_ca_file = dir + "/" + ca;
        return c;
    }
};

}  // namespace

TEST_CASE("tls: a matching certificate and key load") {
    Certs certs;
    auto ok = TlsServerContext::load(certs.config("one.pem", "one.key", "two.pem"));
    CHECK_MESSAGE(ok.ok(), (ok.ok() ? "" : ok.error().message));
}

TEST_CASE("tls: a key that is not the certificate's, or files that are not PEM, are refused naming the option") {
    Certs certs;
    auto mismatch = TlsServerContext::load(certs.config("one.pem", "two.key"));
    REQUIRE_FALSE(mismatch.ok());
    CHECK(mismatch.error().kind == ErrorKind::invalid);
    CAPTURE(mismatch.error().message);
    CHECK(mismatch.error().message.find("ssl_key_file: '" + certs.dir + "/two.key' is not the key of the certificate") != std::string::npos);
    auto junk_cert = TlsServerContext::load(certs.config("junk.pem", "one.key"));
    REQUIRE_FALSE(junk_cert.ok());
    CHECK(junk_cert.error().message.find("ssl_cert_file: cannot load '" + certs.dir + "/junk.pem' as a PEM certificate") != std::string::npos);
    auto junk_key = TlsServerContext::load(certs.config("one.pem", "junk.pem"));
    REQUIRE_FALSE(junk_key.ok());
    CHECK(junk_key.error().message.find("ssl_key_file: cannot load") != std::string::npos);
    auto junk_ca = TlsServerContext::load(certs.config("one.pem", "one.key", "junk.pem"));
    REQUIRE_FALSE(junk_ca.ok());
    CHECK(junk_ca.error().message.find("ssl_ca_file: '" + certs.dir + "/junk.pem' holds no PEM certificate") != std::string::npos);
}
