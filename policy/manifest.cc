#include "policy/manifest.h"

#include <algorithm>
#include <set>

#include "crypto/hash.h"
#include "policy/canonical_json.h"

namespace xgw {

using nlohmann::json;

namespace {

constexpr std::string_view kManifestFormat = "xgw-manifest/1";

bool IsHex64(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

void SetIndexDescription(Manifest* m, std::span<const Sha256Digest> values, bool streamed) {
  m->subject_index_streamed = streamed;
  m->subject_count = values.size();
  Sha256 all;
  // The raw values lie back to back: one update hashes them all.
  all.Update(std::span<const uint8_t>(values.empty() ? nullptr : values.data()->data(), values.size_bytes()));
  m->subject_index_sha256 = HexEncode(all.Finish());
}

}  // namespace

void SetSubjectIndex(Manifest* m, std::span<const Sha256Digest> values, bool streamed) {
  SetIndexDescription(m, values, streamed);
  m->subject_index = streamed ? SubjectIndexValues()
                              : SubjectIndexValues(std::vector<Sha256Digest>(values.begin(), values.end()));
}

void SetSubjectIndex(Manifest* m, std::vector<Sha256Digest>&& values, bool streamed) {
  SetIndexDescription(m, values, streamed);
  m->subject_index = streamed ? SubjectIndexValues() : SubjectIndexValues(std::move(values));
}

Result<std::string> ManifestToCanonicalJson(const Manifest& m) {
  json values = json::array();
  if (!m.subject_index_streamed) {
    values.get_ref<json::array_t&>().reserve(m.subject_index.size());
    for (std::string hex : m.subject_index) values.push_back(std::move(hex));
  }
  const json index = m.subject_index_streamed
                         ? json{{"key_id", m.subject_key_id}, {"count", m.subject_count},
                                {"sha256", m.subject_index_sha256}}
                         : json{{"key_id", m.subject_key_id}, {"values", std::move(values)}};
  json doc = {
      {"format", kManifestFormat},
      {"protocol_id", m.protocol_id},
      {"protocol_version", m.protocol_version},
      {"list_format", InputFormatName(m.list_format)},
      {"columns", m.columns},
      {"row_count", m.row_count},
      {"byte_size", m.byte_size},
      {"sha256", m.sha256},
      {"rows_sha256", m.rows_sha256},
      {"subject_index", index},
  };
  return CanonicalJson(doc);
}

namespace {

tl::unexpected<Error> Bad(const std::string& why) { return Fail(ErrorCode::kFormat, "manifest " + why); }

// The manifest's subject_index (`si`), listed or streamed, into `m`, whose
// columns and row count are read already.
Result<void> ParseSubjectIndex(const json& si, Manifest& m) {
  const bool listed = si.is_object() && si.size() == 2 && si.contains("key_id") && si.contains("values");
  const bool streamed = si.is_object() && si.size() == 3 && si.contains("key_id") && si.contains("count") &&
                        si.contains("sha256");
  if (!listed && !streamed) {
    return Bad("subject_index must hold exactly key_id and values, or key_id, count and sha256");
  }
  if (!si["key_id"].is_string()) return Bad("subject_index.key_id is not a string");
  m.subject_key_id = si["key_id"].get<std::string>();
  m.subject_index_streamed = streamed;
  if (streamed) {
    if (!si["count"].is_number_unsigned()) return Bad("subject_index.count is not a non-negative integer");
    m.subject_count = si["count"].get<uint64_t>();
    if (!IsHex64(si["sha256"])) return Bad("subject_index.sha256 is not 64 lower-case hex digits");
    m.subject_index_sha256 = si["sha256"].get<std::string>();
    if (m.subject_count == 0 && m.subject_index_sha256 != kEmptySubjectIndexSha256) {
      return Bad("subject_index.sha256 is not the digest of an empty index");
    }
    // Each value comes from one cell: never more than rows x columns.
    if (m.subject_count > 0 && (m.columns.empty() || (m.subject_count - 1) / m.columns.size() >= m.row_count)) {
      return Bad("subject_index.count exceeds one value per cell of the list");
    }
  } else {
    if (!si["values"].is_array()) return Bad("subject_index.values is not an array");
    std::vector<Sha256Digest> values;
    values.reserve(si["values"].size());
    for (const auto& v : si["values"]) {
      if (!IsHex64(v)) return Bad("subject_index.values holds a value that is not 64 lower-case hex digits");
      const auto bytes = *HexDecode(v.get_ref<const std::string&>());
      Sha256Digest& d = values.emplace_back();
      std::copy(bytes.begin(), bytes.end(), d.begin());
      // Raw byte order is the order of the lower-case hex strings.
      if (values.size() > 1 && !(values[values.size() - 2] < d)) {
        return Bad("subject_index.values is not sorted and unique");
      }
    }
    SetSubjectIndex(&m, std::move(values), false);
  }
  if (m.subject_key_id.empty() && m.subject_count != 0) return Bad("subject_index has values but no key_id");
  if (m.row_count == 0 && m.subject_count != 0) return Bad("subject_index has values but the list has no rows");
  return {};
}

}  // namespace

Result<Manifest> ParseManifest(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    return Fail(ErrorCode::kFormat, "manifest is not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception&) {
    // out_of_range 406: a number too large for a double.
    return Fail(ErrorCode::kFormat, "manifest is not valid JSON (a number is out of range)");
  }
  static const std::set<std::string> kKeys = {"format", "protocol_id", "protocol_version", "list_format", "columns",
                                              "row_count", "byte_size", "sha256", "rows_sha256", "subject_index"};
  if (!doc.is_object()) return Bad("is not a JSON object");
  for (const auto& [key, value] : doc.items()) {
    if (!kKeys.count(key)) return Bad("has unknown key " + key);
  }
  for (const auto& key : kKeys) {
    if (!doc.contains(key)) return Bad("lacks key " + key);
  }
  if (doc["format"] != kManifestFormat) return Bad("format is not " + std::string(kManifestFormat));
  Manifest m;
  if (!doc["protocol_id"].is_string() || doc["protocol_id"].get<std::string>().empty()) return Bad("protocol_id is not a string");
  m.protocol_id = doc["protocol_id"].get<std::string>();
  if (!IsHex64(doc["protocol_version"])) return Bad("protocol_version is not 64 lower-case hex digits");
  m.protocol_version = doc["protocol_version"].get<std::string>();
  if (doc["list_format"] == "csv") m.list_format = InputFormat::kCsv;
  else if (doc["list_format"] == "xlsx") m.list_format = InputFormat::kXlsx;
  else return Bad("list_format is not csv or xlsx");
  if (!doc["columns"].is_array()) return Bad("columns is not an array");
  for (const auto& c : doc["columns"]) {
    if (!c.is_string() || c.get<std::string>().empty()) return Bad("columns holds a non-string");
    if (std::find(m.columns.begin(), m.columns.end(), c.get<std::string>()) != m.columns.end()) {
      return Bad("columns holds a duplicate");
    }
    m.columns.push_back(c.get<std::string>());
  }
  if (!doc["row_count"].is_number_unsigned()) return Bad("row_count is not a non-negative integer");
  m.row_count = doc["row_count"].get<uint64_t>();
  if (!doc["byte_size"].is_number_unsigned()) return Bad("byte_size is not a non-negative integer");
  m.byte_size = doc["byte_size"].get<uint64_t>();
  if (!IsHex64(doc["sha256"])) return Bad("sha256 is not 64 lower-case hex digits");
  m.sha256 = doc["sha256"].get<std::string>();
  if (!IsHex64(doc["rows_sha256"])) return Bad("rows_sha256 is not 64 lower-case hex digits");
  m.rows_sha256 = doc["rows_sha256"].get<std::string>();
  XGW_CHECK(ParseSubjectIndex(doc["subject_index"], m));
  return m;
}

Result<std::string> SubjectLookupValue(std::span<const uint8_t> key, FieldType type, std::string_view raw) {
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "subject index key is empty");
  if (!IsIdentifierType(type)) return Fail(ErrorCode::kInvalidArgument, "type is not an identifier type");
  auto normalised = NormaliseIdentifier(type, raw);
  if (!normalised) {
    return Fail(ErrorCode::kInvalidArgument, "not a valid " + std::string(FieldTypeName(type)) + " identifier");
  }
  HmacSha256 mac(key);
  mac.Update(FieldTypeName(type));
  mac.Update(":");
  mac.Update(*normalised);
  auto digest = mac.Finish();
  return HexEncode(digest);
}

}  // namespace xgw
