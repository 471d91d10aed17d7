// The attachment actions' REST surface (api/attachments.hpp): each body validated as Cinder's
// schema says (unknown fields, wrong types and bounds are 400 naming the field), then the
// service. Cinder's answers: 202 without a body, os-initialize_connection 200 with
// {"connection_info": ...}.
#include <cctype>

#include "api/attachments.hpp"
#include "api/volume_updates.hpp"
#include "copy/json_text.hpp"

namespace volmig {

namespace {

constexpr size_t kMaxConnectorBytes = 16 * 1024;

ApiResponse accepted(const Status& s) {
    if (!s.ok()) return error_response(s.error());
    ApiResponse r;
    r.status = 202;
    r.body = nullptr;
    return r;
}

// Cinder's parameter_types.uuid: 8-4-4-4-12 hex digits.
bool is_uuid(const std::string& s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
}

// An action that takes no arguments: cinderclient sends null; Cinder's schema also lets {} by.
std::optional<ApiResponse> no_arguments(const std::string& action, const nlohmann::json& args) {
    if (args.is_null() || (args.is_object() && args.empty())) return std::nullopt;
    return error_response(400, action + " takes no arguments: send {\"" + action + "\": null} (got " + json_for_message(args) + ")");
}

// Only `allowed` keys in an object of the action's arguments.
std::optional<ApiResponse> unknown_field(const std::string& action, const nlohmann::json& args, std::initializer_list<const char*> allowed) {
    for (const auto& [key, value] : args.items()) {
        bool known = false;
        for (const char* k : allowed) known = known || key == k;
        if (!known) return error_response(400, "unknown field '" + key.substr(0, 64) + "' in " + action);
    }
    return std::nullopt;
}

Result<AttachRequest> attach_request(const nlohmann::json& args) {
    if (!args.is_object())
        return Error{"os-attach takes an object: {\"instance_uuid\" or \"host_name\", \"mountpoint\", \"mode\"}", ErrorKind::invalid};
    AttachRequest req;
    auto text = [&](const char* key, size_t min, size_t max, std::string& out) -> Status {
        if (!args.contains(key)) return success();
        const auto& v = args[key];
        if (!v.is_string()) return Error{std::string(key) + " must be a string (got " + json_for_message(v) + ")", ErrorKind::invalid};
        out = v.get<std::string>();
        if (out.size() < min || out.size() > max)
            return Error{std::string(key) + " must be " + std::to_string(min) + " to " + std::to_string(max) + " characters long",
                         ErrorKind::invalid};
        if (!is_utf8_text(out)) return Error{std::string(key) + " must be UTF-8 text without NUL characters", ErrorKind::invalid};
        return success();
    };
    for (Status s : {text("instance_uuid", 0, 36, req.instance_uuid), text("host_name", 0, 255, req.host_name),
                     text("mountpoint", 1, 255, req.mountpoint), text("mode", 2, 2, req.mode)})
        if (!s.ok()) return s.error();
    if (!args.contains("mountpoint")) return Error{"os-attach needs mountpoint (the device the server sees, e.g. /dev/vdb)", ErrorKind::invalid};
    if (args.contains("instance_uuid") && !is_uuid(req.instance_uuid))
        return Error{"instance_uuid must be a UUID (got " + json_for_message(args["instance_uuid"]) + ")", ErrorKind::invalid};
    // As Cinder: a volume attaches to a server or to a host, never to both at once.
    if (!req.instance_uuid.empty() && !req.host_name.empty())
        return Error{"os-attach takes instance_uuid or host_name, not both: a volume attaches to a server or to a host", ErrorKind::invalid};
    if (req.instance_uuid.empty() && req.host_name.empty())
        return Error{"os-attach needs instance_uuid or host_name: whom the volume is attached to", ErrorKind::invalid};
    if (req.mode != "rw" && req.mode != "ro") return Error{"mode must be rw or ro (got " + json_for_message(args["mode"]) + ")", ErrorKind::invalid};
    return req;
}

// {"connector": {...}}: the connector an os-brick client sends, an object (or null where
// `null_allowed`: every connection of the volume).
Result<nlohmann::json> connector_of(const std::string& action, const nlohmann::json& args, bool null_allowed) {
    const std::string shape = "{\"" + action + "\": {\"connector\": {\"host\": ...}}}";
    if (!args.is_object()) return Error{action + " takes an object: " + shape, ErrorKind::invalid};
    for (const auto& [key, value] : args.items())
        if (key != "connector") return Error{"unknown field '" + key.substr(0, 64) + "' in " + action, ErrorKind::invalid};
    if (!args.contains("connector")) return Error{action + " needs connector: " + shape, ErrorKind::invalid};
    const auto& c = args["connector"];
    if (c.is_null() && null_allowed) return c;
    if (!c.is_object())
        return Error{"connector must be an object" + std::string(null_allowed ? " or null" : "") + " (the connector of os-brick; got " +
                         json_for_message(c) + ")",
                     ErrorKind::invalid};
    if (c.dump().size() > kMaxConnectorBytes)
        return Error{"connector is larger than " + std::to_string(kMaxConnectorBytes) + " bytes", ErrorKind::invalid};
    if (c.contains("host") && !c["host"].is_string())
        return Error{"connector.host must be a string (got " + json_for_message(c["host"]) + ")", ErrorKind::invalid};
    // The host names the connection (in records, messages and log lines): a host name's text.
    if (c.contains("host")) {
        const std::string host = c["host"].get<std::string>();
        if (!is_utf8_text(host) || utf8_chars(host) > 255)
            return Error{"connector.host must be 0 to 255 characters of text (UTF-8 without NUL)", ErrorKind::invalid};
    }
    return c;
}

}  // namespace

void AttachmentService::install(RestApi& api) {
    using Handler = std::function<Status(const std::string&)>;
    const std::vector<std::pair<std::string, Handler>> bare{
        {"os-reserve", [this](const std::string& id) { return reserve(id); }},
        {"os-unreserve", [this](const std::string& id) { return unreserve(id); }},
        {"os-begin_detaching", [this](const std::string& id) { return begin_detaching(id); }},
        {"os-roll_detaching", [this](const std::string& id) { return roll_detaching(id); }},
    };
    for (const auto& [name, run] : bare)
        api.add_action(name, [name = name, run = run](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
            if (auto refused = no_arguments(name, args)) return *refused;
            return accepted(run(id));
        });
    api.add_action("os-attach", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        if (args.is_object())
            if (auto refused = unknown_field("os-attach", args, {"instance_uuid", "host_name", "mountpoint", "mode"})) return *refused;
        auto req = attach_request(args);
        if (!req) return error_response(req.error());
        return accepted(attach(id, *req));
    });
    api.add_action("os-detach", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        if (!args.is_null() && !args.is_object())
            return error_response(400, "os-detach takes an object: {\"attachment_id\": ID} (or null: the only attachment)");
        std::optional<std::string> attachment;
        if (args.is_object()) {
            if (auto refused = unknown_field("os-detach", args, {"attachment_id"})) return *refused;
            if (args.contains("attachment_id") && !args["attachment_id"].is_null()) {
                const auto& a = args["attachment_id"];
                if (!a.is_string() || !is_uuid(a.get<std::string>()))
                    return error_response(400, "attachment_id must be a UUID or null (got " + json_for_message(a) + ")");
                attachment = a.get<std::string>();
            }
        }
        return accepted(detach(id, attachment));
    });
    api.add_action("os-initialize_connection", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        auto connector = connector_of("os-initialize_connection", args, false);
        if (!connector) return error_response(connector.error());
        auto info = initialize_connection(id, *connector);
        if (!info) return error_response(info.error());
        ApiResponse r;
        r.body = {{"connection_info", *info}};
        return r;
    });
    api.add_action("os-terminate_connection", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        auto connector = connector_of("os-terminate_connection", args, true);
        if (!connector) return error_response(connector.error());
        return accepted(terminate_connection(id, *connector));
    });
}

}  // namespace volmig
