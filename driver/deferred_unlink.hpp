// Deleting a volume file without making the caller wait for the filesystem to free its blocks.
// On a filesystem mounted with `discard`, unlinking a file of a few thousand extents takes a
// few hundred milliseconds (the blocks are discarded before unlink returns); the volume is gone
// for every reader once it is renamed. So remove() renames the file to a hidden name in the
// same directory (atomic: no reader, listing or capacity count sees it after) and a thread
// unlinks it. Files left under that name by a crash are unlinked when the pool next starts.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "copy/result.hpp"

namespace volmig {

class DeferredUnlink {
public:
    // Hidden names start with this; nothing else in a pool directory may.
    static constexpr const char* kPrefix = ".deleting-";

    DeferredUnlink() = default;
    ~DeferredUnlink();  // unlinks what is still queued before it returns
    DeferredUnlink(const DeferredUnlink&) = delete;
    DeferredUnlink& operator=(const DeferredUnlink&) = delete;

    // Renames `path` out of sight (a hidden name in its own directory) and queues the unlink. A
    // missing file is a success; a failed rename is the caller's error, the file stays as it was.
    Status remove(const std::string& path);
    // Queues the unlink of every hidden file a crash left in `directory`; returns how many.
    size_t adopt_leftovers(const std::string& directory);
    // Blocks until every queued unlink is done (tests; a daemon never needs to).
    void wait_idle();

private:
    void queue(std::string hidden);
    void run();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<std::string> pending_;
    bool busy_ = false;
    bool stopping_ = false;
    std::thread worker_;
};

}  // namespace volmig
