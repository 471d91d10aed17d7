#include "api/local_peer.hpp"

namespace volmig {

PeerVolume peer_view_of(const VolumeRecord& r) {
    PeerVolume v;
    v.id = r.id;
    v.status = r.status;
    v.error = r.error;
    v.moved_to = r.moved_to;
    v.name_id = r.name_id;
    return v;
}

namespace {

class LocalPeer : public PeerClient {
public:
    explicit LocalPeer(VolumeService& volumes) : volumes_(volumes), host_(volumes.config().host) {}

    const std::string& host() const override { return host_; }

    Result<nlohmann::json> capabilities(const std::string& host_backend) override { return volumes_.capability_document(host_backend); }

    Result<PeerVolume> create(const CreateTargetRequest& r) override {
        CreateRequest req;
        req.project_id = r.project_id;
        req.name = r.name;
        req.size_gib = r.size_gib;
        req.volume_type = r.volume_type;
        req.metadata = {{"volmig:migration_id", r.migration_id}};
        auto created = volumes_.create(req);
        if (!created) return created.take_error();
        return peer_view_of(*created);
    }

    Result<PeerVolume> show(const std::string& volume_id) override {
        auto r = volumes_.get(volume_id);
        if (!r) return r.take_error();
        return peer_view_of(*r);
    }

    Result<std::vector<PeerVolume>> created_for(const std::string& migration_id) override {
        ListFilter filter;
        filter.metadata["volmig:migration_id"] = migration_id;
        auto found = volumes_.list(filter);
        if (!found) return found.take_error();
        std::vector<PeerVolume> out;
        for (const auto& r : *found) out.push_back(peer_view_of(r));
        return out;
    }

    // Locally the plan was made from this daemon's own facts; preparing marks the new volume as
    // the migration's target, so that nobody deletes or migrates it while it is filled.
    Result<PreparedReceiver> prepare_receive(const std::string& volume_id, const PrepareRequest& r) override {
        Status marked = volumes_.store().modify(volume_id, [&](VolumeRecord& v) -> Status {
            if (v.status != VolumeStatus::available || v.in_migration())
                return Error{"volume " + volume_id + " cannot receive a migration: it is " + to_string(v.status), ErrorKind::refused};
            v.migration_status = VolumeMigrationStatus::target;
            v.migration_source = r.source_volume;
            return success();
        });
        if (!marked.ok()) return marked.error();
        PreparedReceiver p;
        p.strategy = r.strategy;
        return p;
    }

    Result<StreamReceipt> stream(const std::string&, const std::string&, uint64_t, const BodySource&) override {
        return Error{"a local migration is copied by the copy engine, not streamed"};
    }
    Result<ResumePoint> resume_point(const std::string&, const std::string&) override {
        return Error{"a local migration is copied by the copy engine, not streamed"};
    }
    Result<StreamReceipt> finish_receive(const std::string&, const std::string&, const std::string&, uint64_t) override {
        return Error{"a local migration is copied by the copy engine, not streamed"};
    }

    Result<std::optional<StreamReceipt>> adopt(const std::string&, const AdoptRequest&) override {
        return Error{"a local migration completes by taking over the new storage, not by adoption"};
    }

    Status remove(const std::string& volume_id) override {
        Status s = volumes_.remove(volume_id);
        return s.ok() || s.error().kind == ErrorKind::not_found ? success() : s;
    }

private:
    VolumeService& volumes_;
    std::string host_;
};

}  // namespace

std::unique_ptr<PeerClient> make_local_peer(VolumeService& volumes) { return std::make_unique<LocalPeer>(volumes); }

}  // namespace volmig
