// The manifest: what a sender declares about a list, signed (Ed25519,
// elsewhere) over its canonical JSON. The gateway in end-to-end mode sees only
// ciphertext + manifest and enforces the protocol on it (DecideSend); the
// receiver re-derives it from the decrypted list and compares.
//
// Format and the exact row serialisation: docs/protocol-format.md#manifest.
#ifndef XGW_POLICY_MANIFEST_H_
#define XGW_POLICY_MANIFEST_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/hash.h"
#include "policy/protocol.h"

namespace xgw {

// SHA-256 of no bytes: subject_index_sha256 of an empty index.
inline constexpr std::string_view kEmptySubjectIndexSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The listed subject index in memory: sorted, unique raw HMAC-SHA-256 values,
// 32 bytes each (a million distinct people take 32 MiB; as hex strings they
// took ~140 MiB). Iterating yields each value as lower-case hex, the form the
// manifest's JSON and the gateway's store use, made on the fly; raw() gives
// the bytes without encoding. Byte order of the raw values is the order of
// their hex strings.
class SubjectIndexValues {
 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    using reference = std::string;  // made on the fly: a value, not a reference
    using pointer = void;
    const_iterator() = default;
    explicit const_iterator(const Sha256Digest* p) : p_(p) {}
    std::string operator*() const { return HexEncode(*p_); }
    const_iterator& operator++() { ++p_; return *this; }
    const_iterator operator++(int) { auto old = *this; ++p_; return old; }
    bool operator==(const const_iterator&) const = default;

   private:
    const Sha256Digest* p_ = nullptr;
  };

  SubjectIndexValues() = default;
  // REQUIRES: `values` sorted and unique.
  explicit SubjectIndexValues(std::vector<Sha256Digest> values) : values_(std::move(values)) {}

  size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  void clear() { values_.clear(); values_.shrink_to_fit(); }
  const_iterator begin() const { return const_iterator(values_.data()); }
  const_iterator end() const { return const_iterator(values_.data() + values_.size()); }
  std::span<const Sha256Digest> raw() const { return values_; }

  bool operator==(const SubjectIndexValues&) const = default;

 private:
  std::vector<Sha256Digest> values_;
};

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
  // The subject index: the sorted, unique HMAC-SHA-256 values of the list's
  // subject identifiers, in one of two forms (docs/protocol-format.md#subject-index):
  //   listed:   the manifest lists them as hex (`values`), in subject_index;
  //   streamed: the manifest gives only their count and the SHA-256 of the raw
  //             32-byte values concatenated; the values travel beside it (the
  //             upload's subject-index block) and subject_index is empty.
  // Both forms fill subject_count and subject_index_sha256, so two manifests
  // of one list agree on them whichever form each uses.
  bool subject_index_streamed = false;
  uint64_t subject_count = 0;
  std::string subject_index_sha256 = std::string(kEmptySubjectIndexSha256);
  SubjectIndexValues subject_index;  // listed form only: raw HMACs (iterate for hex)

  bool operator==(const Manifest&) const = default;
};

// Sets the subject index of `m` to `values` (sorted and unique, raw), in the
// streamed or the listed form. The second overload moves the values into a
// listed index instead of copying them (a million of them are 32 MiB).
void SetSubjectIndex(Manifest* m, std::span<const Sha256Digest> values, bool streamed);
void SetSubjectIndex(Manifest* m, std::vector<Sha256Digest>&& values, bool streamed);

// Canonical JSON bytes (the bytes to sign). Fails only on invalid UTF-8.
Result<std::string> ManifestToCanonicalJson(const Manifest& manifest);

// Parses and validates (kFormat): exact key set, types, 64-hex digests, index
// sorted and unique (listed) or at most one value per cell (streamed),
// canonical column names unique. Accepts any JSON
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
