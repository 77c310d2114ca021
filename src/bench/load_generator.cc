#include "bench/load_generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/address.h"
#include "proto/memcache/response.h"

namespace trellis::bench {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using proto::memcache::ParseResponse;
using proto::memcache::Response;
using proto::memcache::ResponseKind;
using proto::memcache::ResponseStatus;

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(3);

// What every connection shares: when to stop, how many requests are left.
struct RunState {
  explicit RunState(const BenchOptions& o) : options(o) {}
  const BenchOptions& options;
  Clock::time_point start;
  Clock::time_point measure_from;  // start + warm-up.
  Clock::time_point deadline;      // Ignored when requests or fill bound the run.
  std::atomic<int64_t> requests_left{0};
  std::atomic<uint64_t> completed{0};
  std::atomic<int> connected{0};
  std::atomic<int> finished{0};
  std::string connect_error;  // The first connect failure; guarded by mu.
  std::mutex mu;
  const ZipfConstants* zipf = nullptr;
  std::string value;                           // value_max bytes of filler.
  std::shared_ptr<net::TlsClientContext> tls;  // With options.tls.ca.
};

struct InFlight {
  Clock::time_point sent;  // Intended send time under --rate, else actual.
  bool is_get;
  int responses_left;  // Meta multi-gets get one reply per key.
  int keys;
};

// One connection: sends requests, keeping `pipeline` in flight, and measures replies.
class BenchConnection {
 public:
  BenchConnection(RunState& state, BenchReport& report, int index, int total)
      : state_(state),
        options_(state.options),
        report_(report),
        random_(0x9e3779b97f4a7c15ULL * (index + 1)),
        keys_(options_.fill ? KeyPattern{KeyPattern::Kind::kSequential} : options_.key_pattern,
              options_.fill ? std::max<uint64_t>(FillCount(index, total), 1) : options_.keys,
              state.zipf, 0x5bd1e995ULL * (index + 1)),
        fill_left_(options_.fill ? FillCount(index, total) : 0),
        index_(static_cast<uint64_t>(index)),
        total_(static_cast<uint64_t>(total)) {
    const double per_connection_rate = options_.rate / total;
    if (per_connection_rate > 0) {
      interval_ = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / per_connection_rate));
    }
  }

  asio::awaitable<void> Run() {
    auto executor = co_await asio::this_coro::executor;
    tcp::socket socket(executor);
    if (!co_await Connect(socket)) {
      co_return;
    }
    if (!state_.tls) {
      state_.connected.fetch_add(1);
      co_await Exchange(socket);
    } else {
      asio::ssl::stream<tcp::socket&> tls(socket, state_.tls->context());
      auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::client,
                                               asio::as_tuple(asio::use_awaitable));
      if (ec) {
        NoteConnectError("TLS handshake: " + ec.message());
      } else {
        state_.connected.fetch_add(1);
        co_await Exchange(tls);
      }
    }
    boost::system::error_code ignored;
    socket.close(ignored);
  }

 private:
  // The requests and replies of the run, on a connected (and, with TLS, handshaken)
  // stream.
  // Sends options_.login as memcached's ASCII authentication; false (noted) unless the
  // server says STORED.
  template <typename Stream>
  asio::awaitable<bool> LogIn(Stream& stream) {
    const std::string request =
        fmt::format("set auth 0 0 {}\r\n{}\r\n", options_.login.size(), options_.login);
    auto [write_error, written] = co_await asio::async_write(stream, asio::buffer(request),
                                                             asio::as_tuple(asio::use_awaitable));
    std::string reply;
    while (!write_error && !reply.ends_with("\r\n")) {
      auto [read_error, n] = co_await stream.async_read_some(asio::buffer(read_buffer_),
                                                             asio::as_tuple(asio::use_awaitable));
      if (read_error) {
        break;
      }
      reply.append(read_buffer_.data(), n);
    }
    if (reply != "STORED\r\n") {
      NoteConnectError("login: " + (reply.empty() ? std::string("no reply")
                                                  : reply.substr(0, reply.find('\r'))));
      co_return false;
    }
    co_return true;
  }

  template <typename Stream>
  asio::awaitable<void> Exchange(Stream& stream) {
    auto executor = co_await asio::this_coro::executor;
    if (!options_.login.empty()) {
      const bool logged_in = co_await LogIn(stream);
      if (!logged_in) {
        co_return;
      }
    }
    std::string out;
    std::string in;
    in.reserve(64 * 1024);
    std::deque<InFlight> in_flight;
    Clock::time_point next_send = Clock::now();
    for (;;) {
      const Clock::time_point now = Clock::now();
      // Send what is due, keeping at most `pipeline` requests in flight.
      while (static_cast<int>(in_flight.size()) < options_.pipeline && MoreToSend(now)) {
        if (interval_.count() > 0 && next_send > now) {
          break;
        }
        in_flight.push_back(AppendRequest(&out, interval_.count() > 0 ? next_send : now));
        next_send += interval_;
      }
      if (!out.empty()) {
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out),
                                                  asio::as_tuple(asio::use_awaitable));
        if (ec) {
          CountError("connection");
          break;
        }
        out.clear();
      }
      if (in_flight.empty()) {
        if (!MoreToSend(Clock::now())) {
          break;
        }
        asio::steady_timer wait(executor, next_send);  // Under --rate: idle until due.
        co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(read_buffer_),
                                                     asio::as_tuple(asio::use_awaitable));
      if (ec || n == 0) {
        CountError("connection");
        break;
      }
      in.append(read_buffer_.data(), n);
      if (!ConsumeReplies(&in, &in_flight)) {
        CountError("protocol");
        break;
      }
    }
  }

  // Connection i of n fills keys i, i+n, i+2n, ...: its share of them, counted here,
  // mapped to key indexes in NextKey().
  uint64_t FillCount(int index, int total) const {
    const uint64_t keys = options_.keys;
    return keys / total + (static_cast<uint64_t>(index) < keys % total ? 1 : 0);
  }

  void NoteConnectError(const std::string& error) {
    std::lock_guard lock(state_.mu);
    if (state_.connect_error.empty()) {
      state_.connect_error = error;
    }
  }

  asio::awaitable<bool> Connect(tcp::socket& socket) {
    asio::steady_timer timeout(socket.get_executor(), kConnectTimeout);
    timeout.async_wait([&socket](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        socket.close(ignored);
      }
    });
    auto [ec] = co_await socket.async_connect(options_.server, asio::as_tuple(asio::use_awaitable));
    timeout.cancel();
    if (ec) {
      NoteConnectError(ec.message());
      co_return false;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    co_return true;
  }

  bool MoreToSend(Clock::time_point now) {
    if (options_.fill) {
      return fill_left_ > 0;
    }
    if (options_.requests > 0) {
      return state_.requests_left.load(std::memory_order_relaxed) > 0;
    }
    return now < state_.deadline;
  }

  // Appends prefix + index without a temporary string: at pipeline 1 the generator's own
  // cost per request decides whether it measures the server or itself.
  void AppendKey(std::string* out, uint64_t index) const {
    out->append(options_.key_prefix);
    AppendNumber(out, index);
  }

  static void AppendNumber(std::string* out, uint64_t value) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
    out->append(digits, end);
  }

  uint64_t NextKey() {
    const uint64_t k = keys_.Next();
    return options_.fill ? k * total_ + index_ : k;
  }

  InFlight AppendRequest(std::string* out, Clock::time_point sent) {
    state_.requests_left.fetch_sub(1, std::memory_order_relaxed);
    const bool is_set = options_.fill || choose_command_(random_) <= options_.set_ratio;
    if (is_set) {
      if (options_.fill) {
        --fill_left_;
      }
      const size_t length = choose_length_(random_);
      out->append(options_.meta_protocol ? "ms " : "set ");
      AppendKey(out, NextKey());
      out->append(options_.meta_protocol ? " " : " 0 0 ");
      AppendNumber(out, length);
      out->append("\r\n");
      out->append(state_.value, 0, length);
      out->append("\r\n");
      return {sent, false, 1, 0};
    }
    if (options_.meta_protocol) {
      for (int i = 0; i < options_.multiget; ++i) {
        out->append("mg ");
        AppendKey(out, NextKey());
        out->append(" v\r\n");
      }
      return {sent, true, options_.multiget, options_.multiget};
    }
    out->append("get");
    for (int i = 0; i < options_.multiget; ++i) {
      out->push_back(' ');
      AppendKey(out, NextKey());
    }
    out->append("\r\n");
    return {sent, true, 1, options_.multiget};
  }

  void CountError(const std::string& kind) { ++report_.errors[kind]; }

  bool ConsumeReplies(std::string* in, std::deque<InFlight>* in_flight) {
    size_t offset = 0;
    while (!in_flight->empty()) {
      Response response;
      const auto result = ParseResponse(std::string_view(*in).substr(offset), &response);
      if (result.status == ResponseStatus::kNeedMore) {
        break;
      }
      if (result.status == ResponseStatus::kBad) {
        return false;
      }
      offset += result.consumed;
      InFlight& request = in_flight->front();
      switch (response.kind) {
        case ResponseKind::kError:
          CountError("ERROR");
          break;
        case ResponseKind::kClientError:
          CountError("CLIENT_ERROR");
          break;
        case ResponseKind::kServerError:
          CountError("SERVER_ERROR");
          break;
        default:
          break;
      }
      const bool measured = request.sent >= state_.measure_from;
      if (request.is_get && measured) {
        if (options_.meta_protocol) {
          (response.kind == ResponseKind::kMetaValue ? report_.key_hits : report_.key_misses)++;
        } else if (response.kind == ResponseKind::kValues) {
          report_.key_hits += response.hits;
          report_.key_misses += request.keys - response.hits;
        }
      }
      if (--request.responses_left > 0) {
        continue;
      }
      const Clock::time_point now = Clock::now();
      if (measured) {
        const auto latency =
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - request.sent).count();
        CommandReport& command = request.is_get ? report_.gets : report_.sets;
        ++command.requests;
        command.latency.Record(static_cast<uint64_t>(latency));
        report_.all.Record(static_cast<uint64_t>(latency));
      }
      state_.completed.fetch_add(1, std::memory_order_relaxed);
      in_flight->pop_front();
    }
    in->erase(0, offset);
    return true;
  }

  RunState& state_;
  const BenchOptions& options_;
  BenchReport& report_;  // This thread's report.
  std::mt19937_64 random_;
  KeyChooser keys_;
  uint64_t fill_left_;
  const uint64_t index_;  // This connection's number, of total_.
  const uint64_t total_;
  Clock::duration interval_{0};
  std::uniform_int_distribution<int> choose_command_{1, options_.set_ratio + options_.get_ratio};
  std::uniform_int_distribution<size_t> choose_length_{options_.value_min, options_.value_max};
  std::vector<char> read_buffer_ = std::vector<char>(64 * 1024);
};

}  // namespace

base::Result<BenchReport> RunBench(const BenchOptions& options, const ProgressCallback& progress) {
  std::optional<ZipfConstants> zipf;
  if (options.key_pattern.kind == KeyPattern::Kind::kZipf && !options.fill) {
    zipf.emplace(options.keys, options.key_pattern.theta);
  }
  RunState state(options);
  if (!options.tls.ca.empty()) {
    TRELLIS_TRY(state.tls, net::TlsClientContext::Create(options.tls));
  }
  state.zipf = zipf ? &*zipf : nullptr;
  state.value.assign(options.value_max, 'x');
  state.requests_left = options.requests > 0 ? static_cast<int64_t>(options.requests) : INT64_MAX;
  state.start = Clock::now();
  const auto warmup = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.fill ? 0 : options.warmup_seconds));
  state.measure_from = state.start + warmup;
  state.deadline =
      state.measure_from + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(options.duration_seconds));

  const int total = options.threads * options.connections;
  std::vector<BenchReport> reports(options.threads);
  std::vector<std::thread> threads;
  std::atomic<int> threads_done{0};
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back([&, t] {
      asio::io_context io(1);
      std::vector<std::unique_ptr<BenchConnection>> connections;
      for (int c = 0; c < options.connections; ++c) {
        const int index = t * options.connections + c;
        connections.push_back(std::make_unique<BenchConnection>(state, reports[t], index, total));
        asio::co_spawn(io, connections.back()->Run(), asio::detached);
      }
      io.run();
      threads_done.fetch_add(1);
    });
  }
  double last_report = 0;
  while (threads_done.load() < options.threads) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // Progress display pace.
    const auto elapsed = std::chrono::duration<double>(Clock::now() - state.start).count();
    if (progress && elapsed - last_report >= 1.0) {
      last_report = elapsed;
      progress(elapsed, state.completed.load());
    }
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  const Clock::time_point end = Clock::now();
  if (state.connected.load() == 0) {
    return base::Unavailable("cannot connect to " + net::FormatEndpoint(options.server) + ": " +
                             state.connect_error);
  }
  BenchReport report;
  report.seconds = std::chrono::duration<double>(end - state.measure_from).count();
  for (const BenchReport& r : reports) {
    report.gets.requests += r.gets.requests;
    report.gets.latency.Merge(r.gets.latency);
    report.sets.requests += r.sets.requests;
    report.sets.latency.Merge(r.sets.latency);
    report.key_hits += r.key_hits;
    report.key_misses += r.key_misses;
    report.all.Merge(r.all);
    for (const auto& [kind, count] : r.errors) {
      report.errors[kind] += count;
    }
  }
  return report;
}

}  // namespace trellis::bench
