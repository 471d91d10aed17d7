// Configuration in the style of cinder.conf: an INI file with a [DEFAULT] section and one
// section per backend. Errors name the file, line, section and key, and what would be valid.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "copy/result.hpp"

namespace volmig {

class ConfigSection {
public:
    ConfigSection() = default;
    ConfigSection(std::string name, std::string origin) : name_(std::move(name)), origin_(std::move(origin)) {}

    const std::string& name() const { return name_; }
    bool has(const std::string& key) const { return values_.count(key) > 0; }
    std::optional<std::string> raw(const std::string& key) const;
    const std::map<std::string, std::string>& values() const { return values_; }
    void set(const std::string& key, std::string value, int line);

    // Typed reads. A missing key gives the default; a malformed value is an error naming
    // "[section] key" and what is accepted.
    Result<std::string> required(const std::string& key) const;
    std::string string(const std::string& key, const std::string& fallback) const;
    Result<bool> boolean(const std::string& key, bool fallback) const;
    Result<uint64_t> size(const std::string& key, uint64_t fallback) const;          // 512M, 8G, bytes
    Result<uint64_t> integer(const std::string& key, uint64_t fallback, uint64_t min, uint64_t max) const;
    Result<double> number(const std::string& key, double fallback, double min, double max) const;
    Result<std::string> choice(const std::string& key, const std::set<std::string>& allowed, const std::string& fallback) const;
    std::vector<std::string> list(const std::string& key) const;  // comma-separated, trimmed

    // Refuses keys outside `known` (a typo would otherwise be silently ignored).
    Status only(const std::set<std::string>& known) const;

    std::string where(const std::string& key) const;  // "[thin] pool_path (volmig.conf line 12)"

private:
    std::string name_;
    std::string origin_;
    std::map<std::string, std::string> values_;
    std::map<std::string, int> lines_;
};

class ConfigFile {
public:
    static Result<ConfigFile> parse(const std::string& text, const std::string& origin);
    static Result<ConfigFile> load(const std::string& path);

    const std::string& origin() const { return origin_; }
    bool has_section(const std::string& name) const { return sections_.count(name) > 0; }
    // A missing section reads as empty (every key takes its default).
    const ConfigSection& section(const std::string& name) const;
    std::vector<std::string> section_names() const;

private:
    std::string origin_;
    std::map<std::string, ConfigSection> sections_;
    std::vector<std::string> order_;
    ConfigSection empty_;
};

}  // namespace volmig
