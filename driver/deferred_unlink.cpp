#include "driver/deferred_unlink.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace volmig {

DeferredUnlink::~DeferredUnlink() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
}

Status DeferredUnlink::remove(const std::string& path) {
    const size_t slash = path.rfind('/');
    const std::string hidden = slash == std::string::npos ? kPrefix + path : path.substr(0, slash + 1) + kPrefix + path.substr(slash + 1);
    if (::rename(path.c_str(), hidden.c_str()) != 0) {
        if (errno == ENOENT) return success();
        return errno_error("cannot delete volume file " + path);
    }
    queue(hidden);
    return success();
}

size_t DeferredUnlink::adopt_leftovers(const std::string& directory) {
    size_t found = 0;
    DIR* dir = ::opendir(directory.c_str());
    if (!dir) return 0;
    while (dirent* e = ::readdir(dir)) {
        const std::string name = e->d_name;
        if (name.rfind(kPrefix, 0) != 0) continue;
        queue(directory + "/" + name);
        ++found;
    }
    ::closedir(dir);
    return found;
}

void DeferredUnlink::wait_idle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [&] { return pending_.empty() && !busy_; });
}

void DeferredUnlink::queue(std::string hidden) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        pending_.push_back(std::move(hidden));
        if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
    }
    wake_.notify_one();
}

void DeferredUnlink::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        if (pending_.empty()) return;  // stopping, and nothing left
        const std::string path = std::move(pending_.front());
        pending_.pop_front();
        busy_ = true;
        lock.unlock();
        ::unlink(path.c_str());  // a file already gone is what was wanted; anything else is retried at the next start
        lock.lock();
        busy_ = false;
        if (pending_.empty()) idle_.notify_all();
    }
}

}  // namespace volmig
