#include "driver/config.hpp"

#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include "copy/json_text.hpp"
#include "copy/size.hpp"

namespace volmig {

namespace {

std::string trim(const std::string& s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return s.substr(a, b - a);
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string joined(const std::set<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out;
}

}  // namespace

std::optional<std::string> ConfigSection::raw(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

void ConfigSection::set(const std::string& key, std::string value, int line) {
    values_[key] = std::move(value);
    lines_[key] = line;
}

std::string ConfigSection::where(const std::string& key) const {
    auto it = lines_.find(key);
    std::string w = "[" + name_ + "] " + key;
    if (it != lines_.end()) w += " (" + origin_ + " line " + std::to_string(it->second) + ")";
    return w;
}

Result<std::string> ConfigSection::required(const std::string& key) const {
    auto v = raw(key);
    if (!v || v->empty()) return Error{"[" + name_ + "] " + key + " is required (" + origin_ + ")", ErrorKind::invalid};
    return *v;
}

std::string ConfigSection::string(const std::string& key, const std::string& fallback) const {
    auto v = raw(key);
    return v ? *v : fallback;
}

Result<bool> ConfigSection::boolean(const std::string& key, bool fallback) const {
    auto v = raw(key);
    if (!v) return fallback;
    const std::string s = lower(*v);
    if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
    if (s == "false" || s == "no" || s == "off" || s == "0") return false;
    return Error{where(key) + ": '" + *v + "' is not a boolean (true or false)", ErrorKind::invalid};
}

Result<uint64_t> ConfigSection::size(const std::string& key, uint64_t fallback) const {
    auto v = raw(key);
    if (!v) return fallback;
    auto parsed = parse_size(*v);
    if (!parsed) return Error{where(key) + ": " + parsed.error().message, ErrorKind::invalid};
    return *parsed;
}

Result<uint64_t> ConfigSection::integer(const std::string& key, uint64_t fallback, uint64_t min, uint64_t max) const {
    auto v = raw(key);
    if (!v) return fallback;
    uint64_t value = 0;
    bool ok = !v->empty();
    for (char c : *v) {
        if (!std::isdigit(static_cast<unsigned char>(c)) || value > (UINT64_MAX - 9) / 10) {
            ok = false;
            break;
        }
        value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok || value < min || value > max)
        return Error{where(key) + ": '" + *v + "' must be a whole number from " + std::to_string(min) + " to " + std::to_string(max),
                     ErrorKind::invalid};
    return value;
}

Result<double> ConfigSection::number(const std::string& key, double fallback, double min, double max) const {
    auto v = raw(key);
    if (!v) return fallback;
    char* end = nullptr;
    const double d = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !std::isfinite(d) || d < min || d > max) {
        std::ostringstream range;
        range << min << " to " << max;
        return Error{where(key) + ": '" + *v + "' must be a number from " + range.str(), ErrorKind::invalid};
    }
    return d;
}

Result<std::string> ConfigSection::choice(const std::string& key, const std::set<std::string>& allowed, const std::string& fallback) const {
    auto v = raw(key);
    if (!v) return fallback;
    if (!allowed.count(*v)) return Error{where(key) + ": '" + *v + "' is not one of: " + joined(allowed), ErrorKind::invalid};
    return *v;
}

std::vector<std::string> ConfigSection::list(const std::string& key) const {
    std::vector<std::string> out;
    auto v = raw(key);
    if (!v) return out;
    std::stringstream in(*v);
    std::string item;
    while (std::getline(in, item, ',')) {
        item = trim(item);
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

Status ConfigSection::only(const std::set<std::string>& known) const {
    for (const auto& [key, value] : values_)
        if (!known.count(key))
            return Error{where(key) + " is not a known option here; known options: " + joined(known), ErrorKind::invalid};
    return success();
}

Result<ConfigFile> ConfigFile::parse(const std::string& text, const std::string& origin) {
    ConfigFile file;
    file.origin_ = origin;
    std::stringstream in(text);
    std::string line;
    int number = 0;
    ConfigSection* current = nullptr;
    std::string last_key;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::string t = trim(line);
        if (t.empty() || t[0] == '#' || t[0] == ';') continue;
        const std::string at = origin + " line " + std::to_string(number);
        if (!is_utf8_text(line)) return Error{at + ": not UTF-8 text (or a NUL byte): the configuration is read as UTF-8", ErrorKind::invalid};
        // oslo.config style continuation: an indented line extends the previous value.
        if (current && !last_key.empty() && std::isspace(static_cast<unsigned char>(line[0]))) {
            current->set(last_key, *current->raw(last_key) + "\n" + t, number);
            continue;
        }
        if (t[0] == '[') {
            if (t.back() != ']' || t.size() < 3) return Error{at + ": malformed section header '" + t + "'", ErrorKind::invalid};
            const std::string name = trim(t.substr(1, t.size() - 2));
            if (name.empty()) return Error{at + ": malformed section header '" + t + "' (no name)", ErrorKind::invalid};
            if (!file.sections_.count(name)) {
                file.sections_[name] = ConfigSection(name, origin);
                file.order_.push_back(name);
            }
            current = &file.sections_[name];
            last_key.clear();
            continue;
        }
        const size_t eq = t.find('=');
        if (eq == std::string::npos || eq == 0)
            return Error{at + ": expected 'key = value', got '" + t + "'", ErrorKind::invalid};
        if (!current) return Error{at + ": '" + t + "' comes before any [section]", ErrorKind::invalid};
        last_key = trim(t.substr(0, eq));
        current->set(last_key, trim(t.substr(eq + 1)), number);
    }
    return file;
}

Result<ConfigFile> ConfigFile::load(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Error{"cannot read configuration file " + path, errno, ErrorKind::invalid};
    std::stringstream text;
    text << in.rdbuf();
    return parse(text.str(), path);
}

const ConfigSection& ConfigFile::section(const std::string& name) const {
    auto it = sections_.find(name);
    return it == sections_.end() ? empty_ : it->second;
}

std::vector<std::string> ConfigFile::section_names() const { return order_; }

}  // namespace volmig
