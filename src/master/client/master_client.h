// MasterClient: what cache and access nodes use to talk to the master: blocking HTTP/1.1
// requests with a deadline, JSON in and out. Nodes call it from a thread of their own,
// so a slow or absent master never stalls the data path.
//
// Thread safety: none; one per thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace trellis::master {

class MasterClient {
 public:
  // `url`: "http://HOST:PORT" (the scheme is optional).
  static base::Result<MasterClient> ForUrl(const std::string& url);

  // The reply's JSON body; an error for a transport failure, a status of 400 or more
  // (with the master's message) or a body that is not JSON.
  base::Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                                    const std::string& body,
                                    std::chrono::milliseconds timeout) const;

  // Calls `apply` with the cluster map now and after every change, until `stop()`;
  // waits out an absent master (the node keeps its last map meanwhile). A cache node
  // passes its address as `node` (the master renews its lease when it is a main) and
  // `renew`, which sees every reply, changed or not, with when it was asked for.
  using Renew = std::function<void(const nlohmann::json& map,
                                   std::chrono::steady_clock::time_point asked)>;
  void Follow(const std::function<void(const nlohmann::json& map)>& apply,
              const std::function<bool()>& stop, const std::string& node = "",
              const Renew& renew = nullptr) const;

  const std::string& address() const { return address_; }

 private:
  explicit MasterClient(std::string address) : address_(std::move(address)) {}
  std::string address_;  // HOST:PORT
};

}  // namespace trellis::master
