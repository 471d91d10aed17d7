// The volume type routes (Cinder's /v3/{project_id}/types, with extra specs), the os-retype
// action, the type shown in volume views, and the completion step of a retype's migration.
#include <algorithm>
#include <cctype>

#include "api/log.hpp"
#include "api/migration.hpp"
#include "api/volume_types.hpp"
#include "copy/json_text.hpp"

namespace volmig {

namespace {

// Text of at most 255 bytes without NUL; `required` also refuses empty and all-blank text.
Result<std::string> bounded_text(const nlohmann::json& value, const std::string& field, bool required) {
    if (!value.is_string()) return Error{field + " must be a string (got " + json_for_message(value) + ")", ErrorKind::invalid};
    const std::string s = value.get<std::string>();
    if (s.size() > 255) return Error{field + " is longer than 255 characters", ErrorKind::invalid};
    if (s.find('\0') != std::string::npos) return Error{field + " must not contain a NUL character (\\u0000)", ErrorKind::invalid};
    if (required && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }))
        return Error{field + " must not be empty or blank", ErrorKind::invalid};
    return s;
}

// Cinder's extra spec keys: 1 to 255 of letters, digits, '-', '_', ':', '.', ' ' and '/'.
Status check_spec_key(const std::string& key, const std::string& where) {
    const bool ok = !key.empty() && key.size() <= 255 && std::all_of(key.begin(), key.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_' || c == ':' || c == '.' || c == ' ' || c == '/';
    });
    if (ok) return success();
    return Error{where + ": extra spec key '" + printable(key.substr(0, 64)) +
                     "' must be 1 to 255 letters, digits or '-', '_', ':', '.', ' ', '/'",
                 ErrorKind::invalid};
}

// A value of an extra spec: bounded text; volmig:host also a HOST@BACKEND[#POOL].
Result<std::string> spec_value(const nlohmann::json& value, const std::string& key, const std::string& field) {
    auto text = bounded_text(value, field, false);
    if (!text) return text;
    if (key == "volmig:host")
        if (auto host = parse_host_spec(*text); !host) return Error{field + ": " + host.error().message, ErrorKind::invalid};
    return text;
}

// {"key": "value", ...}: keys as check_spec_key says, values as spec_value.
Result<std::map<std::string, std::string>> spec_map(const nlohmann::json& value, const std::string& field) {
    if (!value.is_object()) return Error{field + " must be an object of strings", ErrorKind::invalid};
    std::map<std::string, std::string> out;
    for (const auto& [key, v] : value.items()) {
        if (Status k = check_spec_key(key, field); !k.ok()) return k.error();
        auto text = spec_value(v, key, field + "." + key);
        if (!text) return text.take_error();
        out[key] = *text;
    }
    return out;
}

// The one object a body holds under `name` ({"volume_type": {...}}), nothing else beside it.
Result<nlohmann::json> wrapped(const ApiRequest& request, const std::string& name) {
    auto body = parse_body(request);
    if (!body) return body.take_error();
    for (const auto& [key, value] : body->items())
        if (key != name) return Error{"unknown field '" + printable(key.substr(0, 64)) + "' in the request", ErrorKind::invalid};
    if (!body->contains(name) || !(*body)[name].is_object())
        return Error{"the request needs a \"" + name + "\" object", ErrorKind::invalid};
    return (*body)[name];
}

Result<TypeChanges> type_fields(const nlohmann::json& v, bool creating) {
    TypeChanges out;
    for (const auto& [key, value] : v.items()) {
        const std::string field = "volume_type." + printable(key.substr(0, 64));
        if (key == "name") {
            if (value.is_null() && !creating) continue;
            auto name = bounded_text(value, field, true);
            if (!name) return name.take_error();
            out.name = *name;
        } else if (key == "description") {
            if (value.is_null()) continue;
            auto description = bounded_text(value, field, false);
            if (!description) return description.take_error();
            out.description = *description;
        } else if (key == "os-volume-type-access:is_public" || (key == "is_public" && !creating)) {
            if (value.is_null()) continue;
            auto b = boolean_value(value, field);
            if (!b) return b.take_error();
            out.is_public = *b;
        } else if (key == "extra_specs" && creating) {
            if (value.is_null()) continue;
            auto specs = spec_map(value, field);
            if (!specs) return specs.take_error();
            out.extra_specs = *specs;
        } else {
            return Error{"unknown field '" + field + "'", ErrorKind::invalid};
        }
    }
    if (creating && !out.name) return Error{"volume_type.name is required", ErrorKind::invalid};
    if (!creating && !out.name && !out.description && !out.is_public)
        return Error{"volume_type needs name, description or is_public (or several of them)", ErrorKind::invalid};
    return out;
}

}  // namespace

ApiResponse VolumeTypes::route(const ApiRequest& request, const std::vector<std::string>& rest) {
    if (rest.empty()) {
        if (request.method == "POST") {
            auto v = wrapped(request, "volume_type");
            if (!v) return error_response(v.error());
            auto fields = type_fields(*v, true);
            if (!fields) return error_response(fields.error());
            auto created = create(*fields);
            if (!created) return error_response(created.error());
            return ok_response({{"volume_type", volume_type_view(*created)}});
        }
        if (request.method != "GET") return method_not_allowed("GET, POST");
        // As Cinder for an administrator: public types unless is_public says false or none.
        std::optional<bool> is_public = true;
        std::string name;
        for (const auto& [key, value] : request.query) {
            if (key == "is_public") {
                std::string lower = value;
                std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
                if (lower == "none") {
                    is_public.reset();
                } else {
                    auto b = boolean_value(value, "is_public");
                    if (!b) return error_response(400, "is_public must be true, false or none");
                    is_public = *b;
                }
            } else if (key == "name") {
                name = value;
            } else {
                return error_response(400, "unknown query parameter '" + printable(key.substr(0, 64)) + "' (supported: is_public, name)");
            }
        }
        auto all = list();
        if (!all) return error_response(all.error());
        nlohmann::json items = nlohmann::json::array();
        for (const auto& t : *all)
            if ((!is_public || t.is_public == *is_public) && (name.empty() || t.name == name)) items.push_back(volume_type_view(t));
        return ok_response({{"volume_types", items}});
    }
    if (rest.size() == 1 && rest[0] == "default") {
        if (request.method != "GET") return method_not_allowed("GET");
        auto t = default_type();
        if (!t) return error_response(t.error());
        return ok_response({{"volume_type", volume_type_view(*t)}});
    }
    auto type = get(rest[0]);
    if (!type) return error_response(type.error());
    if (rest.size() == 1) {
        if (request.method == "GET") return ok_response({{"volume_type", volume_type_view(*type)}});
        if (request.method == "PUT") {
            auto v = wrapped(request, "volume_type");
            if (!v) return error_response(v.error());
            auto changes = type_fields(*v, false);
            if (!changes) return error_response(changes.error());
            auto updated = update(type->id, *changes);
            if (!updated) return error_response(updated.error());
            return ok_response({{"volume_type", volume_type_view(*updated)}});
        }
        if (request.method == "DELETE") {
            Status s = remove(type->id);
            if (!s.ok()) return error_response(s.error());
            return ok_response(nullptr, 202);
        }
        return method_not_allowed("GET, PUT, DELETE");
    }
    if (rest[1] == "extra_specs" && rest.size() <= 3) return extra_specs_route(request, *type, rest);
    return error_response(404, "no such resource: " + printable(request.path));
}

ApiResponse VolumeTypes::extra_specs_route(const ApiRequest& request, const VolumeType& type, const std::vector<std::string>& rest) {
    if (rest.size() == 2) {
        if (request.method == "GET") return ok_response({{"extra_specs", volume_type_view(type)["extra_specs"]}});
        if (request.method != "POST") return method_not_allowed("GET, POST");
        auto body = parse_body(request);
        if (!body) return error_response(body.error());
        for (const auto& [key, value] : body->items())
            if (key != "extra_specs") return error_response(400, "unknown field '" + printable(key.substr(0, 64)) + "' in the request");
        if (!body->contains("extra_specs")) return error_response(400, "the request needs an \"extra_specs\" object");
        auto specs = spec_map((*body)["extra_specs"], "extra_specs");
        if (!specs) return error_response(specs.error());
        if (specs->empty()) return error_response(400, "extra_specs must hold at least one key");
        auto set = set_specs(type.id, *specs);
        if (!set) return error_response(set.error());
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [key, value] : *specs) out[key] = value;
        return ok_response({{"extra_specs", out}});
    }
    const std::string& key = rest[2];
    if (Status k = check_spec_key(key, "the path"); !k.ok()) return error_response(k.error());
    if (request.method == "GET") {
        auto value = type.spec(key);
        if (!value) return error_response(404, "volume type " + type.name + " has no extra spec " + key);
        return ok_response({{key, *value}});
    }
    if (request.method == "PUT") {
        auto body = parse_body(request);
        if (!body) return error_response(body.error());
        if (body->size() != 1) return error_response(400, "the request body holds exactly one extra spec, {\"" + key + "\": \"value\"}");
        if (body->begin().key() != key)
            return error_response(400, "the request body's key '" + printable(body->begin().key().substr(0, 64)) + "' is not the path's (" +
                                           key + ")");
        auto value = spec_value(body->begin().value(), key, key);
        if (!value) return error_response(value.error());
        auto set = set_specs(type.id, {{key, *value}});
        if (!set) return error_response(set.error());
        return ok_response({{key, *value}});
    }
    if (request.method == "DELETE") {
        Status s = unset_spec(type.id, key);
        if (!s.ok()) return error_response(s.error());
        return ok_response(nullptr, 202);
    }
    return method_not_allowed("GET, PUT, DELETE");
}

void VolumeTypes::install_routes(RestApi& api) {
    api.add_collection("types", [this](const ApiRequest& request, const std::string&, const std::vector<std::string>& rest) {
        return route(request, rest);
    });
    api.add_views_decorator([this](const std::vector<VolumeRecord>& records, std::vector<nlohmann::json>& views) {
        bool typed = false;
        for (const auto& r : records) typed = typed || !r.volume_type_id.empty();
        if (!typed) return;
        auto all = list();
        if (!all) return;
        for (size_t i = 0; i < records.size(); ++i) {
            if (records[i].volume_type_id.empty()) continue;
            for (const auto& t : *all)
                if (t.id == records[i].volume_type_id) views[i]["volume_type"] = t.name;
        }
    });
}

void VolumeTypes::install_retype(RestApi& api, MigrationService& migrations) {
    api.add_action("os-retype", [this, &migrations](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        if (!args.is_object()) return error_response(400, "os-retype takes an object: {\"new_type\": TYPE, \"migration_policy\": \"never\"}");
        std::string new_type;
        bool on_demand = false;
        for (const auto& [key, value] : args.items()) {
            if (key == "new_type") {
                if (!value.is_string() || value.get<std::string>().empty())
                    return error_response(400, "new_type must be a volume type's name or id (got " + json_for_message(value) + ")");
                new_type = value;
            } else if (key == "migration_policy") {
                if (value.is_null()) continue;
                if (!value.is_string() || (value != "never" && value != "on-demand"))
                    return error_response(400, "migration_policy must be never or on-demand (got " + json_for_message(value) + ")");
                on_demand = value == "on-demand";
            } else {
                return error_response(400, "unknown field '" + printable(key.substr(0, 64)) + "' in os-retype");
            }
        }
        if (new_type.empty()) return error_response(400, "os-retype needs new_type (a volume type's name or id)");
        Status s = retype(id, new_type, on_demand, migrations);
        if (!s.ok()) return error_response(s.error());
        return ok_response(nullptr, 202);
    });
    migrations.add_completion_step([this](VolumeStore::Tx& tx, const MigrationRecord& m) { return apply_retype(tx, m.id, m.volume_id); });
}

}  // namespace volmig
