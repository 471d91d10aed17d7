#include "api/open_files.hpp"

#include <sys/resource.h>

#include <string>

namespace volmig {

namespace {

constexpr rlim_t kSpareFiles = 512;  // beyond one per connection: the database, pools, loop devices, peers

}  // namespace

Status ensure_open_files(unsigned connections) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return errno_error("getrlimit(RLIMIT_NOFILE)");
    const rlim_t needed = static_cast<rlim_t>(connections) + kSpareFiles;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
        if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed)
            return Error{"http_threads = " + std::to_string(connections) + " needs " + std::to_string(needed) +
                             " open files, but the hard limit (RLIMIT_NOFILE) is " + std::to_string(limit.rlim_max) +
                             ": raise LimitNOFILE= in volmigd.service (ulimit -Hn) or lower http_threads",
                         ErrorKind::invalid};
        limit.rlim_cur = needed;
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return errno_error("setrlimit(RLIMIT_NOFILE)");
    }
    return success();
}

}  // namespace volmig
