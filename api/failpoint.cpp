#include "api/failpoint.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

namespace volmig {

namespace {

const std::set<std::string>& armed() {
    static std::set<std::string> points;
    static std::once_flag once;
    std::call_once(once, [] {
        const char* env = std::getenv("VOLMIG_FAILPOINTS");
        if (!env) return;
        std::stringstream in(env);
        std::string item;
        while (std::getline(in, item, ',')) {
            const size_t eq = item.find('=');
            if (eq != std::string::npos && item.substr(eq + 1) == "kill") points.insert(item.substr(0, eq));
        }
    });
    return points;
}

}  // namespace

void failpoint(const char* name) {
    if (armed().empty() || !armed().count(name)) return;
    std::fprintf(stderr, "volmigd: crash point %s reached: killing this process (VOLMIG_FAILPOINTS)\n", name);
    std::fflush(stderr);
    ::kill(::getpid(), SIGKILL);
    ::pause();
}

}  // namespace volmig
