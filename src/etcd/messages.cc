#include "etcd/messages.h"

#include <utility>

namespace trellis::etcd {

Compare Compare::CreateRevision(std::string key, int64_t revision) {
  Compare compare;
  compare.key = std::move(key);
  compare.target = Target::kCreateRevision;
  compare.number = revision;
  return compare;
}

Compare Compare::ModRevision(std::string key, int64_t revision) {
  Compare compare;
  compare.key = std::move(key);
  compare.target = Target::kModRevision;
  compare.number = revision;
  return compare;
}

Compare Compare::Value(std::string key, std::string value) {
  Compare compare;
  compare.key = std::move(key);
  compare.target = Target::kValue;
  compare.value = std::move(value);
  return compare;
}

Operation Operation::Put(std::string key, std::string value, int64_t lease) {
  Operation operation;
  operation.kind = Kind::kPut;
  operation.key = std::move(key);
  operation.value = std::move(value);
  operation.lease = lease;
  return operation;
}

Operation Operation::Delete(std::string key) {
  Operation operation;
  operation.kind = Kind::kDelete;
  operation.key = std::move(key);
  return operation;
}

Operation Operation::DeletePrefix(std::string prefix) {
  Operation operation = Delete(prefix);
  operation.range_end = PrefixEnd(std::move(prefix));
  return operation;
}

Operation Operation::Get(std::string key) {
  Operation operation;
  operation.kind = Kind::kRange;
  operation.key = std::move(key);
  return operation;
}

Operation Operation::GetPrefix(std::string prefix) {
  Operation operation = Get(prefix);
  operation.range_end = PrefixEnd(std::move(prefix));
  return operation;
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // Every key: etcd's "\0" range end.
}

}  // namespace trellis::etcd
