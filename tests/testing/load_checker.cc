#include "testing/load_checker.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>
#include <random>
#include <set>

#include "proto/memcache/response.h"
#include "testing/loopback_client.h"

namespace trellis::testing {

namespace {

using namespace std::chrono_literals;

constexpr auto kReplyTimeout = 3s;
constexpr size_t kLargeValue = 64 * 1024;

enum class KeyKind { kPlain, kCounter, kAppend };

// The number after `prefix` at the start of `text` ("v12:..." -> 12), or nullopt.
std::optional<uint64_t> NumberAfter(std::string_view text, std::string_view prefix) {
  if (!text.starts_with(prefix)) {
    return std::nullopt;
  }
  uint64_t number = 0;
  const char* first = text.data() + prefix.size();
  const auto [end, error] = std::from_chars(first, text.data() + text.size(), number);
  return error == std::errc() && end != first ? std::optional(number) : std::nullopt;
}

// The value of a one-key get reply ("VALUE k f n\r\n<data>\r\nEND\r\n"), or nullopt for
// a miss ("END\r\n"). Sets *ok false for anything else.
std::optional<std::string> ValueOf(const std::string& reply, bool* ok) {
  *ok = true;
  if (reply == "END\r\n") {
    return std::nullopt;
  }
  const size_t header_end = reply.find("\r\n");
  if (!reply.starts_with("VALUE ") || header_end == std::string::npos ||
      !reply.ends_with("\r\nEND\r\n")) {
    *ok = false;
    return std::nullopt;
  }
  return reply.substr(header_end + 2, reply.size() - header_end - 2 - 7);
}

// A failed request: the cluster could not serve it (a node down, a timeout). Not a
// violation: what it asked for may or may not have happened.
bool Failed(std::string_view reply) {
  return reply.empty() || reply.starts_with("SERVER_ERROR") || reply == "ERROR\r\n";
}

// A failed request and its reply, readable: "get k1 got 'SERVER_ERROR ...'".
std::string Describe(std::string_view request, std::string_view reply) {
  const std::string what(request.substr(0, request.find('\r')));
  return what + (reply.empty() ? " got no reply within 3 s"
                               : " got '" + std::string(reply.substr(0, reply.find('\r'))) + "'");
}

// The pieces of an appended value "|1|2|5|", or nullopt if it is not one.
std::optional<std::vector<uint64_t>> Pieces(std::string_view value) {
  if (!value.starts_with('|') || !value.ends_with('|')) {
    return std::nullopt;
  }
  std::vector<uint64_t> pieces;
  for (size_t at = 1; at < value.size();) {
    const size_t bar = value.find('|', at);
    const auto piece = NumberAfter(value.substr(at, bar - at), "");
    if (!piece) {
      return std::nullopt;
    }
    pieces.push_back(*piece);
    at = bar + 1;
  }
  return pieces;
}

}  // namespace

struct LoadChecker::Key {
  std::string name;
  KeyKind kind = KeyKind::kPlain;
  std::mutex mu;
  // Guarded by mu. Plain keys: operation n (from 1) is a set of version n, or a delete
  // (deletes[n]); operation 0 is "never written", a miss. Counters and appended keys:
  // how many increments or appends.
  std::vector<bool> deletes{true};
  uint64_t sent = 0;
  uint64_t acked = 0;
  // Operations that failed (an error reply, or none): they may or may not have happened.
  std::set<uint64_t> uncertain;
};

// One thread of load: a writer owns keys [first, last); a reader (first == last) reads
// anyone's.
class LoadChecker::Worker {
 public:
  Worker(LoadChecker& checker, int id, size_t first, size_t last)
      : checker_(checker),
        id_(id),
        first_(first),
        last_(last),
        random_(static_cast<uint32_t>(2026 + id)) {}

  void Run() {
    while (!checker_.stop_.load()) {
      if (first_ == last_) {
        ReadAnyKey();
      } else {
        WriteOrReadOwnKey();
      }
      checker_.operations_.fetch_add(1);
    }
  }

  // Reads `key` and checks it holds exactly its acknowledged state.
  void CheckExact(Key& key) {
    uint64_t acked = 0;
    uint64_t sent = 0;
    {
      std::lock_guard lock(key.mu);
      acked = key.acked;
      sent = key.sent;  // Past `acked` only by operations that failed.
    }
    bool failed = false;
    const std::optional<std::string> value = Read(key, "get " + key.name + "\r\n", &failed);
    if (!failed) {
      CheckRead(key, acked, sent, value);
    }
  }

 private:
  // Sends `request` and returns the whole reply ("" after 3 s: then reconnects).
  std::string Exchange(const std::string& request) {
    if (!client_) {
      try {
        client_.emplace(checker_.options_.ports[id_ % checker_.options_.ports.size()]);
      } catch (const std::exception&) {
        return "";
      }
    }
    if (!client_->Send(request)) {
      client_.reset();
      return "";
    }
    std::string reply;
    const auto deadline = std::chrono::steady_clock::now() + kReplyTimeout;
    for (;;) {
      proto::memcache::Response response;
      if (!reply.empty() && proto::memcache::ParseResponse(reply, &response).status !=
                                proto::memcache::ResponseStatus::kNeedMore) {
        return reply;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      const std::string more = left.count() > 0 ? client_->ReadUntil("\r\n", left) : "";
      if (more.empty()) {
        client_.reset();
        return "";
      }
      reply += more;
    }
  }

  // `request`'s reply as a get reply. A failure sets *failed (and counts as an error); a
  // reply that is neither a value nor a miss is a violation.
  std::optional<std::string> Read(Key& key, const std::string& request, bool* failed) {
    *failed = false;
    const std::string reply = Exchange(request);
    bool ok = false;
    std::optional<std::string> value;
    if (request.starts_with("mg ")) {
      ok = reply == "EN\r\n" || reply.starts_with("VA ");
      if (reply.starts_with("VA ")) {
        const size_t header_end = reply.find("\r\n");
        value = reply.substr(header_end + 2, reply.size() - header_end - 4);
      }
    } else {
      value = ValueOf(reply, &ok);
    }
    if (!ok) {
      *failed = Failed(reply);
      if (*failed) {
        checker_.Error(Describe(request, reply));
      } else {
        checker_.Violation(key.name + ": " + request.substr(0, request.find('\r')) + " got '" +
                           reply.substr(0, 80) + "'");
      }
    }
    return value;
  }

  // Checks a read of `key` that began when `acked_before` was acknowledged and ended
  // when `sent_after` had been sent.
  void CheckRead(Key& key, uint64_t acked_before, uint64_t sent_after,
                 const std::optional<std::string>& value) {
    std::lock_guard lock(key.mu);
    std::string wrong;
    if (key.kind == KeyKind::kPlain) {
      if (!value) {
        bool delete_possible = key.deletes[acked_before];
        for (uint64_t n = acked_before + 1; n <= sent_after && !delete_possible; ++n) {
          delete_possible = key.deletes[n];
        }
        if (!delete_possible) {
          wrong = "a miss";
        }
      } else {
        const auto version = NumberAfter(*value, "v");
        if (!version || *version < acked_before || *version > sent_after || key.deletes[*version]) {
          wrong = "'" + value->substr(0, 20) + "'";
        }
      }
    } else if (!value) {
      wrong = "a miss";
    } else if (key.kind == KeyKind::kCounter) {
      const auto count = NumberAfter(*value, "");
      if (!count || *count < acked_before || *count > sent_after) {
        wrong = "'" + value->substr(0, 40) + "'";
      }
    } else {
      // Pieces in order, none after those sent, none missing of those acknowledged
      // unless its append failed.
      const auto pieces = Pieces(*value);
      bool good = pieces.has_value();
      for (size_t i = 0; good && i < pieces->size(); ++i) {
        good = (*pieces)[i] <= sent_after && (i == 0 || (*pieces)[i - 1] < (*pieces)[i]);
      }
      for (uint64_t n = 1, i = 0; good && n <= acked_before; ++n) {
        const bool present = i < pieces->size() && (*pieces)[i] == n;
        i += present ? 1 : 0;
        good = present || key.uncertain.contains(n);
      }
      if (!good) {
        wrong = "'" + value->substr(0, 40) + "'";
      }
    }
    if (!wrong.empty()) {
      // A plain key's operations so far: "set 1, delete 2?, ..." (? for a failed one).
      std::string history;
      for (uint64_t n = 1; key.kind == KeyKind::kPlain && n < key.deletes.size(); ++n) {
        history += (n == 1 ? " (" : ", ") + std::string(key.deletes[n] ? "delete " : "set ") +
                   std::to_string(n) + (key.uncertain.contains(n) ? "?" : "") +
                   (n + 1 == key.deletes.size() ? ")" : "");
      }
      checker_.Violation(key.name + ": read " + wrong + " with " + std::to_string(acked_before) +
                         " acknowledged before and " + std::to_string(sent_after) + " sent after" +
                         history);
    }
  }

  void ReadAnyKey() {
    Key& key = *checker_.keys_[random_() % checker_.keys_.size()];
    uint64_t acked_before = 0;
    {
      std::lock_guard lock(key.mu);
      acked_before = key.acked;
    }
    const std::string request =
        random_() % 2 == 0 ? "get " + key.name + "\r\n" : "mg " + key.name + " v\r\n";
    bool failed = false;
    const std::optional<std::string> value = Read(key, request, &failed);
    uint64_t sent_after = 0;
    {
      std::lock_guard lock(key.mu);
      sent_after = key.sent;
    }
    if (!failed) {
      CheckRead(key, acked_before, sent_after, value);
    }
  }

  // Records operation `n` of `key` as sent (`is_delete` for a delete of a plain key).
  static uint64_t Send(Key& key, bool is_delete) {
    std::lock_guard lock(key.mu);
    ++key.sent;
    if (key.kind == KeyKind::kPlain) {
      key.deletes.push_back(is_delete);
    }
    return key.sent;
  }
  static void Acknowledge(Key& key, uint64_t n) {
    std::lock_guard lock(key.mu);
    key.acked = n;
  }

  // Runs write `n` of `key` with `request`; acknowledged if the reply is one of `good`
  // (for a counter: the count it answers).
  void Write(Key& key, uint64_t n, const std::string& request,
             const std::vector<std::string>& good) {
    const std::string reply = Exchange(request);
    if (key.kind == KeyKind::kCounter) {
      // One writer: an increment answers the count, at most n, more than acknowledged.
      const auto count = NumberAfter(reply, "");
      std::lock_guard lock(key.mu);
      if (count && reply.ends_with("\r\n") && *count > key.acked && *count <= n) {
        key.acked = *count;
        return;
      }
    } else if (std::find(good.begin(), good.end(), reply) != good.end()) {
      Acknowledge(key, n);
      return;
    }
    if (Failed(reply)) {
      checker_.Error(Describe(request, reply));
      std::lock_guard lock(key.mu);
      key.uncertain.insert(n);
      return;
    }
    checker_.Violation(key.name + ": " + request.substr(0, request.find('\r')) + " got '" +
                       reply.substr(0, 80) + "'");
  }

  void WriteOrReadOwnKey() {
    const size_t count = last_ - first_;
    Key& key = *checker_.keys_[first_ + random_() % count];
    const uint32_t dice = random_() % 100;
    if (key.kind == KeyKind::kCounter) {
      if (dice < 70) {
        const uint64_t n = Send(key, false);
        Write(key, n, "incr " + key.name + " 1\r\n", {});
      } else {
        CheckExact(key);
      }
      return;
    }
    if (key.kind == KeyKind::kAppend) {
      if (dice < 70) {
        const uint64_t n = Send(key, false);
        const std::string piece = std::to_string(n) + "|";
        Write(
            key, n,
            "append " + key.name + " 0 0 " + std::to_string(piece.size()) + "\r\n" + piece + "\r\n",
            {"STORED\r\n"});
      } else {
        CheckExact(key);
      }
      return;
    }
    if (dice < 50) {
      const uint64_t n = Send(key, false);
      std::string value = "v" + std::to_string(n) + ":";
      value.resize(random_() % 200 == 0 ? kLargeValue : checker_.options_.value_size, 'x');
      const std::string size = std::to_string(value.size());
      if (dice < 35) {
        Write(key, n, "set " + key.name + " 0 0 " + size + "\r\n" + value + "\r\n", {"STORED\r\n"});
      } else {
        Write(key, n, "ms " + key.name + " " + size + "\r\n" + value + "\r\n", {"HD\r\n"});
      }
    } else if (dice < 65) {
      const uint64_t n = Send(key, true);
      if (dice < 60) {
        Write(key, n, "delete " + key.name + "\r\n", {"DELETED\r\n", "NOT_FOUND\r\n"});
      } else {
        Write(key, n, "md " + key.name + "\r\n", {"HD\r\n", "NF\r\n"});
      }
    } else if (dice < 90) {
      CheckExact(key);
    } else {
      // A multi-get of five own keys, each checked exactly.
      std::vector<Key*> some;
      std::string request = "get";
      for (int i = 0; i < 5; ++i) {
        Key* other = checker_.keys_[first_ + random_() % count].get();
        if (other->kind == KeyKind::kPlain) {
          some.push_back(other);
          request += " " + other->name;
        }
      }
      if (some.empty()) {
        return;
      }
      const std::string reply = Exchange(request + "\r\n");
      if (Failed(reply)) {
        checker_.Error(Describe(request, reply));
        return;
      }
      if (!reply.ends_with("END\r\n")) {
        checker_.Violation(request + " got '" + reply.substr(0, 80) + "'");
        return;
      }
      for (Key* other : some) {
        // The hit of this key, if any, as a one-key reply.
        const size_t at = reply.find("VALUE " + other->name + " ");
        std::string one = "END\r\n";
        if (at != std::string::npos) {
          const size_t header_end = reply.find("\r\n", at);
          const size_t length =
              std::stoul(reply.substr(reply.rfind(' ', header_end) + 1, header_end));
          one = reply.substr(at, header_end + 2 + length + 2 - at) + "END\r\n";
        }
        bool ok = false;
        const std::optional<std::string> value = ValueOf(one, &ok);
        uint64_t acked = 0;
        uint64_t sent = 0;
        {
          std::lock_guard lock(other->mu);
          acked = other->acked;
          sent = other->sent;
        }
        CheckRead(*other, acked, sent, value);
      }
    }
  }

  LoadChecker& checker_;
  const int id_;
  const size_t first_;
  const size_t last_;
  std::mt19937 random_;
  std::optional<LoopbackClient> client_;
};

LoadChecker::LoadChecker(LoadCheckerOptions options) : options_(std::move(options)) {
  for (int w = 0; w < options_.writers; ++w) {
    for (int i = 0; i < options_.keys_per_writer; ++i) {
      auto key = std::make_unique<Key>();
      key->name = "ck:" + std::to_string(w) + ":" + std::to_string(i);
      // One key in ten counts, one in ten appends, the rest are plain.
      key->kind =
          i % 10 == 8 ? KeyKind::kCounter : (i % 10 == 9 ? KeyKind::kAppend : KeyKind::kPlain);
      keys_.push_back(std::move(key));
    }
  }
}

LoadChecker::~LoadChecker() { Stop(); }

void LoadChecker::Start() {
  // Every key exists from the start: plain keys at version 1, counters at 0, appended
  // keys at "|".
  LoopbackClient client(options_.ports.front());
  for (const auto& key : keys_) {
    std::string value = "v1:";
    if (key->kind == KeyKind::kPlain) {
      value.resize(options_.value_size, 'x');
      key->sent = key->acked = 1;
      key->deletes.push_back(false);
    } else {
      value = key->kind == KeyKind::kCounter ? "0" : "|";
    }
    client.Send("set " + key->name + " 0 0 " + std::to_string(value.size()) + "\r\n" + value +
                "\r\n");
    if (client.ReadUntil("\r\n", kReplyTimeout) != "STORED\r\n") {
      Violation(key->name + ": could not be created");
    }
  }
  const size_t per_writer = static_cast<size_t>(options_.keys_per_writer);
  int id = 0;
  for (int w = 0; w < options_.writers; ++w, ++id) {
    threads_.emplace_back([this, id, w, per_writer] {
      Worker(*this, id, w * per_writer, (w + 1) * per_writer).Run();
    });
  }
  for (int r = 0; r < options_.readers; ++r, ++id) {
    threads_.emplace_back([this, id] { Worker(*this, id, 0, 0).Run(); });
  }
}

void LoadChecker::Stop() {
  stop_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) {
      thread.join();
    }
  }
}

void LoadChecker::VerifyAll() {
  Worker verifier(*this, 0, 0, 0);
  for (const auto& key : keys_) {
    verifier.CheckExact(*key);
  }
}

void LoadChecker::Error(std::string what) {
  std::lock_guard lock(mu_);
  ++errors_;
  if (first_errors_.size() < 20) {
    first_errors_.push_back(std::move(what));
  }
}

void LoadChecker::Violation(std::string what) {
  std::lock_guard lock(mu_);
  ++violations_;
  if (first_violations_.size() < 20) {
    first_violations_.push_back(std::move(what));
  }
}

LoadCheckerReport LoadChecker::Report() const {
  std::lock_guard lock(mu_);
  return {operations_.load(), errors_, first_errors_, violations_, first_violations_};
}

}  // namespace trellis::testing
