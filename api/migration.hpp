// Volume migration (os-migrate_volume), both ends (DESIGN.md "Migration").
//
// Source side (migration_source.cpp), a job that survives a restart (api/migration_store.hpp):
//   starting    fetch the destination's capabilities, plan, create the destination volume
//               (tagged with the migration id, so that it is found even if the answer is lost)
//               and prepare it to receive;
//   migrating   copy: with the copy engine when both backends are on this daemon, otherwise as
//               an extent stream to the peer; verify checksums;
//   completing  the destination takes the volume's id (adopt) or, locally, the volume takes the
//               new storage;
//   releasing   the source's old storage is deleted;
//   success     or error: the destination deleted, the source untouched and available.
// With auto_complete off the job waits after verification for os-migrate_volume_completion.
// After a restart: starting and migrating roll back; completing and releasing are driven on.
//
// The queue (migration_queue.cpp): at most max_concurrent_migrations source jobs run at once
// (0 = no cap); each holds a slot from starting until its job thread ends. A migration asked for
// while every slot is taken is recorded as queued (the volume shows migration_status starting)
// and waits, FIFO by request, with its 1-based position in volmig:migration's queue_position;
// no thread runs for it until a slot frees. It has done nothing yet: a restart keeps it queued in
// order, and os-migrate_volume_completion with error = true (new_volume "") abandons it. All the
// daemon's copies share one volume_copy_bps_limit (copy/throttle.hpp SharedRate), split evenly
// between the copies running.
//
// Target side (migration_target.cpp): volmig-prepare_receive locks a new volume as a migration
// target and hands out a one-time stream token; POST /volmig/v1/streams/{volume_id} applies the
// stream; volmig-adopt gives the volume the source's id.
//
// Every thread this service starts catches what it throws and turns it into a migration state.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/capability_cache.hpp"
#include "api/metrics.hpp"
#include "api/migration_store.hpp"
#include "api/peers.hpp"
#include "api/planner.hpp"
#include "api/rest.hpp"
#include "api/server.hpp"
#include "api/stream_checkpoints.hpp"
#include "api/volume_service.hpp"
#include "copy/copy.hpp"
#include "copy/throttle.hpp"
#include "copy/extent_stream.hpp"

namespace volmig {

struct MigrateRequest {
    std::string volume_id;
    std::string destination;  // HOST@BACKEND[#POOL]
    bool force_full = false;  // force_host_copy
    bool lock_volume = false;
    bool auto_complete = true;
    Strategy strategy = Strategy::automatic;  // volmig:strategy: an explicitly requested strategy
    // Runs in the transaction that records the new migration (after the record is inserted): what
    // a caller records with it (os-retype: the type the volume gets on completion) commits with
    // it or not at all.
    std::function<Status(VolumeStore::Tx&, const MigrationRecord&)> also_on_start;
};

// A step of the completion, run inside the transaction in which the destination takes the
// volume over (locally: the volume gets the new storage; to a peer: its record becomes a
// forwarding record), so that it happens exactly when the migration completes, also when a
// restart drives the completion on.
using CompletionStep = std::function<Status(VolumeStore::Tx&, const MigrationRecord&)>;

// A migration that completes on its own hands the volume over as its last bytes leave
// (DESIGN.md "Round trips"), to a peer whose document lists kCallAdoptWithFinish: once every
// slice's body is out, the source records `completing` (with the finish it asks for, so that a
// restart asks the same) and sends volmig-adopt carrying "finish"; the receiver waits for the
// slices to end, verifies the whole volume and adopts it, in one round trip instead of three
// (the slices' receipts, the finish, the adoption). What came of it:
// The key in a `completing` migration's report that holds the finish its adoption must carry.
inline constexpr const char* kPendingFinish = "pending_finish";
struct EarlyHandover {
    bool begun = false;    // `completing` recorded and the adopt sent
    bool adopted = false;  // the receiver verified the volume and took it over
    bool refused = false;  // the receiver said no (400): it did not adopt
    std::optional<StreamReceipt> receipt;
    std::string problem;   // why it did not adopt, when it did not
};

class MigrationService {
public:
    MigrationService(VolumeService& volumes, const Peers& peers, Metrics& metrics, std::function<void(const std::string&)> log);
    ~MigrationService();

    Status initialize();           // schema
    void resume_after_restart();   // roll back or finish what a restart interrupted; starts the sweeper
    void refuse_new();             // from now on start() refuses (the daemon is stopping)
    void stop();                   // cancel running jobs (they roll back) and wait for every thread

    // Validates and starts a job; the volume's migration_status becomes "starting".
    Result<MigrationRecord> start(const MigrateRequest& request);
    // os-migrate_volume_completion: finish (error = false) or abandon (error = true) a job that
    // waits after verification.
    Result<nlohmann::json> complete(const std::string& volume_id, const std::string& new_volume_id, bool error);
    // volmig-plan_migration: the plan a migration would follow now, from the capability cache
    // (never a peer call in a request handler: a document not cached yet answers 503).
    ApiResponse plan_preview(const std::string& volume_id, const nlohmann::json& args);

    // Target side.
    Result<nlohmann::json> prepare_receive(const std::string& volume_id, const nlohmann::json& args);
    // Whether `args` are well-formed volmig-prepare_receive arguments (nothing else is checked).
    static Status check_prepare_args(const nlohmann::json& args);
    // Stream v2 target side (stream_receiver.cpp): a slice stream (or a whole v1 stream), the
    // verified ranges for a resume, and the one verification of the whole volume.
    ApiResponse receive_stream(const ApiRequest& head, std::istream& body);
    ApiResponse resume_point(const std::string& volume_id, const nlohmann::json& args);
    ApiResponse finish_receive(const std::string& volume_id, const nlohmann::json& args);
    Result<nlohmann::json> adopt(const std::string& temporary_id, const nlohmann::json& args);

    // Adds a completion step (see CompletionStep); before resume_after_restart().
    void add_completion_step(CompletionStep step) { completion_steps_.push_back(std::move(step)); }

    // Registers the actions, the stream route, the view decorator and the delete guard.
    void install(RestApi& api, HttpServer& server);

    // For os-reset_status of a volume's migration_status (api/volume_updates.hpp): an error
    // naming the migration when an unfinished migration on this daemon still drives the volume
    // (as its source, its local destination or a stream's target), so that a reset never leaves
    // the job and the record disagreeing. Run inside the reset's transaction.
    Status refuse_reset_during_migration(const VolumeRecord& volume);

    // For views: the migration that moved (or is filling) a volume, as JSON (null when none).
    nlohmann::json migration_view(const std::string& volume_id);
    nlohmann::json migration_view(const MigrationRecord& m);

private:
    struct Running {
        std::thread thread;
        std::atomic<bool> cancel{false};
        std::atomic<bool> done{false};
    };
    // Why a job thread runs: a new migration (or a completion asked for), a restart that found
    // the migration unfinished, or os-migrate_volume_completion abandoning it.
    enum class JobStart { fresh, after_restart, abandon };
    // Whether the job holds one of the max_concurrent_migrations slots (freed when it ends).
    enum class Slot { none, held };

    // Source side (migration_source.cpp).
    void launch(const std::string& migration_id, JobStart how = JobStart::fresh, Slot slot = Slot::none);
    void launch_locked(const std::string& migration_id, JobStart how, Slot slot);  // mutex_ held
    void run_job(const std::string& migration_id, JobStart how);
    void run_steps(MigrationRecord& m, JobStart how);
    Status copy_locally(MigrationRecord& m, const MigrationPlan& plan, const VolumeRecord& source, nlohmann::json& report);
    // The extent stream to a peer in slices, resumed within stream_resume_grace (stream_sender.cpp).
    // `early`: hand over as the last bytes leave (EarlyHandover), or null.
    Status copy_to_peer(MigrationRecord& m, PeerClient& peer, const MigrationPlan& plan, const PreparedReceiver& receiver,
                        const VolumeRecord& source, nlohmann::json& report, EarlyHandover* early);
    // The early handover's start, on the completer thread: `completing` recorded with the finish
    // it asks for, then the adopt carrying it.
    void hand_over_early(MigrationRecord& m, PeerClient& peer, const std::string& checksum, uint64_t volume_size, EarlyHandover& early);
    AdoptRequest adopt_request(const MigrationRecord& m);
    // run_steps after a copy whose early handover began (the migration is completing).
    void after_early_handover(MigrationRecord& m, const EarlyHandover& early, const Status& copied, const nlohmann::json& report);
    // completing -> releasing once the peer holds the volume: the source's record forwards to it.
    Status record_handed_over(MigrationRecord& m);
    void complete_job(MigrationRecord& m);
    Status take_over_locally(MigrationRecord& m);
    Status hand_over_to_peer(MigrationRecord& m, PeerClient& peer);
    void release_source(MigrationRecord& m);
    void roll_back(MigrationRecord& m, const std::string& why);
    Status delete_destination(MigrationRecord& m);
    void delete_leftovers(const std::string& volume_id);
    Result<std::unique_ptr<PeerClient>> destination_client(const std::string& host);
    bool cancelled(const std::string& migration_id);
    bool wait_or_cancelled(const std::string& migration_id, std::chrono::milliseconds how_long);

    // The queue (migration_queue.cpp); the _locked ones with mutex_ held.
    bool take_slot_locked();             // a free slot, unless older migrations wait for one
    void release_slot();                 // a job ended: the oldest queued one starts
    void admit_queued_locked();          // starts queued jobs while slots are free
    void enqueue(const MigrationRecord& m);
    Result<nlohmann::json> abandon_queued(MigrationRecord& m);
    std::optional<size_t> queue_position(const std::string& migration_id);  // 1-based; none when not queued
    nlohmann::json queue_position_json(const MigrationRecord& m);           // for the view: null unless queued

    // Background sweeps (migration_sweep.cpp): stale forwarding records, pending cleanups.
    void sweep_loop();
    void check_forwarding_records();
    void retry_pending_cleanups();

    // Target side (migration_target.cpp).
    Status delete_guard(const VolumeRecord& volume);
    void resume_targets();

    VolumeService& volumes_;
    const Peers& peers_;
    Metrics& metrics_;
    std::function<void(const std::string&)> log_;
    MigrationStore store_;
    CapabilityCache capabilities_;
    std::mutex mutex_;  // jobs_, stopping_; never held while calling the store or a peer
    std::condition_variable wake_;
    std::map<std::string, std::unique_ptr<Running>> jobs_;
    bool stopping_ = false;
    // The queue: migrations waiting for a slot, by their store sequence (FIFO by request); the
    // slots taken; the daemon-wide copy rate all copies share.
    std::map<int64_t, std::string> queued_;
    unsigned slots_taken_ = 0;
    SharedRate copy_rate_;
    std::thread sweeper_;
    std::vector<CompletionStep> completion_steps_;
    Status run_completion_steps(VolumeStore::Tx& tx, const MigrationRecord& m);

    // Stream v2, target side (stream_receiver.cpp): per target migration being received, the
    // one copy attachment its slice streams share and the slices live now. targets_mutex_ is
    // held for short bookkeeping and the state moves it guards, never while a stream is read.
    struct TargetSession {
        std::shared_ptr<CopyAttachment> attachment;
        VolumeInfo info;
        std::shared_ptr<ReceiveTarget> target;  // opened by the first slice, written by all (v2)
        unsigned users = 0;
        std::vector<StreamSlice> live;
        uint64_t bytes_written = 0, wire_bytes = 0;
    };
    StreamCheckpoints checkpoints_;
    std::mutex targets_mutex_;
    std::condition_variable targets_changed_;                // a slice stream ended
    std::map<std::string, TargetSession> target_sessions_;  // by migration id
    // The one verification of the whole volume (volmig-finish_receive, or volmig-adopt carrying
    // "finish"): every range verified and their sum the source's checksum; the target becomes
    // `received`, and the answer is the receipt ({"received": {...}}). An adopt's finish waits
    // (at most kFinishWaitsForSlices) for slice streams still live, and refuses (400) a volume
    // missing a range; the action answers 409 at once, for the source to resume.
    struct FinishArgs {
        std::string checksum;
        uint64_t volume_size = 0;
    };
    enum class FinishWaits { no, for_slices };
    static constexpr std::chrono::seconds kFinishWaitsForSlices{20};
    Result<FinishArgs> parse_finish_args(const nlohmann::json& args, const std::string& where, const std::string& volume_id);
    Result<nlohmann::json> finish_target(MigrationRecord& m, const FinishArgs& finish, FinishWaits waits);
    Result<TargetSession*> open_target_session(const MigrationRecord& m, const std::string& volume_id);
    void close_target_session(const std::string& migration_id, const StreamSlice* slice);
    Result<ContentChecksum> accept_slice(MigrationRecord& m, const StreamHeader& h, const StreamTerms& terms);
};

}  // namespace volmig
