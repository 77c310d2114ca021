#include "master/service_registry.h"

#include <algorithm>
#include <cctype>

namespace trellis::master {

namespace {

// Names go in URLs (/v1/services/NAME) unescaped, and "." or ".." would be taken for a
// path step by whatever normalises paths between a client and the master.
bool IsServiceName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
         });
}

base::Status Check(const ServiceRegistration& registration) {
  if (!IsServiceName(registration.name)) {
    return base::InvalidArgument("name: 1-64 letters, digits, '.', '-' or '_'");
  }
  if (registration.kind.empty()) {
    return base::InvalidArgument("kind: must not be empty");
  }
  if (registration.url.empty()) {
    return base::InvalidArgument("url: must not be empty");
  }
  const std::pair<const char*, const std::string*> fields[] = {
      {"kind", &registration.kind},
      {"url", &registration.url},
      {"metrics_url", &registration.metrics_url},
      {"summary", &registration.summary}};
  for (const auto& [field, value] : fields) {
    if (value->size() > ServiceRegistry::kMaxFieldBytes) {
      return base::InvalidArgument(std::string(field) + ": at most " +
                                   std::to_string(ServiceRegistry::kMaxFieldBytes) + " bytes");
    }
  }
  if (registration.summary.find_first_of("\r\n") != std::string::npos) {
    return base::InvalidArgument("summary: one line, without line breaks");
  }
  return {};
}

}  // namespace

base::Result<ServiceStatus> ServiceRegistry::Renew(ServiceRegistration registration,
                                                   Clock::time_point now) {
  TRELLIS_TRY_STATUS(Check(registration));
  DropExpired(now);
  if (services_.size() >= kMaxServices && !services_.contains(registration.name)) {
    return base::ResourceExhausted("the master holds " + std::to_string(kMaxServices) +
                                   " services already");
  }
  std::string name = registration.name;
  Entry& entry = services_[std::move(name)];
  entry = {std::move(registration), now};
  return StatusOf(entry, now);
}

std::vector<ServiceStatus> ServiceRegistry::List(Clock::time_point now) const {
  std::vector<ServiceStatus> live;
  for (const auto& [name, entry] : services_) {
    if (Live(entry, now)) {
      live.push_back(StatusOf(entry, now));
    }
  }
  return live;
}

bool ServiceRegistry::Contains(std::string_view name, Clock::time_point now) const {
  const auto it = services_.find(name);
  return it != services_.end() && Live(it->second, now);
}

base::Status ServiceRegistry::Remove(std::string_view name, Clock::time_point now) {
  DropExpired(now);
  const auto it = services_.find(name);
  if (it == services_.end()) {
    return base::NotFound("no service " + std::string(name));
  }
  services_.erase(it);
  return {};
}

ServiceStatus ServiceRegistry::StatusOf(const Entry& entry, Clock::time_point now) {
  return {entry.registration,
          std::chrono::duration<double>(std::max(now - entry.renewed, Clock::duration::zero()))
              .count()};
}

void ServiceRegistry::DropExpired(Clock::time_point now) {
  std::erase_if(services_, [now](const auto& item) { return !Live(item.second, now); });
}

}  // namespace trellis::master
