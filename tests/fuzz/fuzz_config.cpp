// Fuzz target: the configuration file (driver/config.hpp ConfigFile::parse and the typed reads),
// volmigd's settings from it (api/daemon_config.hpp read_daemon_config) and the backends'
// validation (driver/backends.hpp Backends::configure, which builds drivers without touching
// storage).
//
// Feeds: the fuzz data as the text of volmig.conf.
//
// Asserts, besides "no crash, no leak, no sanitizer report":
//  - a refused file is refused with a message naming the file;
//  - an accepted file: section names are unique, non-empty and found again; keys are non-empty,
//    without '=' or a line break; every line of every value is trimmed; names and values are
//    UTF-8 text without NUL bytes (they reach JSON views and C strings); written back out as INI
//    (one "key = value" line, continuation lines indented) it parses to the same sections and
//    values;
//  - read_daemon_config accepts only what its contract allows: a host name without @ # / or
//    spaces, a port from 1 to 65535, a token unless noauth, a state_path, http(s) peer URLs
//    read as written without their trailing slashes;
//  - Backends::configure accepts only enabled backends that have a section, each once, with
//    distinct volume_backend_names.
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/daemon_config.hpp"
#include "driver/backends.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/support/temp_dir.hpp"

using namespace volmig;
using volmig::fuzz::check;

namespace {

using Sections = std::map<std::string, std::map<std::string, std::string>>;

// UTF-8 as JSON output needs it, and no NUL byte.
bool is_text(const std::string& s) {
    return fuzz::serializes_as_json(s) && s.find('\0') == std::string::npos;
}

bool is_trimmed(const std::string& line) {
    return line.empty() || (!std::isspace(static_cast<unsigned char>(line.front())) &&
                            !std::isspace(static_cast<unsigned char>(line.back())));
}

std::vector<std::string> lines_of(const std::string& value) {
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl; (nl = value.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.push_back(value.substr(start, nl - start));
    lines.push_back(value.substr(start));
    return lines;
}

Sections sections_of(const ConfigFile& file) {
    Sections out;
    for (const auto& name : file.section_names()) out[name] = file.section(name).values();
    return out;
}

std::string written_back(const ConfigFile& file) {
    std::string text;
    for (const auto& name : file.section_names()) {
        text += "[" + name + "]\n";
        for (const auto& [key, value] : file.section(name).values()) {
            const auto lines = lines_of(value);
            text += key + " = " + lines[0] + "\n";
            for (size_t i = 1; i < lines.size(); ++i) text += "    " + lines[i] + "\n";
        }
    }
    return text;
}

void check_file(const ConfigFile& file) {
    const auto names = file.section_names();
    check(std::set<std::string>(names.begin(), names.end()).size() == names.size(),
          "section names are unique");
    for (const auto& name : names) {
        check(!name.empty() && is_text(name) && file.has_section(name),
              "a listed section is named in UTF-8 text and found");
        const ConfigSection& section = file.section(name);
        for (const auto& [key, value] : section.values()) {
            check(!key.empty() && key.find_first_of("=\n") == std::string::npos &&
                      is_trimmed(key) && is_text(key),
                  "a key is one trimmed word of UTF-8 text: " + key);
            check(is_text(value), "a value is UTF-8 text: [" + name + "] " + key);
            for (const auto& line : lines_of(value))
                check(is_trimmed(line), "every line of a value is trimmed: [" + name + "] " + key);
            // The typed reads take any text: they answer a value or an error, never throw.
            (void)section.boolean(key, false);
            (void)section.size(key, 0);
            (void)section.integer(key, 0, 0, UINT64_MAX);
            (void)section.number(key, 0, -1e300, 1e300);
            for (const auto& item : section.list(key))
                check(!item.empty() && item.find(',') == std::string::npos && is_trimmed(item),
                      "list items are trimmed and non-empty");
        }
    }
    auto again = ConfigFile::parse(written_back(file), "written-back.conf");
    check(again.ok(), "a parsed file written back parses: " +
                          (again.ok() ? std::string() : again.error().message));
    check(sections_of(*again) == sections_of(file),
          "a parsed file written back parses to the same values");
}

void check_daemon_config(const ConfigFile& file) {
    auto c = read_daemon_config(file);
    if (!c) {
        check(!c.error().message.empty() && c.error().kind == ErrorKind::invalid,
              "a refused daemon configuration says why");
        return;
    }
    check(!c->host.empty() && c->host.find_first_of("@#/ ") == std::string::npos,
          "the host name is usable in host@backend#pool");
    check(c->port >= 1, "the port is from 1 to 65535");
    check(c->noauth || !c->auth_token.empty(), "token authentication has a token");
    check(!c->state_path.empty(), "there is a state_path");
    // As written, an http(s) URL with a host; as read, the same without trailing slashes.
    for (const auto& [name, url] : c->peers) {
        std::string written = *file.section("peers").raw(name);
        check(written.rfind("http://", 0) == 0 || written.rfind("https://", 0) == 0,
              "a peer URL is http(s): " + written);
        const size_t host_at = written.find("://") + 3;
        check(host_at < written.size() && written[host_at] != '/' && written[host_at] != ':', "a peer URL names a host: " + written);
        while (!written.empty() && written.back() == '/') written.pop_back();
        check(url == written, "a peer URL is read as written, without trailing slashes: " + url);
    }
}

void check_backends(const ConfigFile& file) {
    static test::TempDir dir;
    static std::unique_ptr<VolumeStore> store = [] {
        auto s = VolumeStore::open(dir.file("state"));
        check(s.ok(), "the store opens");
        return std::move(*s);
    }();
    auto backends = Backends::configure(file, *store, nullptr);
    if (!backends) {
        check(!backends.error().message.empty(), "refused backends say why");
        return;
    }
    const auto enabled = file.section("DEFAULT").list("enabled_backends");
    check((*backends)->all().size() == enabled.size(), "one backend per enabled name");
    std::set<std::string> backend_names;
    for (const auto& b : (*backends)->all()) {
        check(file.has_section(b->name), "an enabled backend has its section: " + b->name);
        check(backend_names.insert(b->volume_backend_name).second,
              "volume_backend_names are distinct");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto file =
        ConfigFile::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.conf");
    if (!file) {
        check(file.error().message.find("fuzz.conf") != std::string::npos,
              "a refused file is named: " + file.error().message);
        return 0;
    }
    check_file(*file);
    check_daemon_config(*file);
    check_backends(*file);
    return 0;
}
