// Volume migration (os-migrate_volume), both ends.
//
// Source side, as a job that survives a restart (state in SQLite):
//   starting    plan from the destination's capability document, create the destination
//               volume (locally or on the peer) and prepare it to receive;
//   migrating   copy: locally with the copy engine when both backends are on this daemon,
//               otherwise as an extent stream over HTTP to the peer; then verify checksums;
//   completing  the destination takes over the volume id (adopt), the source's storage is
//               deleted only now;
//   success     or error: the destination deleted, the source untouched and available.
// With auto_complete off the job waits after verification for os-migrate_volume_completion.
// On restart, jobs in starting/migrating are rolled back; completing is driven to the end.
//
// Target side: volmig-prepare_receive locks a new volume as a migration target and hands out a
// one-time stream token; POST /volmig/v1/streams/{volume_id} applies the stream; volmig-adopt
// gives the volume the source's id.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/metrics.hpp"
#include "api/migration_store.hpp"
#include "api/peers.hpp"
#include "api/planner.hpp"
#include "api/rest.hpp"
#include "api/server.hpp"
#include "api/volume_service.hpp"
#include "copy/copy.hpp"

namespace volmig {

struct MigrateRequest {
    std::string volume_id;
    std::string destination;  // HOST@BACKEND[#POOL]
    bool force_full = false;  // force_host_copy
    bool lock_volume = false;
    bool auto_complete = true;
    Strategy strategy = Strategy::automatic;  // volmig:strategy: an explicitly requested strategy
};

class MigrationService {
public:
    MigrationService(VolumeService& volumes, const Peers& peers, Metrics& metrics, std::function<void(const std::string&)> log);
    ~MigrationService();

    Status initialize();           // schema
    void resume_after_restart();   // roll back or finish what a restart interrupted
    void refuse_new();             // from now on start() refuses (the daemon is stopping)
    void stop();                   // cancel running jobs (they roll back) and wait for them

    // Validates and starts a job; the volume's migration_status becomes "starting".
    Result<MigrationRecord> start(const MigrateRequest& request);
    // os-migrate_volume_completion: finish (error = false) or abandon (error = true) a job that
    // waits after verification.
    Result<nlohmann::json> complete(const std::string& volume_id, const std::string& new_volume_id, bool error);

    // Target side.
    Result<nlohmann::json> prepare_receive(const std::string& volume_id, const nlohmann::json& args);
    ApiResponse receive_stream(const ApiRequest& head, std::istream& body);
    Result<nlohmann::json> adopt(const std::string& temporary_id, const nlohmann::json& args);

    // Registers the actions, the stream route and the view decorator.
    void install(RestApi& api, HttpServer& server);

    // For views: the newest source-side migration of a volume, as JSON (null when none).
    nlohmann::json migration_view(const std::string& volume_id);

private:
    struct Running {
        std::thread thread;
        std::atomic<bool> cancel{false};
    };

    void run_job(std::string migration_id);
    Status copy_locally(MigrationRecord& m, const MigrationPlan& plan, const VolumeRecord& source, nlohmann::json& report);
    Status copy_to_peer(MigrationRecord& m, const MigrationPlan& plan, const VolumeRecord& source, nlohmann::json& report);
    Status finish(MigrationRecord& m);
    void roll_back(MigrationRecord& m, const std::string& why);
    Status delete_destination(const MigrationRecord& m);
    void set_volume_migration_status(const std::string& volume_id, const std::string& migration_status, const std::string& error = "");
    void save_progress(MigrationRecord& m, const Progress& p);
    void delete_leftovers(const std::string& volume_id);
    bool cancelled(const std::string& migration_id);
    Result<Attachment> attach(const VolumeRecord& record, AttachMode mode);

    VolumeService& volumes_;
    const Peers& peers_;
    Metrics& metrics_;
    std::function<void(const std::string&)> log_;
    MigrationStore store_;
    std::mutex mutex_;  // jobs_ and the start of jobs
    std::map<std::string, std::unique_ptr<Running>> jobs_;
    bool stopping_ = false;
};

}  // namespace volmig
