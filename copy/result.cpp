#include "copy/result.hpp"

#include <cstring>

namespace volmig {

Error errno_error(const std::string& what, int err) {
    return Error{what + ": " + std::strerror(err), err};
}

}  // namespace volmig
