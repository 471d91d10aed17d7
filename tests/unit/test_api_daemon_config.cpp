// volmigd's own [DEFAULT] and [peers] settings: what is refused, with the key it names.
#include <doctest/doctest.h>

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
