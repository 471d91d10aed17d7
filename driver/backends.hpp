// The configured backends: reads [DEFAULT] enabled_backends and one section per backend,
// builds each driver, checks it, and reports orphans (records without storage, storage
// without records) so that a record and its storage never disagree silently.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "driver/config.hpp"
#include "driver/driver.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

struct Backend {
    std::string name;                  // section name, used in host@backend
    std::string volume_backend_name;   // what volume types select (defaults to the section name)
    std::unique_ptr<VolumeDriver> driver;
};

struct OrphanReport {
    std::vector<std::string> records_without_storage;  // "volume <id> on <backend>"
    std::vector<std::string> storage_without_records;
    std::vector<std::string> errors;                   // backends that could not be compared, and why
    bool clean() const { return records_without_storage.empty() && storage_without_records.empty() && errors.empty(); }
};

class Backends {
public:
    // Builds every enabled backend; refuses unknown drivers, missing sections and bad options
    // with a message naming section and key. Does not touch storage (see start()).
    static Result<std::unique_ptr<Backends>> configure(const ConfigFile& config, VolumeStore& store,
                                                       std::function<void(const std::string&)> log);

    // check_setup() of every driver; then the orphan check, logged.
    Result<OrphanReport> start();
    OrphanReport find_orphans();

    Backend* find(const std::string& name);              // by section name
    Backend* find_by_backend_name(const std::string& n); // by volume_backend_name (volume types)
    Backend& first() { return *backends_.front(); }
    const std::vector<std::unique_ptr<Backend>>& all() const { return backends_; }

private:
    Backends(VolumeStore& store) : store_(store) {}
    VolumeStore& store_;
    std::function<void(const std::string&)> log_;
    std::vector<std::unique_ptr<Backend>> backends_;
};

// The volume drivers volmig knows, by their volume_driver value.
Result<std::unique_ptr<VolumeDriver>> make_driver(const ConfigSection& section, DriverContext context);

}  // namespace volmig
