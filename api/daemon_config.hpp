// volmigd's own settings from the [DEFAULT] and [peers] sections of the configuration file
// (backends are read by driver/backends.hpp from the same file).
//
//   [DEFAULT]
//   host = host-a                 this daemon's host name in host@backend#pool
//   listen = 127.0.0.1            address to bind
//   port = 8776                   Cinder's port
//   auth_strategy = token|noauth  token: every request but GET of /, /v3, /v3/ needs auth_token (X-Auth-Token
//                                 or Authorization: Bearer)
//   auth_token = ...
//   reader_token = ...            optional: a second token that may only GET listings, shows,
//                                 pools, services, capabilities, zones, limits, quotas, types
//                                 and /metrics (monitoring); not empty, not auth_token
//   storage_availability_zone = nova  the zone of every backend and volume (Cinder's option)
//   state_path = /var/lib/volmig  directory of the SQLite database
//   enabled_backends = a, b
//   default_volume_type = NAME    the volume type of volumes created without one (default: the
//                                 first backend's type; api/volume_types.hpp)
//   volume_copy_bps_limit = 0     throttle migration copies (bytes/s, suffixes allowed; 0 = off): one
//                                 daemon-wide limit, split evenly between the copies running at once
//   max_concurrent_migrations = 4  source-side migrations that copy at once; later ones wait queued
//                                 (migration_status starting, a queue position in volmig:migration);
//                                 0 = no cap. 0 to 1024
//   peer_timeout = 30             seconds for each call to a peer
//   forwarding_check_interval = 60  seconds between checks of volumes that moved away (dropped
//                                 here once their new host no longer has them)
//   cleanup_retry_interval = 30   seconds between retries of deleting destination volumes that
//                                 failed migrations could not delete (their host was down)
//   migration_streams = auto      stream v2: parallel slice streams per migration to a peer (1-16;
//                                 the receiver may accept fewer; needs max_connections_per_client >= it + 2);
//                                 auto: 4, or 1 to a peer whose round trip is under 1 ms
//   migration_compression = auto  auto|zstd|none: zstd DATA records where they shrink; auto stops
//                                 trying for a while after records that do not shrink
//   stream_resume_grace = 120     seconds a cut stream keeps trying to resume before the migration
//                                 fails (0: never resume)
//   peer_capabilities_max_age = 30  seconds a migration may plan with a peer's capability document
//                                 fetched by an earlier migration or plan preview, instead of
//                                 fetching it again (0: every migration fetches it; 0 to 3600)
//   http_threads, max_connections_per_client, max_request_body_size, max_header_size,
//   client_socket_timeout, client_keepalive_timeout, stream_socket_timeout: HttpLimits below
//   ssl_cert_file, ssl_key_file   with both set, the API and the stream are served over HTTPS only
//                                 (PEM; the key readable by its owner only: group-readable is a
//                                 warning, world-readable is refused)
//   ssl_ca_file                   PEM CA(s) that https:// peers' certificates must chain to (empty:
//                                 the system's CAs); peers' host names are always checked
//   peer_require_tls = true|false refuse http:// peers (default: true when this daemon serves TLS)
//   [<backend>] sparse_copy = auto|never   operator policy for sparse copies onto/from it
//   [peers]
//   host-b = http://10.0.0.2:8776 other daemons by host name
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "capabilities/document.hpp"
#include "copy/result.hpp"
#include "driver/config.hpp"

namespace volmig {

// What the HTTP server lets a client hold (etc/volmig.conf says why each default).
struct HttpLimits {
    unsigned threads = 1024;                     // http_threads: connections served at once, one thread each
    unsigned max_connections_per_client = 64;    // open connections from one client address
    uint64_t max_request_body_size = 112 << 10;  // JSON request bodies (Cinder's osapi_max_request_body_size)
    uint64_t max_header_size = 32 << 10;         // a request's line and headers together
    // A request's head and JSON body must arrive within this, and a response be taken within it.
    std::chrono::seconds client_socket_timeout{10};
    std::chrono::seconds client_keepalive_timeout{5};  // an idle keep-alive connection is closed after it; 0: no keep-alive
    std::chrono::seconds stream_socket_timeout{600};   // a streaming route's (migration stream's) read timeout
};

enum class MigrationCompression { automatic, zstd, none };

struct DaemonConfig {
    std::string host;
    std::string listen = "127.0.0.1";
    uint16_t port = 8776;
    bool noauth = false;
    std::string auth_token;
    std::string reader_token;  // empty: none
    std::string availability_zone = "nova";  // storage_availability_zone
    std::string state_path;
    std::map<std::string, std::string> peers;  // host name -> base URL (no trailing slash)
    HttpLimits http;
    uint64_t volume_copy_bps_limit = 0;       // migration copies, source bytes per second; 0 = unlimited
    std::chrono::seconds peer_timeout{30};    // each call to a peer (not the stream, which has a stall timeout)
    std::chrono::seconds forwarding_check_interval{60};
    std::chrono::seconds cleanup_retry_interval{30};
    std::map<std::string, SparseCopyPolicy> sparse_copy_policies;  // backend section -> sparse_copy
    std::string default_volume_type;          // a volume type's name; empty: the first backend's

    // TLS (api/tls.hpp): HTTPS for the API and the stream, verified https:// peers.
    std::string ssl_cert_file, ssl_key_file;  // both or neither; both: HTTPS only
    std::string ssl_ca_file;                  // for verifying peers; empty: the system's CAs
    bool peer_require_tls = false;            // http:// peers refused (at start and per call)
    std::vector<std::string> start_warnings;  // for the start log (a group-readable key, an option with no effect)
    bool serves_tls() const { return !ssl_cert_file.empty(); }

    // Evacuation (api/migration.hpp "The queue"): how many source-side migrations copy at once
    // (0 = no cap); volume_copy_bps_limit above is shared by all of the daemon's copies.
    unsigned max_concurrent_migrations = 4;
    // Stream v2 (DESIGN.md "The extent stream").
    unsigned migration_streams = 4;         // the most streams (auto: 4)
    bool migration_streams_auto = true;     // 1 stream to a peer closer than kOneStreamRoundTrip
    MigrationCompression migration_compression = MigrationCompression::automatic;
    std::chrono::seconds stream_resume_grace{120};
    std::chrono::seconds peer_capabilities_max_age{30};
};

Result<DaemonConfig> read_daemon_config(const ConfigFile& file);

}  // namespace volmig
