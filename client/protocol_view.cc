#include "client/protocol_view.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "client/session.h"
#include "policy/protocol_diff.h"

namespace xgw::cli {

using nlohmann::json;

Result<FetchedProtocol> FetchProtocol(Gateway& gateway, const std::string& id) {
  XGW_TRY(json answer, gateway.Json("GET", "/api/v1/protocols/" + UrlEncode(id)));
  auto def = answer.find("definition");
  if (def == answer.end() || !def->is_object())
    return Fail(ErrorCode::kFormat, "the gateway's protocol answer has no definition");
  auto parsed = ParseProtocolDocument(*def);
  if (!parsed) return tl::unexpected(ProblemsToError(parsed.error()));
  FetchedProtocol out{std::move(*parsed), {}, answer};
  std::string hash = Str(answer, "version_hash");
  if (!hash.empty() && hash != out.protocol.version_hash)
    return Fail(ErrorCode::kCorrupt, "the protocol the gateway sent does not match its announced version hash");
  if (auto v = answer.find("valid_now"); v != answer.end() && v->is_boolean()) out.valid_now = v->get<bool>();
  auto state = ProtocolStateFromName(Str(answer, "state"));
  out.status.state = state.value_or(ProtocolState::kProposed);
  if (out.status.state == ProtocolState::kValid || out.status.state == ProtocolState::kSuspended) {
    // The gateway reports acceptances by organisation; it only reaches these
    // states once every party accepted this version, so mirror that.
    for (const auto& p : out.protocol.parties)
      out.status.acceptances.push_back(Acceptance{p.id, out.protocol.version_hash, Now()});
  }
  return out;
}

Instant LocalDecisionTime(const FetchedProtocol& f) {
  Instant now = Now();
  if (!f.valid_now) return now;
  Instant from = f.protocol.ValidFromInstant();
  Instant until = f.protocol.ValidUntilInstant() - std::chrono::seconds(1);
  return std::clamp(now, from, std::max(from, until));
}

std::string FormatDate(const Date& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
  return buf;
}

Instant Now() { return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()); }

namespace {
std::string PartyName(const Protocol& p, const std::string& id) {
  const Party* party = p.PartyById(id);
  return party != nullptr ? party->name + " (" + id + ")" : id;
}
std::string Join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}
}  // namespace

std::string DescribeProtocol(const Protocol& p, const json& answer) {
  std::string t;
  t += p.title + "\n";
  t += "  protocol " + p.id + ", version " + p.version + ", state " + Str(answer, "state");
  if (answer.contains("valid_now")) t += answer["valid_now"] == true ? " (in force now)" : " (NOT in force now)";
  t += "\n  valid from " + FormatDate(p.valid_from) + " to " + FormatDate(p.valid_until) + " (" + p.zone->name() + ")\n";
  t += "\nWho sends to whom:\n";
  for (const auto& d : p.directions) t += "  " + PartyName(p, d.from) + "  ->  " + PartyName(p, d.to) + "\n";
  t += "\nPurpose:\n";
  for (const auto& s : p.purposes) t += "  - " + s + "\n";
  t += "\nColumns allowed (nothing else may be sent):\n";
  for (const auto& f : p.fields) {
    t += "  - " + f.name + " (" + std::string(FieldTypeName(f.rule.type)) + (f.required ? ", required" : ", optional");
    if (f.special_category != SpecialCategory::kNone) t += ", special category data";
    if (f.subject_identifier) t += ", identifies the person";
    t += ")";
    if (!f.aliases.empty()) t += "  also accepted as: " + Join(f.aliases);
    t += "\n";
    // Every rule a cell must meet, so a sender can fix a list before sending.
    for (const auto& rule : FieldRuleWords(f)) t += "      " + rule + "\n";
  }
  t += "\nWho may read the lists:\n";
  for (const auto& r : p.recipients) {
    t += "  - at " + PartyName(p, r.organisation) + ":";
    if (!r.roles.empty()) t += " people with the role " + Join(r.roles, " or ");
    if (!r.units.empty()) {
      t += r.roles.empty() ? " " : "; and ";
      t += "everyone in the unit " + Join(r.units, " or ");
    }
    if (!r.users.empty()) {
      t += r.roles.empty() && r.units.empty() ? " " : "; and ";
      t += "the users " + Join(r.users);
    }
    t += "\n";
  }
  t += "\nHow long lists are kept (the earliest applies):\n";
  if (p.retention.delete_on) t += "  - deleted at the end of " + FormatDate(*p.retention.delete_on) + "\n";
  if (p.retention.after_delivery)
    t += "  - deleted " + DescribeDuration(*p.retention.after_delivery) + " after delivery\n";
  if (p.retention.after_first_download)
    t += "  - deleted " + DescribeDuration(*p.retention.after_first_download) + " after the first download\n";
  if ((p.retention.after_delivery && p.retention.after_delivery->months != 0) ||
      (p.retention.after_first_download && p.retention.after_first_download->months != 0))
    t += "    (months and years count on the calendar in " + p.zone->name() +
         "; a day missing in the target month becomes its last day)\n";
  if (p.retention.on_acknowledgement) t += "  - deleted as soon as the receiver acknowledges receipt\n";
  t += "\nHow often: ";
  if (p.frequency.one_off) {
    t += "once only\n";
  } else {
    const char* per[] = {"day", "week", "month", "year"};
    t += "at most " + std::to_string(p.frequency.max_transfers) + " list(s) per " +
         per[static_cast<int>(p.frequency.per)] + "\n";
  }
  t += "Limits: ";
  t += p.limits.max_rows != 0 ? "at most " + std::to_string(p.limits.max_rows) + " rows" : "no row limit";
  t += p.limits.max_bytes != 0 ? ", at most " + std::to_string(p.limits.max_bytes) + " bytes" : "";
  std::vector<std::string> formats;
  for (auto f : p.input_formats) formats.emplace_back(InputFormatName(f));
  t += "; file formats: " + Join(formats) + "\n";
  if (!p.legal_basis.empty()) t += "Legal basis: " + Join(p.legal_basis, "; ") + "\n";
  t += "Version hash: " + p.version_hash + "\n";
  if (auto it = answer.find("pending_version"); it != answer.end() && it->is_object()) {
    // An amendment waiting for acceptances; the version above stays in force until then.
    std::vector<std::string> accepted, awaiting;
    if (it->contains("acceptances") && (*it)["acceptances"].is_array()) {
      for (const auto& a : (*it)["acceptances"]) accepted.push_back(Str(a, "party"));
    }
    if (it->contains("awaiting") && (*it)["awaiting"].is_array()) {
      for (const auto& a : (*it)["awaiting"]) {
        if (a.is_string()) awaiting.push_back(a.get<std::string>());
      }
    }
    t += "\nProposed new version " + Str(*it, "version") + " (" + Str(*it, "version_hash") + "), not yet in force:\n";
    t += "  accepted by: " + (accepted.empty() ? std::string("nobody yet") : Join(accepted)) + "\n";
    t += "  waiting for: " + (awaiting.empty() ? std::string("nobody") : Join(awaiting)) + "\n";
  }
  return t;
}

std::string DescribeDiff(const json& answer) {
  const json& from = answer.contains("from") ? answer["from"] : json::object();
  const json& to = answer.contains("to") ? answer["to"] : json::object();
  std::string t = "Protocol " + Str(answer, "id") + ": what version " + Str(to, "version") + " (" +
                  Str(to, "version_hash").substr(0, 12) + "...) changes against version " + Str(from, "version") +
                  " in force (" + Str(from, "version_hash").substr(0, 12) + "...):\n";
  static const std::pair<const char*, const char*> kAreas[] = {
      {"title", "Title"},          {"version", "Version label"}, {"parties", "Parties"},
      {"directions", "Who sends to whom"}, {"purposes", "Purpose"}, {"legal_basis", "Legal basis"},
      {"fields", "Columns"},       {"recipients", "Who may read the lists"},
      {"retention", "How long lists are kept"}, {"on_termination", "On termination"},
      {"validity", "Validity"},    {"time_zone", "Time zone"},   {"frequency", "How often"},
      {"limits", "Limits"},        {"input_formats", "File formats"}, {"approval", "Approval"},
      {"text", "Wording"}};
  const json changes = answer.contains("changes") && answer["changes"].is_array() ? answer["changes"] : json::array();
  if (changes.empty()) return t + "  nothing\n";
  std::vector<bool> shown(changes.size(), false);
  auto section = [&](const std::string& area, const std::string& heading) {
    std::string lines;
    for (size_t i = 0; i < changes.size(); ++i) {
      if (!shown[i] && Str(changes[i], "area") == area) {
        lines += "  - " + Str(changes[i], "text") + "\n";
        shown[i] = true;
      }
    }
    if (!lines.empty()) t += "\n" + heading + ":\n" + lines;
  };
  for (const auto& [area, heading] : kAreas) section(area, heading);
  for (size_t i = 0; i < changes.size(); ++i) {
    if (!shown[i]) section(Str(changes[i], "area"), Str(changes[i], "area"));
  }
  t += "\nEach party's DPO advises on these changes; then each party accepts the new version "
       "(`xgw protocol accept " + Str(answer, "id") + " --org PARTY`).\n";
  return t;
}

}  // namespace xgw::cli
