#include "policy/check_list.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "crypto/hash.h"
#include "crypto/secret.h"
#include "policy/byte_scan.h"
#include "policy/hash_pipeline.h"
#include "policy/header_locator.h"

namespace xgw {

namespace {

// What a cell may hold and still count as empty.
bool IsBlankByte(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string ColumnName(size_t index) { return "column " + ColumnLetter(index); }

class Collector {
 public:
  Collector(ListCheck* out, size_t cap) : out_(out), cap_(cap) {}
  void Add(Violation v) { out_->violations.push_back(std::move(v)); }
  void AddRow(Violation v) {
    if (row_listed_ < cap_) {
      ++row_listed_;
      out_->violations.push_back(std::move(v));
    } else {
      ++out_->suppressed;
    }
  }

 private:
  ListCheck* out_;
  size_t cap_;
  size_t row_listed_ = 0;
};

// HMAC-SHA-256 (RFC 2104) with the key's inner and outer SHA-256 states
// computed once: each value then costs two compression-function calls and
// two struct copies, with no allocation and no re-keying. OpenSSL's
// low-level SHA256_* API is the only one with a copyable state (an EVP_MD_CTX
// copy allocates; EVP_MAC re-initialisation re-hashes the key; libsodium's
// portable SHA-256 has no SHA-NI path): measured per value on this machine,
// 0.39 us here vs 0.69 us (EVP_MD_CTX copy), 0.65 us (EVP_MAC re-init) and
// 1.2 us (libsodium state copy). The API is deprecated in OpenSSL 3 but
// still built and maintained; the warning is silenced for this class only.
// Same function as SubjectLookupValue, which a test cross-checks (and the
// one-block path below was checked against the general one on a million values).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
class KeyedSha256Mac {
 public:
  explicit KeyedSha256Mac(std::span<const uint8_t> key) {
    uint8_t block[SHA256_CBLOCK] = {};
    if (key.size() > sizeof block) {
      SHA256(key.data(), key.size(), block);
    } else {
      std::memcpy(block, key.data(), key.size());
    }
    uint8_t pad[SHA256_CBLOCK];
    for (size_t i = 0; i < sizeof pad; ++i) pad[i] = static_cast<uint8_t>(block[i] ^ 0x36);
    SHA256_Init(&inner_);
    SHA256_Update(&inner_, pad, sizeof pad);
    for (size_t i = 0; i < sizeof pad; ++i) pad[i] = static_cast<uint8_t>(block[i] ^ 0x5c);
    SHA256_Init(&outer_);
    SHA256_Update(&outer_, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
  }
  ~KeyedSha256Mac() {
    OPENSSL_cleanse(&inner_, sizeof inner_);
    OPENSSL_cleanse(&outer_, sizeof outer_);
    OPENSSL_cleanse(&work_, sizeof work_);
    OPENSSL_cleanse(block_, sizeof block_);
  }
  KeyedSha256Mac(const KeyedSha256Mac&) = delete;
  KeyedSha256Mac& operator=(const KeyedSha256Mac&) = delete;

  // HMAC(key, a || b || c).
  void Mac(std::string_view a, std::string_view b, std::string_view c, Sha256Digest* out) {
    const size_t len = a.size() + b.size() + c.size();
    if (len <= kOneBlockMax) return MacOneBlock(a, b, c, len, out);
    work_ = inner_;
    SHA256_Update(&work_, a.data(), a.size());
    SHA256_Update(&work_, b.data(), b.size());
    SHA256_Update(&work_, c.data(), c.size());
    SHA256_Final(out->data(), &work_);
    work_ = outer_;
    SHA256_Update(&work_, out->data(), out->size());
    SHA256_Final(out->data(), &work_);
  }

 private:
  // Bytes of message that fit in one SHA-256 block with the padding (0x80
  // and the 64-bit length): a typed identifier ("be_national_number:" and 11
  // digits is 30) always does.
  static constexpr size_t kOneBlockMax = SHA256_CBLOCK - 9;

  // The same HMAC with the padding written by hand: after the key's block,
  // inner and outer hash are one compression each (SHA256_Transform), with
  // none of SHA256_Update's buffering or SHA256_Final's copies.
  void MacOneBlock(std::string_view a, std::string_view b, std::string_view c, size_t len, Sha256Digest* out) {
    std::memset(block_, 0, sizeof block_);
    std::memcpy(block_, a.data(), a.size());
    std::memcpy(block_ + a.size(), b.data(), b.size());
    std::memcpy(block_ + a.size() + b.size(), c.data(), c.size());
    PadOneBlock(len);
    work_ = inner_;
    SHA256_Transform(&work_, block_);
    std::memset(block_, 0, sizeof block_);
    StateBytes(work_, block_);
    PadOneBlock(out->size());
    work_ = outer_;
    SHA256_Transform(&work_, block_);
    StateBytes(work_, out->data());
  }

  // Ends the block after `len` message bytes; the key's block came before.
  void PadOneBlock(size_t len) {
    block_[len] = 0x80;
    const uint64_t bits = (SHA256_CBLOCK + len) * 8;
    for (size_t i = 0; i < 8; ++i) block_[SHA256_CBLOCK - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  }

  // The digest of a state whose message ended on a block boundary.
  static void StateBytes(const SHA256_CTX& state, uint8_t* out) {
    for (size_t i = 0; i < 8; ++i) {
      for (size_t k = 0; k < 4; ++k) out[4 * i + k] = static_cast<uint8_t>(state.h[i] >> (24 - 8 * k));
    }
  }

  SHA256_CTX inner_, outer_, work_;  // work_ is a member so it is wiped once, not per value
  uint8_t block_[SHA256_CBLOCK] = {};  // likewise: it holds the identifier
};
#pragma GCC diagnostic pop

// True if the word holds a byte JCS escapes (control, '"', '\\').
bool NeedsEscape(uint64_t x) {
  using namespace byte_scan;
  return HasByteBelow(x, 0x20) || HasByte(x, '"') || HasByte(x, '\\');
}

// Writes value[from..] as a JCS string body at `w`, byte by byte.
char* WriteEscapedBytes(std::string_view value, size_t from, char* w) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto put = [&w](std::string_view s) {
    std::memcpy(w, s.data(), s.size());
    w += s.size();
  };
  for (char c : value.substr(from)) {
    const auto b = static_cast<unsigned char>(c);
    switch (c) {
      case '"': put("\\\""); break;
      case '\\': put("\\\\"); break;
      case '\b': put("\\b"); break;
      case '\f': put("\\f"); break;
      case '\n': put("\\n"); break;
      case '\r': put("\\r"); break;
      case '\t': put("\\t"); break;
      default:
        if (b < 0x20) {
          put("\\u00");
          *w++ = kHex[b >> 4];
          *w++ = kHex[b & 15];
        } else {
          *w++ = c;
        }
    }
  }
  return w;
}

// Writes one value as a JCS string body at `w` and returns the end. Almost
// no cell needs an escape: it is copied a word at a time, the last word
// whole (up to 7 bytes past the end, within CanonicalBound's slack, later
// overwritten or never hashed).
char* WriteEscaped(std::string_view value, char* w) {
  using namespace byte_scan;
  const char* p = value.data();
  size_t i = 0;
  for (; value.size() - i >= 8; i += 8) {
    const uint64_t x = Load8(p + i);
    if (NeedsEscape(x)) return WriteEscapedBytes(value, i, w);
    std::memcpy(w, &x, 8);
    w += 8;
  }
  if (i == value.size()) return w;
  const uint64_t x = LoadTail(p + i, value.size() - i, 'a');
  if (NeedsEscape(x)) return WriteEscapedBytes(value, i, w);
  std::memcpy(w, &x, 8);
  return w + (value.size() - i);
}

// Most bytes the canonical form of `values` can take.
template <typename Values>
size_t CanonicalBound(const Values& values) {
  size_t bound = 3 + 8;  // [ ] \n, and the last word WriteEscaped may store whole
  for (const auto& v : values) bound += 3 + 6 * v.size();
  return bound;
}

// Writes the canonical row at `w`, which has CanonicalBound(values) bytes.
template <typename Values>
char* WriteCanonicalRow(const Values& values, char* w) {
  *w++ = '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) *w++ = ',';
    *w++ = '"';
    w = WriteEscaped(values[i], w);
    *w++ = '"';
  }
  *w++ = ']';
  *w++ = '\n';
  return w;
}

// rows_sha256 over canonical rows written back to back into the blocks of a
// HashPipeline lane, hashed on its worker (which wipes what it hashed).
class CanonicalRowHasher {
 public:
  CanonicalRowHasher(HashPipeline* hashes, Sha256* sha)
      : hashes_(hashes), lane_(hashes->AddLane([sha](std::span<const uint8_t> b) { sha->Update(b); })) {}

  void Add(std::span<const std::string_view> values) {
    const size_t bound = CanonicalBound(values);
    if (bound > HashPipeline::kBlockBytes) return AddHuge(values, bound);
    auto* w = reinterpret_cast<char*>(hashes_->Room(lane_, bound));
    hashes_->Commit(lane_, static_cast<size_t>(WriteCanonicalRow(values, w) - w));
  }

 private:
  // A row whose bound exceeds a block (cells of kilobytes): written aside,
  // copied in, wiped.
  [[gnu::noinline]] void AddHuge(std::span<const std::string_view> values, size_t bound) {
    std::vector<char> row(bound);
    const char* end = WriteCanonicalRow(values, row.data());
    hashes_->Append(lane_, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(row.data()),
                                                    static_cast<size_t>(end - row.data())));
    WipeMemory(row.data(), row.size());
  }

  HashPipeline* hashes_;
  size_t lane_;
};

// The subject index lane: records of a 4-byte length and the identifier
// ("type:value"), MACed on the worker into `out`. Validated identifiers are
// short (an IBAN is the longest, 34 bytes), far below a block.
void PutSubject(HashPipeline* hashes, size_t lane, std::string_view type, std::string_view value) {
  const auto len = static_cast<uint32_t>(type.size() + 1 + value.size());
  uint8_t* w = hashes->Room(lane, sizeof len + len);
  std::memcpy(w, &len, sizeof len);
  std::memcpy(w + sizeof len, type.data(), type.size());
  w[sizeof len + type.size()] = ':';
  std::memcpy(w + sizeof len + type.size() + 1, value.data(), value.size());
  hashes->Commit(lane, sizeof len + len);
}

void MacSubjects(KeyedSha256Mac* mac, std::span<const uint8_t> records, std::vector<Sha256Digest>* out) {
  while (!records.empty()) {
    uint32_t len;
    std::memcpy(&len, records.data(), sizeof len);
    const std::string_view id(reinterpret_cast<const char*>(records.data()) + sizeof len, len);
    mac->Mac(id, "", "", &out->emplace_back());
    records = records.subspan(sizeof len + len);
  }
}

// Sorts digests [v, v + n) that agree on their first `depth` bytes, in byte
// order (the order of their hex strings). HMAC outputs are uniform: in-place
// radix passes on the first two bytes leave buckets of a few values each
// (for a million), sorted where the next 8 bytes compared as one big-endian
// integer almost always decide. For the million distinct people of
// bench/policy one std::sort over all took 0.23 s of CPU (perf); one radix
// pass then std::sort per bucket, 0.14 s; two passes, 0.08-0.09 s.
void SortDigests(Sha256Digest* v, size_t n, size_t depth = 0) {
  if (n < 64 || depth == 2) {
    auto prefix = [depth](const Sha256Digest& d) { return __builtin_bswap64(byte_scan::Load8(d.data() + depth)); };
    std::sort(v, v + n, [&](const Sha256Digest& a, const Sha256Digest& b) {
      const uint64_t pa = prefix(a), pb = prefix(b);
      if (pa != pb) return pa < pb;
      return std::memcmp(a.data() + depth + 8, b.data() + depth + 8, a.size() - depth - 8) < 0;
    });
    return;
  }
  size_t start[257] = {};
  for (size_t i = 0; i < n; ++i) ++start[v[i][depth] + 1];
  for (size_t b = 1; b <= 256; ++b) start[b] += start[b - 1];
  size_t next[256];
  std::copy(start, start + 256, next);
  for (size_t b = 0; b < 256; ++b) {
    while (next[b] < start[b + 1]) {
      const uint8_t home = v[next[b]][depth];
      if (home == b) {
        ++next[b];
      } else {
        std::swap(v[next[b]], v[next[home]++]);
      }
    }
  }
  for (size_t b = 0; b < 256; ++b) SortDigests(v + start[b], start[b + 1] - start[b], depth + 1);
}

// Where each of the protocol's fields stands in the list.
struct ColumnMap {
  std::vector<int> column_of;       // per field: its column, or -1
  std::vector<bool> unnamed;        // per column: no header; allowed only while the column stays empty
  bool any_unnamed = false;
  std::vector<size_t> present;      // field indexes, in the protocol's field order (canonical column order)
  std::vector<std::string> labels;  // `column C "Rijksregisternr" (national_number)`, for messages
};

ColumnMap MapColumns(const Protocol& protocol, const HeaderMatch& header, size_t columns) {
  ColumnMap map;
  map.column_of.assign(protocol.fields.size(), -1);
  map.unnamed.assign(columns, false);
  for (size_t i = 0; i < columns; ++i) {
    const ColumnMatch& c = header.columns[i];
    if (c.status == ColumnStatus::kField) map.column_of[static_cast<size_t>(c.field)] = static_cast<int>(i);
    if (c.status == ColumnStatus::kUnnamed) map.unnamed[i] = true;
  }
  map.any_unnamed = std::find(map.unnamed.begin(), map.unnamed.end(), true) != map.unnamed.end();
  for (size_t fi = 0; fi < protocol.fields.size(); ++fi) {
    if (map.column_of[fi] >= 0) {
      map.present.push_back(fi);
      map.labels.push_back(FieldColumnLabel(protocol, header, static_cast<size_t>(map.column_of[fi])));
    }
  }
  return map;
}

// Checks the cells of one data row at a time: required values, the fields'
// rules, data in a column without a header. Subject identifiers go to the
// index lane (when there is one), the normalised row to the canonical-row
// hash. Normalised values view the reader's cells or one scratch string per
// field, reused row after row: no allocation per cell.
class RowChecker {
 public:
  RowChecker(const Protocol& protocol, const ColumnMap& map, Collector& collect, HashPipeline& hashes,
             CanonicalRowHasher& rows_hash, std::optional<size_t> subject_lane)
      : protocol_(protocol),
        map_(map),
        collect_(collect),
        hashes_(hashes),
        rows_hash_(rows_hash),
        subject_lane_(subject_lane),
        scratch_(map.present.size()),
        values_(map.present.size()),
        unnamed_reported_(map.unnamed.size(), false) {}
  RowChecker(const RowChecker&) = delete;
  RowChecker& operator=(const RowChecker&) = delete;
  ~RowChecker() {
    for (auto& v : scratch_) WipeMemory(v.data(), v.size());
  }

  void Check(uint64_t row, const std::vector<std::string_view>& cells) {
    for (size_t i = 0; map_.any_unnamed && i < cells.size(); ++i) {
      if (map_.unnamed[i] && !cells[i].empty() && !unnamed_reported_[i]) {
        unnamed_reported_[i] = true;
        collect_.Add({"column_not_allowed", ColumnName(i) + " has data but no header: name the column or remove it",
                      0, ColumnName(i)});
      }
    }
    for (size_t k = 0; k < map_.present.size(); ++k) {
      const Field& f = protocol_.fields[map_.present[k]];
      auto col = static_cast<size_t>(map_.column_of[map_.present[k]]);
      std::string_view cell = col < cells.size() ? cells[col] : std::string_view();
      std::string_view& norm = values_[k];
      norm = {};
      // Most cells start with what they hold: only a blank first byte needs the scan.
      bool blank = cell.empty() || (IsBlankByte(cell.front()) &&
                                    std::all_of(cell.begin(), cell.end(), [](char c) { return IsBlankByte(c); }));
      if (blank) {
        if (f.required) {
          collect_.AddRow({"required_value_missing", "row " + std::to_string(row) + ": " + map_.labels[k] +
                                                         " is empty; the field is required", row, f.name});
        }
        continue;
      }
      std::string_view failed;
      if (!ValidateCell(f.rule, cell, &scratch_[k], &norm, &failed)) {
        collect_.AddRow({"invalid_value", "row " + std::to_string(row) + ", " + map_.labels[k] +
                                              ": value breaks rule " + std::string(failed), row, f.name});
        norm = {};
        continue;
      }
      if (f.subject_identifier && subject_lane_) PutSubject(&hashes_, *subject_lane_, FieldTypeName(f.rule.type), norm);
    }
    rows_hash_.Add(values_);
  }

 private:
  const Protocol& protocol_;
  const ColumnMap& map_;
  Collector& collect_;
  HashPipeline& hashes_;
  CanonicalRowHasher& rows_hash_;
  const std::optional<size_t> subject_lane_;
  std::vector<std::string> scratch_;
  std::vector<std::string_view> values_;
  std::vector<bool> unnamed_reported_;
};

// Header problems go first, decided now that the rows are known: a
// "header" with rows shorter than itself may be a header run together
// with a data row, whose unknown texts are values (header_match.h). The
// count of row problems not listed goes last.
void OrderViolations(const Protocol& protocol, const CheckListOptions& options, bool rows_broken, ListCheck* result) {
  if (rows_broken) HideUnknownHeaderTexts(&result->header);
  Violations header_problems = HeaderViolations(protocol, result->header, options.header.search_rows);
  result->violations.insert(result->violations.begin(), std::make_move_iterator(header_problems.begin()),
                            std::make_move_iterator(header_problems.end()));
  if (result->suppressed > 0) {
    result->violations.push_back({"more_violations", std::to_string(result->suppressed) +
                                                         " more row violations were found but not listed", 0, ""});
  }
}

// The check of a list whose header row was not found (`err`, from
// LocateHeader): that one violation, and a manifest of the protocol and
// format only.
ListCheck NoHeaderFound(const Protocol& protocol, InputFormat format, const Error& err, ListCheck result) {
  result.violations.push_back({err.code == ErrorCode::kLimit      ? "list_limit_exceeded"
                               : err.code == ErrorCode::kNotFound ? "header_row_not_found"
                                                                  : "list_malformed",
                               err.message, 0, ""});
  result.manifest.protocol_id = protocol.id;
  result.manifest.protocol_version = protocol.version_hash;
  result.manifest.list_format = format;
  return result;
}

// The manifest's description of the list read: `rows` data rows, the
// canonical rows' digest, and (unless reading failed) the source's size and
// digest. REQUIRES: the hash pipeline drained.
void DescribeList(const Protocol& protocol, ListReader& reader, uint64_t rows, bool read_failed, Sha256& rows_sha,
                  Manifest* m) {
  m->protocol_id = protocol.id;
  m->protocol_version = protocol.version_hash;
  m->list_format = reader.Format();
  m->row_count = rows;
  m->rows_sha256 = HexEncode(rows_sha.Finish());
  if (!read_failed) {
    m->byte_size = reader.SourceBytes();
    m->sha256 = HexEncode(reader.SourceSha256());
  }
}

// The subject index of the manifest: sorted, de-duplicated, listed in the
// manifest or (options.stream_subject_index) described there and kept raw
// in result->subject_values.
void PutSubjectIndex(std::vector<Sha256Digest> subjects, const CheckListOptions& options, ListCheck* result) {
  Manifest& m = result->manifest;
  SortDigests(subjects.data(), subjects.size());
  subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());
  m.subject_key_id = options.subject_key_id;
  if (options.stream_subject_index) {
    SetSubjectIndex(&m, subjects, true);
    result->subject_values = std::move(subjects);
  } else {
    SetSubjectIndex(&m, std::move(subjects), false);  // moved, not copied: one copy of the index
  }
}

}  // namespace

void AppendCanonicalRow(const std::vector<std::string>& values, std::string* out) {
  const size_t old = out->size();
  out->resize(old + CanonicalBound(values));
  char* end = WriteCanonicalRow(values, out->data() + old);
  out->resize(static_cast<size_t>(end - out->data()));
}

Result<ListCheck> CheckList(const Protocol& protocol, ListReader& source, const CheckListOptions& options) {
  ListCheck result;
  Collector collect(&result, options.max_row_violations);
  // The header row may sit below title rows; rows above it are not data.
  auto located = LocateHeader(protocol, source, options.header, &result.header);
  if (!located) {
    const auto& err = located.error();
    if (err.code == ErrorCode::kIo || err.code == ErrorCode::kInternal) return tl::unexpected(err);
    return NoHeaderFound(protocol, source.Format(), err, std::move(result));
  }
  ListReader& reader = **located;
  const size_t header_size = reader.Header().size();
  const ColumnMap columns = MapColumns(protocol, result.header, header_size);
  for (size_t fi : columns.present) result.manifest.columns.push_back(protocol.fields[fi].name);

  // Keyed once; one HMAC per subject identifier value. The index holds raw
  // 32-byte digests while checking (one per row with a subject), sorted and
  // de-duplicated at the end, hex-encoded only for the manifest.
  std::optional<KeyedSha256Mac> mac;
  if (!options.subject_key.empty()) mac.emplace(options.subject_key);
  std::vector<Sha256Digest> subjects;
  Sha256 rows_sha;
  // Hashing (source bytes, canonical rows, subject HMACs) runs on a second
  // thread, in constant memory: on a million rows it is about a fifth of the
  // work without the index and a third with it. Declared after what its
  // consumers touch, so that it is joined before those go away.
  HashPipeline hashes;
  CanonicalRowHasher rows_hash(&hashes, &rows_sha);
  std::optional<size_t> subject_lane;
  if (mac) {
    subject_lane = hashes.AddLane([&](std::span<const uint8_t> records) { MacSubjects(&*mac, records, &subjects); });
  }
  reader.HashSourceOn(&hashes);
  // On every way out, before `hashes` is joined: the reader must not hand
  // bytes to a pipeline that is gone.
  struct SourceHashDetach {
    ListReader& reader;
    ~SourceHashDetach() { reader.HashSourceOn(nullptr); }
  } detach{reader};
  RowChecker checker(protocol, columns, collect, hashes, rows_hash, subject_lane);
  std::vector<std::string_view> cells;
  const bool pad_short_rows = reader.Format() == InputFormat::kXlsx;  // XLSX omits empty trailing cells
  bool read_failed = false;
  bool ragged = false;
  uint64_t rows = 0;

  for (;;) {
    auto next = reader.Next(&cells);
    if (!next) {
      const auto& err = next.error();
      if (err.code == ErrorCode::kIo || err.code == ErrorCode::kInternal) return tl::unexpected(err);
      collect.Add({err.code == ErrorCode::kLimit ? "list_limit_exceeded" : "list_malformed", err.message, 0, ""});
      read_failed = true;
      break;
    }
    if (!*next) break;
    if (std::all_of(cells.begin(), cells.end(), [](std::string_view c) { return c.empty(); })) continue;
    ++rows;
    uint64_t row = reader.RowNumber();
    if (cells.size() > header_size || (!pad_short_rows && cells.size() < header_size)) {
      collect.AddRow({"ragged_row", "row " + std::to_string(row) + " has " + std::to_string(cells.size()) +
                                        " cells but the header has " + std::to_string(header_size) +
                                        "; its cells were not checked", row, ""});
      ragged = true;
      continue;
    }
    checker.Check(row, cells);
  }

  OrderViolations(protocol, options, read_failed || ragged, &result);
  hashes.Drain();  // rows_sha and subjects are the caller's again
  DescribeList(protocol, reader, rows, read_failed, rows_sha, &result.manifest);
  if (mac) PutSubjectIndex(std::move(subjects), options, &result);
  return result;
}

Result<ListCheck> CheckListForSend(const Protocol& protocol, const ProtocolStatus& status, ListReader& reader,
                                   const SendRequest& request, const CheckListOptions& options) {
  XGW_TRY(auto result, CheckList(protocol, reader, options));
  auto decided = DecideSend(protocol, status, result.manifest, request);
  // A required field whose column is there but misspelt, or a header not
  // found at all, is already explained: "required field missing" on top
  // would send the clerk looking for a column that is there.
  const bool no_header = std::any_of(result.violations.begin(), result.violations.end(), [](const Violation& v) {
    return v.code == "header_not_found" || v.code == "header_row_not_found";
  });
  std::erase_if(decided, [&](const Violation& v) {
    if (v.code != "required_column_missing") return false;
    if (no_header) return true;
    return std::any_of(result.header.columns.begin(), result.header.columns.end(), [&](const ColumnMatch& c) {
      return c.status == ColumnStatus::kProbableMisspelling && protocol.fields[static_cast<size_t>(c.field)].name == v.column;
    });
  });
  result.violations.insert(result.violations.end(), decided.begin(), decided.end());
  return result;
}

}  // namespace xgw
