#include "api/capability_cache.hpp"

namespace volmig {

CapabilityCache::CapabilityCache(const Peers& peers, std::function<void(const std::string&)> log, std::chrono::seconds max_age)
    : peers_(peers), log_(std::move(log)), max_age_(max_age) {
    fetcher_ = std::thread([this] { fetch_loop(); });
}

CapabilityCache::~CapabilityCache() { stop(); }

void CapabilityCache::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (fetcher_.joinable()) fetcher_.join();
}

namespace {

std::string age_in_words(std::chrono::steady_clock::duration age) {
    return "fetched " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) + " s ago";
}

}  // namespace

std::optional<FetchedDocument> CapabilityCache::lookup(const std::string& host, const std::string& host_backend) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(host_backend);
    const auto now = std::chrono::steady_clock::now();
    if (it != entries_.end() && now - it->second.fetched < max_age_) {
        FetchedDocument d = it->second.document;
        d.age = age_in_words(now - it->second.fetched);
        return d;
    }
    queued_[host_backend] = host;
    wake_.notify_all();
    return std::nullopt;
}

std::optional<FetchedDocument> CapabilityCache::recent(const std::string& host_backend, std::chrono::seconds max_age) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(host_backend);
    const auto now = std::chrono::steady_clock::now();
    if (it == entries_.end() || !it->second.document.problem.empty() || it->second.document.document.is_null() ||
        now - it->second.fetched >= max_age)
        return std::nullopt;
    FetchedDocument d = it->second.document;
    d.age = age_in_words(now - it->second.fetched);
    return d;
}

void CapabilityCache::forget(const std::string& host_backend) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.erase(host_backend);
}

void CapabilityCache::remember(const std::string& host_backend, const FetchedDocument& document) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_[host_backend] = Entry{document, std::chrono::steady_clock::now()};
}

void CapabilityCache::fetch_loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
        wake_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
        if (stopping_) return;
        const auto [host_backend, host] = *queued_.begin();
        queued_.erase(queued_.begin());
        lock.unlock();
        FetchedDocument fetched;
        try {
            auto client = peers_.client(host);
            auto doc = client ? (*client)->capabilities(host_backend) : Result<nlohmann::json>(client.error());
            if (doc) fetched.document = *doc;
            else fetched.problem = "capabilities of " + host_backend + " could not be fetched (" + doc.error().message + ")";
        } catch (const std::exception& e) {
            fetched.problem = std::string("capabilities of ") + host_backend + " could not be fetched (internal error: " + e.what() + ")";
        }
        remember(host_backend, fetched);
        lock.lock();
    }
}

}  // namespace volmig
