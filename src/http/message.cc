#include "http/message.h"

#include <algorithm>

#include <boost/beast/core/string.hpp>

namespace trellis::http {

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Decodes %XX escapes, and '+' as a space when `plus_is_space` (query strings).
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      const int high = i + 2 < text.size() ? HexDigit(text[i + 1]) : -1;
      const int low = high >= 0 ? HexDigit(text[i + 2]) : -1;
      if (low < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string_view Find(const std::vector<std::pair<std::string, std::string>>& pairs,
                      std::string_view name) {
  for (const auto& [key, value] : pairs) {
    if (key == name) {
      return value;
    }
  }
  return {};
}

// A SAX reader that only keeps the parser's complaint: a bad body is an expected
// outcome, so its description is found without the exception parse() would throw.
struct ParseErrorReader : nlohmann::json_sax<nlohmann::json> {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::json::exception& error) override {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    const std::string_view what = error.what();
    const size_t bracket = what.find("] ");
    message = what.substr(bracket == std::string_view::npos ? 0 : bracket + 2);
    return false;
  }
  std::string message;
};

}  // namespace

base::Result<Request> Request::Make(beast_http::verb method, std::string target, std::string body) {
  const std::string_view view = target;
  if (!view.starts_with('/')) {
    return base::InvalidArgument("the request target '" + target + "' is not a path");
  }
  const size_t question = view.find('?');
  std::optional<std::string> path = PercentDecode(view.substr(0, question), false);
  if (!path) {
    return base::InvalidArgument("the path of '" + target + "' has a malformed %-escape");
  }
  Request request;
  std::string_view raw_path =
      view.substr(1, question == std::string_view::npos ? view.npos : question - 1);
  for (;;) {
    const size_t slash = raw_path.find('/');
    request.segments_.push_back(*PercentDecode(raw_path.substr(0, slash), false));
    if (slash == std::string_view::npos) {
      break;
    }
    raw_path.remove_prefix(slash + 1);
  }
  if (question != std::string_view::npos) {
    std::string_view query = view.substr(question + 1);
    while (!query.empty()) {
      const std::string_view pair = query.substr(0, query.find('&'));
      query.remove_prefix(std::min(query.size(), pair.size() + 1));
      if (pair.empty()) {
        continue;
      }
      const size_t equals = pair.find('=');
      std::optional<std::string> name = PercentDecode(pair.substr(0, equals), true);
      std::optional<std::string> value = PercentDecode(
          equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1), true);
      if (!name || !value) {
        return base::InvalidArgument("the query of '" + target + "' has a malformed %-escape");
      }
      request.query_.emplace_back(std::move(*name), std::move(*value));
    }
  }
  request.method = method;
  request.target = std::move(target);
  request.path = std::move(*path);
  request.body = std::move(body);
  return request;
}

std::optional<std::string_view> Request::Query(std::string_view name) const {
  for (const auto& [key, value] : query_) {
    if (key == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::string_view Request::Param(std::string_view name) const { return Find(params_, name); }

std::string_view Request::Header(std::string_view name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string_view() : std::string_view(it->value());
}

base::Result<nlohmann::json> Request::JsonBody() const {
  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    ParseErrorReader reader;
    nlohmann::json::sax_parse(body, &reader);
    return base::InvalidArgument("the body must be JSON: " + reader.message);
  }
  return json;
}

Response Response::Json(const nlohmann::json& body, int status) {
  Response response;
  response.status = status;
  response.body = body.dump() + "\n";
  return response;
}

Response Response::Text(std::string body, std::string content_type) {
  Response response;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

Response Response::Error(const base::Error& error) {
  return Json({{"error", error.message}, {"code", CodeName(error.code)}}, StatusFor(error.code));
}

std::string_view Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (boost::beast::iequals(key, name)) {
      return value;
    }
  }
  return {};
}

int StatusFor(base::ErrorCode code) {
  switch (code) {
    case base::ErrorCode::kInvalidArgument:
      return 400;
    case base::ErrorCode::kNotFound:
      return 404;
    case base::ErrorCode::kConflict:
      return 409;
    case base::ErrorCode::kResourceExhausted:
      return 429;
    case base::ErrorCode::kUnauthenticated:
      return 401;
    case base::ErrorCode::kPermissionDenied:
      return 403;
    case base::ErrorCode::kUnavailable:
      return 503;
    case base::ErrorCode::kInternal:
      break;
  }
  return 500;
}

base::ErrorCode CodeForStatus(int status) {
  switch (status) {
    case 400:
      return base::ErrorCode::kInvalidArgument;
    case 404:
      return base::ErrorCode::kNotFound;
    case 401:
      return base::ErrorCode::kUnauthenticated;
    case 403:
      return base::ErrorCode::kPermissionDenied;
    case 409:
      return base::ErrorCode::kConflict;
    case 429:
      return base::ErrorCode::kResourceExhausted;
    case 502:
    case 503:
    case 504:
      return base::ErrorCode::kUnavailable;
    default:
      return status >= 400 && status < 500 ? base::ErrorCode::kInvalidArgument
                                           : base::ErrorCode::kInternal;
  }
}

std::string CodeName(base::ErrorCode code) {
  std::string name(base::ErrorCodeName(code));
  std::replace(name.begin(), name.end(), ' ', '_');
  return name;
}

}  // namespace trellis::http
