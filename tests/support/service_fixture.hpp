// A daemon's volume layer without its HTTP server, for unit tests of the API and migration
// logic: the configuration from INI text, a real SQLite store, real backends (started, as the
// daemon starts them) and the VolumeService over them.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "api/daemon_config.hpp"
#include "api/volume_service.hpp"
#include "driver/backends.hpp"
#include "driver/config.hpp"
#include "driver/volume_store.hpp"

namespace volmig::test {

struct ServiceParts {
    DaemonConfig config;
    std::unique_ptr<VolumeStore> store;
    std::unique_ptr<Backends> backends;
    std::unique_ptr<VolumeService> volumes;

    explicit ServiceParts(const std::string& ini) {
        auto file = ConfigFile::parse(ini, "test.conf");
        REQUIRE(file.ok());
        auto c = read_daemon_config(*file);
        REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
        config = *c;
        auto s = VolumeStore::open(config.state_path);
        REQUIRE(s.ok());
        store = std::move(*s);
        auto b = Backends::configure(*file, *store, nullptr);
        REQUIRE(b.ok());
        backends = std::move(*b);
        REQUIRE(backends->start().ok());
        volumes = std::make_unique<VolumeService>(config, *backends, *store, nullptr);
    }
};

}  // namespace volmig::test
