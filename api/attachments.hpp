// Attachments, so that a volume can be in use (Cinder's volume actions; DESIGN.md "Attachments
// and connections").
//
// Status transitions (attachments.cpp), each check and the change it allows in one store
// transaction; a volume in another state is refused (ErrorKind::invalid, naming its status and
// what the action needs):
//   os-reserve          available           -> attaching
//   os-unreserve        attaching           -> available (in-use if it has an attachment)
//   os-attach           attaching, reserved -> in-use, the attachment recorded in
//                       VolumeRecord::attachments as Cinder's view shows it
//   os-begin_detaching  in-use (attached)   -> detaching
//   os-roll_detaching   detaching           -> in-use
//   os-detach           in-use, detaching   -> available once its last attachment goes
// A volume in a migration, or moved to another host, takes none of them.
//
// Connections (connections.cpp): os-initialize_connection hands out a file or block device on
// this host for the volume (thin_file: its file; thick_file: a loop device over its region;
// lvm: the LV), recorded in api/connection_store.hpp so that it survives a restart and is
// never released as a copy attachment; os-terminate_connection releases what it set up. A
// volume with an open connection is in use (VolumeService::in_use): it is neither deleted,
// extended nor migrated.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/connection_store.hpp"
#include "api/rest.hpp"
#include "api/volume_service.hpp"

namespace volmig {

// The connections one volume keeps open at once (each a loop device on thick_file): enough for
// a server's host and a live migration's destination host with retries, and a bound on what
// connectors with ever new host names can set up.
constexpr size_t kMaxConnectionsPerVolume = 8;

struct AttachRequest {
    std::string instance_uuid;  // the server's id, or ""
    std::string host_name;      // the host's name, or "" (one of the two is given)
    std::string mountpoint;     // the device as the server sees it (Cinder's "device")
    std::string mode = "rw";    // rw or ro
};

class AttachmentService {
public:
    AttachmentService(VolumeService& volumes, std::function<void(const std::string&)> log);

    // The connection table, and the volume service told of open connections.
    Status initialize();
    // After the volume service's own reconciliation: releases what a crash left behind a
    // connection being set up or ended; keeps a connection whose device is still the volume's,
    // drops one whose device is gone (the host restarted).
    void reconcile_after_restart();
    // The actions above (attachment_routes.cpp).
    void install(RestApi& api);

    Status reserve(const std::string& volume_id);
    Status unreserve(const std::string& volume_id);
    Status attach(const std::string& volume_id, const AttachRequest& request);
    Status begin_detaching(const std::string& volume_id);
    Status roll_detaching(const std::string& volume_id);
    // Without an attachment id: the volume's only attachment.
    Status detach(const std::string& volume_id, const std::optional<std::string>& attachment_id);

    // Cinder's connection_info for `connector` (an object): {"driver_volume_type": "local",
    // "data": {"device_path": ...}}. The same connector again gets the connection it has.
    Result<nlohmann::json> initialize_connection(const std::string& volume_id, const nlohmann::json& connector);
    // Releases the connection of `connector`, or every connection of the volume when it is
    // null; a connector without a connection is nothing to do. The status is left as it is.
    Status terminate_connection(const std::string& volume_id, const nlohmann::json& connector);

    ConnectionStore& connections() { return connections_; }

private:
    // Checks that the volume may take `action` from its status, then lets `change` change it.
    Status transition(const std::string& volume_id, const std::string& action, const std::vector<VolumeStatus>& from,
                      const std::string& needs, const std::function<Status(VolumeRecord&)>& change);
    Status release(const VolumeRecord& volume, const ConnectionRecord& connection);

    VolumeService& volumes_;
    std::function<void(const std::string&)> log_;
    ConnectionStore connections_;
};

// Who a connector is: "host:NAME" when it names its host (as os-brick's connectors do), else
// its JSON (keys sorted), so that a repeated initialize_connection finds its connection.
std::string connector_key(const nlohmann::json& connector);

}  // namespace volmig
