// `trellis bench`: the memcached load generator. Prints ops/s, hit ratio, errors and
// latency percentiles, as text or --json.
#include <fmt/format.h>
#include <unistd.h>

#include <memory>

#include <CLI/CLI.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "bench/load_generator.h"
#include "cli/command.h"
#include "daemon/flags.h"
#include "net/address.h"

namespace trellis::cli {
namespace {

struct BenchFlags {
  std::string server = "127.0.0.1:11211";
  std::string ratio = "1:9";
  std::string value_size = "64";
  std::string key_pattern = "uniform";
  std::string protocol = "text";
  std::string login_file;
  bool json = false;
  bench::BenchOptions options;
};

// "N" or "MIN-MAX".
bool ParseValueSize(const std::string& text, size_t* min, size_t* max) {
  const size_t dash = text.find('-');
  char* end = nullptr;
  *min = std::strtoull(text.c_str(), &end, 10);
  if (dash == std::string::npos) {
    *max = *min;
    return *end == '\0' && !text.empty() && *min > 0;
  }
  if (end != text.c_str() + dash) {
    return false;
  }
  *max = std::strtoull(text.c_str() + dash + 1, &end, 10);
  return *end == '\0' && dash > 0 && dash + 1 < text.size() && *min > 0 && *max >= *min;
}

bool ParseRatio(const std::string& text, int* sets, int* gets) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return false;
  }
  char* end = nullptr;
  const long s = std::strtol(text.c_str(), &end, 10);
  if (end != text.c_str() + colon) {
    return false;
  }
  const long g = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || s < 0 || g < 0 || s + g == 0 || s > 1000000 || g > 1000000) {
    return false;
  }
  *sets = static_cast<int>(s);
  *gets = static_cast<int>(g);
  return true;
}

std::string Microseconds(uint64_t nanoseconds) {
  return fmt::format("{:.1f}us", static_cast<double>(nanoseconds) / 1000.0);
}

nlohmann::json LatencyJson(const bench::LatencyHistogram& h) {
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  return {{"min", us(h.min())},
          {"p50", us(h.Percentile(50))},
          {"p90", us(h.Percentile(90))},
          {"p99", us(h.Percentile(99))},
          {"p99.9", us(h.Percentile(99.9))},
          {"max", us(h.max())}};
}

void PrintReport(const BenchFlags& flags, const bench::BenchReport& report) {
  const bench::BenchOptions& o = flags.options;
  if (flags.json) {
    nlohmann::json json = {
        {"server", flags.server},
        {"seconds", report.seconds},
        {"ops_per_second", report.ops_per_second()},
        {"gets",
         {{"requests", report.gets.requests},
          {"ops_per_second", report.gets.requests / std::max(report.seconds, 1e-9)},
          {"latency_us", LatencyJson(report.gets.latency)}}},
        {"sets",
         {{"requests", report.sets.requests},
          {"ops_per_second", report.sets.requests / std::max(report.seconds, 1e-9)},
          {"latency_us", LatencyJson(report.sets.latency)}}},
        {"key_hits", report.key_hits},
        {"key_misses", report.key_misses},
        {"hit_ratio", report.hit_ratio()},
        {"errors", report.errors},
        {"latency_us", LatencyJson(report.all)},
    };
    fmt::print("{}\n", json.dump());
    return;
  }
  fmt::print(
      "trellis bench: {}, {} thread(s) x {} connection(s), pipeline {}, {} set:get, "
      "{} B values, {} protocol\n",
      flags.server, o.threads, o.connections, o.pipeline, flags.ratio, flags.value_size,
      flags.protocol);
  fmt::print("  ops/s      {:.0f}  (get {:.0f}, set {:.0f}) over {:.2f} s\n",
             report.ops_per_second(), report.gets.requests / std::max(report.seconds, 1e-9),
             report.sets.requests / std::max(report.seconds, 1e-9), report.seconds);
  fmt::print("  hit ratio  {:.2f}% of {} keys requested\n", report.hit_ratio() * 100,
             report.key_hits + report.key_misses);
  std::string errors;
  for (const auto& [kind, count] : report.errors) {
    errors += fmt::format("{}{} {}", errors.empty() ? "" : ", ", kind, count);
  }
  fmt::print("  errors     {}\n", errors.empty() ? "none" : errors);
  const bench::LatencyHistogram& h = report.all;
  fmt::print("  latency    min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
             Microseconds(h.min()), Microseconds(h.Percentile(50)), Microseconds(h.Percentile(90)),
             Microseconds(h.Percentile(99)), Microseconds(h.Percentile(99.9)),
             Microseconds(h.max()));
}

int RunBenchCommand(CLI::App& app, BenchFlags& flags) {
  bench::BenchOptions& o = flags.options;
  auto endpoint = daemon::ResolveFlag("--server", flags.server);
  if (!endpoint) {
    return daemon::Fail(app, endpoint.error());
  }
  o.server = *endpoint;
  if (!ParseRatio(flags.ratio, &o.set_ratio, &o.get_ratio)) {
    return daemon::Fail(
        app, base::InvalidArgument("--ratio: '" + flags.ratio + "' is not SET:GET (e.g. 1:9)"));
  }
  if (!ParseValueSize(flags.value_size, &o.value_min, &o.value_max)) {
    return daemon::Fail(app, base::InvalidArgument("--value-size: '" + flags.value_size +
                                                   "' is not BYTES or MIN-MAX"));
  }
  auto pattern = bench::ParseKeyPattern(flags.key_pattern);
  if (!pattern) {
    return daemon::Fail(app, base::InvalidArgument(pattern.error().message));
  }
  o.key_pattern = *pattern;
  o.meta_protocol = flags.protocol == "meta";
  if (!flags.login_file.empty()) {
    base::Result<std::string> login = base::ReadFile(flags.login_file);
    if (!login) {
      return daemon::Fail(app, base::WithContext("--login-file", login.error()));
    }
    boost::algorithm::trim(*login);
    o.login = *login;
  }
  const bool show_progress = !flags.json && isatty(STDOUT_FILENO);
  auto report = bench::RunBench(o, [&](double elapsed, uint64_t requests) {
    if (show_progress) {
      fmt::print("\r  {:.0f} s  {} requests  {:.0f} ops/s   ", elapsed, requests,
                 static_cast<double>(requests) / elapsed);
      std::fflush(stdout);
    }
  });
  if (show_progress) {
    fmt::print("\r{:60}\r", "");
  }
  if (!report) {
    return daemon::Fail(app, report.error());
  }
  PrintReport(flags, *report);
  return 0;
}

}  // namespace

Command AddBenchCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "bench", "load-test a memcached-protocol server (trellis cache, access, memcached, ...)");
  auto flags = std::make_shared<BenchFlags>();
  bench::BenchOptions& o = flags->options;
  app->add_option("--server", flags->server, "HOST:PORT of the server under test")
      ->capture_default_str();
  app->add_option("--threads", o.threads, "load-generator threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app->add_option("--connections", o.connections, "connections per thread")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app->add_option("--pipeline", o.pipeline, "requests in flight per connection")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app->add_option("--ratio", flags->ratio, "SET:GET request mix, e.g. 1:9 or 1:0")
      ->capture_default_str();
  app->add_option("--keys", o.keys, "number of distinct keys")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app->add_option("--key-pattern", flags->key_pattern,
                  "uniform, zipf:THETA (0 < THETA < 1; a few keys get most requests) or "
                  "sequential")
      ->capture_default_str();
  app->add_option("--key-prefix", o.key_prefix, "prefix of every key")->capture_default_str();
  app->add_option("--value-size", flags->value_size, "value bytes: N, or MIN-MAX for random sizes")
      ->capture_default_str();
  app->add_option("--duration", o.duration_seconds, "seconds to measure")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app->add_option("--requests", o.requests,
                  "stop after this many requests instead of after --duration");
  app->add_option("--warmup", o.warmup_seconds, "seconds of load before measuring starts")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app->add_option("--protocol", flags->protocol, "text (get/set) or meta (mg/ms)")
      ->check(CLI::IsMember({"text", "meta"}))
      ->capture_default_str();
  app->add_flag("--fill", o.fill,
                "set every key once, in order, then stop (for memory and hit-ratio runs)");
  app->add_option("--multiget", o.multiget, "keys per get request")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app->add_option("--rate", o.rate,
                  "requests per second in total, latency counted from each request's intended "
                  "send time; 0 = as fast as possible")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  CLI::Option* tls_ca =
      app->add_option("--tls-ca", o.tls.ca,
                      "speak TLS (memcached -Z, trellis cache --tls-cert), trusting the server's "
                      "certificate only if this CA file issued it");
  CLI::Option* tls_cert = app->add_option(
      "--tls-cert", o.tls.certificate,
      "PEM certificate to show a server that asks for one (mutual TLS: a cache "
      "node's --tls-client-ca, a cluster's node with --cluster-cert); with --tls-ca");
  CLI::Option* tls_key = app->add_option("--tls-key", o.tls.key, "PEM private key of --tls-cert");
  tls_cert->needs(tls_key)->needs(tls_ca);
  tls_key->needs(tls_cert);
  app->add_option("--login-file", flags->login_file,
                  "file holding \"TENANT PASSWORD\": every connection logs in as that tenant "
                  "first (an access node with --auth)");
  app->add_flag("--json", flags->json, "print one JSON object instead of the table");
  return {app, [app, flags] { return RunBenchCommand(*app, *flags); }};
}

}  // namespace trellis::cli
