// volmig evacuate's decisions (tools/volmig/evacuation.hpp): the --from/--to checks, which
// volumes are skipped and why, and the table's rows from volume views as the daemon shows them.
#include <doctest/doctest.h>

#include "tools/volmig/evacuation.hpp"

using namespace volmig;
using namespace volmig::cli;

namespace {

nlohmann::json view(const std::string& status, const nlohmann::json& migration_status = nullptr) {
    return {{"id", "v1"},       {"status", status}, {"migration_status", migration_status}, {"os-vol-host-attr:host", "host-a@thin#thin"},
            {"attachments", nlohmann::json::array()}};
}

}  // namespace

TEST_CASE("evacuate: --from and --to are checked, and --to may not be the evacuated backend") {
    auto ok = parse_evacuation("host-a@thin", "host-b@thin#thin");
    REQUIRE(ok.ok());
    CHECK(ok->to_backend == "host-b@thin");
    CHECK(parse_evacuation("host-a@thin", "host-a@thick").ok());
    auto same = parse_evacuation("host-a@thin", "host-a@thin#thin");
    REQUIRE_FALSE(same.ok());
    CHECK(same.error().message.find("is the backend being evacuated") != std::string::npos);
    for (auto [from, to] : {std::pair{"host-a", "host-b@thin"}, {"host-a@thin#thin", "host-b@thin"}, {"@thin", "host-b@thin"},
                            {"host-a@thin", "host-b"}, {"host-a@thin", "host-b@thin#"}, {"host-a@thin", "host-b@@x"}}) {
        CAPTURE(from);
        CAPTURE(to);
        CHECK_FALSE(parse_evacuation(from, to).ok());
    }
}

TEST_CASE("evacuate: only available volumes not migrating are moved, the others are skipped with the reason") {
    CHECK(skip_reason(view("available")).empty());
    CHECK(skip_reason(view("available", "success")).empty());  // migrated before: may move again
    CHECK(skip_reason(view("available", "error")).empty());
    CHECK(skip_reason(view("in-use")) == "in use (in-use)");
    CHECK(skip_reason(view("attaching")) == "in use (attaching)");
    nlohmann::json attached = view("available");
    attached["attachments"] = nlohmann::json::array({{{"server_id", "s"}}});
    CHECK(skip_reason(attached).rfind("in use", 0) == 0);
    nlohmann::json broken = view("error");
    broken["volmig:error"] = "disk on fire";
    CHECK(skip_reason(broken) == "error: disk on fire");
    nlohmann::json moving = view("available", "migrating");
    moving["volmig:migration"] = {{"destination", "host-c@thin#thin"}};
    CHECK(skip_reason(moving) == "migrating (migrating to host-c@thin#thin)");
    CHECK(skip_reason(view("available", "starting")).rfind("migrating (starting", 0) == 0);
    CHECK(skip_reason(view("maintenance")) == "status maintenance");
    CHECK(host_backend_of(view("available")) == "host-a@thin");
    CHECK(host_backend_of(nlohmann::json::object()).empty());
}

TEST_CASE("evacuate: a row shows the queue position while queued, then progress, rate and ETA") {
    EvacuationRow row;
    row.id = "v1";
    row.name = "a-rather-long-volume-name";
    row.size_gib = 10;
    nlohmann::json v = view("available", "starting");
    v["volmig:migration"] = {{"state", "queued"}, {"queue_position", 3}, {"error", nullptr},
                             {"progress", {{"percent", 0.0}, {"rate_bytes_per_second", 0.0}, {"eta_seconds", nullptr}}}};
    update_row(row, v);
    CHECK(row.state == "queued");
    CHECK(row.queue_position == 3);
    std::string table = format_table({row});
    CHECK(table.find("queued #3") != std::string::npos);
    CHECK(table.find("a-rather-long-vo~") != std::string::npos);
    CHECK(table.rfind("VOLUME", 0) == 0);

    v["volmig:migration"] = {{"state", "migrating"}, {"queue_position", nullptr}, {"error", nullptr},
                             {"progress", {{"percent", 42.5}, {"rate_bytes_per_second", 8.0 * (1 << 20)}, {"eta_seconds", 65.0}}}};
    update_row(row, v);
    CHECK(row.queue_position == 0);
    table = format_table({row});
    CHECK(table.find("42.5%") != std::string::npos);
    CHECK(table.find("8.00 MiB/s") != std::string::npos);
    CHECK(table.find("1m05s") != std::string::npos);
    CHECK_FALSE(row.ended());

    v["volmig:migration"] = {{"state", "error"}, {"error", "peer gone"}, {"progress", {{"percent", 50.0}}}};
    update_row(row, v);
    CHECK(row.failed());
    CHECK(row.error == "peer gone");
    CHECK(format_eta(-1) == "-");
    CHECK(format_eta(3725) == "1h02m");
    CHECK(format_eta(7) == "7s");
}
