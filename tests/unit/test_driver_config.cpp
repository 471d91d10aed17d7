// driver/config and Backends::configure: cinder.conf-style INI parsing, typed reads, and the
// refusal of every bad backend configuration with a message naming section and key.
#include <doctest/doctest.h>

#include <unistd.h>

#include <string>

#include "driver/backends.hpp"
#include "driver/config.hpp"
#include "driver/volume_store.hpp"
#include "tests/support/fixtures.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

ConfigFile parsed(const std::string& text) {
    auto file = ConfigFile::parse(text, "test.conf");
    REQUIRE_MESSAGE(file.ok(), (file.ok() ? "" : file.error().message));
    return std::move(file).value();
}

// The error of a parse that must fail.
Error parse_error(const std::string& text) {
    auto file = ConfigFile::parse(text, "test.conf");
    REQUIRE_FALSE(file.ok());
    return file.error();
}

// A state directory with an open volume store, for Backends::configure (which does not touch
// storage, but needs a store to hand to the drivers).
struct StoreFixture {
    TempDir dir;
    std::unique_ptr<VolumeStore> store;
    StoreFixture() {
        auto s = VolumeStore::open(dir.file("state"));
        REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
        store = std::move(*s);
    }
};

// The error of a configuration that Backends::configure must refuse.
Error configure_error(const std::string& text) {
    StoreFixture f;
    auto backends = Backends::configure(parsed(text), *f.store, nullptr);
    REQUIRE_FALSE(backends.ok());
    INFO("message: " << backends.error().message);
    CHECK(backends.error().kind == ErrorKind::invalid);
    return backends.error();
}

}  // namespace

// ---- ConfigFile::parse ----------------------------------------------------------------------

TEST_CASE("driver config: sections and keys are read, whitespace around them trimmed") {
    auto file = parsed(
        "[DEFAULT]\n"
        "enabled_backends = thin, thick\n"
        "\n"
        "[thin]\n"
        "  volume_driver=thin_file  \n"
        "pool_path = /srv/pool\n"
        "[ thick ]\n"
        "volume_driver = thick_file\n");
    CHECK(file.origin() == "test.conf");
    CHECK(file.section_names() == std::vector<std::string>{"DEFAULT", "thin", "thick"});
    CHECK(file.has_section("thick"));
    CHECK(file.section("thin").raw("volume_driver") == std::optional<std::string>("thin_file"));
    CHECK(file.section("thin").raw("pool_path") == std::optional<std::string>("/srv/pool"));
    CHECK(file.section("thick").string("volume_driver", "") == "thick_file");
    CHECK(file.section("DEFAULT").list("enabled_backends") ==
          std::vector<std::string>{"thin", "thick"});
    CHECK(file.section("thin").values().size() == 2);
}

TEST_CASE(
    "driver config: a section named twice is one section; a key set twice keeps the last value") {
    auto file = parsed("[a]\nx = 1\n[b]\ny = 2\n[a]\nx = 3\nz = 4\n");
    CHECK(file.section_names() == std::vector<std::string>{"a", "b"});
    CHECK(file.section("a").raw("x") == std::optional<std::string>("3"));
    CHECK(file.section("a").raw("z") == std::optional<std::string>("4"));
    CHECK(file.section("a").where("x") == "[a] x (test.conf line 6)");
}

TEST_CASE("driver config: lines starting with # or : are comments, also when indented") {
    auto file = parsed(
        "# leading comment\n"
        "; another style\n"
        "[s]\n"
        "# key = not read\n"
        "   ; indented = not read either\n"
        "key = value # not a comment: inline text is part of the value\n");
    CHECK(file.section("s").values().size() == 1);
    CHECK_FALSE(file.section("s").has("#key"));
    CHECK(file.section("s").raw("key") ==
          std::optional<std::string>("value # not a comment: inline text is part of the value"));
}

TEST_CASE("driver config: CRLF line endings read the same as LF") {
    auto file =
        parsed("[DEFAULT]\r\nenabled_backends = a,b\r\n\r\n[a]\r\nvolume_driver = thin_file\r\n");
    CHECK(file.section_names() == std::vector<std::string>{"DEFAULT", "a"});
    CHECK(file.section("a").raw("volume_driver") == std::optional<std::string>("thin_file"));
    CHECK(file.section("DEFAULT").list("enabled_backends") == std::vector<std::string>{"a", "b"});
    auto flag =
        file.section("a").boolean("volume_driver", false);  // no stray \r makes it "thin_file\r"
    CHECK_FALSE(flag.ok());
    CHECK(file.section("a").where("volume_driver") == "[a] volume_driver (test.conf line 5)");
}

TEST_CASE("driver config: an indented line continues the previous value (oslo.config style)") {
    auto file = parsed(
        "[DEFAULT]\n"
        "enabled_backends = thin,\n"
        "    thick,\n"
        "\tlvm\n"
        "other = x\n");
    const auto& d = file.section("DEFAULT");
    CHECK(d.raw("enabled_backends") == std::optional<std::string>("thin,\nthick,\nlvm"));
    CHECK(d.list("enabled_backends") == std::vector<std::string>{"thin", "thick", "lvm"});
    CHECK(d.raw("other") == std::optional<std::string>("x"));
}

TEST_CASE(
    "driver config: an indented key right after a section header is a key, not a continuation") {
    auto file = parsed("[s]\n    key = v\n");
    CHECK(file.section("s").raw("key") == std::optional<std::string>("v"));
}

TEST_CASE("driver config: malformed lines are errors naming the file and line") {
    SUBCASE("a line without '='") {
        auto e = parse_error("[s]\nkey = v\njust words\n");
        CHECK(e.kind == ErrorKind::invalid);
        CHECK(contains(e.message, "test.conf line 3"));
        CHECK(contains(e.message, "just words"));
    }
    SUBCASE("a line with an empty key") {
        auto e = parse_error("[s]\n= value\n");
        CHECK(contains(e.message, "test.conf line 2"));
    }
    SUBCASE("an unterminated section header") {
        auto e = parse_error("[s]\nk = v\n\n[broken\n");
        CHECK(e.kind == ErrorKind::invalid);
        CHECK(contains(e.message, "test.conf line 4"));
        CHECK(contains(e.message, "section header"));
    }
    SUBCASE("an empty section header") {
        auto e = parse_error("[]\n");
        CHECK(contains(e.message, "test.conf line 1"));
    }
    SUBCASE("a section header of only spaces") {
        auto e = parse_error("[s]\nk = v\n[  ]\n");
        CHECK(contains(e.message, "test.conf line 3"));
        CHECK(contains(e.message, "section header"));
    }
    SUBCASE("a key before any section") {
        auto e = parse_error("# comment\nkey = value\n[s]\n");
        CHECK(contains(e.message, "test.conf line 2"));
        CHECK(contains(e.message, "before any [section]"));
    }
}

TEST_CASE("driver config: a line that is not UTF-8 text, or holds a NUL byte, is refused naming the line") {
    for (const std::string& bad : {std::string("caf\xe9"), std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                                  std::string("\xf4\x90\x80\x80"), std::string("\xe2\x82"), std::string("a\0b", 3)}) {
        CAPTURE(bad);
        auto e = parse_error("[thin]\nvolume_driver = thin_file\nvolume_backend_name = " + bad + "\n");
        CHECK(e.kind == ErrorKind::invalid);
        CHECK(contains(e.message, "test.conf line 3"));
        CHECK(contains(e.message, "UTF-8"));
    }
    auto file = parsed("# caf\xe9: comments may hold anything\n[thin]\nvolume_backend_name = caf\xc3\xa9 \xf0\x9f\x92\xbe\n");
    CHECK(file.section("thin").raw("volume_backend_name") == std::optional<std::string>("caf\xc3\xa9 \xf0\x9f\x92\xbe"));
}

TEST_CASE("driver config: load() reads a file and names it in errors") {
    TempDir dir;
    const std::string path = dir.file("volmig.conf");
    create_sparse_file(path, 0);
    const std::string text = "[s]\nkey = 1\nbad line\n";
    write_bytes(path, 0, std::vector<unsigned char>(text.begin(), text.end()));
    auto r = ConfigFile::load(path);
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().message, path + " line 3"));

    auto missing = ConfigFile::load(dir.file("nope.conf"));
    REQUIRE_FALSE(missing.ok());
    CHECK(contains(missing.error().message, dir.file("nope.conf")));
}

// ---- typed reads ----------------------------------------------------------------------------

TEST_CASE("driver config: boolean accepts true/yes/on/1 and false/no/off/0 in any case") {
    auto file = parsed(
        "[s]\na = true\nb = YES\nc = On\nd = 1\ne = false\nf = No\ng = OFF\nh = 0\nbad = maybe\n");
    const auto& s = file.section("s");
    for (const char* key : {"a", "b", "c", "d"}) {
        auto v = s.boolean(key, false);
        REQUIRE(v.ok());
        CHECK_MESSAGE(*v, key);
    }
    for (const char* key : {"e", "f", "g", "h"}) {
        auto v = s.boolean(key, true);
        REQUIRE(v.ok());
        CHECK_FALSE_MESSAGE(*v, key);
    }
    auto missing = s.boolean("absent", true);
    REQUIRE(missing.ok());
    CHECK(*missing);

    auto bad = s.boolean("bad", false);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().kind == ErrorKind::invalid);
    CHECK(contains(bad.error().message, "[s] bad"));
    CHECK(contains(bad.error().message, "test.conf line 10"));
    CHECK(contains(bad.error().message, "'maybe'"));
}

TEST_CASE(
    "driver config: size reads bytes and binary suffixes; junk is an error naming [section] key") {
    auto file =
        parsed("[pool]\nplain = 4096\nmega = 512M\ngiga = 8G\nkib = 4KiB\nbad = 12x\nneg = -1G\n");
    const auto& s = file.section("pool");
    CHECK(*s.size("plain", 0) == 4096);
    CHECK(*s.size("mega", 0) == 512ull << 20);
    CHECK(*s.size("giga", 0) == 8ull << 30);
    CHECK(*s.size("kib", 0) == 4096);
    CHECK(*s.size("absent", 77) == 77);
    for (const char* key : {"bad", "neg"}) {
        auto r = s.size(key, 0);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK(contains(r.error().message, std::string("[pool] ") + key));
    }
}

TEST_CASE("driver config: integer checks digits and range") {
    auto file = parsed(
        "[s]\nok = 42\nlow = 4\nhigh = 101\nneg = -1\nword = ten\nfrac = 1.5\nempty =\nhuge = "
        "99999999999999999999999\n");
    const auto& s = file.section("s");
    CHECK(*s.integer("ok", 0, 5, 100) == 42);
    CHECK(*s.integer("absent", 7, 5, 100) == 7);
    for (const char* key : {"low", "high", "neg", "word", "frac", "empty", "huge"}) {
        auto r = s.integer(key, 0, 5, 100);
        REQUIRE_FALSE_MESSAGE(r.ok(), key);
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK(contains(r.error().message, std::string("[s] ") + key));
        CHECK(contains(r.error().message, "from 5 to 100"));
    }
}

TEST_CASE("driver config: number checks the text is one finite number within range") {
    auto file = parsed(
        "[s]\nratio = 1.5\nwhole = 20\nsmall = 0.5\nbig = 1001\nnan = nan\ninf = inf\nword = "
        "lots\ntrail = 2x\n");
    const auto& s = file.section("s");
    CHECK(*s.number("ratio", 0, 1, 1000) == doctest::Approx(1.5));
    CHECK(*s.number("whole", 0, 1, 1000) == doctest::Approx(20));
    CHECK(*s.number("absent", 3.25, 1, 1000) == doctest::Approx(3.25));
    for (const char* key : {"small", "big", "nan", "inf", "word", "trail"}) {
        auto r = s.number(key, 0, 1, 1000);
        REQUIRE_FALSE_MESSAGE(r.ok(), key);
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK(contains(r.error().message, std::string("[s] ") + key));
    }
}

TEST_CASE(
    "driver config: choice accepts only the listed values, case-sensitively, and lists them") {
    auto file = parsed("[s]\nmode = zero\nbad = maybe\nupper = ZERO\n");
    const auto& s = file.section("s");
    CHECK(*s.choice("mode", {"zero", "none"}, "none") == "zero");
    CHECK(*s.choice("absent", {"zero", "none"}, "none") == "none");
    for (const char* key : {"bad", "upper"}) {
        auto r = s.choice(key, {"zero", "none"}, "none");
        REQUIRE_FALSE(r.ok());
        CHECK(contains(r.error().message, std::string("[s] ") + key));
        CHECK(contains(r.error().message, "none, zero"));
    }
}

TEST_CASE("driver config: required refuses a missing or empty value, naming [section] key") {
    auto file = parsed("[s]\nset = x\nempty =\n");
    const auto& s = file.section("s");
    CHECK(*s.required("set") == "x");
    for (const char* key : {"empty", "missing"}) {
        auto r = s.required(key);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::invalid);
        CHECK(contains(r.error().message, std::string("[s] ") + key + " is required"));
    }
}

TEST_CASE("driver config: list splits on commas, trims and drops empty items") {
    auto file = parsed("[s]\nl = a , b,,c ,\none = x\nnone =\n");
    CHECK(file.section("s").list("l") == std::vector<std::string>{"a", "b", "c"});
    CHECK(file.section("s").list("one") == std::vector<std::string>{"x"});
    CHECK(file.section("s").list("none").empty());
    CHECK(file.section("s").list("absent").empty());
}

TEST_CASE("driver config: only() refuses a key outside the known set and lists the known ones") {
    auto file = parsed("[thin]\nvolume_driver = thin_file\npool_path = /p\npool_sise = 1G\n");
    const auto& s = file.section("thin");
    auto st = s.only({"volume_driver", "pool_path", "pool_size"});
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().kind == ErrorKind::invalid);
    CHECK(contains(st.error().message, "[thin] pool_sise (test.conf line 4)"));
    CHECK(contains(st.error().message, "pool_size"));
    CHECK(s.only({"volume_driver", "pool_path", "pool_sise"}).ok());
}

TEST_CASE("driver config: a missing section reads as empty, every key taking its default") {
    auto file = parsed("[s]\nk = v\n");
    CHECK_FALSE(file.has_section("nope"));
    const auto& missing = file.section("nope");
    CHECK(missing.values().empty());
    CHECK_FALSE(missing.has("k"));
    CHECK(missing.string("k", "fallback") == "fallback");
    CHECK(*missing.boolean("k", true) == true);
    CHECK(*missing.size("k", 123) == 123);
    CHECK(*missing.integer("k", 5, 0, 10) == 5);
    CHECK(*missing.choice("k", {"a", "b"}, "b") == "b");
    CHECK(missing.list("k").empty());
    CHECK(missing.only({}).ok());
}

// ---- Backends::configure --------------------------------------------------------------------

TEST_CASE(
    "driver config: Backends::configure builds every enabled backend, in order, without touching "
    "storage") {
    StoreFixture f;
    auto backends = Backends::configure(parsed("[DEFAULT]\n"
                                               "enabled_backends = fast, slow\n"
                                               "[fast]\n"
                                               "volume_driver = thin_file\n"
                                               "pool_path = " +
                                               f.dir.file("thin-pool") +
                                               "\n"
                                               "volume_backend_name = gold\n"
                                               "[slow]\n"
                                               "volume_driver = thick_file\n"
                                               "pool_file = " +
                                               f.dir.file("thick-pool") +
                                               "\n"
                                               "pool_size = 64M\n"
                                               "[unused]\n"
                                               "volume_driver = no_such_driver\n"),
                                        *f.store, nullptr);
    REQUIRE_MESSAGE(backends.ok(), (backends.ok() ? "" : backends.error().message));
    auto& all = (*backends)->all();
    REQUIRE(all.size() == 2);
    CHECK(all[0]->name == "fast");
    CHECK(all[0]->volume_backend_name == "gold");
    CHECK(all[0]->driver->driver_name() == "thin_file");
    CHECK(all[0]->driver->backend_name() == "fast");
    CHECK(all[1]->name == "slow");
    CHECK(all[1]->volume_backend_name == "slow");  // defaults to the section name
    CHECK(all[1]->driver->driver_name() == "thick_file");
    CHECK((*backends)->find("slow") == all[1].get());
    CHECK((*backends)->find("unused") == nullptr);
    CHECK((*backends)->find_by_backend_name("gold") == all[0].get());
    CHECK((*backends)->find_by_backend_name("fast") == nullptr);
    // configure() only reads configuration: neither pool exists yet.
    CHECK(::access(f.dir.file("thin-pool").c_str(), F_OK) != 0);
    CHECK(::access(f.dir.file("thick-pool").c_str(), F_OK) != 0);
}

TEST_CASE("driver config: enabled_backends missing or empty is refused") {
    for (const std::string text :
         {"[thin]\nvolume_driver = thin_file\npool_path = /p\n",
          "[DEFAULT]\nenabled_backends =\n[thin]\nvolume_driver = thin_file\npool_path = /p\n",
          "[DEFAULT]\nenabled_backends = , ,\n"}) {
        CAPTURE(text);
        auto e = configure_error(text);
        CHECK(contains(e.message, "[DEFAULT] enabled_backends"));
        CHECK(contains(e.message, "required"));
        CHECK(contains(e.message, "test.conf"));
    }
}

TEST_CASE("driver config: enabled_backends naming a backend twice is refused") {
    auto e = configure_error(
        "[DEFAULT]\nenabled_backends = thin, thin\n[thin]\nvolume_driver = thin_file\npool_path = "
        "/p\n");
    CHECK(contains(e.message, "[DEFAULT] enabled_backends"));
    CHECK(contains(e.message, "'thin' twice"));
}

TEST_CASE("driver config: enabled_backends naming a section that does not exist is refused") {
    auto e = configure_error(
        "[DEFAULT]\nenabled_backends = thin, lvm1\n[thin]\nvolume_driver = thin_file\npool_path = "
        "/p\n");
    CHECK(contains(e.message, "[DEFAULT] enabled_backends"));
    CHECK(contains(e.message, "'lvm1'"));
    CHECK(contains(e.message, "no [lvm1] section"));
    CHECK(contains(e.message, "test.conf"));
}

TEST_CASE("driver config: a backend without volume_driver, or with an unknown one, is refused") {
    SUBCASE("missing") {
        auto e = configure_error("[DEFAULT]\nenabled_backends = b\n[b]\npool_path = /p\n");
        CHECK(contains(e.message, "[b] volume_driver is required"));
    }
    SUBCASE("unknown") {
        auto e = configure_error("[DEFAULT]\nenabled_backends = b\n[b]\nvolume_driver = nfs\n");
        CHECK(contains(e.message, "[b] volume_driver (test.conf line 4)"));
        CHECK(contains(e.message, "'nfs'"));
        CHECK(contains(e.message, "thin_file, thick_file, lvm"));
    }
}

TEST_CASE("driver config: two backends with the same volume_backend_name are refused") {
    auto e = configure_error(
        "[DEFAULT]\nenabled_backends = a, b\n"
        "[a]\nvolume_driver = thin_file\npool_path = /p1\nvolume_backend_name = shared\n"
        "[b]\nvolume_driver = thin_file\npool_path = /p2\nvolume_backend_name = shared\n");
    CHECK(contains(e.message, "[b] volume_backend_name (test.conf line 10)"));
    CHECK(contains(e.message, "'shared'"));
}

TEST_CASE(
    "driver config: a backend whose volume_backend_name equals another's section name default is "
    "refused") {
    auto e = configure_error(
        "[DEFAULT]\nenabled_backends = a, b\n"
        "[a]\nvolume_driver = thin_file\npool_path = /p1\n"
        "[b]\nvolume_driver = thin_file\npool_path = /p2\nvolume_backend_name = a\n");
    CHECK(contains(e.message, "[b] volume_backend_name"));
}

namespace {
// One backend section `[b]` of the given driver with extra option lines.
std::string one_backend(const std::string& driver, const std::string& options) {
    return "[DEFAULT]\nenabled_backends = b\n[b]\nvolume_driver = " + driver + "\n" + options;
}
}  // namespace

TEST_CASE("driver config: thin_file options are checked") {
    SUBCASE("pool_path is required") {
        auto e = configure_error(one_backend("thin_file", "pool_size = 1G\n"));
        CHECK(contains(e.message, "[b] pool_path is required"));
    }
    SUBCASE("max_over_subscription_ratio below 1") {
        auto e = configure_error(
            one_backend("thin_file", "pool_path = /p\nmax_over_subscription_ratio = 0.5\n"));
        CHECK(contains(e.message, "[b] max_over_subscription_ratio (test.conf line 6)"));
        CHECK(contains(e.message, "'0.5'"));
    }
    SUBCASE("pool_size not a size") {
        auto e = configure_error(one_backend("thin_file", "pool_path = /p\npool_size = big\n"));
        CHECK(contains(e.message, "[b] pool_size"));
    }
    SUBCASE("an option of another driver") {
        auto e = configure_error(one_backend("thin_file", "pool_path = /p\nvolume_clear = zero\n"));
        CHECK(contains(e.message, "[b] volume_clear"));
        CHECK(contains(e.message, "not a known option"));
    }
}

TEST_CASE("driver config: thick_file options are checked") {
    SUBCASE("pool_file is required") {
        auto e = configure_error(one_backend("thick_file", "pool_size = 1G\n"));
        CHECK(contains(e.message, "[b] pool_file is required"));
    }
    SUBCASE("volume_clear = maybe") {
        auto e =
            configure_error(one_backend("thick_file", "pool_file = /p\nvolume_clear = maybe\n"));
        CHECK(contains(e.message, "[b] volume_clear (test.conf line 6)"));
        CHECK(contains(e.message, "'maybe'"));
        CHECK(contains(e.message, "none, zero"));
    }
    SUBCASE("volume_clear_size not a number") {
        auto e =
            configure_error(one_backend("thick_file", "pool_file = /p\nvolume_clear_size = 1M\n"));
        CHECK(contains(e.message, "[b] volume_clear_size"));
    }
    SUBCASE("zero_on_create not a boolean") {
        auto e = configure_error(
            one_backend("thick_file", "pool_file = /p\nzero_on_create = sometimes\n"));
        CHECK(contains(e.message, "[b] zero_on_create"));
    }
    SUBCASE("a misspelt option") {
        auto e =
            configure_error(one_backend("thick_file", "pool_file = /p\nvolume_clear_sise = 1\n"));
        CHECK(contains(e.message, "[b] volume_clear_sise"));
        CHECK(contains(e.message, "volume_clear_size"));
    }
}

TEST_CASE("driver config: lvm options are checked") {
    SUBCASE("volume_group is required") {
        auto e = configure_error(one_backend("lvm", "lvm_type = thin\n"));
        CHECK(contains(e.message, "[b] volume_group is required"));
    }
    SUBCASE("lvm_type = thick") {
        auto e = configure_error(one_backend("lvm", "volume_group = vg\nlvm_type = thick\n"));
        CHECK(contains(e.message, "[b] lvm_type (test.conf line 6)"));
        CHECK(contains(e.message, "'thick'"));
        CHECK(contains(e.message, "default, thin"));
    }
    SUBCASE("lvm_timeout out of range") {
        auto e = configure_error(one_backend("lvm", "volume_group = vg\nlvm_timeout = 1\n"));
        CHECK(contains(e.message, "[b] lvm_timeout"));
    }
    SUBCASE("max_over_subscription_ratio not a number") {
        auto e = configure_error(
            one_backend("lvm", "volume_group = vg\nmax_over_subscription_ratio = high\n"));
        CHECK(contains(e.message, "[b] max_over_subscription_ratio"));
    }
    SUBCASE("an unknown option") {
        auto e = configure_error(one_backend("lvm", "volume_group = vg\npool_path = /p\n"));
        CHECK(contains(e.message, "[b] pool_path"));
    }
}

TEST_CASE("driver config: a bad option in the second backend refuses the whole configuration") {
    auto e = configure_error(
        "[DEFAULT]\nenabled_backends = good, bad\n"
        "[good]\nvolume_driver = thin_file\npool_path = /p\n"
        "[bad]\nvolume_driver = thick_file\npool_file = /q\nvolume_clear = shred\n");
    CHECK(contains(e.message, "[bad] volume_clear"));
}
