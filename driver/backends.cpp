#include "driver/backends.hpp"

#include <set>

#include "driver/lvm.hpp"
#include "driver/thick_file.hpp"
#include "driver/thin_file.hpp"

namespace volmig {

Result<std::unique_ptr<VolumeDriver>> make_driver(const ConfigSection& section, DriverContext context) {
    auto driver = section.required("volume_driver");
    if (!driver) return driver.take_error();
    if (*driver == "thin_file") return ThinFileDriver::create_from(section, context);
    if (*driver == "thick_file") return ThickFileDriver::create_from(section, context);
    if (*driver == "lvm") return LvmDriver::create_from(section, context);
    return Error{section.where("volume_driver") + ": unknown driver '" + *driver + "' (known: thin_file, thick_file, lvm)",
                 ErrorKind::invalid};
}

Result<std::unique_ptr<Backends>> Backends::configure(const ConfigFile& config, VolumeStore& store,
                                                      std::function<void(const std::string&)> log) {
    std::unique_ptr<Backends> backends(new Backends(store));
    backends->log_ = log;
    const ConfigSection& defaults = config.section("DEFAULT");
    const auto names = defaults.list("enabled_backends");
    if (names.empty())
        return Error{"[DEFAULT] enabled_backends is required (" + config.origin() + "): a comma-separated list of backend sections",
                     ErrorKind::invalid};
    std::set<std::string> seen_names, seen_backend_names;
    for (const auto& name : names) {
        if (!seen_names.insert(name).second)
            return Error{"[DEFAULT] enabled_backends lists '" + name + "' twice", ErrorKind::invalid};
        if (!config.has_section(name))
            return Error{"[DEFAULT] enabled_backends names '" + name + "' but " + config.origin() + " has no [" + name + "] section",
                         ErrorKind::invalid};
        const ConfigSection& section = config.section(name);
        auto driver = make_driver(section, DriverContext{store, log});
        if (!driver) return driver.take_error();
        auto backend = std::make_unique<Backend>();
        backend->name = name;
        backend->volume_backend_name = section.string("volume_backend_name", name);
        if (!seen_backend_names.insert(backend->volume_backend_name).second)
            return Error{section.where("volume_backend_name") + ": '" + backend->volume_backend_name + "' is used by two backends",
                         ErrorKind::invalid};
        backend->driver = std::move(*driver);
        backends->backends_.push_back(std::move(backend));
    }
    return backends;
}

Result<OrphanReport> Backends::start() {
    for (auto& b : backends_) {
        Status s = b->driver->check_setup();
        if (!s.ok()) return s.error();
    }
    OrphanReport report = find_orphans();
    if (log_) {
        for (const auto& o : report.records_without_storage) log_("orphan check: record without storage: " + o);
        for (const auto& o : report.storage_without_records) log_("orphan check: storage without record: " + o);
        for (const auto& e : report.errors) log_("orphan check: " + e);
        if (report.clean()) log_("orphan check: every volume record matches its storage");
    }
    return report;
}

OrphanReport Backends::find_orphans() {
    OrphanReport report;
    for (auto& b : backends_) {
        auto records = store_.list(b->name);
        auto stored = b->driver->stored_volume_ids();
        if (!records || !stored) {
            report.errors.push_back("backend " + b->name + ": cannot compare records and storage (" +
                                    (!records ? records.error().message : stored.error().message) + ")");
            continue;
        }
        std::set<std::string> on_storage(stored->begin(), stored->end()), in_records;
        for (const auto& r : *records) {
            if (!r.moved_to.empty()) continue;  // a forwarding record: the volume lives elsewhere now
            in_records.insert(r.storage_id());
            // A volume still being created or already deleted may legitimately lack storage.
            if (!on_storage.count(r.storage_id()) && r.status != VolumeStatus::creating)
                report.records_without_storage.push_back("volume " + r.id + " on " + b->name + " (status " + to_string(r.status) + ")");
        }
        for (const auto& id : on_storage)
            if (!in_records.count(id)) report.storage_without_records.push_back("volume-" + id + " on " + b->name);
    }
    return report;
}

Backend* Backends::find(const std::string& name) {
    for (auto& b : backends_)
        if (b->name == name) return b.get();
    return nullptr;
}

Backend* Backends::find_by_backend_name(const std::string& n) {
    for (auto& b : backends_)
        if (b->volume_backend_name == n) return b.get();
    return nullptr;
}

}  // namespace volmig
