// Volume types (Cinder's): named sets of extra specs that say where a volume goes, kept in the
// daemon's database (api/type_store.hpp). The configured backends appear as types named after
// their volume_backend_name (created at start when no type has that name), so that a client
// that names a backend as its volume_type, and the migration that creates its destination
// volume that way, keep working.
//
// Where a type puts a volume (placement):
//   extra spec volmig:host = HOST@BACKEND[#POOL]   that pool: one of this daemon's, or a peer's;
//   else extra spec volume_backend_name = NAME     this daemon's backend of that name;
//   else                                           anywhere (a new volume: the first backend).
// The default type is [DEFAULT] default_volume_type when set, else the first backend's type.
//
// os-retype (api/retype.cpp): a type that places the volume where it is changes in place; one
// that places it elsewhere needs a migration (migration_policy on-demand), and the volume takes
// the new type in the transaction that completes the migration.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/rest.hpp"
#include "api/type_store.hpp"
#include "api/volume_service.hpp"

namespace volmig {

class MigrationService;

struct TypePlacement {
    enum class Where { anywhere, local, peer };
    Where where = Where::anywhere;
    std::string backend;      // local: the backend's section name
    std::string destination;  // local or peer: HOST@BACKEND#POOL
};

// The fields of a new type, or the changes to one (unset: unchanged).
struct TypeChanges {
    std::optional<std::string> name, description;
    std::optional<bool> is_public;
    std::map<std::string, std::string> extra_specs;  // a new type's
};

class VolumeTypes {
public:
    VolumeTypes(VolumeService& volumes, std::string default_type, std::function<void(const std::string&)> log);

    // The tables, a type for each configured volume_backend_name that has none, and the
    // resolver VolumeService::create reads volume_type with.
    Status initialize();

    Result<std::vector<VolumeType>> list();
    Result<VolumeType> get(const std::string& id);           // not_found
    Result<VolumeType> find(const std::string& name_or_id);  // by id, then by name; not_found
    Result<VolumeType> default_type();

    // Each check and the change it allows are one transaction. Names are unique (conflict).
    Result<VolumeType> create(const TypeChanges& fields);
    Result<VolumeType> update(const std::string& id, const TypeChanges& changes);
    Status remove(const std::string& id);  // refused while a volume has the type, and for the default type
    // Sets extra specs; volume_backend_name and volmig:host cannot change while a volume has the type.
    Result<VolumeType> set_specs(const std::string& id, const std::map<std::string, std::string>& specs);
    Status unset_spec(const std::string& id, const std::string& key);

    Result<TypePlacement> placement(const VolumeType& type);
    // For a new volume: the type (a name or id; empty: the default) and the backend it chooses.
    Result<VolumeTypeChoice> choose(const std::string& name_or_id);
    // The id of the type a volume has: its recorded one, else its backend's type (empty if none).
    std::string type_id_of(const VolumeRecord& volume, const std::vector<VolumeType>& all);

    // os-retype {"new_type", "migration_policy"} (api/retype.cpp).
    Status retype(const std::string& volume_id, const std::string& new_type, bool migrate_on_demand, MigrationService& migrations);

    // The /types collection and the volume view's volume_type.
    void install_routes(RestApi& api);
    // os-retype and the completion step that gives a retyped volume its new type (before the
    // migrations resume after a restart).
    void install_retype(RestApi& api, MigrationService& migrations);
    void install(RestApi& api, MigrationService& migrations) {
        install_routes(api);
        install_retype(api, migrations);
    }

private:
    // Error (refused) when a volume has the type; `what` says what may not happen.
    Status check_unused(const VolumeType& type, const std::string& what);
    Status apply_retype(VolumeStore::Tx& tx, const std::string& migration_id, const std::string& volume_id);
    ApiResponse route(const ApiRequest& request, const std::vector<std::string>& rest);
    ApiResponse extra_specs_route(const ApiRequest& request, const VolumeType& type, const std::vector<std::string>& rest);

    VolumeService& volumes_;
    TypeStore store_;
    std::string default_type_;
    std::function<void(const std::string&)> log_;
};

// Cinder's view of a type: id, name, description, is_public (also as
// os-volume-type-access:is_public), extra_specs, qos_specs_id.
nlohmann::json volume_type_view(const VolumeType& type);

}  // namespace volmig
