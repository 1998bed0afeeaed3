#include "crypto/subject_key.h"

#include <string_view>

#include "crypto/hash.h"

namespace xgw {

namespace {

// Room for the longest valid file (64 hex digits + "\r\n") and then some, so
// that a longer file reads as "too long" rather than being cut to a key.
constexpr size_t kMaxFileBytes = 200;

}  // namespace

Result<SecretBuffer> ReadSubjectKey(ByteSource& in) {
  SecretBuffer buf(kMaxFileBytes);
  XGW_TRY(size_t n, ReadFull(in, buf.span()));
  buf.Truncate(n);
  if (n == kSubjectKeyBytes) return buf;
  std::string_view text = buf.view();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.size() == 2 * kSubjectKeyBytes) {
    if (auto raw = HexDecode(text)) {
      SecretBuffer key = SecretBuffer::CopyOf(*raw);
      WipeMemory(raw->data(), raw->size());
      return key;
    }
  }
  return Fail(ErrorCode::kKey, "must hold 32 bytes or 64 hex digits");
}

Result<SecretBuffer> ReadSubjectKeyFile(const std::string& path) {
  XGW_TRY(FileSource f, FileSource::Open(path));
  auto key = ReadSubjectKey(f);
  if (!key)
    return Fail(key.error().code, "the subject-index key file " + path + " " + key.error().message);
  return key;
}

}  // namespace xgw
