// The lvm driver against real lvm2 and dm-thin. Runs only inside the VM harness
// (tools/vm/run-in-vm.sh, VOLMIG_VM_GUEST=1), on the guest's scratch disks /dev/vda and /dev/vdb.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "api/attachments.hpp"
#include "copy/copy.hpp"
#include "driver/backends.hpp"
#include "driver/lvm.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/service_fixture.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

constexpr uint64_t MiB = 1 << 20;

// One VG over the VM disks for the whole run, with a thin and a thick backend on it.
struct Lab {
    TempDir state;
    std::unique_ptr<VolumeStore> store;
    std::unique_ptr<Backends> backends;
    std::vector<std::string> log;

    Lab() {
        REQUIRE_MESSAGE(std::getenv("VOLMIG_VM_GUEST"), "these tests need the VM harness (tools/vm/run-in-vm.sh)");
        static bool vg_ready = false;
        if (!vg_ready) {
            sh("wipefs -a -q /dev/vda /dev/vdb && pvcreate -q -y /dev/vda /dev/vdb >/dev/null && vgcreate -q volmig-vm /dev/vda /dev/vdb >/dev/null");
            vg_ready = true;
        }
        auto opened = VolumeStore::open(state.path());
        REQUIRE(opened.ok());
        store = std::move(*opened);
        auto config = ConfigFile::parse(
            "[DEFAULT]\nenabled_backends = lvm-thin, lvm-thick\n"
            "[lvm-thin]\nvolume_driver = lvm\nvolume_group = volmig-vm\nlvm_type = thin\nthin_pool = pool\n"
            "[lvm-thick]\nvolume_driver = lvm\nvolume_group = volmig-vm\nlvm_type = default\nvolume_clear = zero\n",
            "vm-test.conf");
        REQUIRE(config.ok());
        auto made = Backends::configure(*config, *store, [this](const std::string& line) { log.push_back(line); });
        REQUIRE_MESSAGE(made.ok(), (made.ok() ? "" : made.error().message));
        backends = std::move(*made);
        auto started = backends->start();
        REQUIRE_MESSAGE(started.ok(), (started.ok() ? "" : started.error().message));
    }
    VolumeDriver& thin() { return *backends->find("lvm-thin")->driver; }
    VolumeDriver& thick() { return *backends->find("lvm-thick")->driver; }
};

Lab& lab() {
    static Lab instance;
    return instance;
}

VolumeRef make(VolumeDriver& d, const std::string& id, uint64_t size) {
    auto loc = d.create(id, size);
    REQUIRE_MESSAGE(loc.ok(), (loc.ok() ? "" : loc.error().message));
    return VolumeRef{id, size, *loc};
}

std::string attach(VolumeDriver& d, const VolumeRef& v) {
    auto a = d.attach(v, AttachMode::block_device);
    REQUIRE_MESSAGE(a.ok(), (a.ok() ? "" : a.error().message));
    CHECK(a->is_block_device);
    return a->path;
}

void write_direct(const std::string& dev, uint64_t offset, uint64_t length, uint32_t seed) {
    write_random(dev, offset, length, seed);
    sh("blockdev --flushbufs " + dev);
}

}  // namespace

TEST_CASE("lvm thin: check_setup creates the thin pool, and the facts are live") {
    Lab& l = lab();
    CHECK(sh("lvs --noheadings -o segtype volmig-vm/pool").find("thin-pool") != std::string::npos);
    BackendFacts f = l.thin().facts();
    CHECK(f.thin_provisioning);
    CHECK(f.zero_initialized);  // lvm2's default pools zero new chunks
    CHECK(f.discard);
    CHECK(f.block_size >= 65536);
    // Turn zeroing off: the fact must follow the pool, not a constant.
    sh("lvchange -q -Zn volmig-vm/pool");
    CHECK_FALSE(l.thin().facts().zero_initialized);
    CHECK(l.thin().facts().zero_initialized_reason.find("does not zero") != std::string::npos);
    sh("lvchange -q -Zy volmig-vm/pool");
    CHECK(l.thin().facts().zero_initialized);
    BackendFacts thick = l.thick().facts();
    CHECK_FALSE(thick.zero_initialized);
    CHECK_FALSE(thick.discard);
}

TEST_CASE("lvm thin: create, write, Data%, extent map of known ranges, discard, extend, delete") {
    Lab& l = lab();
    VolumeDriver& d = l.thin();
    VolumeRef v = make(d, "thin-a", 256 * MiB);
    CHECK(sh("lvs --noheadings --units b --nosuffix -o lv_size volmig-vm/volume-thin-a").find("268435456") != std::string::npos);
    auto empty = d.extent_map(v);
    REQUIRE(empty.ok());
    REQUIRE(empty->has_value());
    CHECK((*empty)->data().empty());

    const std::string dev = attach(d, v);
    write_direct(dev, 0, MiB, 1);
    write_direct(dev, 64 * MiB, 3 * MiB, 2);
    write_direct(dev, 200 * MiB, 4096, 3);
    auto map = d.extent_map(v);
    REQUIRE(map.ok());
    REQUIRE(map->has_value());
    const uint64_t chunk = d.facts().block_size;
    // Written ranges, rounded out to whole chunks.
    std::vector<Extent> expected{{0, MiB}, {64 * MiB, 3 * MiB}, {200 * MiB, chunk}};
    CHECK((*map)->data() == ExtentMap(256 * MiB, expected).data());
    auto usage = d.volume_usage(v);
    REQUIRE(usage.ok());
    REQUIRE(usage->allocated.has_value());
    CHECK(*usage->allocated == doctest::Approx(static_cast<double>(4 * MiB + chunk)).epsilon(0.05));

    // A copy of the thin LV reads exactly the mapped chunks.
    TempDir dir;
    CopyOptions options;
    options.create_destination = true;
    options.source_extents = **map;
    options.verify = true;
    auto copied = copy_volume(dev, dir.file("copy.img"), options);
    REQUIRE_MESSAGE(copied.ok(), (copied.ok() ? "" : copied.error().message));
    CHECK(copied->bytes_read == 4 * MiB + chunk);
    CHECK(first_difference(dev, dir.file("copy.img"), 256 * MiB) == -1);

    // Discarding whole chunks unmaps them.
    sh("blkdiscard -o " + std::to_string(64 * MiB) + " -l " + std::to_string(MiB) + " " + dev);
    auto after = d.extent_map(v);
    REQUIRE(after.ok());
    CHECK((*after)->data_bytes() == 3 * MiB + chunk);
    CHECK(read_range(dev, 64 * MiB, 4096) == std::vector<unsigned char>(4096, 0));

    auto grown = d.extend(v, 512 * MiB);
    REQUIRE(grown.ok());
    v.size = 512 * MiB;
    CHECK(sh("blockdev --getsize64 " + dev).find("536870912") == 0);
    CHECK(read_range(dev, 0, MiB) == read_range(dir.file("copy.img"), 0, MiB));

    REQUIRE(d.detach({dev, true, false}).ok());
    REQUIRE(d.remove(v).ok());
    CHECK(sh("lvs --noheadings -o lv_name volmig-vm").find("volume-thin-a") == std::string::npos);
    CHECK(d.remove(v).ok());  // removing again is not an error
}

TEST_CASE("lvm thin: pool usage adds up and over-subscription is refused") {
    Lab& l = lab();
    VolumeDriver& d = l.thin();
    VolumeRef a = make(d, "thin-b", 1024 * MiB);
    VolumeRef b = make(d, "thin-c", 2048 * MiB);
    auto pool = d.pool_usage();
    REQUIRE(pool.ok());
    CHECK(pool->provisioned == 3072 * MiB);
    CHECK(pool->capacity > 7000 * MiB);  // 95% of the two 4 GiB disks
    CHECK(pool->free <= pool->capacity);
    auto huge = d.create("thin-huge", pool->capacity * 21);  // beyond 20x over-subscription
    REQUIRE_FALSE(huge.ok());
    CHECK(huge.error().kind == ErrorKind::refused);
    REQUIRE(d.remove(a).ok());
    REQUIRE(d.remove(b).ok());
}

TEST_CASE("lvm thick: stale data in reused extents unless volume_clear wipes them") {
    Lab& l = lab();
    VolumeDriver& d = l.thick();
    VolumeRef a = make(d, "thick-a", 64 * MiB);
    std::string dev = attach(d, a);
    write_pattern(dev, 0, 64 * MiB, 0xAB);
    sh("blockdev --flushbufs " + dev);
    auto usage = d.volume_usage(a);
    REQUIRE(usage.ok());
    CHECK(usage->allocated == 64 * MiB);
    CHECK(d.extent_map(a)->has_value() == false);  // thick: no map, everything is data
    REQUIRE(d.remove(a).ok());  // volume_clear = zero wipes it first

    VolumeRef b = make(d, "thick-b", 64 * MiB);
    dev = attach(d, b);
    CHECK(nonzero_mib(dev, 64 * MiB) == 0);
    write_pattern(dev, 0, 64 * MiB, 0xCD);
    sh("blockdev --flushbufs " + dev);
    // Without the wipe, the next volume in the same extents shows the old bytes (lvcreate only
    // zeroes the first 4 KiB of a new LV).
    sh("lvremove -q -f volmig-vm/volume-thick-b >/dev/null");
    VolumeRef c = make(d, "thick-c", 64 * MiB);
    dev = attach(d, c);
    CHECK(read_range(dev, 0, 4096) == std::vector<unsigned char>(4096, 0));
    CHECK(read_range(dev, 32 * MiB, 4096) == std::vector<unsigned char>(4096, 0xCD));
    CHECK(nonzero_mib(dev, 64 * MiB) == 64);
    REQUIRE(d.remove(c).ok());
}

TEST_CASE("lvm: extend fails cleanly when the VG is full, and the orphan check sees stray LVs") {
    Lab& l = lab();
    VolumeDriver& d = l.thick();
    VolumeRef a = make(d, "thick-d", 16 * MiB);
    auto too_big = d.extend(a, 64ull << 30);
    REQUIRE_FALSE(too_big.ok());
    CHECK(too_big.error().kind == ErrorKind::refused);
    CHECK(too_big.error().message.find("Insufficient free space") != std::string::npos);
    auto orphans = l.backends->find_orphans();
    bool seen = false;
    for (const auto& o : orphans.storage_without_records) seen = seen || o.find("volume-thick-d") != std::string::npos;
    CHECK(seen);  // created through the driver but never recorded in the store
    REQUIRE(d.remove(a).ok());
}

TEST_CASE("lvm: os-initialize_connection hands out the LV's device; it survives a restart, and terminate leaves the LV") {
    lab();  // the VG
    TempDir dir;
    const std::string ini = "[DEFAULT]\nhost = vm\nauth_strategy = noauth\nstate_path = " + dir.file("state") +
                            "\nenabled_backends = lvm-thin\n"
                            "[lvm-thin]\nvolume_driver = lvm\nvolume_group = volmig-vm\nlvm_type = thin\nthin_pool = pool\n";
    const nlohmann::json connector = {{"host", "compute-vm"}};
    std::string id, device;
    std::vector<unsigned char> written;
    for (int round = 0; round < 2; ++round) {  // round 1 is the daemon after a restart
        ServiceParts parts(ini);
        AttachmentService attachments(*parts.volumes, nullptr);
        REQUIRE(attachments.initialize().ok());
        parts.volumes->reconcile_after_restart();
        attachments.reconcile_after_restart();
        if (round == 0) {
            CreateRequest req;
            req.size_gib = 1;
            auto v = parts.volumes->create(req);
            REQUIRE_MESSAGE(v.ok(), (v.ok() ? "" : v.error().message));
            id = v->id;
            REQUIRE(attachments.reserve(id).ok());
            auto info = attachments.initialize_connection(id, connector);
            REQUIRE_MESSAGE(info.ok(), (info.ok() ? "" : info.error().message));
            CHECK((*info)["driver_volume_type"] == "local");
            device = (*info)["data"]["device_path"];
            CHECK(device == "/dev/volmig-vm/volume-" + id);
            write_direct(device, 8 * MiB, MiB, 11);
            written = read_range(device, 8 * MiB, MiB);
            // The same bytes through device-mapper's own node of the LV: the volume's storage.
            std::string dm = sh("lvs --noheadings -o lv_dm_path volmig-vm/volume-" + id);
            dm.erase(0, dm.find_first_not_of(" \n"));
            dm.erase(dm.find_last_not_of(" \n") + 1);
            CHECK(read_range(dm, 8 * MiB, MiB) == written);
        } else {
            auto open = attachments.connections().of_volume(id);
            REQUIRE(open.ok());
            REQUIRE(open->size() == 1);
            CHECK(open->front().device_path == device);
            CHECK(read_range(device, 8 * MiB, MiB) == written);
            REQUIRE(attachments.terminate_connection(id, connector).ok());
            open = attachments.connections().of_volume(id);
            REQUIRE(open.ok());
            CHECK(open->empty());
            CHECK(exists(device));  // the LV itself: terminate set nothing up to release
            REQUIRE(attachments.unreserve(id).ok());
            REQUIRE(parts.volumes->remove(id).ok());
        }
    }
}
