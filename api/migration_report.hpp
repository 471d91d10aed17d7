// A migration's copy report: one shape whether the copy ran on this daemon (the copy engine's
// CopyReport) or crossed the network (the sender's and the receiver's accounts of the stream),
// and always showing the strategy the destination actually applied.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "api/peer_client.hpp"
#include "copy/copy.hpp"
#include "copy/extent_stream.hpp"

namespace volmig {

struct MigrationCopy {
    CopyReport copy;                      // strategy: what the destination applied
    std::string transport = "local";      // or "extent stream to host-b"
    uint64_t wire_bytes = 0;              // bytes that crossed the network (0 locally)
    double seconds = 0;                   // copy and verification, as the job timed them
};

// A stream's accounts in the copy engine's report shape.
CopyReport copy_report_of_stream(const SendStats& sent, const StreamReceipt& received);

nlohmann::json migration_report_to_json(const MigrationCopy& copy);

}  // namespace volmig
