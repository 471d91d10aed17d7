// Driver test fixtures: one volmig backend built the way volmig builds it (INI text through
// ConfigFile::parse and Backends::configure, a real SQLite VolumeStore), in a fresh TempDir.
// Contract: the fixture owns the store and the backends; start() opens both and REQUIREs a clean
// start, try_start() hands back start()'s result unchecked, stop() closes both (a test may stop()
// and start() again to restart volmig on the same state). Every helper REQUIREs success, so a
// failure stops the test at the step that failed; AttachGuard detaches what attach() set up when
// the test leaves the scope, also when a check fails.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "driver/backends.hpp"
#include "driver/config.hpp"
#include "driver/driver.hpp"
#include "driver/volume_store.hpp"
#include "tests/support/fixtures.hpp"

namespace volmig::test {

// Detaches what attach() set up when the test leaves the scope, also when a check fails.
class AttachGuard {
  public:
    AttachGuard(VolumeDriver& driver, Attachment attachment)
        : driver_(driver), attachment_(std::move(attachment)) {}
    ~AttachGuard() {
        if (active_) (void)driver_.detach(attachment_);
    }
    AttachGuard(const AttachGuard&) = delete;
    AttachGuard& operator=(const AttachGuard&) = delete;
    const Attachment& attachment() const { return attachment_; }
    const std::string& path() const { return attachment_.path; }
    Status detach() {
        active_ = false;
        return driver_.detach(attachment_);
    }

  private:
    VolumeDriver& driver_;
    Attachment attachment_;
    bool active_ = true;
};

// Whether the fixture starts its backend on construction or leaves start()/try_start() to the test.
enum class Start { now, later };

// The only enabled backend, section `backend`, in a state directory "state" under `dir`. The
// section's body (after the "[backend]" line) is section_text(dir), asked at every start, so that
// paths in it can name files in the fixture's own TempDir.
class SingleBackendFixture {
  public:
    using SectionText = std::function<std::string(const TempDir& dir)>;

    SingleBackendFixture(std::string backend, SectionText section_text, Start when = Start::now)
        : backend_(std::move(backend)), section_text_(std::move(section_text)) {
        if (when == Start::now) start();
    }
    ~SingleBackendFixture() { stop(); }
    SingleBackendFixture(const SingleBackendFixture&) = delete;
    SingleBackendFixture& operator=(const SingleBackendFixture&) = delete;

    Result<OrphanReport> try_start() {
        auto store = VolumeStore::open(dir.file("state"));
        REQUIRE_MESSAGE(store.ok(), (store.ok() ? "" : store.error().message));
        store_ = std::move(*store);
        auto config = ConfigFile::parse(config_text(), "volmig.conf");
        REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error().message));
        auto backends = Backends::configure(
            *config, *store_, [this](const std::string& line) { log.push_back(line); });
        REQUIRE_MESSAGE(backends.ok(), (backends.ok() ? "" : backends.error().message));
        backends_ = std::move(*backends);
        return backends_->start();
    }
    void start() {
        auto report = try_start();
        REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
        start_report = *report;
    }
    void stop() {
        backends_.reset();  // the drivers hold a reference to the store
        store_.reset();
    }

    std::string config_text() const {
        return "[DEFAULT]\nenabled_backends = " + backend_ + "\n\n[" + backend_ + "]\n" +
               section_text_(dir);
    }

    VolumeDriver& driver() { return *backends_->find(backend_)->driver; }
    Backends& backends() { return *backends_; }
    VolumeStore& store() { return *store_; }

    // Creates a volume, REQUIRE-ing success; returns its reference.
    VolumeRef create(const std::string& id, uint64_t size) {
        auto location = driver().create(id, size);
        REQUIRE_MESSAGE(location.ok(), (location.ok() ? "" : location.error().message));
        return VolumeRef{id, size, *location};
    }
    void remove(const VolumeRef& v) {
        Status s = driver().remove(v);
        REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
    }
    std::unique_ptr<AttachGuard> attach(const VolumeRef& v, AttachMode mode) {
        auto a = driver().attach(v, mode);
        REQUIRE_MESSAGE(a.ok(), (a.ok() ? "" : a.error().message));
        return std::make_unique<AttachGuard>(driver(), *a);
    }

    TempDir dir;
    std::vector<std::string> log;
    OrphanReport start_report;

  private:
    std::string backend_;
    SectionText section_text_;
    std::unique_ptr<VolumeStore> store_;
    std::unique_ptr<Backends> backends_;
};

}  // namespace volmig::test
