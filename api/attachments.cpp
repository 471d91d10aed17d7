#include "api/attachments.hpp"

#include <algorithm>

#include <Poco/UUIDGenerator.h>

namespace volmig {

namespace {

std::string listed(const std::vector<VolumeStatus>& statuses) {
    std::string out;
    for (size_t i = 0; i < statuses.size(); ++i) out += (i ? (i + 1 == statuses.size() ? " or " : ", ") : "") + to_string(statuses[i]);
    return out;
}

// The recorded attachments: a stored value is input, and anything but an array of objects is
// an error that says so (never silently "none", which would lose an attachment).
Result<nlohmann::json> attachments_of(const VolumeRecord& v) {
    auto list = nlohmann::json::parse(v.attachments, nullptr, false);
    if (!list.is_array() || !std::all_of(list.begin(), list.end(), [](const nlohmann::json& a) { return a.is_object(); }))
        return Error{"volume " + v.id + ": its recorded attachments are not a JSON array of objects", ErrorKind::failed};
    return list;
}

// A change that only sets the status.
std::function<Status(VolumeRecord&)> becomes(VolumeStatus status) {
    return [status](VolumeRecord& v) {
        v.status = status;
        return success();
    };
}

std::string text_of(const nlohmann::json& attachment, const char* key) {
    auto it = attachment.find(key);
    return it != attachment.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

AttachmentService::AttachmentService(VolumeService& volumes, std::function<void(const std::string&)> log)
    : volumes_(volumes), log_(std::move(log)), connections_(volumes.store()) {}

Status AttachmentService::initialize() {
    Status schema = connections_.ensure_schema();
    if (!schema.ok()) return schema;
    volumes_.set_connection_lookup([this](const std::string& volume_id) -> Result<std::vector<OpenConnection>> {
        auto open = connections_.of_volume(volume_id);
        if (!open) return open.take_error();
        std::vector<OpenConnection> out;
        for (const auto& c : *open) out.push_back(OpenConnection{c.host.empty() ? "(unnamed)" : c.host, c.device_path});
        return out;
    });
    return success();
}

Status AttachmentService::transition(const std::string& volume_id, const std::string& action, const std::vector<VolumeStatus>& from,
                                     const std::string& needs, const std::function<Status(VolumeRecord&)>& change) {
    Status s = volumes_.store().modify(volume_id, [&](VolumeRecord& v) -> Status {
        if (v.is_forwarding())
            return Error{"volume " + v.id + " has moved to " + v.moved_to + ": " + action + " it on that host", ErrorKind::invalid};
        if (v.in_migration())
            return Error{"volume " + v.id + " is in a migration (" + v.migration_status_text() + "): " + action + " waits for it to end",
                         ErrorKind::invalid};
        if (std::find(from.begin(), from.end(), v.status) == from.end())
            return Error{"volume " + v.id + " is " + to_string(v.status) + ": " + action + " needs " + needs + " (status " + listed(from) + ")",
                         ErrorKind::invalid};
        return change(v);
    });
    if (s.ok() && log_) log_("volume " + volume_id + ": " + action);
    if (!s.ok() && s.error().kind == ErrorKind::not_found)
        return Error{"volume " + volume_id + " could not be found", ErrorKind::not_found};
    return s;
}

Status AttachmentService::reserve(const std::string& id) {
    return transition(id, "os-reserve", {VolumeStatus::available}, "an available volume", becomes(VolumeStatus::attaching));
}

Status AttachmentService::unreserve(const std::string& id) {
    return transition(id, "os-unreserve", {VolumeStatus::attaching}, "a reserved volume", [](VolumeRecord& v) -> Status {
        auto list = attachments_of(v);
        if (!list) return list.error();
        v.status = list->empty() ? VolumeStatus::available : VolumeStatus::in_use;
        return success();
    });
}

Status AttachmentService::attach(const std::string& id, const AttachRequest& req) {
    return transition(id, "os-attach", {VolumeStatus::attaching, VolumeStatus::reserved, VolumeStatus::in_use},
                      "a volume reserved with os-reserve", [&](VolumeRecord& v) -> Status {
                          auto list = attachments_of(v);
                          if (!list) return list.error();
                          for (const auto& a : *list) {
                              // As Cinder: attaching again to the same server (or host) is what it already is.
                              const bool same = req.instance_uuid.empty() ? text_of(a, "host_name") == req.host_name
                                                                          : text_of(a, "server_id") == req.instance_uuid;
                              if (same) {
                                  v.status = VolumeStatus::in_use;
                                  return success();
                              }
                          }
                          // Any other attachment refuses this one, whatever the status says (an
                          // operator's reset of the status alone keeps the attachments).
                          if (!list->empty())
                              return Error{"volume " + v.id + " is " + to_string(v.status) + " and attached already, and volmig volumes attach "
                                           "to one server or host at a time (multiattach is not supported)",
                                           ErrorKind::invalid};
                          nlohmann::json a = {
                              {"id", v.id},
                              {"attachment_id", Poco::UUIDGenerator::defaultGenerator().createRandom().toString()},
                              {"volume_id", v.id},
                              {"server_id", req.instance_uuid.empty() ? nlohmann::json(nullptr) : nlohmann::json(req.instance_uuid)},
                              {"host_name", req.host_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(req.host_name)},
                              {"device", req.mountpoint},
                              {"attached_at", utc_timestamp()},
                              {"volmig:mode", req.mode},
                          };
                          list->push_back(std::move(a));
                          v.attachments = list->dump();
                          v.status = VolumeStatus::in_use;
                          return success();
                      });
}

Status AttachmentService::begin_detaching(const std::string& id) {
    return transition(id, "os-begin_detaching", {VolumeStatus::in_use}, "an attached volume", [](VolumeRecord& v) -> Status {
        auto list = attachments_of(v);
        if (!list) return list.error();
        if (list->empty())
            return Error{"volume " + v.id + " is in-use but has no attachment recorded: os-begin_detaching needs an attached volume",
                         ErrorKind::invalid};
        v.status = VolumeStatus::detaching;
        return success();
    });
}

Status AttachmentService::roll_detaching(const std::string& id) {
    return transition(id, "os-roll_detaching", {VolumeStatus::detaching}, "a detaching volume", becomes(VolumeStatus::in_use));
}

Status AttachmentService::detach(const std::string& id, const std::optional<std::string>& attachment_id) {
    return transition(id, "os-detach", {VolumeStatus::in_use, VolumeStatus::detaching}, "an attached volume", [&](VolumeRecord& v) -> Status {
        auto list = attachments_of(v);
        if (!list) return list.error();
        nlohmann::json kept = nlohmann::json::array();
        bool found = false;
        for (auto& a : *list) {
            if (!found && (attachment_id ? text_of(a, "attachment_id") == *attachment_id : true)) {
                found = true;
                continue;
            }
            kept.push_back(a);
        }
        if (!attachment_id && list->size() > 1)
            return Error{"volume " + v.id + " has more than one attachment: os-detach needs attachment_id", ErrorKind::invalid};
        if (attachment_id && !found)
            return Error{"volume " + v.id + " has no attachment " + *attachment_id, ErrorKind::invalid};
        v.attachments = kept.dump();
        v.status = kept.empty() ? VolumeStatus::available : VolumeStatus::in_use;
        return success();
    });
}

}  // namespace volmig
