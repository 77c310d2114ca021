#include "testing/mysql_client.h"

#include <chrono>
#include <stdexcept>

#include <boost/asio/ip/address_v4.hpp>

namespace trellis::testing {

namespace {

constexpr std::chrono::seconds kTimeout{10};

boost::asio::ip::tcp::endpoint Loopback(uint16_t port) {
  return {boost::asio::ip::address_v4::loopback(), port};
}

template <typename T>
T OrThrow(base::Result<T> result) {
  if (!result) {
    throw std::runtime_error("MysqlClient: " + result.error().message);
  }
  return std::move(result).value();
}

}  // namespace

MysqlClient::MysqlClient(uint16_t port, const std::string& user, const std::string& password,
                         const std::string& database)
    : client_(
          OrThrow(db::SqlClient::Connect(Loopback(port), {user, password, database}, kTimeout))) {}

SqlResult MysqlClient::Query(std::string_view sql) { return OrThrow(client_->Query(sql)); }

std::string MysqlClient::Scalar(std::string_view sql) {
  const SqlResult result = Query(sql);
  if (!result.ok()) {
    throw std::runtime_error("MysqlClient: " + std::string(sql) + ": " + result.error);
  }
  if (result.rows.empty() || result.rows[0].empty()) {
    throw std::runtime_error("MysqlClient: " + std::string(sql) + ": no rows");
  }
  return result.rows[0][0].value_or("NULL");
}

}  // namespace trellis::testing
