// A daemon's volume layer without its HTTP server, for tests of the API and migration logic
// (the unit tests, the REST fuzz target): the configuration from INI text, a real SQLite store,
// real backends (started, as the daemon starts them) and the VolumeService over them. A
// configuration that does not start throws std::runtime_error saying why (a failed test case
// in doctest; no test framework needed).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "api/daemon_config.hpp"
#include "api/volume_service.hpp"
#include "copy/checksum.hpp"
#include "copy/copy.hpp"
#include "copy/volume.hpp"
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
        if (!file) throw std::runtime_error(file.error().message);
        auto c = read_daemon_config(*file);
        if (!c) throw std::runtime_error(c.error().message);
        config = *c;
        auto s = VolumeStore::open(config.state_path);
        if (!s) throw std::runtime_error(s.error().message);
        store = std::move(*s);
        auto b = Backends::configure(*file, *store, nullptr);
        if (!b) throw std::runtime_error(b.error().message);
        backends = std::move(*b);
        auto started = backends->start();
        if (!started) throw std::runtime_error(started.error().message);
        volumes = std::make_unique<VolumeService>(config, *backends, *store, nullptr);
    }
};

// The checksum of a volume's whole logical content (its file or device at `path`); throws
// std::runtime_error saying why when it cannot be read.
inline std::string volume_checksum(const std::string& path) {
    auto info = inspect_volume(path);
    if (!info) throw std::runtime_error(info.error().message);
    auto sum = checksum_volume(*info, info->size, std::nullopt, IoMode::buffered, 2, nullptr);
    if (!sum) throw std::runtime_error(sum.error().message);
    return *sum;
}

}  // namespace volmig::test
