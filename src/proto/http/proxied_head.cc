#include "proto/http/proxied_head.h"

#include <array>
#include <cctype>

namespace trellis::proto::http {
namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The line at the start of `text`, with its line feed.
std::string_view LineAt(std::string_view text) {
  const size_t end = text.find('\n');
  return end == std::string_view::npos ? text : text.substr(0, end + 1);
}

bool IsContinuation(std::string_view line) {
  return !line.empty() && (line.front() == ' ' || line.front() == '\t');
}

bool IsEmptyLine(std::string_view line) { return line == "\r\n" || line == "\n"; }

// The field name of a field line; "" for a line without a colon.
std::string_view FieldName(std::string_view line) {
  const size_t colon = line.find(':');
  return colon == std::string_view::npos ? std::string_view() : line.substr(0, colon);
}

// Whether `options` (the values of the Connection fields, comma-separated, with optional
// whitespace and line breaks) names `name`.
bool NamesOption(std::string_view options, std::string_view name) {
  constexpr std::string_view kSpace = " \t\r\n";
  while (!options.empty()) {
    const size_t comma = options.find(',');
    std::string_view option = options.substr(0, comma);
    options = comma == std::string_view::npos ? std::string_view() : options.substr(comma + 1);
    const size_t first = option.find_first_not_of(kSpace);
    if (first == std::string_view::npos) {
      continue;
    }
    option = option.substr(first, option.find_last_not_of(kSpace) - first + 1);
    if (EqualsIgnoringCase(option, name)) {
      return true;
    }
  }
  return false;
}

bool IsHopByHop(std::string_view name, std::string_view options) {
  static constexpr std::array<std::string_view, 3> kAlways = {"connection", "keep-alive",
                                                              "proxy-connection"};
  for (const std::string_view always : kAlways) {
    if (EqualsIgnoringCase(name, always)) {
      return true;
    }
  }
  // Never the framing, whatever the options say: the body is relayed as it was framed.
  if (EqualsIgnoringCase(name, "content-length") || EqualsIgnoringCase(name, "transfer-encoding")) {
    return false;
  }
  return !options.empty() && NamesOption(options, name);
}

}  // namespace

void AppendProxiedHead(std::string_view head, ClientConnection connection, std::string& out) {
  // The Connection fields' options first: a field they name may come before them.
  std::string options;
  bool in_connection = false;
  for (std::string_view rest = head; !rest.empty();) {
    const std::string_view line = LineAt(rest);
    rest.remove_prefix(line.size());
    if (IsContinuation(line)) {
      if (in_connection) {
        options.append(line);
      }
      continue;
    }
    const std::string_view name = FieldName(line);
    in_connection = EqualsIgnoringCase(name, "connection");
    if (in_connection) {
      options.append(line.substr(name.size() + 1)).push_back(',');
    }
  }
  bool status_line = true;
  bool dropping = false;  // The field whose line continues is dropped.
  for (std::string_view rest = head; !rest.empty();) {
    const std::string_view line = LineAt(rest);
    rest.remove_prefix(line.size());
    if (status_line) {
      status_line = false;
    } else if (IsEmptyLine(line)) {
      if (connection == ClientConnection::kKeepAlive) {
        out.append("Connection: keep-alive\r\n");
      } else if (connection == ClientConnection::kClose) {
        out.append("Connection: close\r\n");
      }
    } else if (IsContinuation(line)) {
      if (dropping) {
        continue;
      }
    } else {
      dropping = IsHopByHop(FieldName(line), options);
      if (dropping) {
        continue;
      }
    }
    out.append(line);
  }
}

}  // namespace trellis::proto::http
