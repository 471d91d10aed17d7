#include "api/volume_types.hpp"

#include <algorithm>

#include <Poco/UUIDGenerator.h>

#include "api/log.hpp"

namespace volmig {

namespace {

const char* kBackendNameSpec = "volume_backend_name";
const char* kHostSpec = "volmig:host";

bool places_volumes(const std::string& key) { return key == kBackendNameSpec || key == kHostSpec; }

}  // namespace

nlohmann::json volume_type_view(const VolumeType& t) {
    nlohmann::json specs = nlohmann::json::object();
    for (const auto& [key, value] : t.extra_specs) specs[key] = value;
    return {{"id", t.id},
            {"name", t.name},
            {"description", t.description.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.description)},
            {"is_public", t.is_public},
            {"os-volume-type-access:is_public", t.is_public},
            {"extra_specs", specs},
            {"qos_specs_id", nullptr}};
}

VolumeTypes::VolumeTypes(VolumeService& volumes, std::string default_type, std::function<void(const std::string&)> log)
    : volumes_(volumes), store_(volumes.store()), default_type_(std::move(default_type)), log_(std::move(log)) {}

Status VolumeTypes::initialize() {
    if (Status s = store_.initialize(); !s.ok()) return s;
    // A type for each backend's volume_backend_name that no type is named after (kept by name:
    // a deleted or renamed one comes back at the next start).
    Status ensured = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        for (const auto& b : volumes_.backends().all()) {
            auto existing = store_.by_name(b->volume_backend_name);
            if (!existing) return existing.error();
            if (*existing) continue;
            VolumeType t;
            t.id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
            t.name = b->volume_backend_name;
            t.description = "volumes of backend " + b->name + " (created by volmig)";
            t.extra_specs[kBackendNameSpec] = b->volume_backend_name;
            if (Status s = store_.insert(tx, t); !s.ok()) return s;
            if (log_) log_("volume type " + t.name + " (" + t.id + ") created for backend " + b->name);
        }
        return success();
    });
    if (!ensured.ok()) return ensured;
    if (!default_type_.empty() && log_) {
        auto found = find(default_type_);
        if (!found) log_("warning: [DEFAULT] default_volume_type = " + default_type_ + ": " + found.error().message);
    }
    volumes_.set_type_resolver([this](const std::string& name_or_id) { return choose(name_or_id); });
    return success();
}

Result<std::vector<VolumeType>> VolumeTypes::list() { return store_.list(); }

Result<VolumeType> VolumeTypes::get(const std::string& id) {
    auto t = store_.get(id);
    if (!t) return t.take_error();
    if (!*t) return Error{"volume type " + printable(id) + " could not be found", ErrorKind::not_found};
    return **t;
}

Result<VolumeType> VolumeTypes::find(const std::string& name_or_id) {
    auto t = store_.get(name_or_id);
    if (!t) return t.take_error();
    if (!*t) t = store_.by_name(name_or_id);
    if (!t) return t.take_error();
    if (!*t) return Error{"volume type '" + printable(name_or_id) + "' could not be found", ErrorKind::not_found};
    return **t;
}

Result<VolumeType> VolumeTypes::default_type() {
    const std::string name = default_type_.empty() ? volumes_.backends().first().volume_backend_name : default_type_;
    auto t = find(name);
    if (!t) return Error{"the default volume type " + name + " could not be found", ErrorKind::not_found};
    return t;
}

Result<VolumeType> VolumeTypes::create(const TypeChanges& fields) {
    VolumeType t;
    t.id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
    t.name = fields.name.value_or("");
    t.description = fields.description.value_or("");
    t.is_public = fields.is_public.value_or(true);
    t.extra_specs = fields.extra_specs;
    Status s = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        auto existing = store_.by_name(t.name);
        if (!existing) return existing.error();
        if (*existing) return Error{"volume type " + t.name + " already exists (" + (*existing)->id + ")", ErrorKind::conflict};
        return store_.insert(tx, t);
    });
    if (!s.ok()) return s.error();
    if (log_) log_("volume type " + t.name + " (" + t.id + ") created");
    return get(t.id);
}

Result<VolumeType> VolumeTypes::update(const std::string& id, const TypeChanges& changes) {
    Status s = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        auto t = get(id);
        if (!t) return t.error();
        if (changes.name && *changes.name != t->name) {
            auto fallback = default_type();
            if (fallback && fallback->id == id)
                return Error{"volume type " + t->name + " is the default volume type: its name cannot change", ErrorKind::invalid};
            auto existing = store_.by_name(*changes.name);
            if (!existing) return existing.error();
            if (*existing) return Error{"volume type " + *changes.name + " already exists (" + (*existing)->id + ")", ErrorKind::conflict};
            t->name = *changes.name;
        }
        if (changes.description) t->description = *changes.description;
        if (changes.is_public) t->is_public = *changes.is_public;
        return store_.update(tx, *t);
    });
    if (!s.ok()) return s.error();
    return get(id);
}

Status VolumeTypes::check_unused(const VolumeType& type, const std::string& what) {
    auto volumes = volumes_.store().list();
    if (!volumes) return volumes.error();
    auto all = list();
    if (!all) return all.error();
    // A volume that a running migration retypes to this type has it too: it takes the type as
    // the migration completes (a rolled-back migration's row names a volume no longer migrating).
    auto retyped = store_.retyped_to(type.id);
    if (!retyped) return retyped.error();
    size_t users = 0;
    std::string example;
    for (const auto& v : *volumes) {
        const bool retyping = v.in_migration() && std::find(retyped->begin(), retyped->end(), v.id) != retyped->end();
        if (!retyping && type_id_of(v, *all) != type.id) continue;
        if (users++ == 0) example = v.id;
    }
    if (users == 0) return success();
    return Error{"volume type " + type.name + " is still in use by " + std::to_string(users) + " volume(s), as " + example + ": " + what,
                 ErrorKind::invalid};
}

Status VolumeTypes::remove(const std::string& id) {
    std::string name;
    Status s = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        auto t = get(id);
        if (!t) return t.error();
        name = t->name;
        auto fallback = default_type();
        if (fallback && fallback->id == id)
            return Error{"volume type " + t->name + " is the default volume type and cannot be deleted", ErrorKind::invalid};
        if (Status unused = check_unused(*t, "it cannot be deleted"); !unused.ok()) return unused;
        return store_.remove(tx, id);
    });
    if (s.ok() && log_) log_("volume type " + name + " (" + id + ") deleted");
    return s;
}

Result<VolumeType> VolumeTypes::set_specs(const std::string& id, const std::map<std::string, std::string>& specs) {
    Status s = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        auto t = get(id);
        if (!t) return t.error();
        for (const auto& [key, value] : specs) {
            if (places_volumes(key) && t->spec(key) != value)
                if (Status unused = check_unused(*t, "its " + key + " cannot change"); !unused.ok()) return unused;
            if (Status set = store_.set_spec(tx, id, key, value); !set.ok()) return set;
        }
        return success();
    });
    if (!s.ok()) return s.error();
    return get(id);
}

Status VolumeTypes::unset_spec(const std::string& id, const std::string& key) {
    return volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        auto t = get(id);
        if (!t) return t.error();
        if (!t->spec(key)) return Error{"volume type " + t->name + " has no extra spec " + key, ErrorKind::not_found};
        if (places_volumes(key))
            if (Status unused = check_unused(*t, "its " + key + " cannot change"); !unused.ok()) return unused;
        return store_.remove_spec(tx, id, key);
    });
}

Result<TypePlacement> VolumeTypes::placement(const VolumeType& type) {
    const std::string& here = volumes_.config().host;
    TypePlacement p;
    if (auto host = type.spec(kHostSpec)) {
        auto spec = parse_host_spec(*host);
        if (!spec) return Error{"volume type " + type.name + ": volmig:host: " + spec.error().message, ErrorKind::invalid};
        if (spec->host != here) {
            p.where = TypePlacement::Where::peer;
            p.destination = *host;
            return p;
        }
        auto local = volumes_.local_backend(*host);
        if (!local) return Error{"volume type " + type.name + ": volmig:host " + *host + ": " + local.error().message, ErrorKind::invalid};
        p.where = TypePlacement::Where::local;
        p.backend = (*local)->name;
    } else if (auto name = type.spec(kBackendNameSpec)) {
        Backend* b = volumes_.backends().find_by_backend_name(*name);
        if (!b)
            return Error{"volume type " + type.name + " selects volume_backend_name '" + *name + "', which no backend of host " + here + " has",
                         ErrorKind::invalid};
        p.where = TypePlacement::Where::local;
        p.backend = b->name;
    } else {
        return p;
    }
    Backend* b = volumes_.backends().find(p.backend);
    p.destination = here + "@" + b->name + "#" + b->driver->pool_name();
    return p;
}

Result<VolumeTypeChoice> VolumeTypes::choose(const std::string& name_or_id) {
    auto type = name_or_id.empty() ? default_type() : find(name_or_id);
    if (!type) {
        if (type.error().kind != ErrorKind::not_found) return type.take_error();
        // A backend's volume_backend_name whose type was deleted or renamed (the next start
        // brings it back): migrations name their destination backend this way.
        if (Backend* b = name_or_id.empty() ? nullptr : volumes_.backends().find_by_backend_name(name_or_id)) return VolumeTypeChoice{"", b->name};
        if (name_or_id.empty()) return Error{"volume_type is not given and " + type.error().message, ErrorKind::not_found};
        return Error{"volume_type '" + name_or_id + "' could not be found", ErrorKind::not_found};
    }
    auto where = placement(*type);
    if (!where) return Error{"volume_type: " + where.error().message, ErrorKind::invalid};
    switch (where->where) {
        case TypePlacement::Where::peer:
            return Error{"volume_type " + type->name + " places volumes on " + where->destination + " (volmig:host), not on this host (" +
                             volumes_.config().host + "): create the volume there",
                         ErrorKind::invalid};
        case TypePlacement::Where::local: return VolumeTypeChoice{type->id, where->backend};
        case TypePlacement::Where::anywhere: break;
    }
    return VolumeTypeChoice{type->id, volumes_.backends().first().name};
}

std::string VolumeTypes::type_id_of(const VolumeRecord& volume, const std::vector<VolumeType>& all) {
    if (!volume.volume_type_id.empty()) return volume.volume_type_id;
    if (volume.is_forwarding()) return "";
    Backend* b = volumes_.backends().find(volume.backend);
    if (!b) return "";
    for (const auto& t : all)
        if (t.name == b->volume_backend_name) return t.id;
    return "";
}

}  // namespace volmig
