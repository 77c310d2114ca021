// `trellis tenant`: the cache's tenants (docs/security.md): create one with its limits
// (printing its password, this once), list them, delete one. Creating and deleting need
// an admin token (by default the one `trellis up` wrote to ./trellis-data/admin.token).
#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "daemon/flags.h"
#include "http/client.h"
#include "master/client/master_client.h"

namespace trellis::cli {
namespace {

namespace asio = boost::asio;

struct TenantFlags {
  daemon::OperatorFlags master;
  bool json = false;
  std::string name;  // create, delete
  uint64_t memory_bytes = 0;
  uint64_t ops_per_second = 0;
};

// A limit as the list shows it: "-" for none.
std::string Limit(uint64_t value) { return value == 0 ? "-" : std::to_string(value); }

asio::awaitable<base::Status> ActOnTenants(master::MasterClient& client, const std::string& action,
                                           const TenantFlags& flags) {
  if (action == "create") {
    // Named: g++ 12 and co_await.
    const master::TenantRequest request{flags.name, flags.memory_bytes, flags.ops_per_second};
    TRELLIS_CO_TRY(master::IssuedTenant issued, co_await client.CreateTenant(request));
    if (flags.json) {
      fmt::print("{}\n", master::ToJson(issued).dump());
      co_return base::Status();
    }
    fmt::print("tenant    {}\npassword  {}\n", issued.info.name, issued.password);
    fmt::print("The password is shown only now: the master keeps only its SHA-256.\n");
    co_return base::Status();
  }
  if (action == "list") {
    TRELLIS_CO_TRY(master::TenantList list, co_await client.ListTenants());
    if (flags.json) {
      fmt::print("{}\n", master::ToJson(list).dump());
      co_return base::Status();
    }
    fmt::print("{:<32} {:>6} {:>10} {:>14} {:>14}\n", "NAME", "ID", "GENERATION", "MEMORY",
               "OPS/S");
    for (const master::TenantInfo& tenant : list.tenants) {
      fmt::print("{:<32} {:>6} {:>10} {:>14} {:>14}\n", tenant.name, tenant.id, tenant.generation,
                 Limit(tenant.memory_bytes), Limit(tenant.ops_per_second));
    }
    co_return base::Status();
  }
  co_return co_await client.DeleteTenant(flags.name);
}

}  // namespace

Command AddTenantCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "tenant",
      "create, list and delete the cache's tenants: the identities clients log in as on an "
      "access node started with --auth (docs/security.md)");
  app->require_subcommand(1);
  app->fallthrough();
  auto flags = std::make_shared<TenantFlags>();
  daemon::AddOperatorFlags(*app, flags->master);
  app->add_flag("--json", flags->json, "print JSON");
  auto action = std::make_shared<std::string>();
  CLI::App* create = app->add_subcommand(
      "create",
      "create a tenant and print its password (shown this once; the master keeps only its "
      "hash); needs an admin token");
  create->add_option("NAME", flags->name, "its name, the login's user: 1-32 of a-z, 0-9, _ and -")
      ->required();
  create
      ->add_option("--memory", flags->memory_bytes,
                   "its memory quota over all groups (256M, 1G; 0: none): over it, its own oldest "
                   "items are evicted")
      ->transform(CLI::AsSizeValue(/*kb_is_1000=*/false));
  create->add_option("--ops-per-second", flags->ops_per_second,
                     "its request rate at each access node; 0: no limit");
  create->callback([action] { *action = "create"; });
  app->add_subcommand("list",
                      "the tenants: name, id, generation, memory quota and request rate (never a "
                      "password)")
      ->callback([action] { *action = "list"; });
  CLI::App* remove = app->add_subcommand(
      "delete",
      "delete a tenant: its clients are logged out with the next map; needs an admin token");
  remove->add_option("NAME", flags->name, "the tenant's name")->required();
  remove->callback([action] { *action = "delete"; });
  return {app, [app, flags, action] {
            return daemon::ActOnMaster(*app, flags->master, [&](master::MasterClient& client) {
              return ActOnTenants(client, *action, *flags);
            });
          }};
}

}  // namespace trellis::cli
