// volmig-loadgen: the HTTP client behind tools/load's request mix. N clients, each on its own
// keep-alive connection, loop create -> show -> list -> delete against one daemon for a number
// of seconds; prints one JSON document with the latencies and statuses of every request.
//
// Written in C++ on libcurl's multi interface (one thread, every client's request in flight at
// once) because a Python client on the same two cores as the daemon spends more CPU per request
// than the daemon does: it could not offer 1000 requests/s, and its own queueing would be
// counted as the daemon's latency. Here the client's share is a few percent of one core.
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;

const char* kHelp = R"(usage: volmig-loadgen --url URL [--token T] [--clients N] [--seconds S] [--project P]
                      [--timeout S] [--size GIB]

N clients (default 50), each on its own keep-alive connection, repeat for S seconds (default 10):
  create   POST   /v3/P/volumes          {"volume": {"size": GIB, "name": "load-<client>-<n>"}}  expect 202
  show     GET    /v3/P/volumes/ID                                                              expect 200
  list     GET    /v3/P/volumes/detail                                                          expect 200
  delete   DELETE /v3/P/volumes/ID                                                              expect 202
A client whose time is up finishes its cycle (deletes its volume) and stops. Every request has a
client-side timeout (--timeout, default 30 s). At the end the project's volumes are listed: those
still there are creates nobody saw answered (or deletes that failed); they are deleted.

Prints one JSON object: seconds, requests, requests_per_second, and per operation the count,
p50/p99/max latency in ms (from handing the request to curl to the whole answer received), and
the statuses seen ("0" = no HTTP answer: timeout or connection error, named in transport_errors).
)";

struct Options {
    std::string url;
    std::string token;
    std::string project = "load";
    unsigned clients = 50;
    double seconds = 10;
    long timeout_ms = 30000;
    unsigned size_gib = 1;
};

enum class Op { create, show, list, remove };
constexpr Op kOps[] = {Op::create, Op::show, Op::list, Op::remove};

const char* op_name(Op op) {
    switch (op) {
        case Op::create: return "create";
        case Op::show: return "show";
        case Op::list: return "list";
        case Op::remove: return "delete";
    }
    return "?";
}

long expected_status(Op op) { return op == Op::create || op == Op::remove ? 202 : 200; }

struct OpStats {
    std::vector<double> ms;
    std::map<long, uint64_t> statuses;
    std::map<std::string, uint64_t> transport_errors;
};

struct Client {
    unsigned index = 0;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    Op op = Op::create;
    std::string volume_id;
    std::string request_body;
    std::string response;
    unsigned created = 0;
    unsigned failed_deletes = 0;  // in a row
    Clock::time_point started;
    bool done = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
    return v[i];
}

class Mix {
public:
    explicit Mix(const Options& o) : o_(o), multi_(curl_multi_init()) {
        curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(o.clients * 2));
        clients_.resize(o.clients);
        for (unsigned i = 0; i < o.clients; ++i) {
            Client& c = clients_[i];
            c.index = i;
            c.easy = curl_easy_init();
            c.headers = curl_slist_append(c.headers, "Accept: application/json");
            c.headers = curl_slist_append(c.headers, "Content-Type: application/json");
            c.headers = curl_slist_append(c.headers, "Expect:");
            if (!o.token.empty()) c.headers = curl_slist_append(c.headers, ("X-Auth-Token: " + o.token).c_str());
        }
    }
    ~Mix() {
        for (Client& c : clients_) {
            curl_easy_cleanup(c.easy);
            curl_slist_free_all(c.headers);
        }
        curl_multi_cleanup(multi_);
    }

    nlohmann::json run() {
        const auto begin = Clock::now();
        deadline_ = begin + std::chrono::milliseconds(static_cast<long>(o_.seconds * 1000));
        for (Client& c : clients_) issue(c);
        int running = 0;
        while (active_ > 0) {
            curl_multi_perform(multi_, &running);
            int queued = 0;
            while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
                if (msg->msg != CURLMSG_DONE) continue;
                Client* c = nullptr;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &c);
                curl_multi_remove_handle(multi_, msg->easy_handle);
                --active_;
                finished(*c, msg->data.result);
            }
            if (active_ > 0) curl_multi_poll(multi_, nullptr, 0, 50, nullptr);
        }
        const double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
        nlohmann::json out = {{"seconds", elapsed}, {"clients", o_.clients}};
        uint64_t total = 0;
        nlohmann::json ops = nlohmann::json::object();
        for (Op op : kOps) {
            const OpStats& s = stats_[op];
            total += s.ms.size();
            nlohmann::json statuses = nlohmann::json::object();
            for (const auto& [status, n] : s.statuses) statuses[std::to_string(status)] = n;
            ops[op_name(op)] = {{"count", s.ms.size()},          {"p50_ms", percentile(s.ms, 0.50)},
                                {"p99_ms", percentile(s.ms, 0.99)}, {"max_ms", percentile(s.ms, 1.0)},
                                {"statuses", statuses},            {"expected_status", expected_status(op)},
                                {"transport_errors", s.transport_errors}};
        }
        out["requests"] = total;
        out["requests_per_second"] = elapsed > 0 ? static_cast<double>(total) / elapsed : 0;
        out["ops"] = ops;
        return out;
    }

    const Options& options() const { return o_; }

private:
    std::string base() const { return o_.url + "/v3/" + o_.project + "/volumes"; }

    void issue(Client& c) {
        if (c.op == Op::create && Clock::now() >= deadline_) {
            c.done = true;
            return;
        }
        CURL* e = c.easy;
        curl_easy_reset(e);
        c.response.clear();
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, c.headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &c.response);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &c);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o_.timeout_ms);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        switch (c.op) {
            case Op::create:
                c.request_body = nlohmann::json{{"volume", {{"size", o_.size_gib}, {"name", "load-" + std::to_string(c.index) + "-" +
                                                                                             std::to_string(c.created)}}}}
                                     .dump();
                curl_easy_setopt(e, CURLOPT_URL, base().c_str());
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, c.request_body.c_str());
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(c.request_body.size()));
                break;
            case Op::show: curl_easy_setopt(e, CURLOPT_URL, (base() + "/" + c.volume_id).c_str()); break;
            case Op::list: curl_easy_setopt(e, CURLOPT_URL, (base() + "/detail").c_str()); break;
            case Op::remove:
                curl_easy_setopt(e, CURLOPT_URL, (base() + "/" + c.volume_id).c_str());
                curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
                break;
        }
        c.started = Clock::now();
        curl_multi_add_handle(multi_, e);
        ++active_;
    }

    void finished(Client& c, CURLcode result) {
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - c.started).count();
        OpStats& s = stats_[c.op];
        s.ms.push_back(ms);
        long status = 0;
        if (result == CURLE_OK) {
            curl_easy_getinfo(c.easy, CURLINFO_RESPONSE_CODE, &status);
        } else {
            ++s.transport_errors[curl_easy_strerror(result)];
        }
        ++s.statuses[status];
        const bool ok = status == expected_status(c.op);
        switch (c.op) {
            case Op::create: {
                ++c.created;
                auto doc = nlohmann::json::parse(c.response, nullptr, false);
                if (ok && doc.is_object() && doc.contains("volume") && doc["volume"].is_object() && doc["volume"].contains("id") &&
                    doc["volume"]["id"].is_string()) {
                    c.volume_id = doc["volume"]["id"].get<std::string>();
                    c.op = Op::show;
                }  // else: no volume to work on; create again
                break;
            }
            case Op::show: c.op = Op::list; break;
            case Op::list: c.op = Op::remove; break;
            case Op::remove:
                // A failed delete is tried again (up to 3 times), so that a cycle ends with its
                // volume gone; after that the volume is left for the final listing to report.
                if (ok || ++c.failed_deletes >= 3) {
                    c.volume_id.clear();
                    c.failed_deletes = 0;
                    c.op = Op::create;
                }
                break;
        }
        issue(c);
    }

    Options o_;
    CURLM* multi_;
    std::vector<Client> clients_;
    std::map<Op, OpStats> stats_;
    Clock::time_point deadline_;
    int active_ = 0;
};

size_t request(const std::string& method, const std::string& url, const std::string& token, std::string& body, long& status) {
    CURL* e = curl_easy_init();
    curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
    if (!token.empty()) headers = curl_slist_append(headers, ("X-Auth-Token: " + token).c_str());
    body.clear();
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    const CURLcode rc = curl_easy_perform(e);
    status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(e);
    return body.size();
}

// The project's volumes left after the run: listed, then deleted.
nlohmann::json leftovers(const Options& o) {
    std::string body;
    long status = 0;
    request("GET", o.url + "/v3/" + o.project + "/volumes", o.token, body, status);
    auto doc = nlohmann::json::parse(body, nullptr, false);
    nlohmann::json ids = nlohmann::json::array();
    if (status == 200 && doc.is_object() && doc.contains("volumes") && doc["volumes"].is_array())
        for (const auto& v : doc["volumes"])
            if (v.is_object() && v.contains("id") && v["id"].is_string()) ids.push_back(v["id"]);
    for (const auto& id : ids) request("DELETE", o.url + "/v3/" + o.project + "/volumes/" + id.get<std::string>(), o.token, body, status);
    return {{"listed", status == 200}, {"volumes", ids}};
}

bool parse_args(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::cout << kHelp;
            std::exit(0);
        } else if (a == "--url") {
            o.url = value();
        } else if (a == "--token") {
            o.token = value();
        } else if (a == "--project") {
            o.project = value();
        } else if (a == "--clients") {
            o.clients = static_cast<unsigned>(std::stoul(value()));
        } else if (a == "--seconds") {
            o.seconds = std::stod(value());
        } else if (a == "--timeout") {
            o.timeout_ms = static_cast<long>(std::stod(value()) * 1000);
        } else if (a == "--size") {
            o.size_gib = static_cast<unsigned>(std::stoul(value()));
        } else {
            throw std::invalid_argument("unknown argument '" + a + "'");
        }
    }
    if (o.url.empty()) throw std::invalid_argument("--url is required");
    if (o.clients == 0 || o.seconds <= 0 || o.size_gib == 0) throw std::invalid_argument("--clients, --seconds and --size must be positive");
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    try {
        parse_args(argc, argv, o);
    } catch (const std::exception& e) {
        std::cerr << "volmig-loadgen: " << e.what() << "\n\n" << kHelp;
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    nlohmann::json out;
    {
        Mix mix(o);
        out = mix.run();
    }
    out["left_behind"] = leftovers(o);
    std::cout << out.dump(2) << "\n";
    curl_global_cleanup();
    return 0;
}
