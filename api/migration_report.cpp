#include "api/migration_report.hpp"

#include "copy/report.hpp"

namespace volmig {

CopyReport copy_report_of_stream(const SendStats& sent, const StreamReceipt& received) {
    CopyReport r;
    r.engine = "native";
    r.strategy = received.strategy;
    r.size = received.volume_size;
    r.bytes_read = sent.bytes_read;
    r.bytes_written = received.bytes_written;
    r.bytes_skipped = received.bytes_skipped;
    r.bytes_zeroed = received.bytes_zeroed;
    r.bytes_released = received.bytes_released;
    r.zero_method = received.zero_method;
    r.verified = received.verified;
    r.source_checksum = sent.checksum;
    r.destination_checksum = received.destination_checksum;
    return r;
}

nlohmann::json migration_report_to_json(const MigrationCopy& m) {
    nlohmann::json j = report_to_json(m.copy);
    j["transport"] = m.transport;
    j["bytes"]["sent"] = m.wire_bytes;
    j["bytes_read"] = m.copy.bytes_read;
    // One definition for every migration: logical size over the time to copy and verify.
    j["seconds"] = m.seconds;
    j["throughput_bytes_per_second"] = m.seconds > 0 ? static_cast<double>(m.copy.size) / m.seconds : 0.0;
    return j;
}

}  // namespace volmig
