// The connections os-initialize_connection opened to volumes (api/attachments.hpp), in the
// daemon's SQLite database (table volume_connections), so that a restart keeps their devices,
// a terminate finds them, and nothing set up for one leaks after a crash.
//
// A connection is recorded `connecting` before its device is set up (a restart then releases
// whatever a crash left unrecorded over the volume's storage), `connected` once it names the
// device, and `terminating` before the device is released. These records are not copy
// attachments (VolumeRecord::attached_path): a restart releases those and keeps these.
#pragma once

#include <string>
#include <vector>

#include "copy/result.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

enum class ConnectionState { connecting, connected, terminating };
std::string to_string(ConnectionState state);

struct ConnectionRecord {
    std::string id;
    std::string volume_id;
    std::string connector_key;  // whom it is for: "host:NAME" of the connector's host, else the connector's JSON
    std::string host;           // the connector's host ("" when it names none), for messages
    std::string connector;      // the connector as the client sent it (JSON)
    std::string device_path;    // the file or block device handed out; "" while connecting
    bool created_loop = false;  // a loop device was set up for it: terminate detaches it
    ConnectionState state = ConnectionState::connecting;
    std::string created_at;
};

class ConnectionStore {
public:
    explicit ConnectionStore(VolumeStore& store) : store_(store) {}
    Status ensure_schema();

    // Each joins the calling thread's transaction (VolumeStore::transaction), if any.
    Status insert(const ConnectionRecord& record);
    Status update(const ConnectionRecord& record);  // by id; not_found if absent
    Status remove(const std::string& id);
    Result<std::vector<ConnectionRecord>> of_volume(const std::string& volume_id);  // oldest first
    Result<std::vector<ConnectionRecord>> all();

private:
    Result<std::vector<ConnectionRecord>> query(const std::string& where, const std::vector<std::string>& args);
    VolumeStore& store_;
};

}  // namespace volmig
