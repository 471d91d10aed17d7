// The volume operations behind the REST API, independent of HTTP: create, show, list, delete,
// extend, capability documents. State transitions are checked and recorded in the store before
// and after each driver call, so a failure leaves a record that says what happened.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/daemon_config.hpp"
#include "capabilities/document.hpp"
#include "driver/backends.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

constexpr uint64_t kGiB = 1ull << 30;

struct CreateRequest {
    std::string project_id;
    std::string name;
    std::string description;
    uint64_t size_gib = 0;
    std::string volume_type;  // selects the backend by volume_backend_name; empty: the first
    nlohmann::json metadata = nlohmann::json::object();
};

struct ListFilter {
    std::string name;
    std::string status;
    size_t limit = 0;     // 0 = all
    std::string marker;   // id after which to start
    std::optional<std::string> project;  // only this project's volumes (Cinder without all_tenants)
};

class VolumeService {
public:
    VolumeService(const DaemonConfig& config, Backends& backends, VolumeStore& store, std::function<void(const std::string&)> log);

    // Brings records left in a transitional state by a crash or restart to a truthful state.
    void reconcile_after_restart();

    Result<VolumeRecord> create(const CreateRequest& request);
    Result<VolumeRecord> get(const std::string& id);
    Result<std::vector<VolumeRecord>> list(const ListFilter& filter);
    Status remove(const std::string& id);
    Result<VolumeRecord> extend(const std::string& id, uint64_t new_size_gib);

    // host@backend#pool of a record's backend.
    std::string host_of(const VolumeRecord& record) const;
    std::optional<VolumeUsage> usage_of(const VolumeRecord& record);
    VolumeRef ref_of(const VolumeRecord& record) const {
        return VolumeRef{record.storage_id(), record.size, VolumeLocation{record.location}};
    }

    // "host@backend" (optionally "#pool") naming one of this daemon's backends.
    Result<Backend*> local_backend(const std::string& host_backend);
    Result<nlohmann::json> capability_document(const std::string& host_backend);
    SparseCopyPolicy policy_of(const std::string& backend) const;

    const DaemonConfig& config() const { return config_; }
    Backends& backends() { return backends_; }
    VolumeStore& store() { return store_; }

    // Serialises status checks and transitions; held only around store reads/writes.
    std::mutex& state_mutex() { return mutex_; }

private:
    const DaemonConfig& config_;
    Backends& backends_;
    VolumeStore& store_;
    std::function<void(const std::string&)> log_;
    std::map<std::string, SparseCopyPolicy> policies_;  // per backend, from sparse_copy
    std::mutex mutex_;
};

// "host@backend#pool" -> parts; the pool may be empty. Errors name what is missing.
struct HostSpec {
    std::string host, backend, pool;
};
Result<HostSpec> parse_host_spec(const std::string& text);

}  // namespace volmig
