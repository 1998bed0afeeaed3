#include "policy/protocol_authoring.h"

#include <set>

namespace xgw {

using nlohmann::json;

namespace {

std::string Q(const std::string& s) { return json(s).dump(); }

std::string Or(const std::string& value, const std::string& placeholder) {
  return value.empty() ? placeholder : value;
}

bool IsDate(const std::string& s) {
  Date d;
  return ParseIsoDate(s, &d);
}

std::string PartyText(const SkeletonParty& p, const std::string& default_id, const std::string& role) {
  const bool nl = p.country == "NL";
  std::string t;
  t += "    {\n";
  t += "      \"id\": " + Q(Or(p.id, default_id)) + ",\n";
  t += "      \"name\": " + Q(Or(p.name, "TODO: the " + role + "'s official name")) + ",\n";
  t += "      \"country\": " + Q(nl ? "NL" : "BE") + ",\n";
  t += std::string("      // ") + (nl ? "KvK number, 8 digits" : "KBO number, 10 digits (BE 0xxx.xxx.xxx)") +
       ": the number the organisation is registered with in xgwd.\n";
  t += "      \"enterprise_number\": " +
       Q(Or(p.enterprise_number, nl ? "TODO: KvK number" : "TODO: KBO number")) + ",\n";
  t += "      // Optional: teams or departments recipient rules may name (members hold the role unit.<id>).\n";
  t += "      // \"units\": [\"dienst-voorbeeld\"],\n";
  t += "      \"dpo\": {\"name\": \"TODO: the DPO's name\", \"email\": \"TODO-dpo@example.invalid\"}\n";
  t += "    }";
  return t;
}

// Every string value containing "TODO", with its path.
void FindPlaceholders(const json& v, const std::string& path, std::vector<std::string>* out) {
  if (v.is_string()) {
    if (v.get<std::string>().find("TODO") != std::string::npos) out->push_back(path);
  } else if (v.is_object()) {
    for (const auto& [key, item] : v.items()) FindPlaceholders(item, path + "." + key, out);
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) FindPlaceholders(v[i], path + "[" + std::to_string(i) + "]", out);
  }
}

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}
bool Contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

}  // namespace

// Long: the skeleton is written top to bottom in the order of the file it
// produces, about one output line per statement, so that it reads like that
// file; split into parts, the reader would have to put the file together again.
std::string ProtocolSkeleton(const SkeletonAnswers& a) {
  const std::string sender = Or(a.sender.id, "org-sender"), receiver = Or(a.receiver.id, "org-receiver");
  const bool nl = a.sender.country == "NL";
  std::string t;
  t += "// An xgw protocol (docs/protocol-format.md), written by `xgw protocol new`.\n";
  t += "// Replace every TODO with the text of the signed agreement, then run\n";
  t += "//   xgw protocol check FILE\n";
  t += "// until it reports no problems, and propose it with `xgw protocol propose FILE`.\n";
  t += "// Lines starting with // are comments: not part of the protocol nor of its version hash.\n";
  t += "{\n";
  t += "  \"format\": \"xgw-protocol/1\",\n";
  t += "  // The agreement's reference (e.g. its decision number). Later versions keep this id.\n";
  t += "  \"id\": " + Q(Or(a.id, "TODO-protocol-id")) + ",\n";
  t += "  // A label for people; any change to this file is a new version every party accepts again.\n";
  t += "  \"version\": \"1\",\n";
  t += "  \"title\": " + Q(Or(a.title, "TODO: the agreement's title")) + ",\n";
  t += "  // Every date and calendar duration below counts in this zone.\n";
  t += "  \"time_zone\": " + Q(a.time_zone) + ",\n";
  t += "  // Art. 1: the parties.\n";
  t += "  \"parties\": [\n" + PartyText(a.sender, "org-sender", "sender") + ",\n" +
       PartyText(a.receiver, "org-receiver", "receiver") + "\n  ],\n";
  t += "  // Who sends to whom; add the reverse direction if lists go both ways.\n";
  t += "  \"directions\": [{\"from\": " + Q(sender) + ", \"to\": " + Q(receiver) + "}],\n";
  t += "  // Art. 2: purpose and legal basis, as written in the agreement.\n";
  t += "  \"purposes\": [\"TODO: the purpose\"],\n";
  t += "  \"legal_basis\": [\"TODO: the legal basis of the sender\", \"TODO: the legal basis of the receiver\"],\n";
  t += "  // Art. 3: the ONLY columns that may be sent. Keep, change or remove these examples.\n";
  t += "  // Types: text, integer, decimal, date, email, phone, enum, regex, be_national_number, nl_bsn,\n";
  t += "  // be_enterprise_number, iban. Numbers may have min/max (decimals also scale, both a unit).\n";
  t += "  \"fields\": [\n";
  if (nl) {
    t += "    {\"name\": \"bsn\", \"aliases\": [\"burgerservicenummer\"], \"type\": \"nl_bsn\", \"required\": true,\n"
         "     \"subject_identifier\": true, \"justification\": \"TODO: why this column is needed\"},\n";
  } else {
    t += "    {\"name\": \"national_number\", \"aliases\": [\"rijksregisternummer\"], \"type\": \"be_national_number\",\n"
         "     \"required\": true, \"subject_identifier\": true, \"justification\": \"TODO: why this column is needed\"},\n";
  }
  t += "    {\"name\": \"last_name\", \"aliases\": [\"naam\"], \"type\": \"text\", \"max_length\": 200, \"required\": true,\n"
       "     \"justification\": \"TODO: why this column is needed\"},\n";
  t += "    {\"name\": \"monthly_rent\", \"aliases\": [\"huur\"], \"type\": \"decimal\", \"min\": 0, \"max\": \"10000\",\n"
       "     \"scale\": 2, \"unit\": \"EUR\", \"required\": false, \"justification\": \"TODO: why this column is needed\"}\n";
  t += "  ],\n";
  t += "  // Art. 4: who inside the receiving party may read the lists: roles, units (declared in the\n";
  t += "  // party's \"units\") or user ids.\n";
  t += "  \"recipients\": [{\"organisation\": " + Q(receiver) + ", \"roles\": [\"TODO-role\"]}],\n";
  t += "  // How long the receiver's copy is kept: a date (delete_on, end of that day) and/or a duration\n";
  t += "  // after delivery (P30D, P3M, P1Y; months on the calendar, 31 Jan + P1M = end of February).\n";
  if (IsDate(a.retention)) {
    t += "  \"retention\": {\"delete_on\": " + Q(a.retention) + "},\n";
  } else {
    t += "  \"retention\": {\"after_delivery\": " + Q(a.retention) + "},\n";
  }
  t += "  // The days the agreement is in force: from .. until (inclusive), or from + a duration.\n";
  const std::string from = Or(a.valid_from, "TODO: YYYY-MM-DD");
  if (IsDate(a.validity)) {
    t += "  \"validity\": {\"from\": " + Q(from) + ", \"until\": " + Q(a.validity) + "},\n";
  } else {
    t += "  \"validity\": {\"from\": " + Q(from) + ", \"duration\": " + Q(a.validity) + "},\n";
  }
  if (a.period.empty()) {
    t += "  // Once only; or {\"kind\": \"periodic\", \"max_transfers\": 1, \"per\": \"month\"}.\n";
    t += "  \"frequency\": {\"kind\": \"one_off\"},\n";
  } else {
    t += "  // At most max_transfers lists per calendar " + a.period + "; or {\"kind\": \"one_off\"}.\n";
    t += "  \"frequency\": {\"kind\": \"periodic\", \"max_transfers\": 1, \"per\": " + Q(a.period) + "},\n";
  }
  t += "  \"limits\": {\"max_rows\": 10000, \"max_bytes\": 10485760},\n";
  t += "  \"input_formats\": [\"csv\", \"xlsx\"],\n";
  t += "  // The decision that approved the agreement and each party's DPO advice.\n";
  t += "  \"approval\": {\n";
  t += "    \"decision_reference\": \"TODO: decision number\",\n";
  t += "    \"decision_date\": \"TODO: YYYY-MM-DD\",\n";
  t += "    \"decided_by\": \"TODO: the body that decided\",\n";
  t += "    \"dpo_advice\": [\n";
  t += "      {\"party\": " + Q(sender) + ", \"date\": \"TODO: YYYY-MM-DD\", \"advice\": \"favourable\"},\n";
  t += "      {\"party\": " + Q(receiver) + ", \"date\": \"TODO: YYYY-MM-DD\", \"advice\": \"favourable\"}\n";
  t += "    ]\n";
  t += "  },\n";
  t += "  // What happens to delivered lists when the agreement is terminated: delete or keep.\n";
  t += "  \"on_termination\": \"delete\"\n";
  t += "}\n";
  return t;
}

std::string ProblemHint(const ProtocolProblem& p) {
  const std::string& path = p.path;
  const std::string& r = p.reason;
  if (Contains(r, "not valid JSON")) {
    return "look near that byte for a missing comma, quote or bracket; comments must start with //";
  }
  if (Contains(r, "unknown key")) return "remove it or correct its spelling; docs/protocol-format.md lists every member";
  if (Contains(r, "duplicate key")) return "keep one of the two members with this name";
  if (Contains(r, "missing required key")) {
    return "add it; `xgw protocol new` writes a skeleton with every required member";
  }
  if (EndsWith(path, ".enterprise_number")) {
    return "copy the number from the KBO public search (BE) or the KvK register (NL); the organisation must be "
           "registered in xgwd with the same number (`xgw org create --name NAME --enterprise-number N`)";
  }
  if (EndsWith(path, ".time_zone")) return "use a tz database name such as Europe/Brussels or Europe/Amsterdam";
  if (Contains(r, "calendar date")) return "write dates as YYYY-MM-DD, e.g. 2025-01-31";
  if (Contains(r, "duration")) return "write P30D (days), P2W (weeks), P3M (months), P1Y (years) or PT12H (hours)";
  if (Contains(r, "unknown validator type")) {
    return "use one of text, integer, decimal, date, email, phone, enum, regex, be_national_number, nl_bsn, "
           "be_enterprise_number, iban";
  }
  if (Contains(r, "not allowed for type")) return "remove it, or change the field's type to one it applies to";
  if (Contains(r, "not a party id") || Contains(r, "not a receiving party")) {
    return "use the id of an entry of $.parties (and for recipients one that receives in $.directions)";
  }
  if (Contains(r, "not a unit of party")) return "add the unit to that party's \"units\", or correct its spelling";
  if (Contains(r, "duplicate alias")) return "an alias may name only one field: remove it from one of them";
  if (Contains(r, "special-category") || Contains(r, "special_category")) {
    return "name the GDPR art. 9(2) or art. 10 exception the agreement relies on";
  }
  if (Contains(r, "retention missing")) return "add \"after_delivery\": \"P3M\" or \"delete_on\": \"YYYY-MM-DD\"";
  if (Contains(r, "at least one field must be required")) return "set \"required\": true on a field every row has";
  return "see docs/protocol-format.md";
}

std::vector<DraftProblem> CheckProtocolDraft(std::string_view text, const ProtocolLoadOptions& options) {
  std::vector<DraftProblem> out;
  std::set<std::string> paths;
  auto parsed = ParseProtocol(text, options);
  if (!parsed) {
    for (const auto& p : parsed.error()) {
      out.push_back({p.path, p.reason, ProblemHint(p)});
      paths.insert(p.path);
    }
  }
  // Placeholders and enterprise numbers: read the document again on its own
  // (ParseProtocol returns no document when it has problems).
  json doc = json::parse(text.begin(), text.end(), nullptr, false, true);
  if (doc.is_discarded()) return out;
  std::vector<std::string> placeholders;
  FindPlaceholders(doc, "$", &placeholders);
  for (const auto& path : placeholders) {
    if (paths.count(path)) continue;  // the loader said more already
    out.push_back({path, "placeholder still there (TODO)",
                   "replace it with the text of the signed agreement"});
  }
  if (doc.is_object() && doc.contains("parties") && doc["parties"].is_array()) {
    for (size_t i = 0; i < doc["parties"].size(); ++i) {
      const json& party = doc["parties"][i];
      if (party.is_object() && !party.contains("enterprise_number")) {
        ProtocolProblem p{"$.parties[" + std::to_string(i) + "].enterprise_number",
                          "missing: xgwd finds the party's organisation by its enterprise number and refuses "
                          "the proposal without it"};
        out.push_back({p.path, p.reason, ProblemHint(p)});
      }
    }
  }
  return out;
}

}  // namespace xgw
