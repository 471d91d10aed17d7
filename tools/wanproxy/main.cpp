// volmig-wanproxy: a wide-area link on one machine, for the bench and the tests. The kernel here
// has no netem, so the link is modelled in user space: a TCP proxy between a client and one
// server whose two directions each behave like a shared bottleneck link.
//
// The model, per direction (client->server "up", server->client "down"):
//   - one link shared by every connection: a chunk read from a socket departs when the link is
//     free and occupies it for size / rate (--mbit);
//   - it arrives --delay-ms after it departs (the one-way delay; RTT is twice that);
//   - each connection has at most --window bytes in flight: a byte counts from when it is read
//     until its acknowledgement would be back (arrival + the one-way delay), as TCP's window
//     does; so one connection moves at most window / RTT, and parallel connections add up to
//     the link's rate.
// The proxy can cut connections on command (connection reset on both sides), so that tests see
// what a flaky network does to a stream.
//
// Control port, one text command per line, one line of answer:
//   stats         {"up_bytes": N, "down_bytes": N, "connections": N, "open": N, "cuts": N}
//   cut           resets every open connection now; answers {"cut": N}
//   cut-after N   resets every open connection once N more client->server bytes have passed
//   reset         zeroes the byte counters
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

const char* kHelp = R"(usage: volmig-wanproxy --listen HOST:PORT --connect HOST:PORT [--mbit M] [--delay-ms D]
                       [--window BYTES] [--control HOST:PORT]

A TCP proxy that behaves like a wide-area link between its clients and one server.
  --listen HOST:PORT    where clients connect (port 0: any free port; printed as "listening HOST:PORT")
  --connect HOST:PORT   the server every connection is forwarded to
  --mbit M              link rate per direction in Mbit/s, shared by all connections (default 0: unlimited)
  --delay-ms D          one-way delay in milliseconds (RTT = 2 x D; default 0)
  --window BYTES        bytes in flight per connection and direction (default 6M; K, M, G suffixes)
  --control HOST:PORT   a text control port (printed as "control HOST:PORT"); commands, one per line:
                          stats | cut | cut-after N | reset
Stops on SIGTERM or SIGINT.
)";

struct Endpoint {
    std::string host;
    uint16_t port = 0;
};

bool parse_endpoint(const std::string& text, Endpoint& out) {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    out.host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
    const unsigned long p = std::stoul(port);
    if (p > 65535) return false;
    out.port = static_cast<uint16_t>(p);
    return true;
}

bool parse_bytes(const std::string& text, uint64_t& out) {
    if (text.empty()) return false;
    size_t digits = text.find_first_not_of("0123456789");
    if (digits == 0) return false;
    const std::string number = text.substr(0, digits == std::string::npos ? text.size() : digits);
    if (number.size() > 15) return false;
    uint64_t value = std::stoull(number);
    const std::string suffix = digits == std::string::npos ? "" : text.substr(digits);
    if (suffix == "K" || suffix == "k") value <<= 10;
    else if (suffix == "M" || suffix == "m") value <<= 20;
    else if (suffix == "G" || suffix == "g") value <<= 30;
    else if (!suffix.empty()) return false;
    out = value;
    return true;
}

sockaddr_in resolve(const Endpoint& e) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(e.port);
    if (inet_pton(AF_INET, e.host.c_str(), &a.sin_addr) != 1) {
        addrinfo hints{}, *found = nullptr;
        hints.ai_family = AF_INET;
        if (getaddrinfo(e.host.c_str(), nullptr, &hints, &found) != 0 || !found) {
            std::fprintf(stderr, "volmig-wanproxy: cannot resolve %s\n", e.host.c_str());
            std::exit(2);
        }
        a.sin_addr = reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr;
        freeaddrinfo(found);
    }
    return a;
}

int listen_on(const Endpoint& e, Endpoint& bound) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = resolve(e);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 256) != 0) {
        std::fprintf(stderr, "volmig-wanproxy: cannot listen on %s:%u: %s\n", e.host.c_str(), e.port, std::strerror(errno));
        std::exit(2);
    }
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    bound.host = text;
    bound.port = ntohs(a.sin_port);
    return fd;
}

// The next connection; -1 when the listener is gone.
int accept_next(int listener) {
    for (;;) {
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0 || (errno != EINTR && errno != ECONNABORTED)) return fd;
    }
}

// One direction's shared bottleneck: when the next chunk may depart.
class Link {
public:
    explicit Link(double bytes_per_second) : rate_(bytes_per_second) {}
    Clock::time_point depart(size_t bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto now = Clock::now();
        if (free_at_ < now) free_at_ = now;
        if (rate_ > 0) free_at_ += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(bytes / rate_));
        return free_at_;
    }

private:
    double rate_;
    std::mutex mutex_;
    Clock::time_point free_at_ = Clock::now();
};

struct Settings {
    double bytes_per_second = 0;
    Clock::duration delay{};
    uint64_t window = 6ull << 20;
};

struct Counters {
    std::atomic<uint64_t> up{0}, down{0}, connections{0}, open{0}, cuts{0};
    std::atomic<int64_t> cut_after{-1};  // up bytes left before a cut; -1: not armed
};

// One direction of one connection: a reader thread takes bytes from `from` as the window allows
// and stamps their arrival; a writer thread hands them to `to` when they arrive.
class Pipe {
public:
    Pipe(int from, int to, Link& link, const Settings& settings, std::atomic<uint64_t>& counter)
        : from_(from), to_(to), link_(link), settings_(settings), counter_(counter) {}

    // Returns when both threads ended (end of stream, error or cut). `on_bytes` sees every read.
    void run(const std::function<void(size_t)>& on_bytes, const std::function<void()>& on_failure) {
        std::thread writer([&] { write_loop(on_failure); });
        read_loop(on_bytes, on_failure);
        writer.join();
    }

private:
    struct Chunk {
        std::vector<char> bytes;  // empty: the end of the stream
        Clock::time_point arrives;
    };

    void read_loop(const std::function<void(size_t)>& on_bytes, const std::function<void()>& on_failure) {
        std::vector<char> buffer(64 << 10);
        for (;;) {
            size_t room = 0;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                for (;;) {
                    const auto now = Clock::now();
                    while (!acks_.empty() && acks_.front().first <= now) {
                        in_flight_ -= acks_.front().second;
                        acks_.pop_front();
                    }
                    if (stopped_) return;
                    if (in_flight_ < settings_.window) break;
                    if (acks_.empty()) changed_.wait(lock);
                    else changed_.wait_until(lock, acks_.front().first);
                }
                room = static_cast<size_t>(std::min<uint64_t>(buffer.size(), settings_.window - in_flight_));
            }
            const ssize_t n = ::recv(from_, buffer.data(), room, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (n < 0) on_failure();
                push({{}, Clock::now() + settings_.delay});
                return;
            }
            const auto arrives = link_.depart(static_cast<size_t>(n)) + settings_.delay;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                in_flight_ += static_cast<uint64_t>(n);
            }
            push({std::vector<char>(buffer.data(), buffer.data() + n), arrives});
            on_bytes(static_cast<size_t>(n));
        }
    }

    void write_loop(const std::function<void()>& on_failure) {
        for (;;) {
            Chunk chunk;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                changed_.wait(lock, [&] { return !chunks_.empty() || stopped_; });
                if (stopped_ && chunks_.empty()) return;
                chunk = std::move(chunks_.front());
                chunks_.pop_front();
                changed_.wait_until(lock, chunk.arrives, [&] { return stopped_; });
                if (stopped_) return;
            }
            if (chunk.bytes.empty()) {
                ::shutdown(to_, SHUT_WR);  // the end of the stream, passed on
                return;
            }
            size_t done = 0;
            while (done < chunk.bytes.size()) {
                const ssize_t n = ::send(to_, chunk.bytes.data() + done, chunk.bytes.size() - done, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) {
                    on_failure();
                    stop();
                    return;
                }
                done += static_cast<size_t>(n);
            }
            counter_ += chunk.bytes.size();
            std::lock_guard<std::mutex> lock(mutex_);
            acks_.emplace_back(Clock::now() + settings_.delay, chunk.bytes.size());
            changed_.notify_all();
        }
    }

public:
    void stop() {
        std::lock_guard<std::mutex> lock(mutex_);
        stopped_ = true;
        changed_.notify_all();
    }

private:
    void push(Chunk chunk) {
        std::lock_guard<std::mutex> lock(mutex_);
        chunks_.push_back(std::move(chunk));
        changed_.notify_all();
    }

    int from_, to_;
    Link& link_;
    const Settings& settings_;
    std::atomic<uint64_t>& counter_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Chunk> chunks_;
    std::deque<std::pair<Clock::time_point, uint64_t>> acks_;
    uint64_t in_flight_ = 0;
    bool stopped_ = false;
};

class Connection {
public:
    Connection(int client, int server) : client_(client), server_(server) {}
    ~Connection() {
        ::close(client_);
        ::close(server_);
    }

    // Resets both sides (RST, not FIN) and wakes both directions.
    void cut() {
        const linger reset{1, 0};
        setsockopt(client_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        setsockopt(server_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        ::shutdown(client_, SHUT_RDWR);
        ::shutdown(server_, SHUT_RDWR);
        std::lock_guard<std::mutex> lock(mutex_);
        for (Pipe* p : pipes_) p->stop();
    }

    void serve(Link& up_link, Link& down_link, const Settings& settings, Counters& counters, const std::function<void()>& check_cut) {
        Pipe up(client_, server_, up_link, settings, counters.up);
        Pipe down(server_, client_, down_link, settings, counters.down);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            pipes_ = {&up, &down};
        }
        auto failed = [this] { cut(); };  // a reset on one side is passed on to the other
        std::thread downstream([&] { down.run([](size_t) {}, failed); });
        up.run(
            [&](size_t n) {
                // Exactly one reader sees the count cross zero and fires the cut.
                int64_t left = counters.cut_after.load();
                while (left >= 0) {
                    const int64_t next = left - static_cast<int64_t>(n);
                    if (counters.cut_after.compare_exchange_weak(left, next < 0 ? -1 : next)) {
                        if (next < 0) check_cut();
                        break;
                    }
                }
            },
            failed);
        downstream.join();
        std::lock_guard<std::mutex> lock(mutex_);
        pipes_.clear();
    }

private:
    int client_, server_;
    std::mutex mutex_;
    std::vector<Pipe*> pipes_;
};

class Proxy {
public:
    Proxy(Settings settings, sockaddr_in server) : settings_(settings), server_(server), up_(settings.bytes_per_second), down_(settings.bytes_per_second) {}

    void accept_loop(int listener) {
        for (;;) {
            const int client = accept_next(listener);
            if (client < 0) return;
            const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (::connect(server, reinterpret_cast<const sockaddr*>(&server_), sizeof server_) != 0) {
                ::close(server);
                const linger reset{1, 0};
                setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
                ::close(client);
                continue;
            }
            const int one = 1;
            setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto connection = std::make_shared<Connection>(client, server);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                open_.push_back(connection);
            }
            ++counters_.connections;
            ++counters_.open;
            std::thread([this, connection] {
                connection->serve(up_, down_, settings_, counters_, [this] { cut_all(); });
                std::lock_guard<std::mutex> lock(mutex_);
                open_.remove(connection);
                --counters_.open;
            }).detach();
        }
    }

    uint64_t cut_all() {
        counters_.cut_after = -1;
        std::vector<std::shared_ptr<Connection>> open;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            open.assign(open_.begin(), open_.end());
        }
        for (auto& c : open) c->cut();
        if (!open.empty()) ++counters_.cuts;
        return open.size();
    }

    std::string command(const std::string& line) {
        if (line == "stats") {
            return "{\"up_bytes\": " + std::to_string(counters_.up.load()) + ", \"down_bytes\": " + std::to_string(counters_.down.load()) +
                   ", \"connections\": " + std::to_string(counters_.connections.load()) + ", \"open\": " + std::to_string(counters_.open.load()) +
                   ", \"cuts\": " + std::to_string(counters_.cuts.load()) + "}";
        }
        if (line == "cut") return "{\"cut\": " + std::to_string(cut_all()) + "}";
        if (line.rfind("cut-after ", 0) == 0) {
            uint64_t n = 0;
            if (!parse_bytes(line.substr(10), n)) return "{\"error\": \"cut-after takes a byte count\"}";
            counters_.cut_after = static_cast<int64_t>(n);
            return "{\"armed\": " + std::to_string(n) + "}";
        }
        if (line == "reset") {
            counters_.up = 0;
            counters_.down = 0;
            counters_.connections = 0;
            counters_.cuts = 0;
            return "{\"reset\": true}";
        }
        return "{\"error\": \"unknown command; try stats, cut, cut-after N, reset\"}";
    }

    void control_loop(int listener) {
        for (;;) {
            const int fd = accept_next(listener);
            if (fd < 0) return;
            std::thread([this, fd] {
                std::string pending;
                char buf[512];
                for (;;) {
                    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                    if (n <= 0 || pending.size() > 4096) break;
                    pending.append(buf, static_cast<size_t>(n));
                    size_t eol;
                    while ((eol = pending.find('\n')) != std::string::npos) {
                        std::string line = pending.substr(0, eol);
                        pending.erase(0, eol + 1);
                        if (!line.empty() && line.back() == '\r') line.pop_back();
                        const std::string answer = command(line) + "\n";
                        if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) break;
                    }
                }
                ::close(fd);
            }).detach();
        }
    }

private:
    Settings settings_;
    sockaddr_in server_;
    Link up_, down_;
    Counters counters_;
    std::mutex mutex_;
    std::list<std::shared_ptr<Connection>> open_;
};

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "volmig-wanproxy: %s\n(see volmig-wanproxy --help)\n", message.c_str());
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    Endpoint listen_at, connect_to, control_at;
    bool have_listen = false, have_connect = false, have_control = false;
    Settings settings;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kHelp, stdout);
            return 0;
        }
        if (i + 1 >= argc) usage_error(arg + " needs a value");
        const std::string value = argv[++i];
        uint64_t number = 0;
        if (arg == "--listen") have_listen = parse_endpoint(value, listen_at) || (usage_error("--listen takes HOST:PORT"), false);
        else if (arg == "--connect") have_connect = parse_endpoint(value, connect_to) || (usage_error("--connect takes HOST:PORT"), false);
        else if (arg == "--control") have_control = parse_endpoint(value, control_at) || (usage_error("--control takes HOST:PORT"), false);
        else if (arg == "--mbit") {
            if (!parse_bytes(value, number)) usage_error("--mbit takes a whole number of Mbit/s");
            settings.bytes_per_second = static_cast<double>(number) * 1e6 / 8;
        } else if (arg == "--delay-ms") {
            if (!parse_bytes(value, number) || number > 10000) usage_error("--delay-ms takes 0 to 10000");
            settings.delay = std::chrono::milliseconds(number);
        } else if (arg == "--window") {
            if (!parse_bytes(value, number) || number < 4096) usage_error("--window takes a byte count of at least 4096 (K, M, G suffixes)");
            settings.window = number;
        } else {
            usage_error("unknown option " + arg);
        }
    }
    if (!have_listen || !have_connect) usage_error("--listen and --connect are required");
    signal(SIGPIPE, SIG_IGN);
    // Every thread inherits the mask: only the main thread takes SIGTERM and SIGINT (sigwait).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    Endpoint bound, control_bound;
    const int listener = listen_on(listen_at, bound);
    const int control = have_control ? listen_on(control_at, control_bound) : -1;
    Proxy proxy(settings, resolve(connect_to));
    std::printf("listening %s:%u\n", bound.host.c_str(), bound.port);
    if (control >= 0) std::printf("control %s:%u\n", control_bound.host.c_str(), control_bound.port);
    std::fflush(stdout);
    if (control >= 0) std::thread([&proxy, control] { proxy.control_loop(control); }).detach();

    std::thread([&proxy, listener] { proxy.accept_loop(listener); }).detach();
    int received = 0;
    sigwait(&stop_signals, &received);
    return 0;
}
