// The volume operations behind the REST API, independent of HTTP: create, show, list, delete,
// extend, capability documents. State transitions are checked and recorded in the store before
// and after each driver call, so a failure leaves a record that says what happened.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/daemon_config.hpp"
#include "capabilities/document.hpp"
#include "driver/backends.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

constexpr uint64_t kGiB = 1ull << 30;
// Bytes as whole GiB, rounded up (Cinder's sizes).
constexpr uint64_t gib_rounded_up(uint64_t bytes) { return (bytes + kGiB - 1) / kGiB; }

struct CreateRequest {
    std::string project_id;
    std::string name;
    std::string description;
    uint64_t size_gib = 0;
    std::string volume_type;  // a volume type's name or id (see set_type_resolver); empty: the default
    nlohmann::json metadata = nlohmann::json::object();
};

struct ListFilter {
    std::string name;
    std::string status;
    size_t limit = 0;     // 0 = all
    std::string marker;   // id after which to start
    std::optional<std::string> project;  // only this project's volumes (Cinder without all_tenants)
    std::map<std::string, std::string> metadata;  // every key must hold this value
};

// A volume attached for a copy (a migration reading or filling it). The intent is recorded on
// the volume before the attach and the device after it, so that a restart after a crash finds
// and releases what was set up; destruction detaches and clears the record.
class CopyAttachment {
public:
    CopyAttachment(const CopyAttachment&) = delete;
    CopyAttachment& operator=(const CopyAttachment&) = delete;
    CopyAttachment(CopyAttachment&& other) noexcept;
    ~CopyAttachment();
    const std::string& path() const { return attachment_.path; }
    bool is_block_device() const { return attachment_.is_block_device; }

private:
    friend class VolumeService;
    CopyAttachment(class VolumeService* service, std::string volume_id, VolumeDriver* driver, Attachment a)
        : service_(service), volume_id_(std::move(volume_id)), driver_(driver), attachment_(std::move(a)) {}
    class VolumeService* service_;
    std::string volume_id_;
    VolumeDriver* driver_;
    Attachment attachment_;
};

// What a volume type chooses for a new volume: the type (recorded as volume_type_id) and the
// backend (section name) it goes to.
struct VolumeTypeChoice {
    std::string type_id;
    std::string backend;
};
using VolumeTypeResolver = std::function<Result<VolumeTypeChoice>(const std::string& name_or_id)>;

// A connection os-initialize_connection opened to a volume (api/attachments.hpp keeps them): the
// host it was made for, and the device it handed out ("" while it is being set up).
struct OpenConnection {
    std::string host;
    std::string device_path;
};
using ConnectionLookup = std::function<Result<std::vector<OpenConnection>>(const std::string& volume_id)>;

// What a capability document's kCallsKey lists: calls a migration source offers a peer only when
// the peer's document says it understands them (an older daemon's document does not).
inline constexpr const char* kCallsKey = "volmig:calls";
inline constexpr const char* kCallAdoptWithFinish = "adopt_with_finish";  // volmig-adopt carrying "finish"
bool document_lists_call(const nlohmann::json& document, const char* call);

class VolumeService {
public:
    VolumeService(const DaemonConfig& config, Backends& backends, VolumeStore& store, std::function<void(const std::string&)> log);

    // Brings records left in a transitional state by a crash or restart to a truthful state, and
    // releases what copies had attached.
    void reconcile_after_restart();

    Result<VolumeRecord> create(const CreateRequest& request);
    Result<VolumeRecord> get(const std::string& id);
    Result<std::vector<VolumeRecord>> list(const ListFilter& filter);
    Status remove(const std::string& id);
    Result<VolumeRecord> extend(const std::string& id, uint64_t new_size_gib);

    // Attaches a volume for a copy (see CopyAttachment).
    Result<CopyAttachment> attach_for_copy(const VolumeRecord& record);

    // Why a volume is in use by a host, nullopt when it is not: its status (attaching, in-use,
    // detaching, reserved), its recorded attachments, or an open connection (the lookup below).
    // The text reads after "volume ID ", e.g. "is in-use (attached to server S as /dev/vdb)".
    // Delete, extend and migration refuse a volume in use; inside a transaction the lookup
    // reads what the transaction sees.
    Result<std::optional<std::string>> in_use(const VolumeRecord& record);
    // Where in_use() and the restart's release of copy attachments learn of open connections:
    // their devices are kept, never released as a copy's.
    void set_connection_lookup(ConnectionLookup lookup) { connections_ = std::move(lookup); }

    // A check that may refuse a delete, run atomically with it (the migration service refuses
    // deleting a volume a stream is being written into).
    void set_delete_guard(std::function<Status(const VolumeRecord&)> guard) { delete_guard_ = std::move(guard); }
    // How create() reads CreateRequest::volume_type (api/volume_types.hpp). The choice is made
    // again inside the transaction that records the volume, so a type deleted or changed meanwhile
    // fails the create instead of leaving a volume of a type that is gone. Without a resolver,
    // volume_type names a backend by its volume_backend_name (empty: the first backend).
    void set_type_resolver(VolumeTypeResolver resolver) { type_resolver_ = std::move(resolver); }

    // A check that may refuse new volumes on a backend (a disabled service refuses them): create()
    // runs it for every new volume, a client's or a migration's destination, and a migration onto
    // a backend of this daemon runs it before it starts.
    void set_admission(std::function<Status(const Backend&)> admission) { admission_ = std::move(admission); }
    Status admits(const Backend& backend) const { return admission_ ? admission_(backend) : success(); }

    // host@backend#pool of a record's backend.
    std::string host_of(const VolumeRecord& record) const;
    std::optional<VolumeUsage> usage_of(const VolumeRecord& record);
    VolumeRef ref_of(const VolumeRecord& record) const {
        return VolumeRef{record.storage_id(), record.size, VolumeLocation{record.location}};
    }

    // "host@backend" (optionally "#pool") naming one of this daemon's backends.
    Result<Backend*> local_backend(const std::string& host_backend);
    // The backend's capability document (capabilities/document.hpp), with the calls this daemon
    // accepts beyond the basic ones under kCallsKey.
    Result<nlohmann::json> capability_document(const std::string& host_backend);
    SparseCopyPolicy policy_of(const std::string& backend) const;

    // `message` without the daemon's private paths (state_path, pool directories and files):
    // what an API client may read of an error. Logs keep the full text.
    std::string redact(const std::string& message) const;

    const DaemonConfig& config() const { return config_; }
    Backends& backends() { return backends_; }
    VolumeStore& store() { return store_; }

private:
    friend class CopyAttachment;
    void detach_for_copy(const std::string& volume_id, VolumeDriver* driver, const Attachment& attachment);
    Result<std::set<std::string>> connection_devices(const std::string& volume_id);  // of open connections

    const DaemonConfig& config_;
    Backends& backends_;
    VolumeStore& store_;
    std::function<void(const std::string&)> log_;
    std::map<std::string, SparseCopyPolicy> policies_;  // per backend, from sparse_copy
    std::function<Status(const VolumeRecord&)> delete_guard_;
    std::function<Status(const Backend&)> admission_;
    VolumeTypeResolver type_resolver_;
    ConnectionLookup connections_;
};

// "host@backend#pool" -> parts; the pool may be empty. Errors name what is missing.
struct HostSpec {
    std::string host, backend, pool;
};
Result<HostSpec> parse_host_spec(const std::string& text);

}  // namespace volmig
