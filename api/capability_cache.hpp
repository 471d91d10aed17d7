// Peers' capability documents as last fetched, for answers that must not wait on a peer inside
// a request handler (the plan preview), and for migrations that may plan with a document fetched
// within peer_capabilities_max_age (one round trip less each). A fetcher thread of its own asks
// the peers for the preview; a migration job that finds nothing recent fetches afresh itself and
// records what it got here.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "api/peers.hpp"
#include "api/planner.hpp"

namespace volmig {

class CapabilityCache {
public:
    CapabilityCache(const Peers& peers, std::function<void(const std::string&)> log,
                    std::chrono::seconds max_age = std::chrono::seconds(30));
    ~CapabilityCache();
    void stop();

    // The document of `host_backend` on `host` if fetched within max_age (its age in words), or
    // nullopt; when missing or old a fetch is queued.
    std::optional<FetchedDocument> lookup(const std::string& host, const std::string& host_backend);
    void remember(const std::string& host_backend, const FetchedDocument& document);
    // The document of `host_backend` if one was had (not a failed fetch) within `max_age`, its
    // age in words; never queues a fetch. nullopt when max_age is 0.
    std::optional<FetchedDocument> recent(const std::string& host_backend, std::chrono::seconds max_age);
    // Drops what is known of `host_backend` (a document a receiver contradicted).
    void forget(const std::string& host_backend);

private:
    struct Entry {
        FetchedDocument document;
        std::chrono::steady_clock::time_point fetched;
    };
    void fetch_loop();

    const Peers& peers_;
    std::function<void(const std::string&)> log_;
    std::chrono::seconds max_age_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::map<std::string, Entry> entries_;                // by host@backend
    std::map<std::string, std::string> queued_;           // host@backend -> host
    bool stopping_ = false;
    std::thread fetcher_;
};

}  // namespace volmig
