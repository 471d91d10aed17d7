// os-initialize_connection and os-terminate_connection, and what a restart does with the
// connections it finds (api/attachments.hpp).
#include <algorithm>
#include <set>

#include <Poco/UUIDGenerator.h>

#include "api/attachments.hpp"

namespace volmig {

namespace {

nlohmann::json connection_info(const VolumeRecord& volume, const ConnectionRecord& c, const nlohmann::json& connector) {
    auto multipath = connector.find("enforce_multipath");
    return {{"driver_volume_type", "local"},
            {"data",
             {{"device_path", c.device_path},
              {"volume_id", volume.id},
              {"access_mode", "rw"},
              {"volmig:connection_id", c.id},
              {"volmig:block_device", c.created_loop || c.device_path.rfind("/dev/", 0) == 0}}},
            {"enforce_multipath", multipath != connector.end() && multipath->is_boolean() ? multipath->get<bool>() : false}};
}

Result<VolumeRecord> volume_in(VolumeStore::Tx& tx, const std::string& volume_id) {
    auto r = tx.get(volume_id);
    if (!r) return r.take_error();
    if (!*r) return Error{"volume " + volume_id + " could not be found", ErrorKind::not_found};
    return **r;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

std::string connector_key(const nlohmann::json& connector) {
    auto host = connector.find("host");
    if (host != connector.end() && host->is_string() && !host->get<std::string>().empty()) return "host:" + host->get<std::string>();
    return connector.dump();
}

Result<nlohmann::json> AttachmentService::initialize_connection(const std::string& volume_id, const nlohmann::json& connector) {
    ConnectionRecord c;
    c.id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
    c.volume_id = volume_id;
    c.connector_key = connector_key(connector);
    auto host = connector.find("host");
    if (host != connector.end() && host->is_string()) c.host = host->get<std::string>();
    c.connector = connector.dump();
    c.created_at = utc_timestamp();
    std::optional<ConnectionRecord> existing;
    VolumeRecord volume;
    // The checks and the record of the intent are one transaction: a migration, delete or
    // extend that starts after it sees the connection; one that started before is seen here.
    Status claimed = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        auto r = volume_in(tx, volume_id);
        if (!r) return r.error();
        const VolumeRecord& v = *r;
        if (v.is_forwarding())
            return Error{"volume " + v.id + " has moved to " + v.moved_to + ": connect to it on that host", ErrorKind::invalid};
        if (v.in_migration() || !v.attached_path.empty())
            return Error{"volume " + v.id + " is in a migration (" + v.migration_status_text() + "): os-initialize_connection waits for it to end",
                         ErrorKind::invalid};
        static const std::vector<VolumeStatus> allowed{VolumeStatus::attaching, VolumeStatus::reserved, VolumeStatus::in_use};
        if (std::find(allowed.begin(), allowed.end(), v.status) == allowed.end())
            return Error{"volume " + v.id + " is " + to_string(v.status) +
                             ": os-initialize_connection needs a reserved or attached volume (status attaching, reserved or in-use): "
                             "os-reserve it first",
                         ErrorKind::invalid};
        auto open = connections_.of_volume(volume_id);
        if (!open) return open.error();
        for (const auto& other : *open) {
            if (other.connector_key != c.connector_key) continue;
            if (other.state != ConnectionState::connected)
                return Error{"volume " + v.id + ": the connection for this connector is being " +
                                 (other.state == ConnectionState::connecting ? "set up" : "terminated") + ": retry in a moment",
                             ErrorKind::refused};
            existing = other;
            volume = v;
            return success();
        }
        if (open->size() >= kMaxConnectionsPerVolume)
            return Error{"volume " + v.id + " has " + std::to_string(open->size()) + " open connections, the most volmig keeps for one volume: "
                             "os-terminate_connection one first",
                         ErrorKind::invalid};
        volume = v;
        return connections_.insert(c);
    });
    if (!claimed.ok()) return claimed.error();
    if (existing) return connection_info(volume, *existing, connector);

    Backend* b = volumes_.backends().find(volume.backend);
    auto a = b ? b->driver->attach(volumes_.ref_of(volume), AttachMode::file_or_block)
               : Result<Attachment>(Error{"backend " + volume.backend + " is not enabled"});
    if (!a) {
        Status dropped = connections_.remove(c.id);  // nothing was set up: the intent goes
        if (!dropped.ok() && log_) log_("volume " + volume_id + ": could not drop connection " + c.id + ": " + dropped.error().message);
        return Error{"os-initialize_connection of volume " + volume_id + " failed: " + a.error().message, ErrorKind::failed};
    }
    c.device_path = a->path;
    c.created_loop = a->created_loop;
    c.state = ConnectionState::connected;
    Status saved = connections_.update(c);
    if (!saved.ok()) {
        // Unrecorded, the device would outlive every terminate: release it now (a restart
        // releases it otherwise, the intent being recorded).
        Status released = b->driver->detach(*a);
        if (released.ok()) (void)connections_.remove(c.id);
        return Error{"os-initialize_connection of volume " + volume_id + ": the connection could not be recorded: " + saved.error().message,
                     ErrorKind::failed};
    }
    if (log_) log_("volume " + volume_id + ": connection " + c.id + " for host " + (c.host.empty() ? "(unnamed)" : c.host) + " on " + a->path);
    return connection_info(volume, c, connector);
}

Status AttachmentService::release(const VolumeRecord& volume, const ConnectionRecord& c) {
    if (!c.created_loop || c.device_path.empty()) return success();  // the volume's own file or LV: nothing was set up
    Backend* b = volumes_.backends().find(volume.backend);
    if (!b) return Error{"backend " + volume.backend + " is not enabled"};
    // Detach only a device that is still over this volume's storage: a device number that
    // came back for something else is not ours to release.
    auto over = b->driver->attached_devices(volumes_.ref_of(volume));
    if (!over) return over.error();
    if (!contains(*over, c.device_path)) return success();
    return b->driver->detach(Attachment{c.device_path, true, true});
}

Status AttachmentService::terminate_connection(const std::string& volume_id, const nlohmann::json& connector) {
    std::vector<ConnectionRecord> ending;
    VolumeRecord volume;
    Status claimed = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        auto r = volume_in(tx, volume_id);
        if (!r) return r.error();
        volume = *r;
        auto open = connections_.of_volume(volume_id);
        if (!open) return open.error();
        const std::string key = connector.is_null() ? "" : connector_key(connector);
        for (auto c : *open) {
            if (!key.empty() && c.connector_key != key) continue;
            if (c.state == ConnectionState::connecting)
                return Error{"volume " + volume_id + ": a connection for this connector is being set up: retry in a moment", ErrorKind::refused};
            if (c.state == ConnectionState::terminating) continue;  // another terminate is releasing it
            c.state = ConnectionState::terminating;
            Status marked = connections_.update(c);
            if (!marked.ok()) return marked;
            ending.push_back(c);
        }
        return success();
    });
    if (!claimed.ok()) return claimed;
    for (auto& c : ending) {
        Status released = release(volume, c);
        if (!released.ok()) {
            c.state = ConnectionState::connected;  // still there, and still recorded as such
            (void)connections_.update(c);
            return Error{"os-terminate_connection of volume " + volume_id + ": releasing " + c.device_path + " failed: " + released.error().message,
                         ErrorKind::failed};
        }
        Status removed = connections_.remove(c.id);
        if (!removed.ok()) return removed;
        if (log_) log_("volume " + volume_id + ": connection " + c.id + " on " + c.device_path + " terminated");
    }
    if (ending.empty() && log_) log_("volume " + volume_id + ": os-terminate_connection found no connection for the connector: nothing to release");
    return success();
}

void AttachmentService::reconcile_after_restart() {
    auto rows = connections_.all();
    if (!rows) {
        if (log_) log_("reconcile connections: " + rows.error().message);
        return;
    }
    auto note = [&](const std::string& what, const Status& s) {
        if (!s.ok() && log_) log_("reconcile connections: " + what + ": " + s.error().message);
    };
    for (const auto& c : *rows) {
        auto volume = volumes_.get(c.volume_id);
        Backend* b = volume ? volumes_.backends().find(volume->backend) : nullptr;
        if (!volume || !b) {
            note("connection " + c.id + " of volume " + c.volume_id, volume ? Status(Error{"its backend is not enabled"}) : Status(volume.error()));
            continue;  // nothing to check it against: kept as it is
        }
        const VolumeRef ref = volumes_.ref_of(*volume);
        auto over = b->driver->attached_devices(ref);
        if (!over) {
            note("volume " + c.volume_id, over.error());
            continue;
        }
        if (c.state == ConnectionState::connected) {
            // A device of ours still over the volume stays the client's; the volume's own file
            // or LV is made ready again (lvm activates it after a reboot).
            bool usable = c.created_loop ? contains(*over, c.device_path) : false;
            if (!c.created_loop) {
                auto again = b->driver->attach(ref, AttachMode::file_or_block);
                usable = again && again->path == c.device_path;
            }
            if (usable) {
                if (log_) log_("reconcile connections: kept connection " + c.id + " of volume " + c.volume_id + " on " + c.device_path);
                continue;
            }
            note("connection " + c.id + " of volume " + c.volume_id, connections_.remove(c.id));
            if (log_)
                log_("reconcile connections: the device " + c.device_path + " of connection " + c.id + " of volume " + c.volume_id +
                     " is gone (the host restarted?): the connection is dropped; initialize it again");
            continue;
        }
        // Being set up or ended when the daemon stopped: release what it may have set up, that
        // is every device over the volume that no other connection holds.
        std::set<std::string> kept;
        for (const auto& other : *rows)
            if (other.volume_id == c.volume_id && other.id != c.id && other.state == ConnectionState::connected) kept.insert(other.device_path);
        Status released = success();
        for (const auto& device : *over)
            if (released.ok() && !kept.count(device)) released = b->driver->detach(Attachment{device, true, true});
        note("releasing what connection " + c.id + " of volume " + c.volume_id + " set up", released);
        if (!released.ok()) continue;
        note("connection " + c.id, connections_.remove(c.id));
        if (log_) log_("reconcile connections: finished the " + to_string(c.state) + " connection " + c.id + " of volume " + c.volume_id);
    }
}

}  // namespace volmig
