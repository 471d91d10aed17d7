// A volume as the store records it, and the status vocabularies Cinder's API uses for it.
// Plain data: no database, no driver.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace volmig {

// A volume's status, as Cinder spells it in the API (to_string).
enum class VolumeStatus {
    creating, available, in_use, deleting, error, error_deleting, extending, error_extending, maintenance,
    attaching, detaching, reserved,  // a host is taking or giving up the volume (os-reserve, os-begin_detaching)
};
std::string to_string(VolumeStatus status);
std::optional<VolumeStatus> parse_volume_status(const std::string& text);

// Cinder's migration_status of a volume: none, the source side of a migration (starting,
// migrating, completing, then success or error), or `target` ("target:<source volume id>"): the
// new volume a migration is filling.
enum class VolumeMigrationStatus { none, starting, migrating, completing, success, error, target };
std::string to_string(VolumeMigrationStatus status);

struct VolumeRecord {
    std::string id;
    std::string name;         // display name
    std::string backend;      // the backend's section name
    uint64_t size = 0;        // bytes
    std::string location;     // the driver's VolumeLocation
    VolumeStatus status = VolumeStatus::creating;
    std::string created_at;   // ISO 8601 UTC
    std::string updated_at;
    std::string metadata = "{}";  // JSON object of user metadata
    std::string attached_path;    // a loop device set up for this volume, to release after a crash
    std::string project_id;
    std::string error;            // why the last operation failed, shown on the volume
    std::string description;
    std::string name_id;          // the id the storage is named after (Cinder's name_id); empty = id
    VolumeMigrationStatus migration_status = VolumeMigrationStatus::none;
    std::string migration_source; // with migration_status target: the id of the volume being migrated here
    std::string moved_to;         // host@backend#pool this volume migrated to (a forwarding record)
    std::string volume_type_id;   // the volume type (api/ keeps the types); empty: its backend's own type
    bool bootable = false;        // Cinder's bootable flag (os-set_bootable); volmig only records it
    std::string attachments = "[]";  // JSON array of the volume's attachments, Cinder's shape (api/ manages it)

    const std::string& storage_id() const { return name_id.empty() ? id : name_id; }
    // The one "is this volume busy with a migration" predicate: it is the source of a running
    // migration, or the target a migration is filling.
    bool in_migration() const {
        return migration_status == VolumeMigrationStatus::starting || migration_status == VolumeMigrationStatus::migrating ||
               migration_status == VolumeMigrationStatus::completing || migration_status == VolumeMigrationStatus::target;
    }
    bool is_forwarding() const { return !moved_to.empty(); }
    // Cinder's migration_status text: "" for none, "target:<id>" for a target.
    std::string migration_status_text() const;
};

// Now as "2026-11-22T21:30:00.000000", the timestamp form Cinder's API uses.
std::string utc_timestamp();

}  // namespace volmig
