// os-retype: a volume takes another volume type, in place when the new type places it where it
// is, else through a migration (migration_policy on-demand) that gives it the type as it
// completes (see volume_types.hpp).
#include "api/migration.hpp"
#include "api/volume_types.hpp"

namespace volmig {

Status VolumeTypes::retype(const std::string& volume_id, const std::string& new_type, bool migrate_on_demand,
                           MigrationService& migrations) {
    auto volume = volumes_.get(volume_id);
    if (!volume) return volume.error();
    if (volume->is_forwarding())
        return Error{"volume " + volume_id + " has moved to " + volume->moved_to + ": retype it there", ErrorKind::invalid};
    auto type = find(new_type);
    if (!type) return type.error();
    auto all = list();
    if (!all) return all.error();
    const std::string current = type_id_of(*volume, *all);
    if (current == type->id) return Error{"volume " + volume_id + " already has volume type " + type->name + ": retype needs a new type", ErrorKind::invalid};
    auto where = placement(*type);
    if (!where) return where.error();
    const bool in_place = where->where == TypePlacement::Where::anywhere ||
                          (where->where == TypePlacement::Where::local && where->backend == volume->backend);
    if (in_place) {
        Status changed = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
            auto still = store_.get(type->id);
            if (!still) return still.error();
            if (!*still) return Error{"volume type " + type->name + " was deleted meanwhile", ErrorKind::not_found};
            return tx.modify(volume_id, [&](VolumeRecord& v) -> Status {
                if (v.is_forwarding()) return Error{"volume " + v.id + " has moved to " + v.moved_to + ": retype it there", ErrorKind::invalid};
                if (v.in_migration())
                    return Error{"volume " + v.id + " is migrating (" + v.migration_status_text() + "): it cannot be retyped now", ErrorKind::invalid};
                if (v.status != VolumeStatus::available && v.status != VolumeStatus::in_use)
                    return Error{"volume " + v.id + " is " + to_string(v.status) + ": only available or in-use volumes can be retyped",
                                 ErrorKind::invalid};
                if (v.backend != volume->backend || v.volume_type_id != volume->volume_type_id)
                    return Error{"volume " + v.id + " changed meanwhile: retry", ErrorKind::refused};
                v.volume_type_id = type->id;
                return success();
            });
        });
        if (changed.ok() && log_) log_("volume " + volume_id + " retyped to " + type->name + " in place");
        return changed;
    }
    if (!migrate_on_demand)
        return Error{"volume " + volume_id + " is on " + volumes_.host_of(*volume) + " and volume type " + type->name + " places volumes on " +
                         where->destination + ": the retype needs a migration, which migration_policy never does not allow (use on-demand)",
                     ErrorKind::invalid};
    MigrateRequest request;
    request.volume_id = volume_id;
    request.destination = where->destination;
    request.also_on_start = [&](VolumeStore::Tx& tx, const MigrationRecord& m) -> Status {
        auto still = store_.get(type->id);
        if (!still) return still.error();
        if (!*still) return Error{"volume type " + type->name + " was deleted meanwhile", ErrorKind::not_found};
        return store_.record_retype(tx, m.id, volume_id, type->id);
    };
    auto started = migrations.start(request);
    if (!started) return started.error();
    if (log_) log_("volume " + volume_id + " retyped to " + type->name + " by migration " + started->id + " to " + where->destination);
    return success();
}

Status VolumeTypes::apply_retype(VolumeStore::Tx& tx, const std::string& migration_id, const std::string& volume_id) {
    auto type_id = store_.retype_of(migration_id);
    if (!type_id) return type_id.error();
    if (!*type_id) return success();
    Status typed = tx.modify(volume_id, [&](VolumeRecord& v) {
        v.volume_type_id = **type_id;
        return success();
    });
    if (!typed.ok()) return typed;
    return store_.forget_retype(tx, migration_id);
}

}  // namespace volmig
