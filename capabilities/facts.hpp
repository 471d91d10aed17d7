// BackendFacts: what a backend can guarantee about its volumes, as plain data. Drivers report
// them live; the capability document publishes them; the negotiation plans from them.
#pragma once

#include <cstdint>
#include <string>

namespace volmig {

struct BackendFacts {
    bool thin_provisioning = false;
    // Every new volume reads as zeros, guaranteed (not "usually"): Cinder's
    // cinder_sparse_copy_volume.
    bool zero_initialized = false;
    std::string zero_initialized_reason;  // why true, or why it cannot be promised
    bool discard = false;                 // ranges can be released
    bool discard_zeroes = false;          // a released range reads back as zeros
    uint64_t block_size = 4096;           // allocation granularity (filesystem block, thin chunk)
    std::string storage_protocol = "local";
};

}  // namespace volmig
