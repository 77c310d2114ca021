// FieldReader: reads the fields of one JSON object from across a process boundary into
// typed values, once (docs/architecture.md: nothing reads the master's answers by string
// keys). The first missing or mistyped field is remembered with its path
// ("groups[2].nodes[0].role: expected a string") and everything after it is skipped, so
// a reader fills what it can and status() says what was wrong. Used by the types of
// cluster_state.h and volume_state.h.
//
// Thread safety: none; one reader per parse.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "master/client/cluster_state.h"

namespace trellis::master {

class FieldReader {
 public:
  FieldReader(const nlohmann::json& object, std::string path)
      : object_(object), path_(std::move(path)) {
    if (!object.is_object()) {
      Fail("", "expected an object");
    }
  }

  void String(const char* key, std::string* out) {
    if (const nlohmann::json* field = Find(key, /*required=*/true)) {
      Check(key, field->is_string(), "a string") && (*out = field->get<std::string>(), true);
    }
  }
  // A string that `valid` accepts; `expected` says what it must be.
  void String(const char* key, std::string* out, bool (*valid)(std::string_view),
              std::string_view expected) {
    String(key, out);
    if (!error_) {
      Check(key, valid(*out), expected);
    }
  }
  // Absent or null: nullopt.
  void OptionalString(const char* key, std::optional<std::string>* out) {
    const nlohmann::json* field = Find(key, /*required=*/false);
    if (field != nullptr && !field->is_null() && Check(key, field->is_string(), "a string")) {
      *out = field->get<std::string>();
    }
  }
  void Unsigned(const char* key, uint64_t* out) {
    if (const nlohmann::json* field = Find(key, /*required=*/true)) {
      Check(key, field->is_number_unsigned(), "a non-negative integer") &&
          (*out = field->get<uint64_t>(), true);
    }
  }
  // A number of slots: at most ClusterState::kSlots.
  void SlotCount(const char* key, uint32_t* out) {
    uint64_t count = 0;
    Unsigned(key, &count);
    if (!error_ && Check(key, count <= ClusterState::kSlots,
                         "at most " + std::to_string(ClusterState::kSlots) + " slots")) {
      *out = static_cast<uint32_t>(count);
    }
  }
  void OptionalUnsigned(const char* key, std::optional<uint64_t>* out) {
    const nlohmann::json* field = Find(key, /*required=*/false);
    if (field != nullptr && !field->is_null() &&
        Check(key, field->is_number_unsigned(), "a non-negative integer")) {
      *out = field->get<uint64_t>();
    }
  }
  void OptionalSigned(const char* key, std::optional<int64_t>* out) {
    const nlohmann::json* field = Find(key, /*required=*/false);
    if (field != nullptr && !field->is_null() &&
        Check(key, field->is_number_integer(), "an integer")) {
      *out = field->get<int64_t>();
    }
  }
  void OptionalBool(const char* key, bool* out) {
    const nlohmann::json* field = Find(key, /*required=*/false);
    if (field != nullptr && !field->is_null() && Check(key, field->is_boolean(), "true or false")) {
      *out = field->get<bool>();
    }
  }
  void Number(const char* key, double* out) {
    if (const nlohmann::json* field = Find(key, /*required=*/true)) {
      Check(key, field->is_number(), "a number") && (*out = field->get<double>(), true);
    }
  }
  void OptionalNumber(const char* key, std::optional<double>* out) {
    const nlohmann::json* field = Find(key, /*required=*/false);
    if (field != nullptr && !field->is_null() && Check(key, field->is_number(), "a number")) {
      *out = field->get<double>();
    }
  }
  void Strings(const char* key, std::vector<std::string>* out) {
    const nlohmann::json* field = Find(key, /*required=*/true);
    if (field == nullptr || !Check(key, field->is_array(), "an array")) {
      return;
    }
    out->clear();
    for (size_t i = 0; i < field->size(); ++i) {
      if (!Check(key, (*field)[i].is_string(), "an array of strings")) {
        return;
      }
      out->push_back((*field)[i].get<std::string>());
    }
  }
  void Bool(const char* key, bool* out) {
    if (const nlohmann::json* field = Find(key, /*required=*/true)) {
      Check(key, field->is_boolean(), "true or false") && (*out = field->get<bool>(), true);
    }
  }
  template <typename T, typename Parse>
  void Enum(const char* key, T* out, Parse parse) {
    std::string name;
    String(key, &name);
    if (!error_) {
      auto value = parse(name);
      Check(key, value.ok(), value.ok() ? "" : value.error().message) && (*out = *value, true);
    }
  }
  // Each element an object, read by `read(FieldReader&, T*)`.
  template <typename T, typename Read>
  void Array(const char* key, std::vector<T>* out, Read read) {
    ReadArray(key, Find(key, /*required=*/true), out, read);
  }
  // The same; absent or null: empty.
  template <typename T, typename Read>
  void OptionalArray(const char* key, std::vector<T>* out, Read read) {
    const nlohmann::json* field = Find(key, /*required=*/false);
    if (field != nullptr && !field->is_null()) {
      ReadArray(key, field, out, read);
    }
  }

  base::Status status() const {
    if (error_) {
      return *error_;
    }
    return {};
  }

 private:
  // `field`, the value of `key`: null when it is missing (and that was dealt with).
  template <typename T, typename Read>
  void ReadArray(const char* key, const nlohmann::json* field, std::vector<T>* out, Read read) {
    if (field == nullptr || !Check(key, field->is_array(), "an array")) {
      return;
    }
    out->clear();
    for (size_t i = 0; i < field->size() && !error_; ++i) {
      FieldReader element((*field)[i], Path(key) + "[" + std::to_string(i) + "]");
      T value;
      read(element, &value);
      if (base::Status read_status = element.status(); !read_status) {
        error_ = read_status.error();
        return;
      }
      out->push_back(std::move(value));
    }
  }
  std::string Path(std::string_view key) const {
    if (path_.empty()) {
      return std::string(key);
    }
    return key.empty() ? path_ : path_ + "." + std::string(key);
  }
  const nlohmann::json* Find(const char* key, bool required) {
    if (error_) {
      return nullptr;
    }
    const auto it = object_.find(key);
    if (it == object_.end()) {
      if (required) {
        Fail(key, "is missing");
      }
      return nullptr;
    }
    return &*it;
  }
  bool Check(const char* key, bool ok, std::string_view expected) {
    if (!ok) {
      Fail(key, "expected " + std::string(expected));
    }
    return ok;
  }
  void Fail(std::string_view key, const std::string& what) {
    if (!error_) {
      const std::string where = Path(key);
      error_ = base::InvalidArgument((where.empty() ? "" : where + ": ") + what);
    }
  }

  const nlohmann::json& object_;
  const std::string path_;
  std::optional<base::Error> error_;
};

// Reads a whole object with `read(FieldReader&, T*)`; the first bad field is the error.
template <typename T, typename Read>
base::Result<T> ReadWhole(const nlohmann::json& json_value, Read read) {
  FieldReader reader(json_value, "");
  T value;
  read(reader, &value);
  if (base::Status status = reader.status(); !status) {
    return status.error();
  }
  return value;
}

}  // namespace trellis::master
