#include "api/volume_service.hpp"

#include <algorithm>
#include <set>

#include <Poco/UUIDGenerator.h>

#include "copy/size.hpp"

namespace volmig {

namespace {

// attached_path while losetup runs: the device is not known yet, but a restart must look.
constexpr const char* kAttaching = "attaching";

bool metadata_matches(const std::string& stored, const std::map<std::string, std::string>& wanted) {
    if (wanted.empty()) return true;
    auto doc = nlohmann::json::parse(stored, nullptr, false);
    if (!doc.is_object()) return false;
    for (const auto& [key, value] : wanted) {
        auto it = doc.find(key);
        if (it == doc.end() || !it->is_string() || it->get<std::string>() != value) return false;
    }
    return true;
}

}  // namespace

Result<HostSpec> parse_host_spec(const std::string& text) {
    HostSpec spec;
    if (text.size() > 255) return Error{"host is longer than 255 characters", ErrorKind::invalid};
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
        return Error{"host contains control characters", ErrorKind::invalid};
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

CopyAttachment::CopyAttachment(CopyAttachment&& other) noexcept
    : service_(other.service_), volume_id_(std::move(other.volume_id_)), driver_(other.driver_), attachment_(std::move(other.attachment_)) {
    other.service_ = nullptr;
}

CopyAttachment::~CopyAttachment() {
    if (service_) service_->detach_for_copy(volume_id_, driver_, attachment_);
}

VolumeService::VolumeService(const DaemonConfig& config, Backends& backends, VolumeStore& store,
                             std::function<void(const std::string&)> log)
    : config_(config), backends_(backends), store_(store), log_(std::move(log)), policies_(config.sparse_copy_policies) {}

std::string VolumeService::redact(const std::string& message) const {
    std::vector<std::string> paths{config_.state_path};
    for (const auto& b : backends_.all())
        for (const auto& p : b->driver->private_paths()) paths.push_back(p);
    // Longest first, so that a file inside a listed directory is named as the file.
    std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    std::string out = message;
    for (std::string p : paths) {
        while (p.size() > 1 && p.back() == '/') p.pop_back();
        if (p.size() <= 1) continue;
        // "<dir>/volume-x" -> "volume-x"; "<file>" alone -> its name.
        const std::string name = p.substr(p.find_last_of('/') + 1);
        for (size_t at = out.find(p); at != std::string::npos; at = out.find(p, at)) {
            const bool inside = at + p.size() < out.size() && out[at + p.size()] == '/';
            out.replace(at, p.size() + (inside ? 1 : 0), inside ? "" : name);
        }
    }
    return out;
}

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
    auto note = [&](const std::string& what, const Status& s) {
        if (!s.ok() && log_) log_("reconcile: " + what + ": " + s.error().message);
    };
    for (const VolumeRecord& r : *records) {
        Backend* b = backends_.find(r.backend);
        if (!b) {
            if (log_) log_("reconcile: volume " + r.id + " belongs to backend " + r.backend + ", which is not enabled");
            continue;
        }
        if (!r.attached_path.empty()) {
            // A copy had it attached when the daemon stopped: release the device it recorded, and
            // anything else set up over the volume's storage (a crash may have come before the
            // device was recorded).
            // The devices of open connections are someone's disks: they stay.
            auto kept = connection_devices(r.id);
            Status released = kept ? success() : Status(kept.error());
            if (released.ok() && r.attached_path != kAttaching && !kept->count(r.attached_path))
                released = b->driver->detach(Attachment{r.attached_path, true, true});
            auto over = released.ok() ? b->driver->attached_devices(ref_of(r)) : Result<std::vector<std::string>>(std::vector<std::string>{});
            if (!over) released = over.error();
            for (size_t i = 0; released.ok() && i < over->size(); ++i)
                if (!kept->count((*over)[i])) released = b->driver->detach(Attachment{(*over)[i], true, true});
            note("releasing the copy attachment of volume " + r.id, released);
            if (released.ok()) {
                note("volume " + r.id, store_.modify(r.id, [](VolumeRecord& v) {
                    v.attached_path.clear();
                    return success();
                }));
                if (log_) log_("reconcile: released what a copy had attached for volume " + r.id);
            }
        }
        if (r.status == VolumeStatus::creating) {
            // The driver may or may not have finished: trust the storage.
            auto ids = b->driver->stored_volume_ids();
            const bool present = ids && std::find(ids->begin(), ids->end(), r.storage_id()) != ids->end();
            note("volume " + r.id, store_.modify(r.id, [&](VolumeRecord& v) {
                v.status = VolumeStatus::error;
                v.error = present ? "creation was interrupted by a restart; the storage exists but was not verified: delete and recreate"
                                  : "creation was interrupted by a restart before storage was made";
                return success();
            }));
        } else if (r.status == VolumeStatus::deleting) {
            Status s = b->driver->remove(ref_of(r));
            if (s.ok()) {
                note("volume " + r.id, store_.remove(r.id));
                if (log_) log_("reconcile: finished deleting volume " + r.id);
            } else {
                note("volume " + r.id, store_.modify(r.id, [&](VolumeRecord& v) {
                    v.status = VolumeStatus::error_deleting;
                    v.error = s.error().message;
                    return success();
                }));
            }
        } else if (r.status == VolumeStatus::extending) {
            auto u = b->driver->volume_usage(ref_of(r));
            note("volume " + r.id, store_.modify(r.id, [&](VolumeRecord& v) {
                if (u) v.size = std::max(v.size, u->size);
                v.status = VolumeStatus::available;
                return success();
            }));
        }
    }
}

Result<std::set<std::string>> VolumeService::connection_devices(const std::string& volume_id) {
    std::set<std::string> devices;
    if (!connections_) return devices;
    auto open = connections_(volume_id);
    if (!open) return open.take_error();
    for (const auto& c : *open)
        if (!c.device_path.empty()) devices.insert(c.device_path);
    return devices;
}

Result<std::optional<std::string>> VolumeService::in_use(const VolumeRecord& r) {
    auto attachments = nlohmann::json::parse(r.attachments, nullptr, false);
    std::string attached;
    if (attachments.is_array() && !attachments.empty() && attachments[0].is_object()) {
        const auto& a = attachments[0];
        auto text = [&](const char* key) { return a.contains(key) && a[key].is_string() ? a[key].get<std::string>() : std::string(); };
        attached = !text("server_id").empty() ? "attached to server " + text("server_id") : "attached to host " + text("host_name");
        if (!text("device").empty()) attached += " as " + text("device");
    }
    switch (r.status) {
        case VolumeStatus::in_use: return std::optional<std::string>("is in-use" + (attached.empty() ? "" : " (" + attached + ")"));
        case VolumeStatus::attaching: return std::optional<std::string>("is attaching (reserved by os-reserve)");
        case VolumeStatus::detaching: return std::optional<std::string>("is detaching" + (attached.empty() ? "" : " (" + attached + ")"));
        case VolumeStatus::reserved: return std::optional<std::string>("is reserved");
        default: break;
    }
    if (!attached.empty()) return std::optional<std::string>("is " + attached);
    if (!connections_) return std::optional<std::string>();
    auto open = connections_(r.id);
    if (!open) return open.take_error();
    if (open->empty()) return std::optional<std::string>();
    return std::optional<std::string>("has an open connection for host " + open->front().host +
                                      " (os-initialize_connection): os-terminate_connection it first");
}

Result<CopyAttachment> VolumeService::attach_for_copy(const VolumeRecord& record) {
    Backend* b = backends_.find(record.backend);
    if (!b) return Error{"backend " + record.backend + " is not enabled"};
    Status intent = store_.modify(record.id, [](VolumeRecord& v) {
        if (!v.attached_path.empty())
            return Status(Error{"volume " + v.id + " is already attached for a copy (" + v.attached_path + ")", ErrorKind::refused});
        v.attached_path = kAttaching;
        return success();
    });
    if (!intent.ok()) return intent.error();
    auto a = b->driver->attach(ref_of(record), AttachMode::file_or_block);
    if (!a) {
        (void)store_.modify(record.id, [](VolumeRecord& v) {  // nothing attached: the intent goes
            v.attached_path.clear();
            return success();
        });
        return a.take_error();
    }
    CopyAttachment attached(this, record.id, b->driver.get(), *a);
    if (a->created_loop) {
        // Best effort: the intent already makes a restart look for what is attached.
        Status recorded = store_.modify(record.id, [&](VolumeRecord& v) {
            v.attached_path = a->path;
            return success();
        });
        if (!recorded.ok() && log_) log_("volume " + record.id + ": could not record its attachment " + a->path + ": " + recorded.error().message);
    }
    return attached;
}

void VolumeService::detach_for_copy(const std::string& volume_id, VolumeDriver* driver, const Attachment& attachment) {
    Status s = driver->detach(attachment);
    if (!s.ok()) {
        if (log_) log_("volume " + volume_id + ": detaching " + attachment.path + " failed: " + s.error().message + " (a restart retries)");
        return;
    }
    Status cleared = store_.modify(volume_id, [](VolumeRecord& v) {
        v.attached_path.clear();
        return success();
    });
    if (!cleared.ok() && cleared.error().kind != ErrorKind::not_found && log_)
        log_("volume " + volume_id + ": could not clear its attachment record: " + cleared.error().message);
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
    nlohmann::json document = build_capability_document(id, backend.driver->facts(), policy_of(backend.name));
    document[kCallsKey] = nlohmann::json::array({kCallAdoptWithFinish});
    return document;
}

bool document_lists_call(const nlohmann::json& document, const char* call) {
    if (!document.is_object()) return false;
    auto calls = document.find(kCallsKey);
    if (calls == document.end() || !calls->is_array()) return false;
    for (const auto& c : *calls)
        if (c.is_string() && c.get<std::string>() == call) return true;
    return false;
}

Result<VolumeRecord> VolumeService::create(const CreateRequest& req) {
    Backend* backend = nullptr;
    VolumeTypeChoice choice;
    if (type_resolver_) {
        auto chosen = type_resolver_(req.volume_type);
        if (!chosen) return chosen.take_error();
        choice = *chosen;
        backend = backends_.find(choice.backend);
        if (!backend) return Error{"backend " + choice.backend + " is not enabled on host " + config_.host, ErrorKind::invalid};
    } else if (req.volume_type.empty()) {
        backend = &backends_.first();
    } else {
        backend = backends_.find_by_backend_name(req.volume_type);
        if (!backend)
            return Error{"volume_type '" + req.volume_type + "' matches no volume_backend_name on host " + config_.host, ErrorKind::not_found};
    }
    if (Status admitted = admits(*backend); !admitted.ok()) return admitted.error();
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
    r.status = VolumeStatus::creating;
    r.project_id = req.project_id;
    r.metadata = req.metadata.dump();
    r.description = req.description;
    r.volume_type_id = choice.type_id;
    // The record exists before the storage does: a crash in between is an orphan record,
    // never unrecorded storage.
    Status inserted = store_.transaction([&](VolumeStore::Tx& tx) -> Status {
        if (type_resolver_) {
            auto again = type_resolver_(req.volume_type);
            if (!again) return again.error();
            if (again->type_id != choice.type_id || again->backend != choice.backend)
                return Error{"volume_type '" + req.volume_type + "' changed while the volume was being created: retry", ErrorKind::refused};
        }
        return tx.insert(r);
    });
    if (!inserted.ok()) return inserted.error();
    auto location = backend->driver->create(r.id, bytes);
    Status recorded = store_.modify(r.id, [&](VolumeRecord& v) {
        if (location) {
            v.location = location->value;
            v.status = VolumeStatus::available;
        } else {
            v.status = VolumeStatus::error;
            v.error = location.error().message;
        }
        return success();
    });
    if (!location && log_) log_("create volume " + r.id + " failed: " + location.error().message);
    if (!recorded.ok()) return recorded.error();
    if (location && log_) log_("created volume " + r.id + " (" + format_bytes(bytes) + ") on " + backend->name);
    return get(r.id);
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
        if (r.is_forwarding()) continue;  // the volume is hosted elsewhere
        if (!f.name.empty() && r.name != f.name) continue;
        if (!f.status.empty() && to_string(r.status) != f.status) continue;
        if (f.project && r.project_id != *f.project) continue;
        if (!metadata_matches(r.metadata, f.metadata)) continue;
        out.push_back(r);
        if (f.limit && out.size() >= f.limit) break;
    }
    if (!marker_seen) return Error{"marker " + f.marker + " could not be found", ErrorKind::invalid};
    return out;
}

Status VolumeService::remove(const std::string& id) {
    VolumeRecord r;
    Status claimed = store_.modify(id, [&](VolumeRecord& v) -> Status {
        if (v.is_forwarding()) return Error{"volume " + id + " has moved to " + v.moved_to + ": delete it on that host", ErrorKind::invalid};
        if (v.in_migration() && v.migration_status != VolumeMigrationStatus::target)
            return Error{"volume " + id + " is migrating (" + v.migration_status_text() + "): wait for the migration to end", ErrorKind::invalid};
        auto busy = in_use(v);
        if (!busy) return busy.error();
        if (*busy)  // Cinder's words, then why
            return Error{"Invalid volume: Volume status must be available or error or error_deleting or error_extending and must not be "
                         "migrating, attached, belong to a group or have snapshots: volume " + id + " " + **busy,
                         ErrorKind::invalid};
        static const std::set<VolumeStatus> deletable{VolumeStatus::available, VolumeStatus::error, VolumeStatus::error_deleting,
                                                      VolumeStatus::error_extending};
        if (!deletable.count(v.status))
            return Error{"volume " + id + " is " + to_string(v.status) + ": only available or error volumes can be deleted", ErrorKind::invalid};
        if (delete_guard_) {
            Status allowed = delete_guard_(v);
            if (!allowed.ok()) return allowed;
        }
        v.status = VolumeStatus::deleting;
        r = v;
        return success();
    });
    if (!claimed.ok()) return claimed;
    Backend* b = backends_.find(r.backend);
    Status removed = b ? (r.location.empty() ? success() : b->driver->remove(ref_of(r)))
                       : Status(Error{"backend " + r.backend + " is not enabled"});
    if (!removed.ok()) {
        Status recorded = store_.modify(id, [&](VolumeRecord& v) {
            v.status = VolumeStatus::error_deleting;
            v.error = removed.error().message;
            return success();
        });
        if (log_) log_("delete volume " + id + " failed: " + removed.error().message);
        if (!recorded.ok()) return recorded;
        return Error{"deleting volume " + id + " failed: " + removed.error().message};
    }
    Status s = store_.remove(id);
    if (log_ && s.ok()) log_("deleted volume " + id);
    return s;
}

Result<VolumeRecord> VolumeService::extend(const std::string& id, uint64_t new_size_gib) {
    // The backend is asked for room outside the store's lock (lvm runs its tools for it); the
    // claim below then checks the volume did not change meanwhile.
    auto before = get(id);
    if (!before) return before.take_error();
    Backend* b = backends_.find(before->backend);
    if (!b) return Error{"backend " + before->backend + " is not enabled"};
    if (new_size_gib <= (1ull << 24) && new_size_gib * kGiB > before->size && before->status == VolumeStatus::available) {
        Status room = b->driver->check_capacity(new_size_gib * kGiB - before->size);
        if (!room.ok()) return Error{"new_size: " + room.error().message, ErrorKind::invalid};
    }
    VolumeRecord r;
    Status claimed = store_.modify(id, [&](VolumeRecord& v) -> Status {
        if (v.is_forwarding()) return Error{"volume " + id + " has moved to " + v.moved_to + ": extend it on that host", ErrorKind::invalid};
        if (v.in_migration())
            return Error{"volume " + id + " is in a migration (" + v.migration_status_text() + "): it cannot be extended now", ErrorKind::invalid};
        auto busy = in_use(v);
        if (!busy) return busy.error();
        if (*busy)
            return Error{"volume " + id + " " + **busy + ": volmig does not extend a volume in use (the host using it would not see "
                         "the new size; a thick_file volume's loop device keeps its old size): detach it first",
                         ErrorKind::invalid};
        if (v.status != VolumeStatus::available)
            return Error{"volume " + id + " is " + to_string(v.status) + ": only available volumes can be extended", ErrorKind::invalid};
        if (new_size_gib > (1ull << 24)) return Error{"new_size " + std::to_string(new_size_gib) + " GiB is beyond any pool", ErrorKind::invalid};
        if (new_size_gib * kGiB <= v.size)
            return Error{"new_size " + std::to_string(new_size_gib) + " must be larger than the current size " +
                             std::to_string(v.size / kGiB) + " GiB",
                         ErrorKind::invalid};
        if (v.backend != before->backend || v.size != before->size) return Error{"volume " + id + " changed meanwhile: retry", ErrorKind::refused};
        v.status = VolumeStatus::extending;
        r = v;
        return success();
    });
    if (!claimed.ok()) return claimed.error();
    auto grown = b->driver->extend(ref_of(r), new_size_gib * kGiB);
    Status recorded = store_.modify(id, [&](VolumeRecord& v) {
        v.status = VolumeStatus::available;  // failed or not, the volume is usable
        if (grown) {
            v.location = grown->value;
            v.size = new_size_gib * kGiB;
            v.error.clear();
        } else {
            v.error = "extend failed: " + grown.error().message;
        }
        return success();
    });
    if (!grown)
        return Error{"extending volume " + id + " failed: " + grown.error().message,
                     grown.error().kind == ErrorKind::refused ? ErrorKind::invalid : ErrorKind::failed};
    if (!recorded.ok()) return recorded.error();
    return get(id);
}

}  // namespace volmig
