#include "proto/mysql/handshake.h"

#include <algorithm>

#include "proto/mysql/wire.h"

namespace trellis::proto::mysql {

void AppendGreeting(std::string& payload, const Greeting& greeting) {
  AppendU8(payload, 10);
  AppendNulString(payload, greeting.server_version);
  AppendU32(payload, greeting.connection_id);
  const std::string_view nonce = greeting.nonce;
  payload.append(nonce.substr(0, std::min<size_t>(8, nonce.size())));
  payload.append(8 - std::min<size_t>(8, nonce.size()), '\0');
  AppendU8(payload, 0);
  AppendU16(payload, static_cast<uint16_t>(greeting.capabilities & 0xFFFF));
  AppendU8(payload, greeting.charset);
  AppendU16(payload, greeting.status);
  AppendU16(payload, static_cast<uint16_t>(greeting.capabilities >> 16));
  // The length of the whole nonce and its NUL, as MySQL servers write it.
  const std::string_view rest =
      nonce.size() > 8 ? nonce.substr(8, kMaxNonceBytes - 8) : std::string_view();
  AppendU8(payload, static_cast<uint8_t>(8 + rest.size() + 1));
  payload.append(10, '\0');
  if ((greeting.capabilities & capability::kSecureConnection) != 0) {
    // The rest of the nonce, at least 12 bytes, and a NUL.
    payload.append(rest);
    payload.append(rest.size() < 12 ? 12 - rest.size() : 0, '\0');
    AppendU8(payload, 0);
  }
  if ((greeting.capabilities & capability::kPluginAuth) != 0) {
    AppendNulString(payload, greeting.auth_plugin);
  }
}

bool ParseGreeting(std::string_view payload, Greeting* greeting) {
  PayloadReader reader(payload);
  uint8_t protocol = 0;
  std::string_view version;
  std::string_view nonce_start;
  uint16_t lower = 0;
  if (!reader.ReadU8(&protocol) || protocol != 10 || !reader.ReadNulString(&version) ||
      !reader.ReadU32(&greeting->connection_id) || !reader.ReadBytes(8, &nonce_start) ||
      !reader.Skip(1) || !reader.ReadU16(&lower)) {
    return false;
  }
  greeting->server_version = version;
  greeting->nonce = nonce_start;
  greeting->capabilities = lower;
  greeting->charset = 0;
  greeting->status = 0;
  greeting->auth_plugin.clear();
  if (reader.empty()) {
    return true;  // A pre-4.1 server stops here.
  }
  uint16_t upper = 0;
  uint8_t nonce_length = 0;
  if (!reader.ReadU8(&greeting->charset) || !reader.ReadU16(&greeting->status) ||
      !reader.ReadU16(&upper) || !reader.ReadU8(&nonce_length) || !reader.Skip(10)) {
    return false;
  }
  greeting->capabilities |= static_cast<uint32_t>(upper) << 16;
  if ((greeting->capabilities & capability::kSecureConnection) != 0) {
    // The rest of the nonce: max(13, length - 8) bytes, the last a NUL.
    const size_t rest_length = std::max<size_t>(13, nonce_length > 8 ? nonce_length - 8 : 0);
    std::string_view rest;
    if (!reader.ReadBytes(rest_length, &rest)) {
      return false;
    }
    if (!rest.empty() && rest.back() == '\0') {
      rest.remove_suffix(1);
    }
    greeting->nonce.append(rest);
  }
  if ((greeting->capabilities & capability::kPluginAuth) != 0) {
    std::string_view plugin;
    // Some servers end the name with the payload rather than a NUL.
    if (!reader.ReadNulString(&plugin)) {
      plugin = reader.ReadRest();
    }
    greeting->auth_plugin = plugin;
  }
  return true;
}

bool IsSslRequest(std::string_view payload) {
  PayloadReader reader(payload);
  uint32_t capabilities = 0;
  return payload.size() == kSslRequestBytes && reader.ReadU32(&capabilities) &&
         (capabilities & capability::kSsl) != 0;
}

void AppendHandshakeResponse(std::string& payload, const HandshakeResponse& response) {
  AppendU32(payload, response.capabilities);
  AppendU32(payload, response.max_packet);
  AppendU8(payload, response.charset);
  payload.append(23, '\0');
  AppendNulString(payload, response.user);
  if ((response.capabilities & capability::kPluginAuthLenencData) != 0) {
    AppendLenencString(payload, response.auth_response);
  } else if ((response.capabilities & capability::kSecureConnection) != 0) {
    // One length byte: an answer is at most 255 bytes so.
    const std::string_view answer = std::string_view(response.auth_response).substr(0, 255);
    AppendU8(payload, static_cast<uint8_t>(answer.size()));
    payload.append(answer);
  } else {
    AppendNulString(payload, response.auth_response);
  }
  if ((response.capabilities & capability::kConnectWithDb) != 0) {
    AppendNulString(payload, response.database);
  }
  if ((response.capabilities & capability::kPluginAuth) != 0) {
    AppendNulString(payload, response.auth_plugin);
  }
  if ((response.capabilities & capability::kConnectAttrs) != 0) {
    std::string attributes;
    for (const auto& [key, value] : response.attributes) {
      AppendLenencString(attributes, key);
      AppendLenencString(attributes, value);
    }
    AppendLenencString(payload, attributes);
  }
}

bool ParseHandshakeResponse(std::string_view payload, HandshakeResponse* response) {
  PayloadReader reader(payload);
  std::string_view user;
  if (!reader.ReadU32(&response->capabilities) ||
      (response->capabilities & capability::kProtocol41) == 0 ||
      !reader.ReadU32(&response->max_packet) || !reader.ReadU8(&response->charset) ||
      !reader.Skip(23) || !reader.ReadNulString(&user)) {
    return false;
  }
  response->user = user;
  std::string_view auth;
  if ((response->capabilities & capability::kPluginAuthLenencData) != 0) {
    if (!reader.ReadLenencString(&auth)) {
      return false;
    }
  } else if ((response->capabilities & capability::kSecureConnection) != 0) {
    uint8_t length = 0;
    if (!reader.ReadU8(&length) || !reader.ReadBytes(length, &auth)) {
      return false;
    }
  } else if (!reader.ReadNulString(&auth)) {
    return false;
  }
  response->auth_response = auth;
  response->database.clear();
  response->auth_plugin.clear();
  response->attributes.clear();
  // Clients stop at the last field they have: what is absent stays empty.
  if ((response->capabilities & capability::kConnectWithDb) != 0 && !reader.empty()) {
    std::string_view database;
    if (!reader.ReadNulString(&database)) {
      return false;
    }
    response->database = database;
  }
  if ((response->capabilities & capability::kPluginAuth) != 0 && !reader.empty()) {
    std::string_view plugin;
    if (!reader.ReadNulString(&plugin)) {
      return false;
    }
    response->auth_plugin = plugin;
  }
  if ((response->capabilities & capability::kConnectAttrs) != 0 && !reader.empty()) {
    std::string_view attributes;
    if (!reader.ReadLenencString(&attributes)) {
      return false;
    }
    PayloadReader pairs(attributes);
    while (!pairs.empty()) {
      std::string_view key;
      std::string_view value;
      if (!pairs.ReadLenencString(&key) || !pairs.ReadLenencString(&value)) {
        return false;
      }
      response->attributes.emplace_back(key, value);
    }
  }
  return true;
}

bool ParseAuthSwitch(std::string_view payload, AuthSwitch* request) {
  PayloadReader reader(payload);
  uint8_t marker = 0;
  std::string_view plugin;
  if (!reader.ReadU8(&marker) || marker != 0xFE || !reader.ReadNulString(&plugin)) {
    return false;
  }
  request->plugin = plugin;
  std::string_view data = reader.ReadRest();
  if (!data.empty() && data.back() == '\0') {
    data.remove_suffix(1);
  }
  request->data = data;
  return true;
}

}  // namespace trellis::proto::mysql
