// What clients and operators change about a volume's records, never its data, in Cinder's
// shapes: the user metadata (/v3/{project_id}/volumes/ID/metadata[/KEY]), PUT of the volume
// itself (name, description, metadata), os-set_bootable and os-reset_status (README "API").
// Every check and the change it allows are one store transaction; a refused request changes
// nothing.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "api/rest.hpp"
#include "api/volume_service.hpp"

namespace volmig {

// Metadata keys volmig records itself (volmig:migration_id tags a migration's destination, so
// that a rollback finds it): a client may repeat one with its stored value, never set, change or
// remove it; replacing the metadata keeps them.
constexpr const char* kReservedMetadataPrefix = "volmig:";

// A request's metadata, checked: a JSON object of strings, keys of 1 to 255 characters, values
// of at most 255, UTF-8 without NUL. `field` names the object in messages ("metadata").
Result<std::map<std::string, std::string>> metadata_from(const nlohmann::json& value, const std::string& field);

// Characters (code points) of UTF-8 text: the unit of Cinder's 255-character bounds.
size_t utf8_chars(const std::string& text);

enum class MetadataChange { merge, replace };
// Applies `wanted` to a volume's stored metadata (JSON text), merging or replacing, under the
// rule for reserved keys above. Errors are ErrorKind::invalid.
Status apply_metadata(VolumeRecord& volume, const std::map<std::string, std::string>& wanted, MetadataChange how);

// Whether a volume's records may be changed by a client now: not during maintenance (Cinder's
// rule), nor while a migration completes (the hand-over carries the records as they were), nor
// on a forwarding record (change them on the volume's new host). `what` names the change.
Status volume_updatable(const VolumeRecord& volume, const std::string& what);

// Asked inside os-reset_status's transaction before it changes a volume's migration_status:
// an error (naming the migration) when a migration on this daemon still drives that volume, so
// that the job and the record never disagree (MigrationService::refuse_reset_during_migration).
using MigrationResetGuard = std::function<Status(const VolumeRecord& volume)>;

// The metadata sub-resource (api/volume_metadata.cpp).
void install_volume_metadata(RestApi& api, VolumeService& volumes);
// PUT on a volume, os-set_bootable, os-reset_status (logged, old -> new), and the metadata routes.
void install_volume_updates(RestApi& api, VolumeService& volumes, std::function<void(const std::string&)> log,
                            MigrationResetGuard migration_guard);

}  // namespace volmig
