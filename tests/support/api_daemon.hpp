// The daemon's parts as api/daemon.cpp assembles them, without the HTTP server, in a fresh
// TempDir: for exercising RestApi without sockets (the unit tests, the REST fuzz target).
// Contract: built from volmig.conf text, which may name files in the fixture's own directory;
// a configuration that does not start throws std::runtime_error saying why. RestApi's log lines
// are kept in `log`. Members are destroyed in reverse order: the API before the service, the
// drivers before the store they hold a reference to.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/rest.hpp"
#include "tests/support/temp_dir.hpp"

namespace volmig::test {

class ApiDaemon {
public:
    using ConfigText = std::function<std::string(const TempDir& dir)>;

    explicit ApiDaemon(const ConfigText& config_text) {
        auto file = ConfigFile::parse(config_text(dir), "test.conf");
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
        service = std::make_unique<VolumeService>(config, *backends, *store, nullptr);
        api = std::make_unique<RestApi>(*service, metrics, [this](const std::string& line) { log.push_back(line); });
    }
    ApiDaemon(const ApiDaemon&) = delete;
    ApiDaemon& operator=(const ApiDaemon&) = delete;

    TempDir dir;
    DaemonConfig config;
    std::unique_ptr<VolumeStore> store;
    std::unique_ptr<Backends> backends;
    std::unique_ptr<VolumeService> service;
    Metrics metrics;
    std::vector<std::string> log;
    std::unique_ptr<RestApi> api;
};

}  // namespace volmig::test
