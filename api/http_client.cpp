#include "api/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

namespace volmig {

namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct BodyState {
    std::string* body;
    size_t limit;
    bool too_long = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* state = static_cast<BodyState*>(user);
    if (state->body->size() + size * count > state->limit) {
        state->too_long = true;
        return 0;  // libcurl stops with CURLE_WRITE_ERROR
    }
    state->body->append(data, size * count);
    return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* headers = static_cast<std::map<std::string, std::string>*>(user);
    std::string line(data, size * count);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon), value = line.substr(colon + 1);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.erase(value.begin());
        while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
        (*headers)[name] = value;
    }
    return size * count;
}

struct UploadState {
    const HttpOptions* options;
    Error error;
    bool failed = false;
};

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
    auto* state = static_cast<UploadState*>(user);
    auto n = state->options->body_source(buffer, size * count);
    if (!n) {
        state->error = n.error();
        state->failed = true;
        return CURL_READFUNC_ABORT;
    }
    return *n;
}

// A request body handed to libcurl as a stream without a seek function: libcurl cannot rewind
// it, so it never sends it a second time on its own (see the header).
struct FixedBody {
    const std::string* data;
    size_t sent = 0;
};

size_t on_read_fixed(char* buffer, size_t size, size_t count, void* user) {
    auto* body = static_cast<FixedBody*>(user);
    const size_t n = std::min(size * count, body->data->size() - body->sent);
    std::copy_n(body->data->data() + body->sent, n, buffer);
    body->sent += n;
    return n;
}

std::string strip_prefix(std::string text, const std::string& prefix) {
    if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
    return text;
}

// What went wrong, in words, with what to check.
std::string describe_failure(CURLcode rc, const char* detail_buffer, const HttpOptions& options) {
    const std::string detail = detail_buffer[0] ? detail_buffer : curl_easy_strerror(rc);
    switch (rc) {
        case CURLE_PEER_FAILED_VERIFICATION: {
            if (detail.find("subject name") != std::string::npos || detail.find("host name") != std::string::npos)
                return "certificate verification failed: the certificate does not name the URL's host (" + strip_prefix(detail, "SSL: ") +
                       "; its subjectAltName must list the host or IP address of the URL)";
            const std::string why = strip_prefix(detail, "SSL certificate problem: ");
            if (why.find("expired") != std::string::npos)
                return "certificate verification failed: " + why + " (renew the server's certificate)";
            if (why.find("not yet valid") != std::string::npos)
                return "certificate verification failed: " + why + " (check the server's certificate and both clocks)";
            return "certificate verification failed: " + why + " (check " + options.ca_hint + ")";
        }
        case CURLE_SSL_CACERT_BADFILE:
            return "cannot use the CA file '" + options.ca_file + "': " + detail + " (check " + options.ca_hint + ")";
        case CURLE_SSL_CONNECT_ERROR:
            return "TLS handshake failed: " + detail + " (is the server serving HTTPS on that port?)";
        case CURLE_COULDNT_CONNECT: return std::string(curl_easy_strerror(rc)) + " (is the daemon running and listening there?)";
        case CURLE_OPERATION_TIMEDOUT:
            return std::string(curl_easy_strerror(rc)) + " (no answer within the timeout: the peer is down, overloaded or unreachable)";
        case CURLE_COULDNT_RESOLVE_HOST: return std::string(curl_easy_strerror(rc)) + " (check the host name in the URL)";
        case CURLE_SEND_FAIL_REWIND:
            return "the connection closed before an answer; the call may have been applied, and was not sent again";
        default: return std::string(curl_easy_strerror(rc)) + (detail_buffer[0] ? std::string(": ") + detail_buffer : std::string());
    }
}

void free_handle(void* handle) { curl_easy_cleanup(static_cast<CURL*>(handle)); }

}  // namespace

HttpConnections::~HttpConnections() {
    for (void* handle : idle_) free_handle(handle);
}

void* HttpConnections::take() {
    calls_++;
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) return curl_easy_init();
    void* handle = idle_.back();
    idle_.pop_back();
    // Reset when it came back (give): its live connections and TLS sessions are kept.
    return handle;
}

std::chrono::microseconds HttpConnections::round_trip() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::chrono::microseconds best{0};
    for (auto t : round_trips_)
        if (t.count() > 0 && (best.count() == 0 || t < best)) best = t;
    return best;
}

void HttpConnections::give(void* handle, uint64_t new_connections, std::chrono::microseconds round_trip) {
    connections_ += new_connections;
    // The call's options point into its stack (error buffer, headers, body): none may outlive it.
    curl_easy_reset(static_cast<CURL*>(handle));
    std::lock_guard<std::mutex> lock(mutex_);
    if (round_trip.count() > 0) round_trips_[next_round_trip_++ % round_trips_.size()] = round_trip;
    if (idle_.size() < max_idle_) idle_.push_back(handle);
    else free_handle(handle);
}

Result<HttpResponse> http_request(const std::string& method, const std::string& url, const std::string& body, const HttpOptions& options) {
    global_init();
    if (options.require_tls && url.rfind("https://", 0) != 0)
        return Error{method + " " + url + " refused: the URL is not https:// and TLS is required (peer_require_tls): the token would travel in clear",
                     ErrorKind::refused};
    HttpConnections* pool = options.connections;
    CURL* curl = pool ? static_cast<CURL*>(pool->take()) : curl_easy_init();
    if (!curl) return Error{"cannot initialise libcurl"};
    long new_connections = 0;
    curl_off_t round_trip_us = 0;
    auto release = [&](CURL* handle) {
        if (pool) pool->give(handle, static_cast<uint64_t>(new_connections), std::chrono::microseconds(round_trip_us));
        else curl_easy_cleanup(handle);
    };
    std::unique_ptr<CURL, std::function<void(CURL*)>> guard(curl, release);
    HttpResponse response;
    curl_slist* headers = nullptr;
    for (const auto& h : options.headers) headers = curl_slist_append(headers, h.c_str());
    UploadState upload{&options, {}, false};
    const bool has_body = !options.body_source && (!body.empty() || method == "POST" || method == "PUT");
    if (options.body_source) headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    else if (has_body) headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_guard(headers, curl_slist_free_all);
    char detail[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, options.require_tls ? "https" : "http,https");
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_MAXAGE_CONN, static_cast<long>(kMaxReuseAge.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    if (options.total_timeout.count() > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
    if (options.stall_timeout.count() > 0) {
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout.count()));
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    BodyState body_state{&response.body, options.max_response_bytes};
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body_state);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
    FixedBody fixed{&body};
    if (options.body_source) {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
        curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 2L << 20);
    } else if (has_body) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read_fixed);
        curl_easy_setopt(curl, CURLOPT_READDATA, &fixed);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);

    const CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &new_connections);
    if (rc == CURLE_OK && !options.body_source) {
        // From the request sent to the first byte of the answer: a round trip and the server's work.
        curl_off_t sent = 0, answered = 0;
        curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &sent);
        curl_easy_getinfo(curl, CURLINFO_STARTTRANSFER_TIME_T, &answered);
        if (answered > sent) round_trip_us = answered - sent;
    }
    if (upload.failed) return upload.error;
    if (body_state.too_long)
        return Error{method + " " + url + " failed: the response body is longer than " + std::to_string(options.max_response_bytes) + " bytes",
                     ErrorKind::failed};
    if (rc != CURLE_OK) return Error{method + " " + url + " failed: " + describe_failure(rc, detail, options), ErrorKind::failed};
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

std::string error_message_from_body(const std::string& body) {
    auto doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_discarded() && doc.is_object()) {
        for (const auto& [key, value] : doc.items())
            if (value.is_object() && value.contains("message") && value["message"].is_string()) return value["message"];
    }
    std::string trimmed = body.substr(0, 500);
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.pop_back();
    return trimmed;
}

}  // namespace volmig
