#include "api/volume_service.hpp"

#include <algorithm>
#include <set>

#include <Poco/UUIDGenerator.h>

#include "copy/size.hpp"

namespace volmig {

Result<HostSpec> parse_host_spec(const std::string& text) {
    HostSpec spec;
    const size_t at = text.find('@');
    if (at == std::string::npos || at == 0)
        return Error{"host '" + text + "' must be HOST@BACKEND or HOST@BACKEND#POOL", ErrorKind::invalid};
    spec.host = text.substr(0, at);
    std::string rest = text.substr(at + 1);
    const size_t hash = rest.find('#');
    spec.backend = rest.substr(0, hash);
    if (hash != std::string::npos) spec.pool = rest.substr(hash + 1);
    if (spec.backend.empty()) return Error{"host '" + text + "' names no backend after '@'", ErrorKind::invalid};
    return spec;
}

VolumeService::VolumeService(const DaemonConfig& config, Backends& backends, VolumeStore& store,
                             std::function<void(const std::string&)> log)
    : config_(config), backends_(backends), store_(store), log_(std::move(log)), policies_(config.sparse_copy_policies) {}

SparseCopyPolicy VolumeService::policy_of(const std::string& backend) const {
    auto it = policies_.find(backend);
    return it == policies_.end() ? SparseCopyPolicy::automatic : it->second;
}

std::string VolumeService::host_of(const VolumeRecord& r) const {
    Backend* b = backends_.find(r.backend);
    return config_.host + "@" + r.backend + "#" + (b ? b->driver->pool_name() : r.backend);
}

std::optional<VolumeUsage> VolumeService::usage_of(const VolumeRecord& r) {
    Backend* b = backends_.find(r.backend);
    if (!b || r.location.empty()) return std::nullopt;
    auto u = b->driver->volume_usage(ref_of(r));
    if (!u) return std::nullopt;
    return *u;
}

void VolumeService::reconcile_after_restart() {
    auto records = store_.list();
    if (!records) {
        if (log_) log_("reconcile: " + records.error().message);
        return;
    }
    for (VolumeRecord r : *records) {
        Backend* b = backends_.find(r.backend);
        if (!b) {
            if (log_) log_("reconcile: volume " + r.id + " belongs to backend " + r.backend + ", which is not enabled");
            continue;
        }
        if (r.status == "creating") {
            // The driver may or may not have finished: trust the storage.
            auto ids = b->driver->stored_volume_ids();
            const bool present = ids && std::find(ids->begin(), ids->end(), r.storage_id()) != ids->end();
            r.status = "error";
            r.error = present ? "creation was interrupted by a restart; the storage exists but was not verified: delete and recreate"
                              : "creation was interrupted by a restart before storage was made";
            (void)store_.update(r);
        } else if (r.status == "deleting") {
            Status s = b->driver->remove(ref_of(r));
            if (s.ok()) {
                (void)store_.remove(r.id);
                if (log_) log_("reconcile: finished deleting volume " + r.id);
            } else {
                r.status = "error_deleting";
                r.error = s.error().message;
                (void)store_.update(r);
            }
        } else if (r.status == "extending") {
            auto u = b->driver->volume_usage(ref_of(r));
            if (u) r.size = std::max(r.size, u->size);
            r.status = "available";
            (void)store_.update(r);
        }
        if (!r.attached_path.empty()) {
            (void)b->driver->detach(Attachment{r.attached_path, true, true});
            r.attached_path.clear();
            (void)store_.update(r);
        }
    }
}

Result<Backend*> VolumeService::local_backend(const std::string& host_backend) {
    auto spec = parse_host_spec(host_backend);
    if (!spec) return spec.take_error();
    if (spec->host != config_.host)
        return Error{"host '" + spec->host + "' is not this daemon (" + config_.host + ")", ErrorKind::not_found};
    Backend* b = backends_.find(spec->backend);
    if (!b) return Error{"backend '" + spec->backend + "' is not enabled on host " + config_.host, ErrorKind::not_found};
    if (!spec->pool.empty() && spec->pool != b->driver->pool_name())
        return Error{"backend " + spec->backend + " has no pool '" + spec->pool + "' (its pool is " + b->driver->pool_name() + ")",
                     ErrorKind::not_found};
    return b;
}

Result<nlohmann::json> VolumeService::capability_document(const std::string& host_backend) {
    auto b = local_backend(host_backend);
    if (!b) return b.take_error();
    Backend& backend = **b;
    DocumentIdentity id{config_.host + "@" + backend.name, backend.volume_backend_name, backend.driver->pool_name(),
                        backend.driver->driver_name(), "0.1.0"};
    return build_capability_document(id, backend.driver->facts(), policy_of(backend.name));
}

Result<VolumeRecord> VolumeService::create(const CreateRequest& req) {
    Backend* backend = nullptr;
    if (req.volume_type.empty()) {
        backend = &backends_.first();
    } else {
        backend = backends_.find_by_backend_name(req.volume_type);
        if (!backend)
            return Error{"volume_type '" + req.volume_type + "' matches no volume_backend_name on host " + config_.host, ErrorKind::not_found};
    }
    if (req.size_gib == 0) return Error{"size must be a whole number of GiB, at least 1", ErrorKind::invalid};
    if (req.size_gib > (1ull << 24)) return Error{"size " + std::to_string(req.size_gib) + " GiB is beyond any pool", ErrorKind::invalid};
    const uint64_t bytes = req.size_gib * kGiB;
    Status room = backend->driver->check_capacity(bytes);
    if (!room.ok()) return Error{"size: " + room.error().message, ErrorKind::invalid};

    VolumeRecord r;
    r.id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
    r.name = req.name;
    r.backend = backend->name;
    r.size = bytes;
    r.status = "creating";
    r.project_id = req.project_id;
    r.metadata = req.metadata.dump();
    r.description = req.description;
    // The record exists before the storage does: a crash in between is an orphan record,
    // never unrecorded storage.
    Status inserted = store_.insert(r);
    if (!inserted.ok()) return inserted.error();
    auto location = backend->driver->create(r.id, bytes);
    if (!location) {
        r.status = "error";
        r.error = location.error().message;
        (void)store_.update(r);
        if (log_) log_("create volume " + r.id + " failed: " + r.error);
        return r;
    }
    r.location = location->value;
    r.status = "available";
    Status updated = store_.update(r);
    if (!updated.ok()) return updated.error();
    if (log_) log_("created volume " + r.id + " (" + format_bytes(bytes) + ") on " + backend->name);
    auto fresh = store_.get(r.id);
    return fresh && *fresh ? **fresh : r;
}

Result<VolumeRecord> VolumeService::get(const std::string& id) {
    auto r = store_.get(id);
    if (!r) return r.take_error();
    if (!*r) return Error{"volume " + id + " could not be found", ErrorKind::not_found};
    return **r;
}

Result<std::vector<VolumeRecord>> VolumeService::list(const ListFilter& f) {
    auto all = store_.list();
    if (!all) return all.take_error();
    std::vector<VolumeRecord> out;
    bool started = f.marker.empty();
    bool marker_seen = f.marker.empty();
    for (auto& r : *all) {
        if (!started) {
            if (r.id == f.marker) started = marker_seen = true;
            continue;
        }
        if (!r.moved_to.empty()) continue;  // forwarding records: the volume is hosted elsewhere
        if (!f.name.empty() && r.name != f.name) continue;
        if (!f.status.empty() && r.status != f.status) continue;
        if (f.project && r.project_id != *f.project) continue;
        out.push_back(r);
        if (f.limit && out.size() >= f.limit) break;
    }
    if (!marker_seen) return Error{"marker " + f.marker + " could not be found", ErrorKind::invalid};
    return out;
}

Status VolumeService::remove(const std::string& id) {
    VolumeRecord r;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto got = get(id);
        if (!got) return got.error();
        r = *got;
        if (!r.moved_to.empty())
            return Error{"volume " + id + " has moved to " + r.moved_to + ": delete it on that host", ErrorKind::invalid};
        if (r.migration_status == "starting" || r.migration_status == "migrating" || r.migration_status == "completing")
            return Error{"volume " + id + " is migrating (" + r.migration_status + "): wait for the migration to end", ErrorKind::invalid};
        static const std::set<std::string> deletable{"available", "error", "error_deleting", "error_extending"};
        if (!deletable.count(r.status))
            return Error{"volume " + id + " is " + r.status + ": only available or error volumes can be deleted", ErrorKind::invalid};
        r.status = "deleting";
        Status s = store_.update(r);
        if (!s.ok()) return s;
    }
    Backend* b = backends_.find(r.backend);
    Status removed = b ? (r.location.empty() ? success() : b->driver->remove(ref_of(r)))
                       : Status(Error{"backend " + r.backend + " is not enabled"});
    std::lock_guard<std::mutex> lock(mutex_);
    if (!removed.ok()) {
        r.status = "error_deleting";
        r.error = removed.error().message;
        (void)store_.update(r);
        if (log_) log_("delete volume " + id + " failed: " + r.error);
        return Error{"deleting volume " + id + " failed: " + r.error};
    }
    Status s = store_.remove(id);
    if (log_ && s.ok()) log_("deleted volume " + id);
    return s;
}

Result<VolumeRecord> VolumeService::extend(const std::string& id, uint64_t new_size_gib) {
    VolumeRecord r;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto got = get(id);
        if (!got) return got.take_error();
        r = *got;
        if (!r.moved_to.empty())
            return Error{"volume " + id + " has moved to " + r.moved_to + ": extend it on that host", ErrorKind::invalid};
        if (!r.migration_status.empty() && r.migration_status != "success" && r.migration_status != "error")
            return Error{"volume " + id + " is in a migration (" + r.migration_status + "): it cannot be extended now", ErrorKind::invalid};
        if (r.status != "available")
            return Error{"volume " + id + " is " + r.status + ": only available volumes can be extended", ErrorKind::invalid};
        if (new_size_gib > (1ull << 24)) return Error{"new_size " + std::to_string(new_size_gib) + " GiB is beyond any pool", ErrorKind::invalid};
        if (new_size_gib * kGiB <= r.size)
            return Error{"new_size " + std::to_string(new_size_gib) + " must be larger than the current size " +
                             std::to_string(r.size / kGiB) + " GiB",
                         ErrorKind::invalid};
        Backend* b = backends_.find(r.backend);
        if (!b) return Error{"backend " + r.backend + " is not enabled"};
        Status room = b->driver->check_capacity(new_size_gib * kGiB - r.size);
        if (!room.ok()) return Error{"new_size: " + room.error().message, ErrorKind::invalid};
        r.status = "extending";
        Status s = store_.update(r);
        if (!s.ok()) return s.error();
    }
    Backend* b = backends_.find(r.backend);
    auto grown = b->driver->extend(ref_of(r), new_size_gib * kGiB);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!grown) {
        r.status = "available";  // the volume is unchanged and usable
        r.error = "extend failed: " + grown.error().message;
        (void)store_.update(r);
        return Error{"extending volume " + id + " failed: " + grown.error().message,
                     grown.error().kind == ErrorKind::refused ? ErrorKind::invalid : ErrorKind::failed};
    }
    r.location = grown->value;
    r.size = new_size_gib * kGiB;
    r.status = "available";
    r.error.clear();
    Status s = store_.update(r);
    if (!s.ok()) return s.error();
    return get(id);
}

}  // namespace volmig
