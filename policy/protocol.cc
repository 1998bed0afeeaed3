#include "policy/protocol.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "policy/canonical_json.h"
#include "policy/decimal.h"
#include "policy/edit_distance.h"

namespace xgw {

using nlohmann::json;

namespace {

constexpr std::string_view kFormatTag = "xgw-protocol/1";

// The known key closest to `key` when it is a plausible misspelling of it.
std::string Nearest(std::string_view key, std::initializer_list<std::string_view> required,
                    std::initializer_list<std::string_view> optional) {
  if (key.size() > 64) return {};
  std::string best;
  size_t best_distance = 3;  // at most two edits, and less than half the key
  for (auto list : {required, optional}) {
    for (auto known : list) {
      size_t d = EditDistance(key, known);
      if (d < best_distance && d * 2 < known.size()) {
        best_distance = d;
        best = std::string(known);
      }
    }
  }
  return best;
}

// Collects problems while walking the document. Every accessor records a
// problem instead of stopping, so one pass reports everything.
class Checker {
 public:
  ProtocolProblems problems;

  void Problem(const std::string& path, std::string reason) {
    problems.push_back({path, std::move(reason)});
  }

  // Checks that `v` is an object whose keys are all in required ∪ optional and
  // that every required key is present. Returns false if `v` is no object.
  bool Object(const json& v, const std::string& path, std::initializer_list<std::string_view> required,
              std::initializer_list<std::string_view> optional) {
    if (!v.is_object()) {
      Problem(path, "wrong type: expected an object");
      return false;
    }
    for (const auto& [key, item] : v.items()) {
      bool known = std::find(required.begin(), required.end(), key) != required.end() ||
                   std::find(optional.begin(), optional.end(), key) != optional.end();
      if (!known) {
        std::string near = Nearest(key, required, optional);
        Problem(path + "." + key, "unknown key" + (near.empty() ? "" : ": did you mean \"" + near + "\"?") +
                                      " (check the spelling against docs/protocol-format.md)");
      }
    }
    for (auto key : required) {
      if (!v.contains(key)) Problem(path + "." + std::string(key), "missing required key");
    }
    return true;
  }

  std::string String(const json& obj, std::string_view key, const std::string& path,
                     bool allow_empty = false) {
    auto it = obj.find(key);
    if (it == obj.end()) return {};
    std::string p = path + "." + std::string(key);
    if (!it->is_string()) {
      Problem(p, "wrong type: expected a string");
      return {};
    }
    auto s = it->get<std::string>();
    if (!allow_empty && s.find_first_not_of(" \t\r\n") == std::string::npos) {
      Problem(p, "must not be empty");
    }
    if (s.size() > 10000) Problem(p, "longer than 10000 bytes");
    return s;
  }

  std::optional<bool> Bool(const json& obj, std::string_view key, const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end()) return std::nullopt;
    if (!it->is_boolean()) {
      Problem(path + "." + std::string(key), "wrong type: expected true or false");
      return std::nullopt;
    }
    return it->get<bool>();
  }

  std::optional<int64_t> Integer(const json& obj, std::string_view key, const std::string& path,
                                 int64_t min, int64_t max) {
    auto it = obj.find(key);
    if (it == obj.end()) return std::nullopt;
    std::string p = path + "." + std::string(key);
    if (!it->is_number_integer()) {
      Problem(p, "wrong type: expected an integer");
      return std::nullopt;
    }
    int64_t v = it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX
                    ? INT64_MAX
                    : it->get<int64_t>();
    if (v < min || v > max) {
      Problem(p, "out of range: must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return v;
  }

  std::optional<Date> DateAt(const json& obj, std::string_view key, const std::string& path) {
    if (!obj.contains(key)) return std::nullopt;
    auto s = String(obj, key, path);
    Date d;
    if (!s.empty() && ParseIsoDate(s, &d)) return d;
    if (!s.empty()) Problem(path + "." + std::string(key), "not a calendar date in YYYY-MM-DD form");
    return std::nullopt;
  }

  // An array of non-empty, unique strings.
  std::vector<std::string> Strings(const json& obj, std::string_view key, const std::string& path,
                                   bool allow_empty_array) {
    std::vector<std::string> out;
    auto it = obj.find(key);
    if (it == obj.end()) return out;
    std::string p = path + "." + std::string(key);
    if (!it->is_array()) {
      Problem(p, "wrong type: expected an array of strings");
      return out;
    }
    if (it->empty() && !allow_empty_array) Problem(p, "must not be empty");
    std::set<std::string> seen;
    for (size_t i = 0; i < it->size(); ++i) {
      std::string ip = p + "[" + std::to_string(i) + "]";
      const auto& item = (*it)[i];
      if (!item.is_string() || item.get<std::string>().empty()) {
        Problem(ip, "wrong type: expected a non-empty string");
        continue;
      }
      if (!seen.insert(item.get<std::string>()).second) Problem(ip, "duplicate entry");
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  // Iterates an array member, calling fn(item, path) for each element.
  template <typename Fn>
  void Array(const json& obj, std::string_view key, const std::string& path, bool allow_empty, Fn fn) {
    auto it = obj.find(key);
    if (it == obj.end()) return;
    std::string p = path + "." + std::string(key);
    if (!it->is_array()) {
      Problem(p, "wrong type: expected an array");
      return;
    }
    if (it->empty() && !allow_empty) Problem(p, "must not be empty");
    for (size_t i = 0; i < it->size(); ++i) fn((*it)[i], p + "[" + std::to_string(i) + "]");
  }
};

bool IsIdentifierName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

// A unit id becomes part of a role name ("unit." + id), so it follows the
// gateway's role-name rules: [a-z][a-z0-9_.-]*, 64 bytes in all.
bool IsUnitName(std::string_view s) {
  if (s.empty() || s.size() > 59 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

bool IsFieldName(std::string_view s) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void ParseParty(Checker& c, const json& v, const std::string& path, Protocol& p) {
  if (!c.Object(v, path, {"id", "name", "country", "dpo"}, {"enterprise_number", "address", "units"})) return;
  Party party;
  party.id = c.String(v, "id", path);
  if (!party.id.empty() && !IsIdentifierName(party.id)) {
    c.Problem(path + ".id", "organisation id must be 1..64 of a-z 0-9 _ -");
  }
  party.name = c.String(v, "name", path);
  c.String(v, "address", path);
  party.country = c.String(v, "country", path);
  if (!party.country.empty() && party.country != "BE" && party.country != "NL") {
    c.Problem(path + ".country", "unsupported country: use BE or NL");
  }
  if (v.contains("enterprise_number")) {
    auto raw = c.String(v, "enterprise_number", path);
    if (party.country == "BE" && !raw.empty()) {
      auto n = NormaliseBeEnterpriseNumber(raw);
      if (!n) {
        c.Problem(path + ".enterprise_number",
                  "not a valid KBO enterprise number (check digits: 10 digits such as 0207.437.468, the last "
                  "two being 97 - (first eight mod 97)): copy it from the KBO public search");
      }
      else party.enterprise_number = *n;
    } else if (party.country == "NL" && !raw.empty()) {
      bool ok = raw.size() == 8 && raw.find_first_not_of("0123456789") == std::string::npos;
      if (!ok) c.Problem(path + ".enterprise_number", "not a valid KvK number (8 digits)");
      else party.enterprise_number = raw;
    }
  }
  if (v.contains("dpo")) {
    const auto& d = v["dpo"];
    std::string dp = path + ".dpo";
    if (c.Object(d, dp, {"name", "email"}, {"phone"})) {
      party.dpo.name = c.String(d, "name", dp);
      party.dpo.email = c.String(d, "email", dp);
      party.dpo.phone = c.String(d, "phone", dp);
      FieldRule email;
      email.type = FieldType::kEmail;
      std::string norm;
      std::string_view why;
      if (!party.dpo.email.empty() && !ValidateValue(email, party.dpo.email, &norm, &why)) {
        c.Problem(dp + ".email", "not a valid e-mail address");
      }
    }
  }
  party.units = c.Strings(v, "units", path, false);
  for (size_t i = 0; i < party.units.size(); ++i) {
    if (!IsUnitName(party.units[i])) {
      c.Problem(path + ".units[" + std::to_string(i) + "]",
                "a unit id must be 1..59 of a-z 0-9 _ - . starting with a letter (users join it with the role "
                "unit.<id>)");
    }
  }
  if (!party.id.empty() && p.PartyById(party.id)) c.Problem(path + ".id", "duplicate party id");
  p.parties.push_back(std::move(party));
}

// Decimal bounds: an integer or a decimal string ("12.50"; canonical JSON
// has no fractions, so 12.5 as a JSON number is refused by the hash anyway);
// kept canonical and compared as decimals, never through a double.
void ParseDecimalBounds(Checker& c, const json& v, const std::string& path, FieldRule& rule) {
  for (auto [key, slot] : {std::pair{"min", &rule.decimal_min}, std::pair{"max", &rule.decimal_max}}) {
    auto it = v.find(key);
    if (it == v.end()) continue;
    std::string text;
    if (it->is_string()) text = it->get<std::string>();
    else if (it->is_number_integer()) text = it->dump();
    *slot = NormaliseDecimal(text);
    if (!*slot) {
      c.Problem(path + "." + key, "not a decimal bound: write an integer or a string such as \"12.5\" or \"-0.25\"");
    }
  }
  if (rule.decimal_min && rule.decimal_max && CompareDecimal(*rule.decimal_max, *rule.decimal_min) < 0) {
    c.Problem(path + ".max", "max is below min");
  }
}

// The validator parameters of field `f` of type `type` (named `type_name`;
// nullopt if unknown): each only for the types it means something for.
void ParseFieldRule(Checker& c, const json& v, const std::string& path, const std::string& type_name,
                    std::optional<FieldType> type, Field& f) {
  auto only_for = [&](std::string_view key, std::initializer_list<FieldType> types) {
    if (!v.contains(key) || !type) return false;
    if (std::find(types.begin(), types.end(), *type) == types.end()) {
      c.Problem(path + "." + std::string(key), "not allowed for type " + type_name);
      return false;
    }
    return true;
  };
  if (only_for("max_length", {FieldType::kText, FieldType::kRegex})) {
    f.rule.max_length = static_cast<size_t>(
        c.Integer(v, "max_length", path, 1, type == FieldType::kRegex ? kRegexInputCap : 100000).value_or(0));
  }
  if (type == FieldType::kDecimal) {
    ParseDecimalBounds(c, v, path, f.rule);
  } else {
    if (only_for("min", {FieldType::kInteger})) f.rule.min = c.Integer(v, "min", path, INT64_MIN, INT64_MAX);
    if (only_for("max", {FieldType::kInteger})) f.rule.max = c.Integer(v, "max", path, INT64_MIN, INT64_MAX);
    if (f.rule.min && f.rule.max && *f.rule.min > *f.rule.max) c.Problem(path + ".max", "max is below min");
  }
  if (only_for("scale", {FieldType::kDecimal})) {
    if (auto scale = c.Integer(v, "scale", path, 0, 18)) f.rule.scale = static_cast<int>(*scale);
  }
  if (only_for("unit", {FieldType::kInteger, FieldType::kDecimal})) f.unit = c.String(v, "unit", path);
  if (only_for("values", {FieldType::kEnum})) {
    f.rule.values = c.Strings(v, "values", path, false);
    std::set<std::string> folded;
    for (size_t i = 0; i < f.rule.values.size(); ++i) {
      if (!folded.insert(FoldName(f.rule.values[i])).second) {
        c.Problem(path + ".values[" + std::to_string(i) + "]", "duplicate value (values compare case- and accent-insensitively)");
      }
    }
  }
  if (type == FieldType::kEnum && !v.contains("values")) c.Problem(path + ".values", "missing: an enum needs its values");
  if (only_for("pattern", {FieldType::kRegex})) {
    auto pattern = c.String(v, "pattern", path);
    f.pattern = pattern;
    if (!pattern.empty()) {
      auto re = CompileSafeRegex(pattern);
      if (!re) c.Problem(path + ".pattern", re.error().message);
      else f.rule.regex = *re;
    }
  }
  if (type == FieldType::kRegex && !v.contains("pattern")) c.Problem(path + ".pattern", "missing: a regex field needs a pattern");
  if (f.subject_identifier && type && !IsIdentifierType(*type)) {
    c.Problem(path + ".subject_identifier", "a subject identifier must use an identifier type (be_national_number, nl_bsn, be_enterprise_number, iban)");
  }
}

// special_category and its GDPR basis.
void ParseSpecialCategory(Checker& c, const json& v, const std::string& path, Field& f) {
  auto special = v.contains("special_category") ? c.String(v, "special_category", path) : "none";
  if (special == "art9") f.special_category = SpecialCategory::kArt9;
  else if (special == "art10") f.special_category = SpecialCategory::kArt10;
  else if (special != "none" && !special.empty()) c.Problem(path + ".special_category", "must be none, art9 or art10");
  f.special_category_basis = c.String(v, "special_category_basis", path);
  if (f.special_category != SpecialCategory::kNone && !v.contains("special_category_basis")) {
    c.Problem(path + ".special_category_basis", "missing: special-category data needs the GDPR art. 9(2) / art. 10 basis");
  }
  if (f.special_category == SpecialCategory::kNone && v.contains("special_category_basis")) {
    c.Problem(path + ".special_category_basis", "only allowed when special_category is art9 or art10");
  }
}

// Headers: the canonical name and aliases of `f`, the next field of `p`,
// must map to one field only.
void IndexFieldHeaders(Checker& c, const std::string& path, const Field& f, Protocol& p) {
  size_t index = p.fields.size();
  auto add_header = [&](const std::string& header, const std::string& where) {
    std::string folded = FoldName(header);
    if (folded.empty()) {
      c.Problem(where, "alias is empty after normalisation");
      return;
    }
    auto [it, inserted] = p.header_index.emplace(folded, index);
    if (!inserted && it->second != index) {
      c.Problem(where, "duplicate alias: it also names field " + p.fields[it->second].name);
    }  // the same header twice within one field is harmless (e.g. "last name" for last_name)
  };
  if (!f.name.empty()) {
    if (p.FieldByName(f.name)) c.Problem(path + ".name", "duplicate field name");
    add_header(f.name, path + ".name");
  }
  for (size_t i = 0; i < f.aliases.size(); ++i) {
    add_header(f.aliases[i], path + ".aliases[" + std::to_string(i) + "]");
  }
}

void ParseField(Checker& c, const json& v, const std::string& path, Protocol& p) {
  if (!c.Object(v, path, {"name", "type", "required", "justification"},
                {"aliases", "subject_identifier", "special_category", "special_category_basis",
                 "max_length", "min", "max", "values", "pattern", "description", "scale", "unit"})) {
    return;
  }
  Field f;
  f.name = c.String(v, "name", path);
  if (!f.name.empty() && !IsFieldName(f.name)) {
    c.Problem(path + ".name", "canonical field name must start with a-z and use only a-z 0-9 _");
  }
  f.aliases = c.Strings(v, "aliases", path, true);
  f.justification = c.String(v, "justification", path);
  c.String(v, "description", path);
  f.required = c.Bool(v, "required", path).value_or(false);
  f.subject_identifier = c.Bool(v, "subject_identifier", path).value_or(false);

  auto type_name = c.String(v, "type", path);
  std::optional<FieldType> type;
  if (!type_name.empty()) {
    type = FieldTypeFromName(type_name);
    if (!type) c.Problem(path + ".type", "unknown validator type (see docs/protocol-format.md for the list)");
  }
  if (type) f.rule.type = *type;
  ParseFieldRule(c, v, path, type_name, type, f);
  ParseSpecialCategory(c, v, path, f);
  IndexFieldHeaders(c, path, f, p);
  p.fields.push_back(std::move(f));
}

void ParseRecipient(Checker& c, const json& v, const std::string& path, Protocol& p) {
  if (!c.Object(v, path, {"organisation"}, {"roles", "users", "units"})) return;
  RecipientRule r;
  r.organisation = c.String(v, "organisation", path);
  r.roles = c.Strings(v, "roles", path, true);
  r.users = c.Strings(v, "users", path, true);
  r.units = c.Strings(v, "units", path, true);
  if (r.roles.empty() && r.users.empty() && r.units.empty()) {
    c.Problem(path, "recipients empty: name at least one role, unit or user");
  }
  if (const Party* party = p.PartyById(r.organisation)) {
    for (size_t i = 0; i < r.units.size(); ++i) {
      if (std::find(party->units.begin(), party->units.end(), r.units[i]) == party->units.end()) {
        c.Problem(path + ".units[" + std::to_string(i) + "]",
                  "not a unit of party " + r.organisation + ": list it in that party's \"units\" first");
      }
    }
  }
  if (!r.organisation.empty() && !p.IsReceiver(r.organisation)) {
    c.Problem(path + ".organisation", "not a receiving party of any direction");
  }
  p.recipients.push_back(std::move(r));
}

}  // namespace

std::string_view InputFormatName(InputFormat format) {
  return format == InputFormat::kCsv ? "csv" : "xlsx";
}

const Field* Protocol::FieldForHeader(std::string_view header) const {
  auto it = header_index.find(FoldName(header));
  return it == header_index.end() ? nullptr : &fields[it->second];
}

const Field* Protocol::FieldByName(std::string_view name) const {
  for (const auto& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const Party* Protocol::PartyById(std::string_view party_id) const {
  for (const auto& party : parties) {
    if (party.id == party_id) return &party;
  }
  return nullptr;
}

bool Protocol::IsSender(std::string_view party_id) const {
  return std::any_of(directions.begin(), directions.end(), [&](const Direction& d) { return d.from == party_id; });
}

bool Protocol::IsReceiver(std::string_view party_id) const {
  return std::any_of(directions.begin(), directions.end(), [&](const Direction& d) { return d.to == party_id; });
}

bool Protocol::Accepts(InputFormat format) const {
  return std::find(input_formats.begin(), input_formats.end(), format) != input_formats.end();
}

Instant Protocol::ValidFromInstant() const { return zone->StartOfDay(valid_from); }
Instant Protocol::ValidUntilInstant() const { return zone->EndOfDay(valid_until); }

tl::expected<Protocol, ProtocolProblems> ParseProtocolDocument(const json& doc,
                                                       const ProtocolLoadOptions& options) {
  Checker c;
  Protocol p;
  const std::string root = "$";
  if (!c.Object(doc, root,
                {"format", "id", "version", "title", "time_zone", "parties", "directions", "purposes",
                 "legal_basis", "fields", "recipients", "retention", "validity", "frequency", "limits",
                 "input_formats", "on_termination"},
                {"approval", "publication_url", "next_review", "description"})) {
    return tl::unexpected(std::move(c.problems));
  }
  auto format = c.String(doc, "format", root);
  if (doc.contains("format") && format != kFormatTag) {
    c.Problem("$.format", "unsupported format: expected " + std::string(kFormatTag));
  }
  p.id = c.String(doc, "id", root);
  if (!p.id.empty() && (p.id.size() > 128 || p.id.find_first_of("/\\ \t\r\n") != std::string::npos)) {
    c.Problem("$.id", "id must be at most 128 characters without spaces or slashes");
  }
  p.version = c.String(doc, "version", root);
  p.title = c.String(doc, "title", root);
  c.String(doc, "description", root);
  auto zone_name = c.String(doc, "time_zone", root);
  if (!zone_name.empty()) {
    auto zone = TimeZone::Load(zone_name, options.zoneinfo_dir);
    if (!zone) c.Problem("$.time_zone", "unknown time zone: use a tz database name like Europe/Brussels");
    else p.zone = *zone;
  }

  c.Array(doc, "parties", root, false, [&](const json& v, const std::string& path) { ParseParty(c, v, path, p); });
  if (p.parties.size() == 1) c.Problem("$.parties", "a protocol needs at least two parties");

  c.Array(doc, "directions", root, false, [&](const json& v, const std::string& path) {
    if (!c.Object(v, path, {"from", "to"}, {})) return;
    Direction d{c.String(v, "from", path), c.String(v, "to", path)};
    if (!d.from.empty() && !p.PartyById(d.from)) c.Problem(path + ".from", "not a party id");
    if (!d.to.empty() && !p.PartyById(d.to)) c.Problem(path + ".to", "not a party id");
    if (!d.from.empty() && d.from == d.to) c.Problem(path, "sender and receiver are the same party");
    for (const auto& e : p.directions) {
      if (e.from == d.from && e.to == d.to) c.Problem(path, "duplicate direction");
    }
    p.directions.push_back(std::move(d));
  });
  for (size_t i = 0; i < p.parties.size(); ++i) {
    const auto& id = p.parties[i].id;
    if (!id.empty() && !p.IsSender(id) && !p.IsReceiver(id)) {
      c.Problem("$.parties[" + std::to_string(i) + "]", "party neither sends nor receives in any direction");
    }
  }

  p.purposes = c.Strings(doc, "purposes", root, false);
  p.legal_basis = c.Strings(doc, "legal_basis", root, false);

  c.Array(doc, "fields", root, false, [&](const json& v, const std::string& path) { ParseField(c, v, path, p); });
  if (!p.fields.empty() && std::none_of(p.fields.begin(), p.fields.end(), [](const Field& f) { return f.required; })) {
    c.Problem("$.fields", "at least one field must be required");
  }

  c.Array(doc, "recipients", root, false, [&](const json& v, const std::string& path) { ParseRecipient(c, v, path, p); });
  for (const auto& d : p.directions) {
    if (p.PartyById(d.to) && std::none_of(p.recipients.begin(), p.recipients.end(),
                                          [&](const RecipientRule& r) { return r.organisation == d.to; })) {
      c.Problem("$.recipients", "no recipients named for receiving party " + d.to);
    }
  }

  if (doc.contains("retention")) {
    const auto& r = doc["retention"];
    std::string rp = "$.retention";
    if (c.Object(r, rp, {}, {"delete_on", "after_delivery", "after_first_download", "delete_on_acknowledgement"})) {
      p.retention.delete_on = c.DateAt(r, "delete_on", rp);
      for (auto [key, slot] : {std::pair{"after_delivery", &p.retention.after_delivery},
                               std::pair{"after_first_download", &p.retention.after_first_download}}) {
        if (!r.contains(key)) continue;
        auto text = c.String(r, key, rp);
        *slot = ParseCalendarDuration(text);
        if (!*slot && !text.empty()) {
          c.Problem(rp + "." + key, "not a duration like P3M, P1Y, P30D, P2W, P1M15D or PT12H");
        }
      }
      p.retention.on_acknowledgement = c.Bool(r, "delete_on_acknowledgement", rp).value_or(false);
      if (!r.contains("delete_on") && !r.contains("after_delivery")) {
        c.Problem(rp, "retention missing: set delete_on or after_delivery so that data never stays forever");
      }
    }
  }

  if (doc.contains("validity")) {
    const auto& v = doc["validity"];
    if (c.Object(v, "$.validity", {"from"}, {"until", "duration"})) {
      auto from = c.DateAt(v, "from", "$.validity");
      auto until = c.DateAt(v, "until", "$.validity");
      // "duration" instead of "until": the period ends the day before the same
      // calendar day that many months/years later ("from" 2025-01-01 "P1Y":
      // until 2025-12-31 inclusive).
      if (v.contains("until") == v.contains("duration")) {
        c.Problem("$.validity", "give either until (the last day) or duration (like P1Y or P6M), not both or neither");
      } else if (v.contains("duration")) {
        auto text = c.String(v, "duration", "$.validity");
        auto d = ParseCalendarDuration(text);
        if (!d || d->exact.count() % 86400 != 0) {
          if (!text.empty()) c.Problem("$.validity.duration", "not a duration of whole days, months or years like P1Y, P6M or P90D");
        } else if (from) {
          until = Date{std::chrono::sys_days{AddMonths(*from, d->months)} +
                       std::chrono::days{d->exact.count() / 86400 - 1}};
        }
      }
      if (from) p.valid_from = *from;
      if (until) p.valid_until = *until;
      if (from && until && std::chrono::sys_days{*until} < std::chrono::sys_days{*from}) {
        c.Problem("$.validity.until", "end before start");
      }
      if (from && p.retention.delete_on &&
          std::chrono::sys_days{*p.retention.delete_on} < std::chrono::sys_days{*from}) {
        c.Problem("$.retention.delete_on", "deletion date before the validity period starts");
      }
    }
  }

  if (doc.contains("frequency")) {
    const auto& f = doc["frequency"];
    std::string fp = "$.frequency";
    // Compared, not read with value(): a "kind" of another type must become a
    // problem below, not a type_error.
    if (f.is_object() && f.contains("kind") && f["kind"] == "periodic") {
      if (c.Object(f, fp, {"kind", "max_transfers", "per"}, {})) {
        p.frequency.one_off = false;
        p.frequency.max_transfers = static_cast<uint32_t>(c.Integer(f, "max_transfers", fp, 1, 100000).value_or(1));
        auto per = c.String(f, "per", fp);
        if (per == "day") p.frequency.per = Period::kDay;
        else if (per == "week") p.frequency.per = Period::kWeek;
        else if (per == "month") p.frequency.per = Period::kMonth;
        else if (per == "year") p.frequency.per = Period::kYear;
        else if (!per.empty()) c.Problem(fp + ".per", "must be day, week, month or year");
      }
    } else if (c.Object(f, fp, {"kind"}, {})) {
      auto kind = c.String(f, "kind", fp);
      if (kind != "one_off" && !kind.empty()) c.Problem(fp + ".kind", "must be one_off or periodic");
    }
  }

  if (doc.contains("limits")) {
    const auto& l = doc["limits"];
    if (c.Object(l, "$.limits", {"max_rows", "max_bytes"}, {})) {
      p.limits.max_rows = static_cast<uint64_t>(c.Integer(l, "max_rows", "$.limits", 1, 100000000).value_or(0));
      p.limits.max_bytes = static_cast<uint64_t>(c.Integer(l, "max_bytes", "$.limits", 1, int64_t{1} << 40).value_or(0));
    }
  }

  auto formats = c.Strings(doc, "input_formats", root, false);
  for (size_t i = 0; i < formats.size(); ++i) {
    if (formats[i] == "csv") p.input_formats.push_back(InputFormat::kCsv);
    else if (formats[i] == "xlsx") p.input_formats.push_back(InputFormat::kXlsx);
    else c.Problem("$.input_formats[" + std::to_string(i) + "]", "unknown input format: use csv or xlsx");
  }

  if (doc.contains("approval")) {
    const auto& a = doc["approval"];
    std::string ap = "$.approval";
    if (c.Object(a, ap, {"decision_reference", "decision_date", "decided_by", "dpo_advice"}, {})) {
      Approval approval;
      approval.decision_reference = c.String(a, "decision_reference", ap);
      approval.decided_by = c.String(a, "decided_by", ap);
      auto date = c.DateAt(a, "decision_date", ap);
      if (date) approval.decision_date = *date;
      c.Array(a, "dpo_advice", ap, false, [&](const json& v, const std::string& path) {
        if (!c.Object(v, path, {"party", "date", "advice"}, {"reference"})) return;
        DpoAdvice adv;
        adv.party = c.String(v, "party", path);
        c.String(v, "reference", path);
        if (!adv.party.empty() && !p.PartyById(adv.party)) c.Problem(path + ".party", "not a party id");
        auto d = c.DateAt(v, "date", path);
        if (d) {
          adv.date = *d;
          if (date && std::chrono::sys_days{*d} > std::chrono::sys_days{*date}) {
            c.Problem(path + ".date", "DPO advice dated after the decision");
          }
        }
        adv.advice = c.String(v, "advice", path);
        if (!adv.advice.empty() && adv.advice != "favourable" && adv.advice != "favourable_with_conditions" &&
            adv.advice != "unfavourable") {
          c.Problem(path + ".advice", "must be favourable, favourable_with_conditions or unfavourable");
        }
        for (const auto& other : approval.dpo_advice) {
          if (other.party == adv.party) c.Problem(path + ".party", "duplicate advice for this party");
        }
        approval.dpo_advice.push_back(std::move(adv));
      });
      p.approval = std::move(approval);
    }
  }
  p.publication_url = c.String(doc, "publication_url", root);
  if (!p.publication_url.empty() && p.publication_url.rfind("https://", 0) != 0) {
    c.Problem("$.publication_url", "must be an https:// URL");
  }
  p.next_review = c.DateAt(doc, "next_review", root);

  auto on_term = c.String(doc, "on_termination", root);
  if (on_term == "keep") p.on_termination = OnTermination::kKeep;
  else if (on_term != "delete" && !on_term.empty()) c.Problem("$.on_termination", "must be delete or keep");

  auto hash = CanonicalJsonHash(doc);
  if (!hash) c.Problem("$", hash.error().message);
  if (!c.problems.empty()) return tl::unexpected(std::move(c.problems));
  p.version_hash = HexEncode(*hash);
  p.document = doc;
  return p;
}

tl::expected<Protocol, ProtocolProblems> ParseProtocol(std::string_view text,
                                                       const ProtocolLoadOptions& options) {
  // Duplicate keys are ambiguous in a legal document (most parsers keep the
  // last one silently): track the keys of every open object while parsing.
  std::vector<std::set<std::string>> open;
  std::vector<std::string> duplicates;
  json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open.empty()) open.pop_back();
    } else if (event == json::parse_event_t::key && !open.empty()) {
      if (!open.back().insert(parsed.get<std::string>()).second) duplicates.push_back(parsed.get<std::string>());
    }
    return true;
  };
  json doc;
  try {
    // Comments (// and /* */) are allowed, as `xgw protocol new` writes them;
    // they are not part of the document, so not of its version hash.
    doc = json::parse(text.begin(), text.end(), cb, true, true);
  } catch (const json::parse_error& e) {
    // e.byte is a position, not content: safe to report.
    return tl::unexpected(ProtocolProblems{{"$", "not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")"}});
  } catch (const json::exception&) {
    // out_of_range 406: a number too large for a double.
    return tl::unexpected(ProtocolProblems{{"$", "not valid JSON (a number is out of range)"}});
  }
  auto result = ParseProtocolDocument(doc, options);
  if (duplicates.empty()) return result;
  ProtocolProblems problems;
  for (const auto& key : duplicates) problems.push_back({"$", "duplicate key \"" + key + "\""});
  if (!result) problems.insert(problems.end(), result.error().begin(), result.error().end());
  return tl::unexpected(std::move(problems));
}

Error ProblemsToError(const ProtocolProblems& problems) {
  std::string msg = "protocol has " + std::to_string(problems.size()) + " problem(s): ";
  for (size_t i = 0; i < problems.size(); ++i) {
    if (i) msg += "; ";
    msg += problems[i].path + ": " + problems[i].reason;
  }
  return Error{ErrorCode::kFormat, msg};
}

Result<Protocol> LoadProtocolFile(const std::string& path, const ProtocolLoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kIo, "cannot open protocol file " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (buf.str().size() > (4u << 20)) return Fail(ErrorCode::kLimit, "protocol file larger than 4 MiB");
  auto parsed = ParseProtocol(buf.str(), options);
  if (!parsed) return tl::unexpected(ProblemsToError(parsed.error()));
  return std::move(*parsed);
}

}  // namespace xgw
