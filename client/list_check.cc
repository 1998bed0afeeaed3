#include "client/list_check.h"

#include "crypto/secret.h"

namespace xgw::cli {

std::vector<std::string> ManifestMismatches(const Manifest& d, const Manifest& a, bool compare_index) {
  std::vector<std::string> out;
  if (d.protocol_id != a.protocol_id) out.emplace_back("protocol_id");
  if (d.protocol_version != a.protocol_version) out.emplace_back("protocol_version");
  if (d.list_format != a.list_format) out.emplace_back("list_format");
  if (d.columns != a.columns) out.emplace_back("columns");
  if (d.row_count != a.row_count) out.emplace_back("row_count");
  if (d.byte_size != a.byte_size) out.emplace_back("byte_size");
  if (d.sha256 != a.sha256) out.emplace_back("sha256");
  if (d.rows_sha256 != a.rows_sha256) out.emplace_back("rows_sha256");
  // Whichever form each manifest uses (listed or streamed), the count and
  // digest of the values decide.
  if (compare_index && (d.subject_count != a.subject_count || d.subject_index_sha256 != a.subject_index_sha256))
    out.emplace_back("subject_index");
  return out;
}

Result<ReceivedCheck> CheckReceivedList(const Protocol& protocol, const Manifest& declared, ByteSource& plain,
                                        std::span<const uint8_t> subject_key) {
  std::unique_ptr<ListReader> reader;
  SecretBuffer xlsx;
  if (declared.list_format == InputFormat::kXlsx) {
    // XLSX needs random access: keep the plaintext in wiped memory only.
    size_t cap = static_cast<size_t>(std::min<uint64_t>(declared.byte_size, 256ull << 20));
    xlsx = SecretBuffer(cap + 1);
    XGW_TRY(size_t n, ReadFull(plain, xlsx.span()));
    if (n > cap) {
      ReceivedCheck r;
      r.code = "manifest_mismatch";
      r.mismatches.emplace_back("byte_size");
      return r;
    }
    xlsx.Truncate(n);
    auto x = OpenXlsxBuffer(xlsx.span());
    if (!x) {
      ReceivedCheck r;
      r.code = "manifest_mismatch";
      r.mismatches.emplace_back("list_format");
      return r;
    }
    reader = std::move(*x);
  } else {
    XGW_TRY(reader, OpenCsvReader(plain));
  }
  CheckListOptions opts;
  opts.subject_key = subject_key;
  opts.subject_key_id = declared.subject_key_id;
  opts.stream_subject_index = true;  // only its count and digest are compared
  XGW_TRY(ListCheck check, CheckList(protocol, *reader, opts));
  check.manifest.protocol_id = protocol.id;
  check.manifest.protocol_version = protocol.version_hash;
  ReceivedCheck out;
  out.mismatches = ManifestMismatches(declared, check.manifest, !subject_key.empty());
  out.violations = std::move(check.violations);
  if (!out.mismatches.empty()) out.code = "manifest_mismatch";
  else if (!out.violations.empty()) out.code = "content_not_allowed";
  return out;
}

}  // namespace xgw::cli
