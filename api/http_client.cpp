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

}  // namespace

Result<HttpResponse> http_request(const std::string& method, const std::string& url, const std::string& body, const HttpOptions& options) {
    global_init();
    CURL* curl = curl_easy_init();
    if (!curl) return Error{"cannot initialise libcurl"};
    std::unique_ptr<CURL, void (*)(CURL*)> guard(curl, curl_easy_cleanup);
    HttpResponse response;
    curl_slist* headers = nullptr;
    for (const auto& h : options.headers) headers = curl_slist_append(headers, h.c_str());
    UploadState upload{&options, {}, false};
    if (options.body_source) headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    else if (!body.empty() || method == "POST" || method == "PUT") headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_guard(headers, curl_slist_free_all);

    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
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
    if (options.body_source) {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
        curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 2L << 20);
    } else if (!body.empty() || method == "POST" || method == "PUT") {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);

    const CURLcode rc = curl_easy_perform(curl);
    if (upload.failed) return upload.error;
    if (body_state.too_long)
        return Error{method + " " + url + " failed: the response body is longer than " + std::to_string(options.max_response_bytes) + " bytes",
                     ErrorKind::failed};
    if (rc != CURLE_OK) {
        std::string hint;
        if (rc == CURLE_COULDNT_CONNECT) hint = " (is the daemon running and listening there?)";
        else if (rc == CURLE_OPERATION_TIMEDOUT) hint = " (no answer within the timeout: the peer is down, overloaded or unreachable)";
        else if (rc == CURLE_COULDNT_RESOLVE_HOST) hint = " (check the host name in the URL)";
        return Error{method + " " + url + " failed: " + curl_easy_strerror(rc) + hint, ErrorKind::failed};
    }
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
