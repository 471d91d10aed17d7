// What a migration asks of the daemon on the other side, as a small typed interface, and the
// HTTP implementation of it.
//
// Every reply is input from outside the process: it is parsed (nesting bounded) and validated
// into a struct before anything uses it, and an unexpected shape becomes a named error:
//   "peer host-b answered create (POST /v3/volumes) with []: expected {"volume": {"id": ..., ...}}"
// Error kinds tell the caller what it may conclude:
//   not_found   the peer answered 404: the thing does not exist there
//   refused     the peer answered another 4xx: it understood and said no (definitive)
//   invalid     the peer's reply has the wrong shape (a broken or hostile peer)
//   failed      no answer, a timeout or a 5xx: try again later (transient)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http_client.hpp"
#include "copy/result.hpp"
#include "copy/strategy.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

// A volume as a peer shows it.
struct PeerVolume {
    std::string id;
    VolumeStatus status = VolumeStatus::error;
    std::string error;                       // volmig:error, when set
    std::optional<uint64_t> allocated_bytes;  // volmig:allocated_bytes
    std::optional<double> data_percent;       // volmig:data_percent
    std::string moved_to;                     // volmig:moved_to: a forwarding record there
    std::string name_id;                      // os-vol-mig-status-attr:name_id: the id its storage has
};

struct CreateTargetRequest {
    uint64_t size_gib = 0;
    std::string name;
    std::string volume_type;    // the destination backend's volume_backend_name
    std::string project_id;
    std::string migration_id;   // recorded in the new volume's metadata (volmig:migration_id)
};

struct PrepareRequest {
    std::string source_volume;  // the migrating volume's id
    std::string source_host;    // host@backend#pool
    Strategy strategy = Strategy::full;
    uint64_t block_size = 4096;
    // Stream v2 (DESIGN.md "The extent stream"): what the sender offers.
    unsigned streams = 1;                    // parallel slice streams wanted
    std::vector<std::string> compression;    // ["zstd"] or []
    uint64_t data_bytes = 0;                 // the source's data, for the receiver's checkpoint grid
};

struct PreparedReceiver {
    std::string stream_token;
    Strategy strategy = Strategy::full;  // what the receiver will apply (it may be safer than asked)
    std::string reason;                  // why, when it differs from what was asked
    // What the receiver accepts (stream v2).
    unsigned streams = 1;
    bool compression = false;            // "zstd" (only when offered) or "none"
    uint64_t checkpoint_bytes = 0;       // the checkpoint grid C
};

// A created destination volume, and the receiver's terms when the create prepared it too.
struct CreatedTarget {
    PeerVolume volume;
    std::optional<PreparedReceiver> prepared;
};

// The receiver's verified ranges of a migration (for a resume): range index -> partial checksum.
struct ResumePoint {
    std::string source_volume, destination_volume;
    uint64_t volume_size = 0, checkpoint_bytes = 0;
    std::map<uint64_t, std::string> ranges;
};

// The receiver's account of a stream it applied and verified.
struct StreamReceipt {
    uint64_t volume_size = 0, wire_bytes = 0;
    uint64_t bytes_written = 0, bytes_skipped = 0, bytes_zeroed = 0, bytes_released = 0;
    std::string zero_method;
    Strategy strategy = Strategy::full;
    std::string source_checksum, destination_checksum;
    bool verified = false;
    double seconds = 0;
    std::optional<uint64_t> allocated_bytes;  // the volume's allocation after the finish, if told
};

struct AdoptRequest {
    std::string volume_id;  // the id the destination volume takes
    std::string name, description, created_at, project_id;
    nlohmann::json metadata = nlohmann::json::object();  // strings only
    std::string stream_token;
    nlohmann::json plan = nullptr, report = nullptr;     // the source's account, shown on the destination
    // Set: the receiver verifies the whole volume first, as volmig-finish_receive would (only to
    // a peer whose document lists kCallAdoptWithFinish), and answers the receipt with the adoption.
    std::string finish_checksum;
    uint64_t finish_volume_size = 0;
};

// A stream body: fills up to `capacity` bytes, 0 at the end.
using BodySource = std::function<Result<size_t>(char* buffer, size_t capacity)>;

class PeerClient {
public:
    virtual ~PeerClient() = default;
    virtual const std::string& host() const = 0;
    // The round trip to the peer as calls so far measured it (api/http_client.hpp
    // HttpConnections::round_trip); 0 when not known.
    virtual std::chrono::microseconds round_trip() const { return {}; }

    virtual Result<nlohmann::json> capabilities(const std::string& host_backend) = 0;
    virtual Result<PeerVolume> create(const CreateTargetRequest& request) = 0;
    virtual Result<PeerVolume> show(const std::string& volume_id) = 0;
    // Volumes the peer holds for migration `migration_id` (by their volmig:migration_id), so that
    // a destination whose create answer was lost can still be found and deleted.
    virtual Result<std::vector<PeerVolume>> created_for(const std::string& migration_id) = 0;
    virtual Result<PreparedReceiver> prepare_receive(const std::string& volume_id, const PrepareRequest& request) = 0;
    // create() and prepare_receive() in one call where the peer can (rest.hpp kPrepareOnCreate):
    // `prepared` is empty when it did not, and the caller prepares on its own once the volume is
    // available. This default never combines them.
    virtual Result<CreatedTarget> create_prepared(const CreateTargetRequest& request, const PrepareRequest&) {
        auto created = create(request);
        if (!created) return created.take_error();
        return CreatedTarget{std::move(*created), std::nullopt};
    }
    // `data_bytes`: how much data the stream will carry, for the receiver's progress.
    virtual Result<StreamReceipt> stream(const std::string& volume_id, const std::string& stream_token, uint64_t data_bytes,
                                         const BodySource& body) = 0;
    // The ranges the receiver holds verified (volmig-stream_resume_point), and the whole
    // volume's verification once every slice is in (volmig-finish_receive, with the sender's
    // checksum of the volume); both present the stream token.
    virtual Result<ResumePoint> resume_point(const std::string& volume_id, const std::string& stream_token) = 0;
    virtual Result<StreamReceipt> finish_receive(const std::string& volume_id, const std::string& stream_token,
                                                 const std::string& checksum, uint64_t volume_size) = 0;
    // The receipt of the verification when the request carried one (and the answer has it; an
    // adoption answered again, its first answer lost, has none).
    virtual Result<std::optional<StreamReceipt>> adopt(const std::string& volume_id, const AdoptRequest& request) = 0;
    virtual Status remove(const std::string& volume_id) = 0;  // ok when it is already gone
};

// The parsers behind the HTTP client: one per reply, from the body's text. `peer` and `call`
// name the exchange in errors.
struct PeerExchange {
    std::string peer;  // host-b
    std::string call;  // "create (POST /v3/volumes)"
};
Result<PeerVolume> parse_volume_reply(const PeerExchange& x, const std::string& body);
Result<std::vector<PeerVolume>> parse_volume_list_reply(const PeerExchange& x, const std::string& body);
Result<PreparedReceiver> parse_prepare_reply(const PeerExchange& x, const std::string& body, Strategy asked);
Result<StreamReceipt> parse_stream_reply(const PeerExchange& x, const std::string& body);
Result<ResumePoint> parse_resume_reply(const PeerExchange& x, const std::string& body);
Result<nlohmann::json> parse_capabilities_reply(const PeerExchange& x, const std::string& body);
// A volume id as volmig hands them out and puts them in URLs: 1-64 of [A-Za-z0-9_-].
bool is_volume_id(const std::string& text);

// Settings for talking to peers.
struct PeerSettings {
    std::string own_host;                    // for the noauth token
    std::string auth_token;                  // empty with noauth
    std::chrono::milliseconds call_timeout{std::chrono::seconds(30)};
    std::chrono::seconds stream_stall_timeout{120};
    // TLS: https:// peers verified against ca_file (empty: the system's CAs); require_tls
    // refuses any http:// URL at call time too.
    std::string ca_file;
    bool require_tls = false;
    // The peer's idle connections, reused by every client of that peer (the stream's long upload
    // takes a connection of its own). Null: a new connection per call.
    std::shared_ptr<HttpConnections> connections;
};

std::unique_ptr<PeerClient> make_http_peer_client(std::string host, std::string base_url, PeerSettings settings);

}  // namespace volmig
