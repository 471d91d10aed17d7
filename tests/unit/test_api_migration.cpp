// The migration state machine (source side) against a fake peer that injects a failure at each
// step: the job ends in success or error, never stuck; on error the source volume is untouched
// and available and the destination volume is deleted (or left marked for cleanup); a restart
// in every state converges. The source is a real thin_file volume and a real SQLite store; the
// fake peer applies the stream with the real receiver into a file of its own. This is fault
// injection for the logic only: the two-daemon scenarios test the real peer.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <set>
#include <thread>

#include "api/migration.hpp"
#include "copy/checksum.hpp"
#include "copy/extent_stream.hpp"
#include "copy/stream_slices.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/service_fixture.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

// What the fake peer holds and answers; shared by every client the factory makes.
struct FakePeerState {
    std::mutex mutex;
    std::string dir;
    std::vector<std::string> calls;
    std::map<std::string, std::deque<Error>> fail_next;  // call -> errors returned first, once each
    std::map<std::string, Error> fail_always;            // call -> error returned every time
    bool corrupt_checksum = false;
    bool adopt_succeeds_but_answer_is_lost = false;
    struct Volume {
        std::string path, migration_id;
        bool adopted = false;
    };
    std::map<std::string, Volume> volumes;         // temporary id -> volume
    std::map<std::string, std::string> adopted;    // adopted id -> temporary id
    int next_id = 0;
    // Stream v2 as the fake receives it: the grid, the verified ranges, the source it names.
    uint64_t checkpoint_bytes = 0;
    bool compression = false;
    std::map<uint64_t, ContentChecksum> ranges;
    std::string source_volume;
    std::vector<StreamHeader> headers;  // every slice stream's header, in arrival order
    // Sees the bytes a slice stream has delivered; setting them to 0 cuts the connection.
    std::function<void(const StreamHeader&, uint64_t&)> on_stream_bytes;
    std::string resume_names;  // when set, the source volume the resume point names (a lie)

    std::optional<Error> failure(const std::string& call) {
        calls.push_back(call);
        if (auto it = fail_always.find(call); it != fail_always.end()) return it->second;
        auto& queue = fail_next[call];
        if (queue.empty()) return std::nullopt;
        Error e = queue.front();
        queue.pop_front();
        return e;
    }
    size_t count(const std::string& call) {
        std::lock_guard<std::mutex> lock(mutex);
        size_t n = 0;
        for (const auto& c : calls) n += c == call;
        return n;
    }
    size_t live_volumes() {
        std::lock_guard<std::mutex> lock(mutex);
        return volumes.size();
    }
};

class FakePeer : public PeerClient {
public:
    explicit FakePeer(std::shared_ptr<FakePeerState> s) : s_(std::move(s)) {}
    const std::string& host() const override { return host_; }

    Result<nlohmann::json> capabilities(const std::string&) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("capabilities")) return *e;
        BackendFacts f;
        f.zero_initialized = f.thin_provisioning = f.discard = f.discard_zeroes = true;
        return build_capability_document({"host-b@thin", "thin", "thin", "thin_file", "0.1.0"}, f, SparseCopyPolicy::automatic);
    }
    Result<PeerVolume> create(const CreateTargetRequest& r) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("create")) return *e;
        const std::string id = "dst-" + std::to_string(++s_->next_id);
        const std::string path = s_->dir + "/" + id;
        create_sparse_file(path, r.size_gib << 30);
        s_->volumes[id] = {path, r.migration_id};
        return PeerVolume{id, VolumeStatus::available, "", 0, 0.0, "", ""};
    }
    Result<PeerVolume> show(const std::string& id) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("show")) return *e;
        if (auto it = s_->adopted.find(id); it != s_->adopted.end()) return PeerVolume{id, VolumeStatus::available, "", 0, 0.0, "", it->second};
        if (s_->volumes.count(id)) return PeerVolume{id, VolumeStatus::available, "", 0, 0.0, "", ""};
        return Error{"peer host-b answered show with 404: no such volume", ErrorKind::not_found};
    }
    Result<std::vector<PeerVolume>> created_for(const std::string& migration_id) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("created_for")) return *e;
        std::vector<PeerVolume> out;
        for (const auto& [id, v] : s_->volumes)
            if (v.migration_id == migration_id) out.push_back(PeerVolume{id, VolumeStatus::available, "", 0, 0.0, "", ""});
        return out;
    }
    Result<PreparedReceiver> prepare_receive(const std::string& id, const PrepareRequest& r) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("prepare_receive")) return *e;
        if (!s_->volumes.count(id)) return Error{"no such volume", ErrorKind::not_found};
        strategy_ = r.strategy;
        PreparedReceiver p{"token-0123456789abcdef", r.strategy, ""};
        p.streams = r.streams;
        p.compression = !r.compression.empty();
        p.checkpoint_bytes = choose_checkpoint_bytes(r.data_bytes, r.block_size);
        s_->checkpoint_bytes = p.checkpoint_bytes;
        s_->compression = p.compression;
        s_->source_volume = r.source_volume;
        return p;
    }
    Result<StreamReceipt> stream(const std::string& id, const std::string&, uint64_t, const BodySource& body) override {
        std::string path;
        {
            std::lock_guard<std::mutex> lock(s_->mutex);
            if (auto e = s_->failure("stream")) {
                // Like a connection cut: the sender sees its upload stop.
                return *e;
            }
            path = s_->volumes.at(id).path;
        }
        auto info = inspect_volume(path);
        if (!info) return info.error();
        ReceiveOptions o;
        o.strategy = Strategy::sparse;
        o.writers = 1;
        o.checkpoint_bytes = s_->checkpoint_bytes;
        o.allow_compressed = s_->compression;
        StreamHeader mine;
        o.accept = [&](const StreamHeader& h) -> Result<ContentChecksum> {
            std::lock_guard<std::mutex> lock(s_->mutex);
            s_->headers.push_back(h);
            mine = h;
            ContentChecksum before;
            for (uint64_t k = h.slice.start / o.checkpoint_bytes; k * o.checkpoint_bytes < h.slice.from; ++k) {
                if (!s_->ranges.count(k)) return Error{"resumed beyond the verified ranges", ErrorKind::invalid};
                before.merge(s_->ranges[k]);
            }
            return before;
        };
        o.on_ranges = [&](const std::vector<std::pair<uint64_t, ContentChecksum>>& done) -> Status {
            std::lock_guard<std::mutex> lock(s_->mutex);
            for (const auto& [k, sum] : done) s_->ranges[k] = sum;
            return success();
        };
        uint64_t delivered = 0;
        bool was_cut = false;
        auto got = receive_extent_stream(*info, o, [&](char* buf, size_t cap) -> Result<size_t> {
            auto n = body(buf, cap);
            if (n && s_->on_stream_bytes) {
                delivered += *n;
                uint64_t seen = delivered;
                s_->on_stream_bytes(mine, seen);
                if (seen == 0) {
                    was_cut = true;
                    return Error{"connection reset", ErrorKind::failed};
                }
            }
            return n;
        });
        if (was_cut) return Error{"peer host-b did not answer stream: connection reset", ErrorKind::failed};  // as libcurl says it
        if (!got) return got.error();
        StreamReceipt r;
        r.volume_size = got->volume_size;
        r.wire_bytes = got->wire_bytes;
        r.bytes_written = got->bytes_written;
        r.bytes_skipped = got->bytes_skipped;
        r.strategy = Strategy::sparse;
        r.source_checksum = got->source_checksum;
        r.destination_checksum = s_->corrupt_checksum ? "xxh3:not-what-was-sent" : got->destination_checksum;
        r.verified = true;
        return r;
    }
    Result<ResumePoint> resume_point(const std::string& id, const std::string& token) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("resume_point")) return *e;
        if (token != "token-0123456789abcdef") return Error{"wrong token", ErrorKind::refused};
        ResumePoint rp;
        rp.source_volume = s_->resume_names.empty() ? s_->source_volume : s_->resume_names;
        rp.destination_volume = id;
        rp.volume_size = 1ull << 30;
        rp.checkpoint_bytes = s_->checkpoint_bytes;
        for (const auto& [k, sum] : s_->ranges) rp.ranges[k] = sum.partial();
        return rp;
    }
    Result<StreamReceipt> finish_receive(const std::string&, const std::string&, const std::string& checksum, uint64_t size) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("finish_receive")) return *e;
        ContentChecksum total;
        for (const auto& [k, sum] : s_->ranges) total.merge(sum);
        StreamReceipt r;
        r.volume_size = size;
        r.strategy = Strategy::sparse;
        r.source_checksum = checksum;
        r.destination_checksum = total.finish(size);
        r.verified = true;
        return r;
    }
    Result<std::optional<StreamReceipt>> adopt(const std::string& id, const AdoptRequest& r) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("adopt")) return *e;
        if (r.stream_token != "token-0123456789abcdef") return Error{"wrong token", ErrorKind::refused};
        s_->adopted[r.volume_id] = id;
        s_->volumes.at(id).adopted = true;
        if (s_->adopt_succeeds_but_answer_is_lost) {
            // It adopted, then answered nonsense; asked again, it refuses (its token is used up).
            s_->adopt_succeeds_but_answer_is_lost = false;
            s_->fail_always["adopt"] = Error{"peer host-b answered adopt with 409: the token is used up", ErrorKind::refused};
            return Error{"peer host-b answered adopt with []", ErrorKind::invalid};
        }
        return std::optional<StreamReceipt>();
    }
    Status remove(const std::string& id) override {
        std::lock_guard<std::mutex> lock(s_->mutex);
        if (auto e = s_->failure("remove")) return *e;
        auto it = s_->volumes.find(id);
        if (it != s_->volumes.end() && !it->second.adopted) {
            ::unlink(it->second.path.c_str());
            s_->volumes.erase(it);
        }
        return success();
    }

private:
    std::shared_ptr<FakePeerState> s_;
    std::string host_ = "host-b";
    Strategy strategy_ = Strategy::full;
};

// A daemon host-a (one thin_file backend, real SQLite) whose peer host-b is the fake.
struct Lab {
    TempDir dir;
    ServiceParts parts;
    VolumeStore* store;
    VolumeService* volumes;
    std::shared_ptr<FakePeerState> peer = std::make_shared<FakePeerState>();
    std::unique_ptr<Peers> peers;
    Metrics metrics;
    std::unique_ptr<MigrationService> migrations;
    std::vector<std::string> log;
    std::mutex log_mutex;

    // stream_resume_grace = 0 unless `defaults` says otherwise: a failed stream rolls back at once.
    static std::string ini(const TempDir& dir, const std::string& defaults) {
        return "[DEFAULT]\nhost = host-a\nauth_strategy = noauth\nstate_path = " + dir.file("state") +
               "\nenabled_backends = thin\ncleanup_retry_interval = 1\nforwarding_check_interval = 1\n" +
               (defaults.empty() ? std::string("stream_resume_grace = 0\n") : defaults) +
               "[thin]\nvolume_driver = thin_file\npool_path = " + dir.file("thin") + "\npool_size = 10G\n"
               "[peers]\nhost-b = http://127.0.0.1:9\n";
    }

    explicit Lab(const std::string& defaults = "") : parts(ini(dir, defaults)), store(parts.store.get()), volumes(parts.volumes.get()) {
        ::mkdir(dir.file("peer").c_str(), 0700);
        peer->dir = dir.file("peer");
        peers = std::make_unique<Peers>(parts.config, [this](const std::string&, const std::string&) { return std::make_unique<FakePeer>(peer); });
        restart();
    }
    ~Lab() {
        if (migrations) migrations->stop();
    }

    // A new MigrationService over the same store, as after a restart of the daemon.
    void restart() {
        if (migrations) migrations->stop();
        migrations = std::make_unique<MigrationService>(*volumes, *peers, metrics, [this](const std::string& l) {
            std::lock_guard<std::mutex> lock(log_mutex);
            log.push_back(l);
        });
        REQUIRE(migrations->initialize().ok());
        migrations->resume_after_restart();
    }

    // A 1 GiB volume with 3 MiB of data.
    VolumeRecord source() {
        CreateRequest req;
        req.size_gib = 1;
        req.name = "src";
        auto v = volumes->create(req);
        REQUIRE(v.ok());
        write_random(v->location, 0, 2 << 20, 7);
        write_random(v->location, 512 << 20, 1 << 20, 8);
        return *v;
    }

    std::string checksum_of(const std::string& path) { return volume_checksum(path); }

    // The migration shown for the volume once it ends (or once it is in `until`).
    MigrationRecord settle(const std::string& volume_id, std::set<MigrationState> until = {MigrationState::success, MigrationState::error}) {
        MigrationStore records(*store);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (true) {
            auto shown = records.shown_for(volume_id);
            REQUIRE(shown.ok());
            if (*shown && until.count((*shown)->state)) return **shown;
            REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                            "the migration of " << volume_id << " did not settle: " << (*shown ? to_string((*shown)->state) : "none"));
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    VolumeRecord volume(const std::string& id) {
        auto v = volumes->get(id);
        REQUIRE(v.ok());
        return *v;
    }

    MigrationRecord migrate(const std::string& id, bool auto_complete = true) {
        MigrateRequest req;
        req.volume_id = id;
        req.destination = "host-b@thin";
        req.auto_complete = auto_complete;
        auto started = migrations->start(req);
        REQUIRE_MESSAGE(started.ok(), (started.ok() ? "" : started.error().message));
        return *started;
    }
};

// After a failed migration the source is as it was: available, on host-a, same bytes.
void check_rolled_back(Lab& lab, const VolumeRecord& before, const std::string& sum, const MigrationRecord& m, const std::string& why) {
    CHECK(m.state == MigrationState::error);
    CHECK_MESSAGE(m.error.find(why) != std::string::npos, "error: " << m.error);
    VolumeRecord v = lab.volume(before.id);
    CHECK(v.status == VolumeStatus::available);
    CHECK(v.migration_status == VolumeMigrationStatus::error);
    CHECK(v.moved_to.empty());
    CHECK(v.location == before.location);
    CHECK(v.attached_path.empty());
    CHECK(lab.checksum_of(v.location) == sum);
}

}  // namespace

TEST_CASE("migration transitions: exactly the moves of the documented state machine are allowed") {
    using S = MigrationState;
    const std::set<std::pair<S, S>> source{{S::queued, S::starting},           {S::queued, S::error},
                                           {S::starting, S::migrating},        {S::starting, S::error},
                                           {S::migrating, S::awaiting_completion}, {S::migrating, S::completing},
                                           {S::migrating, S::error},           {S::awaiting_completion, S::completing},
                                           {S::awaiting_completion, S::error}, {S::completing, S::releasing},
                                           {S::completing, S::error},          {S::releasing, S::success}};
    const std::set<std::pair<S, S>> target{{S::receiving, S::streaming}, {S::receiving, S::error}, {S::streaming, S::received},
                                           {S::streaming, S::receiving}, {S::receiving, S::received},
                                           {S::streaming, S::error},     {S::received, S::success}, {S::received, S::adopting},
                                           {S::received, S::error},      {S::adopting, S::success}, {S::adopting, S::received}};
    const S all[] = {S::queued,    S::starting,  S::migrating, S::awaiting_completion, S::completing, S::releasing, S::receiving,
                     S::streaming, S::received,  S::adopting,            S::success,    S::error};
    for (S from : all)
        for (S to : all) {
            CHECK_MESSAGE(transition_allowed(MigrationRole::source, from, to) == (source.count({from, to}) > 0),
                          "source " << to_string(from) << " -> " << to_string(to));
            CHECK_MESSAGE(transition_allowed(MigrationRole::target, from, to) == (target.count({from, to}) > 0),
                          "target " << to_string(from) << " -> " << to_string(to));
        }
    for (S s : all) CHECK(parse_migration_state(to_string(s)) == s);
    CHECK_FALSE(parse_migration_state("bogus").has_value());
}

TEST_CASE("migration store: a transition the table forbids, or one from a state that changed meanwhile, fails and saves nothing") {
    Lab lab;
    VolumeRecord v = lab.source();
    MigrationStore records(*lab.store);
    MigrationRecord m;
    m.id = "m1";
    m.volume_id = v.id;
    m.destination = "host-b@thin";
    REQUIRE(records.insert(m).ok());
    Status skipped = records.transition(m, MigrationState::success);
    CHECK_FALSE(skipped.ok());
    CHECK(m.state == MigrationState::starting);
    MigrationRecord other = m;
    REQUIRE(records.transition(other, MigrationState::migrating).ok());
    Status stale = records.transition(m, MigrationState::error);  // m still believes it is starting
    CHECK_FALSE(stale.ok());
    CHECK(stale.error().message.find("no longer starting") != std::string::npos);
    auto stored = records.get("m1");
    REQUIRE(stored.ok());
    CHECK((*stored)->state == MigrationState::migrating);
    // The volume half of a step that fails rolls the migration half back too.
    Status both = records.transition(other, MigrationState::error, [](VolumeStore::Tx& tx) { return tx.modify("no-such-volume", [](VolumeRecord&) { return success(); }); });
    CHECK_FALSE(both.ok());
    stored = records.get("m1");
    CHECK((*stored)->state == MigrationState::migrating);
}

TEST_CASE("migration: a clean run ends in success, the volume forwards to host-b and the source storage is gone") {
    Lab lab;
    VolumeRecord v = lab.source();
    const std::string sum = lab.checksum_of(v.location);
    lab.migrate(v.id);
    MigrationRecord m = lab.settle(v.id);
    REQUIRE_MESSAGE(m.state == MigrationState::success, m.error);
    VolumeRecord after = lab.volume(v.id);
    CHECK(after.moved_to.rfind("host-b@thin#", 0) == 0);
    CHECK(after.migration_status == VolumeMigrationStatus::success);
    CHECK_FALSE(exists(v.location));
    auto copied = lab.peer->volumes.at(m.destination_volume_id).path;
    CHECK(lab.checksum_of(copied) == sum);
    auto report = nlohmann::json::parse(m.report);
    CHECK(report["strategy"] == "sparse");
    CHECK(report["transport"] == "extent stream to host-b");
    CHECK(report["checksum"]["match"] == true);
    CHECK(lab.peer->count("adopt") == 1);
}

TEST_CASE("migration: a failure at each step before adoption rolls back, with the source untouched") {
    struct Case {
        const char* call;
        Error error;
        const char* why;
        bool destination_made;
    };
    const std::vector<Case> cases{
        {"create", Error{"peer host-b answered create with []: expected a volume", ErrorKind::invalid}, "answered create", false},
        {"create", Error{"peer host-b did not answer create: timeout", ErrorKind::failed}, "did not answer create", false},
        {"prepare_receive", Error{"peer host-b answered prepare_receive with {\"stream_token\": 99}", ErrorKind::invalid}, "refused to receive", true},
        {"stream", Error{"peer host-b did not answer stream: connection reset", ErrorKind::failed}, "streaming to host-b failed", true},
    };
    for (const Case& c : cases) {
        CAPTURE(c.call);
        CAPTURE(c.error.message);
        Lab lab;
        VolumeRecord v = lab.source();
        const std::string sum = lab.checksum_of(v.location);
        lab.peer->fail_next[c.call].push_back(c.error);
        lab.migrate(v.id);
        MigrationRecord m = lab.settle(v.id);
        check_rolled_back(lab, v, sum, m, c.why);
        CHECK(lab.peer->live_volumes() == 0);  // deleted, or never made
        CHECK(lab.peer->count("adopt") == 0);
        CHECK(lab.peer->count("remove") == (c.destination_made ? 1u : 0u));
    }
}

TEST_CASE("migration: a create whose answer was lost is found by its migration id and deleted") {
    Lab lab;
    VolumeRecord v = lab.source();
    // A volume the peer holds for a migration whose record never learnt its id (the source died
    // before the answer arrived).
    CreateTargetRequest orphan;
    orphan.size_gib = 1;
    orphan.migration_id = "lost-answer";
    REQUIRE(FakePeer(lab.peer).create(orphan).ok());
    MigrationStore records(*lab.store);
    MigrationRecord lost;
    lost.id = "lost-answer";
    lost.volume_id = v.id;
    lost.destination = "host-b@thin#thin";
    REQUIRE(records.insert(lost).ok());
    lab.restart();  // starting after a restart: rolled back, and the rollback finds the volume by tag
    CHECK(wait_until([&] {
        auto stored = records.get("lost-answer");
        return stored.ok() && *stored && (*stored)->state == MigrationState::error;
    }));
    CHECK(lab.peer->live_volumes() == 0);
    CHECK(lab.peer->count("created_for") >= 1);
}

TEST_CASE("migration: slices cut part-way resume from the verified ranges the sender checks, and send little twice") {
    Lab lab("stream_resume_grace = 30\nmigration_streams = 2\n");
    VolumeRecord v = lab.source();
    const std::string sum = lab.checksum_of(v.location);
    // Every slice's first connection is cut once it has delivered 1.5 MiB.
    auto cut = std::make_shared<std::set<uint64_t>>();
    auto cut_mutex = std::make_shared<std::mutex>();
    lab.peer->on_stream_bytes = [cut, cut_mutex](const StreamHeader& h, uint64_t& delivered) {
        std::lock_guard<std::mutex> lock(*cut_mutex);
        if (delivered >= (3u << 19) && h.slice.from == h.slice.start && !cut->count(h.slice.start)) {
            cut->insert(h.slice.start);
            delivered = 0;  // the fake reports a reset connection
        }
    };
    lab.migrate(v.id);
    MigrationRecord m = lab.settle(v.id);
    REQUIRE_MESSAGE(m.state == MigrationState::success, m.error);
    CHECK(lab.peer->count("resume_point") >= 1);
    const auto report = nlohmann::json::parse(m.report);
    CHECK(report["streams"] == 2);
    CHECK(report["resumes"].get<unsigned>() >= 1);
    // The resumed streams started past their slices' starts: verified ranges were not resent.
    bool resumed_later = false;
    for (const StreamHeader& h : lab.peer->headers) resumed_later = resumed_later || h.slice.from > h.slice.start;
    CHECK(resumed_later);
    CHECK(report["bytes"]["sent"].get<uint64_t>() < (3u << 20) + (2u << 20));
    auto adopted = lab.peer->adopted.find(v.id);
    REQUIRE(adopted != lab.peer->adopted.end());
    CHECK(lab.checksum_of(lab.peer->volumes.at(adopted->second).path) == sum);
}

TEST_CASE("migration: a resume point naming another volume is not trusted: the migration fails, the source untouched") {
    Lab lab("stream_resume_grace = 30\nmigration_streams = 1\n");
    VolumeRecord v = lab.source();
    const std::string sum = lab.checksum_of(v.location);
    lab.peer->fail_next["stream"].push_back(Error{"peer host-b did not answer stream: connection reset", ErrorKind::failed});
    lab.peer->resume_names = "someone-else";
    lab.migrate(v.id);
    MigrationRecord m = lab.settle(v.id);
    CHECK(m.state == MigrationState::error);
    CHECK_MESSAGE(m.error.find("not trusted") != std::string::npos, m.error);
    CHECK(lab.checksum_of(v.location) == sum);
}

TEST_CASE("migration: a verification mismatch rolls back and deletes the destination") {
    Lab lab;
    VolumeRecord v = lab.source();
    const std::string sum = lab.checksum_of(v.location);
    lab.peer->corrupt_checksum = true;
    lab.migrate(v.id);
    MigrationRecord m = lab.settle(v.id);
    check_rolled_back(lab, v, sum, m, "verification FAILED");
    CHECK(lab.peer->live_volumes() == 0);
}

TEST_CASE("migration: a destination that cannot be deleted on rollback is retried until it is gone") {
    Lab lab;
    VolumeRecord v = lab.source();
    const std::string sum = lab.checksum_of(v.location);
    lab.peer->fail_next["stream"].push_back(Error{"peer host-b did not answer stream", ErrorKind::failed});
    lab.peer->fail_next["remove"].push_back(Error{"peer host-b did not answer delete", ErrorKind::failed});
    lab.migrate(v.id);
    MigrationRecord m = lab.settle(v.id);
    check_rolled_back(lab, v, sum, m, "could not be deleted");
    CHECK(m.cleanup_pending);
    CHECK(lab.peer->live_volumes() == 1);
    // cleanup_retry_interval = 1: the sweeper deletes it.
    CHECK(wait_until([&] { return lab.peer->live_volumes() == 0; }));
    auto stored = MigrationStore(*lab.store).get(m.id);
    CHECK_FALSE((*stored)->cleanup_pending);
}

TEST_CASE("migration: adoption refused for good rolls back: adoption that happened but whose answer was lost is success") {
    SUBCASE("refused, and the peer does not hold the volume") {
        Lab lab;
        VolumeRecord v = lab.source();
        const std::string sum = lab.checksum_of(v.location);
        lab.peer->fail_always["adopt"] = Error{"peer host-b answered adopt with 400: no", ErrorKind::refused};
        lab.migrate(v.id);
        MigrationRecord m = lab.settle(v.id);
        check_rolled_back(lab, v, sum, m, "did not take the volume over");
        CHECK(lab.peer->live_volumes() == 0);
    }
    SUBCASE("answered nonsense, but the peer holds the volume on the storage this migration filled") {
        Lab lab;
        VolumeRecord v = lab.source();
        lab.peer->adopt_succeeds_but_answer_is_lost = true;
        lab.migrate(v.id);
        MigrationRecord m = lab.settle(v.id);
        CHECK_MESSAGE(m.state == MigrationState::success, m.error);
        CHECK(lab.volume(v.id).moved_to.rfind("host-b@", 0) == 0);
        CHECK_FALSE(exists(v.location));
    }
    SUBCASE("the peer is unreachable for a while: completion waits, then finishes") {
        Lab lab;
        VolumeRecord v = lab.source();
        for (int i = 0; i < 2; ++i) lab.peer->fail_next["adopt"].push_back(Error{"peer host-b did not answer adopt", ErrorKind::failed});
        lab.migrate(v.id);
        MigrationRecord m = lab.settle(v.id);
        CHECK_MESSAGE(m.state == MigrationState::success, m.error);
        CHECK(lab.peer->count("adopt") == 3);
        CHECK(exists(v.location) == false);
    }
}

TEST_CASE("migration: a restart in each unfinished state converges") {
    SUBCASE("awaiting_completion stays; completion after the restart finishes it") {
        Lab lab;
        VolumeRecord v = lab.source();
        lab.migrate(v.id, /*auto_complete=*/false);
        MigrationRecord m = lab.settle(v.id, {MigrationState::awaiting_completion, MigrationState::error});
        REQUIRE(m.state == MigrationState::awaiting_completion);
        lab.restart();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        CHECK(lab.settle(v.id, {MigrationState::awaiting_completion}).state == MigrationState::awaiting_completion);
        auto done = lab.migrations->complete(v.id, m.destination_volume_id, false);
        REQUIRE(done.ok());
        CHECK(lab.settle(v.id).state == MigrationState::success);
    }
    SUBCASE("starting and migrating roll back") {
        for (MigrationState state : {MigrationState::starting, MigrationState::migrating}) {
            Lab lab;
            VolumeRecord v = lab.source();
            const std::string sum = lab.checksum_of(v.location);
            CreateTargetRequest made;
            made.size_gib = 1;
            made.migration_id = "interrupted";
            auto dst = FakePeer(lab.peer).create(made);
            MigrationStore records(*lab.store);
            MigrationRecord m;
            m.id = "interrupted";
            m.volume_id = v.id;
            m.destination = "host-b@thin#thin";
            m.destination_volume_id = dst->id;
            m.state = state;
            REQUIRE(records.insert(m).ok());
            REQUIRE(lab.store->modify(v.id, [](VolumeRecord& r) {
                r.migration_status = VolumeMigrationStatus::migrating;
                return success();
            }).ok());
            lab.restart();
            MigrationRecord after = lab.settle(v.id);
            check_rolled_back(lab, v, sum, after, "interrupted by a restart");
            CHECK(lab.peer->live_volumes() == 0);
        }
    }
    SUBCASE("completing is driven on: adopted, then the source storage released") {
        Lab lab;
        VolumeRecord v = lab.source();
        lab.peer->fail_always["adopt"] = Error{"peer host-b did not answer adopt", ErrorKind::failed};
        lab.migrate(v.id);
        lab.settle(v.id, {MigrationState::completing});
        lab.migrations->stop();  // the daemon stops while completing
        lab.peer->fail_always.clear();
        lab.restart();
        MigrationRecord m = lab.settle(v.id);
        CHECK_MESSAGE(m.state == MigrationState::success, m.error);
        CHECK_FALSE(exists(v.location));
    }
    SUBCASE("releasing deletes the source storage") {
        Lab lab;
        VolumeRecord v = lab.source();
        MigrationStore records(*lab.store);
        MigrationRecord m;
        m.id = "releasing";
        m.volume_id = v.id;
        m.destination = "host-b@thin#thin";
        m.state = MigrationState::releasing;
        m.source = SourceStorage{v.backend, v.location, v.storage_id(), v.size};
        REQUIRE(records.insert(m).ok());
        REQUIRE(lab.store->modify(v.id, [](VolumeRecord& r) {
            r.moved_to = "host-b@thin#thin";
            r.location.clear();
            r.migration_status = VolumeMigrationStatus::completing;
            return success();
        }).ok());
        lab.restart();
        CHECK(lab.settle(v.id).state == MigrationState::success);
        CHECK_FALSE(exists(v.location));
        CHECK(lab.volume(v.id).migration_status == VolumeMigrationStatus::success);
    }
}

TEST_CASE("migration: a forwarding record goes once the new host no longer has the volume") {
    Lab lab;
    VolumeRecord v = lab.source();
    lab.migrate(v.id);
    MigrationRecord m = lab.settle(v.id);
    REQUIRE(m.state == MigrationState::success);
    CHECK(lab.volume(v.id).is_forwarding());
    {
        std::lock_guard<std::mutex> lock(lab.peer->mutex);
        lab.peer->adopted.clear();  // deleted on host-b
    }
    CHECK(wait_until([&] { return !lab.volumes->get(v.id).ok(); }));
}

TEST_CASE("migration: a destination host spec is bounded and printable before it is stored or echoed") {
    CHECK(parse_host_spec("host-b@thin#pool").ok());
    CHECK_FALSE(parse_host_spec("host-b@thin#" + std::string(300, 'p')).ok());
    CHECK_FALSE(parse_host_spec(std::string("host-b@th\nin")).ok());
    CHECK_FALSE(parse_host_spec("@thin").ok());
    CHECK_FALSE(parse_host_spec("host-b@").ok());
    Lab lab;
    VolumeRecord v = lab.source();
    MigrateRequest req;
    req.volume_id = v.id;
    req.destination = "host-b@" + std::string(100000, 'x');
    auto started = lab.migrations->start(req);
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().kind == ErrorKind::invalid);
    CHECK(started.error().message.size() < 300);
    CHECK(lab.volume(v.id).migration_status == VolumeMigrationStatus::none);
}

TEST_CASE("migration store: a listing's migrations in one query are those each volume's view shows") {
    Lab lab;
    MigrationStore records(*lab.store);
    auto add = [&](const std::string& id, MigrationRole role, const std::string& volume, const std::string& destination_volume,
                   MigrationState state) {
        MigrationRecord m;
        m.id = id;
        m.role = role;
        m.volume_id = volume;
        m.destination_volume_id = destination_volume;
        m.state = state;
        REQUIRE(records.insert(m).ok());
    };
    add("old-move", MigrationRole::source, "v1", "t1", MigrationState::success);
    add("came-back", MigrationRole::target, "v1", "t9", MigrationState::success);  // newer: v1 came back here
    add("filling", MigrationRole::target, "v2", "t2", MigrationState::streaming);   // t2 is being filled
    add("failed", MigrationRole::source, "v3", "t3", MigrationState::error);
    std::vector<std::string> ids{"v1", "t2", "v3", "nothing"};
    for (int i = 0; i < 5000; ++i) ids.push_back("filler-" + std::to_string(i));  // more than one batch
    auto all = records.shown_for(ids);
    REQUIRE(all.ok());
    for (const char* id : {"v1", "t2", "v3", "nothing"}) {
        auto one = records.shown_for(id);
        REQUIRE(one.ok());
        CAPTURE(id);
        CHECK(all->count(id) == (one->has_value() ? 1u : 0u));
        if (*one) CHECK(all->at(id).id == (*one)->id);
    }
    CHECK(all->at("v1").id == "came-back");
    CHECK(all->at("t2").id == "filling");
}
