#include <doctest/doctest.h>

#include "copy/report.hpp"

using namespace volmig;

namespace {
CopyReport sample() {
    CopyReport r;
    r.engine = "native";
    r.source = "/src";
    r.destination = "/dst";
    r.strategy = Strategy::full_then_discard;
    r.reason = "because";
    r.size = 1 << 30;
    r.source_data_bytes = 100 << 20;
    r.bytes_read = 100 << 20;
    r.bytes_written = 90 << 20;
    r.bytes_released = (1 << 30) - (90 << 20);
    r.seconds = 0.5;
    r.destination_after.size = 1 << 30;
    r.destination_after.allocated = 90 << 20;
    r.verified = true;
    r.source_checksum = r.destination_checksum = "xxh3sum:abc";
    return r;
}
}  // namespace

TEST_CASE("report JSON carries every figure the operator needs") {
    auto j = report_to_json(sample());
    CHECK(j["strategy"] == "full+discard");
    CHECK(j["reason"] == "because");
    CHECK(j["bytes"]["read"] == 100 << 20);
    CHECK(j["bytes"]["written"] == 90 << 20);
    CHECK(j["bytes"]["released"] == (1 << 30) - (90 << 20));
    CHECK(j["bytes"]["skipped"] == 0);
    CHECK(j["seconds"] == 0.5);
    CHECK(j["throughput_bytes_per_second"] == doctest::Approx(2.0 * (1 << 30)));
    CHECK(j["allocation"]["destination_after"]["allocated"] == 90 << 20);
    CHECK(j["allocation"]["destination_after"]["data_percent"] == doctest::Approx(8.79));
    CHECK(j["allocation"]["source_before"]["allocated"].is_null());  // unknown stays unknown
    CHECK(j["checksum"]["match"] == true);
}

TEST_CASE("report text names strategy, reason, bytes and the checksum verdict") {
    CopyReport r = sample();
    std::string text = report_to_text(r);
    CHECK(text.find("full+discard") != std::string::npos);
    CHECK(text.find("because") != std::string::npos);
    CHECK(text.find("MATCH xxh3sum:abc") != std::string::npos);
    CHECK(text.find("Data% 8.79") != std::string::npos);
    r.destination_checksum = "xxh3sum:def";
    CHECK(report_to_text(r).find("MISMATCH") != std::string::npos);
    r.verified = false;
    CHECK(report_to_text(r).find("not verified") != std::string::npos);
}

TEST_CASE("progress line shows fraction, bytes, rate and ETA") {
    Progress p;
    p.bytes_done = 512 << 20;
    p.bytes_total = 1 << 30;
    p.rate = 256 << 20;
    p.eta_seconds = 2;
    const std::string line = format_progress_line(p, 10);
    CHECK(line.rfind("[#####.....] 50.0%", 0) == 0);
    CHECK(line.find("512 MiB / 1.00 GiB") != std::string::npos);
    CHECK(line.find("256 MiB/s") != std::string::npos);
    CHECK(line.find("ETA 2s") != std::string::npos);
}
