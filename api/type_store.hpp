// Volume types (Cinder's), their extra specs, and the retypes a migration carries out, in the
// daemon's SQLite database: tables of their own, created by initialize() through the volume
// store's write connection. Reads run on the store's read connections (on the write connection
// inside a transaction, so a check sees what the transaction wrote); writes take the caller's
// transaction, so that a check and the change it allows commit together.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "copy/result.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

struct VolumeType {
    std::string id;  // a UUID
    std::string name;
    std::string description;
    bool is_public = true;
    std::map<std::string, std::string> extra_specs;
    std::string created_at, updated_at;

    // An extra spec's value, or nullopt when the type has none.
    std::optional<std::string> spec(const std::string& key) const {
        auto it = extra_specs.find(key);
        return it == extra_specs.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
};

class TypeStore {
public:
    explicit TypeStore(VolumeStore& store) : store_(store) {}
    Status initialize();  // the tables

    Result<std::vector<VolumeType>> list();  // oldest first
    Result<std::optional<VolumeType>> get(const std::string& id);
    Result<std::optional<VolumeType>> by_name(const std::string& name);

    // Writes, in the caller's transaction.
    Status insert(VolumeStore::Tx& tx, const VolumeType& type);  // with its extra specs
    Status update(VolumeStore::Tx& tx, const VolumeType& type);  // name, description, is_public
    Status remove(VolumeStore::Tx& tx, const std::string& id);   // with its extra specs
    Status set_spec(VolumeStore::Tx& tx, const std::string& id, const std::string& key, const std::string& value);
    Status remove_spec(VolumeStore::Tx& tx, const std::string& id, const std::string& key);

    // The type a migration gives its volume when it completes (os-retype with a migration).
    Status record_retype(VolumeStore::Tx& tx, const std::string& migration_id, const std::string& volume_id, const std::string& type_id);
    Result<std::optional<std::string>> retype_of(const std::string& migration_id);
    Status forget_retype(VolumeStore::Tx& tx, const std::string& migration_id);
    // The volumes that a recorded retype gives this type (the migration may have ended: a
    // rolled-back one leaves its row; the caller checks the volume).
    Result<std::vector<std::string>> retyped_to(const std::string& type_id);

    VolumeStore& volumes() { return store_; }

private:
    Result<std::vector<VolumeType>> query(const std::string& where, const std::string& arg);
    VolumeStore& store_;
};

}  // namespace volmig
