// ServiceRegistry: the master's table of platform services, the daemons that are not
// cache nodes (the backup center; later a gateway, a monitor, a database proxy). They
// register (cluster_state.h, ServiceRegistration) so that `trellis cluster status` lists
// them and whoever looks for them finds them (a monitor scraping their /metrics).
// MasterNode answers PUT, GET and DELETE /v1/services with it.
//
// Every registration is a lease of kServiceLease from its last renewal; a service whose
// lease ran out is neither listed nor found. The table lives in memory only, never in the
// map's store: services renew every kServiceRenewal, so a restarted master knows every
// live one again within one renewal, and nothing a dead service registered outlives its
// lease. Time is passed in (`now`), so that tests drive it.
//
// Thread safety: none; the master's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "master/client/cluster_state.h"

namespace trellis::master {

class ServiceRegistry {
 public:
  using Clock = std::chrono::steady_clock;

  // Registrations come from the network: the table and its fields are bounded.
  static constexpr size_t kMaxServices = 1024;
  static constexpr size_t kMaxFieldBytes = 1024;  // kind, url, metrics_url, summary.

  // Stores `registration` (replacing the service of the same name) and renews its lease
  // from `now`; answers it as GET /v1/services lists it. Errors: kInvalidArgument for a
  // name that is not 1-64 letters, digits, '.', '-' or '_' (or is "." or ".."), an empty
  // kind or url, a field over kMaxFieldBytes, or a summary of more than one line;
  // kResourceExhausted for a new name while kMaxServices live services are registered.
  base::Result<ServiceStatus> Renew(ServiceRegistration registration, Clock::time_point now);
  // Every live service at `now`, by name.
  std::vector<ServiceStatus> List(Clock::time_point now) const;
  bool Contains(std::string_view name, Clock::time_point now) const;
  // Forgets a service at once. Errors: kNotFound when no live service has that name.
  base::Status Remove(std::string_view name, Clock::time_point now);

 private:
  struct Entry {
    ServiceRegistration registration;
    Clock::time_point renewed;
  };

  static bool Live(const Entry& entry, Clock::time_point now) {
    return now < entry.renewed + kServiceLease;
  }
  static ServiceStatus StatusOf(const Entry& entry, Clock::time_point now);
  // Forgets the services whose lease ran out by `now`.
  void DropExpired(Clock::time_point now);

  // By name. May still hold services whose lease ran out (until the next Renew or
  // Remove); they are never answered.
  std::map<std::string, Entry, std::less<>> services_;
};

}  // namespace trellis::master
