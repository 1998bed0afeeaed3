// The manifest: what a sender declares about a list, signed (Ed25519,
// elsewhere) over its canonical JSON. The gateway in end-to-end mode sees only
// ciphertext + manifest and enforces the protocol on it (DecideSend); the
// receiver re-derives it from the decrypted list and compares.
//
// Format and the exact row serialisation: docs/protocol-format.md#manifest.
#ifndef XGW_POLICY_MANIFEST_H_
#define XGW_POLICY_MANIFEST_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "policy/protocol.h"

namespace xgw {

struct Manifest {
  std::string protocol_id;
  std::string protocol_version;      // Protocol::version_hash
  InputFormat list_format = InputFormat::kCsv;
  std::vector<std::string> columns;  // canonical field names, protocol field order
  uint64_t row_count = 0;            // data rows, blank rows not counted
  uint64_t byte_size = 0;            // size of the list file as sent
  std::string sha256;                // hex SHA-256 of the list file as sent
  std::string rows_sha256;           // hex SHA-256 of the canonical rows
  std::string subject_key_id;        // which organisation key made the index; "" if none
  std::vector<std::string> subject_index;  // sorted, unique, lower-case hex HMACs

  bool operator==(const Manifest&) const = default;
};

// Canonical JSON bytes (the bytes to sign). Fails only on invalid UTF-8.
Result<std::string> ManifestToCanonicalJson(const Manifest& manifest);

// Parses and validates (kFormat): exact key set, types, 64-hex digests, index
// sorted and unique, canonical column names unique. Accepts any JSON
// whitespace; callers that verify a signature should do so over the bytes
// received and may compare them with ManifestToCanonicalJson(result).
Result<Manifest> ParseManifest(std::string_view json_text);

// The subject-index value of one identifier: lower-case hex of
// HMAC-SHA-256(key, type_name + ":" + normalised), e.g. over
// "be_national_number:85073003328". What a DPO's client computes to look a
// person up. Fails with kInvalidArgument if `raw` is not a valid identifier of
// that type (the message never contains it).
Result<std::string> SubjectLookupValue(std::span<const uint8_t> key, FieldType type, std::string_view raw);

}  // namespace xgw

#endif  // XGW_POLICY_MANIFEST_H_
