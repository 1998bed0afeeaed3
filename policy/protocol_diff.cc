#include "policy/protocol_diff.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace xgw {

namespace {

std::string Join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

std::string DateText(const Date& d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
  return buf;
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

// Items of `b` not in `a`, in b's order.
std::vector<std::string> Minus(const std::vector<std::string>& b, const std::vector<std::string>& a) {
  std::vector<std::string> out;
  for (const auto& x : b) {
    if (std::find(a.begin(), a.end(), x) == a.end()) out.push_back(x);
  }
  return out;
}

class Changes {
 public:
  std::vector<ProtocolChange> list;
  void Add(std::string area, std::string text) { list.push_back({std::move(area), std::move(text)}); }

  // "X added: a, b" / "X removed: c" for two string lists.
  void Sets(const std::string& area, const std::string& what, const std::vector<std::string>& from,
            const std::vector<std::string>& to) {
    if (auto added = Minus(to, from); !added.empty()) Add(area, what + " added: " + Join(added, "; "));
    if (auto removed = Minus(from, to); !removed.empty()) Add(area, what + " removed: " + Join(removed, "; "));
  }
  void Value(const std::string& area, const std::string& what, const std::string& from, const std::string& to) {
    if (from != to) Add(area, what + " changed from " + from + " to " + to);
  }
};

std::string PartyText(const Protocol& p, const std::string& id) {
  const Party* party = p.PartyById(id);
  return party != nullptr ? party->name + " (" + id + ")" : id;
}

std::string FieldSummary(const Field& f) {
  std::string s = f.name + " (" + std::string(FieldTypeName(f.rule.type)) + (f.required ? ", required" : ", optional");
  if (f.special_category == SpecialCategory::kArt9) s += ", special category data (GDPR art. 9)";
  if (f.special_category == SpecialCategory::kArt10) s += ", criminal-law data (GDPR art. 10)";
  if (f.subject_identifier) s += ", identifies the person";
  return s + ")";
}

void DiffParties(Changes& c, const Protocol& a, const Protocol& b) {
  for (const auto& party : b.parties) {
    const Party* old = a.PartyById(party.id);
    if (old == nullptr) {
      c.Add("parties", "party added: " + PartyText(b, party.id));
      continue;
    }
    const std::string who = "party " + party.id;
    c.Value("parties", who + ": name", Quote(old->name), Quote(party.name));
    c.Value("parties", who + ": enterprise number", old->enterprise_number.empty() ? "none" : old->enterprise_number,
            party.enterprise_number.empty() ? "none" : party.enterprise_number);
    c.Value("parties", who + ": DPO", old->dpo.name + " <" + old->dpo.email + ">",
            party.dpo.name + " <" + party.dpo.email + ">");
    c.Sets("parties", who + ": units", old->units, party.units);
  }
  for (const auto& party : a.parties) {
    if (b.PartyById(party.id) == nullptr) c.Add("parties", "party removed: " + PartyText(a, party.id));
  }
}

void DiffDirections(Changes& c, const Protocol& a, const Protocol& b) {
  auto texts = [](const Protocol& p) {
    std::vector<std::string> out;
    for (const auto& d : p.directions) out.push_back(PartyText(p, d.from) + " sends to " + PartyText(p, d.to));
    return out;
  };
  c.Sets("directions", "direction", texts(a), texts(b));
}

void DiffFields(Changes& c, const Protocol& a, const Protocol& b) {
  for (const auto& f : b.fields) {
    const Field* old = a.FieldByName(f.name);
    if (old == nullptr) {
      c.Add("fields", "field added: " + FieldSummary(f) + "; justification: " + f.justification);
      continue;
    }
    const std::string who = "field " + f.name;
    if (old->rule.type != f.rule.type) {
      c.Value("fields", who + ": type", std::string(FieldTypeName(old->rule.type)),
              std::string(FieldTypeName(f.rule.type)));
    }
    if (old->required != f.required) {
      c.Add("fields", who + (f.required ? ": now required (every row must have it)" : ": now optional"));
    }
    if (old->subject_identifier != f.subject_identifier) {
      c.Add("fields", who + (f.subject_identifier ? ": now identifies the person (goes into the subject index)"
                                                  : ": no longer identifies the person"));
    }
    if (old->special_category != f.special_category) {
      c.Value("fields", who + ": special category", FieldSummary(*old), FieldSummary(f));
    }
    c.Value("fields", who + ": special-category basis", Quote(old->special_category_basis),
            Quote(f.special_category_basis));
    c.Value("fields", who + ": justification", Quote(old->justification), Quote(f.justification));
    c.Sets("fields", who + ": accepted header", old->aliases, f.aliases);
    // The first phrase is "required"/"optional", said above already.
    auto rules = [](const Field& x) {
      auto w = FieldRuleWords(x);
      w.erase(w.begin());
      return w;
    };
    c.Sets("fields", who + ": rule", rules(*old), rules(f));
  }
  for (const auto& f : a.fields) {
    if (b.FieldByName(f.name) == nullptr) c.Add("fields", "field removed: " + FieldSummary(f));
  }
}

void DiffRecipients(Changes& c, const Protocol& a, const Protocol& b) {
  // Per receiving organisation: the union of its rules' roles, units and users.
  struct Who {
    std::vector<std::string> roles, units, users;
  };
  auto collect = [](const Protocol& p) {
    std::map<std::string, Who> out;
    for (const auto& r : p.recipients) {
      Who& w = out[r.organisation];
      for (const auto& x : r.roles) w.roles.push_back(x);
      for (const auto& x : r.units) w.units.push_back(x);
      for (const auto& x : r.users) w.users.push_back(x);
    }
    return out;
  };
  auto from = collect(a), to = collect(b);
  std::set<std::string> orgs;
  for (const auto& [o, w] : from) orgs.insert(o);
  for (const auto& [o, w] : to) orgs.insert(o);
  for (const auto& org : orgs) {
    const std::string at = " at " + PartyText(to.count(org) ? b : a, org);
    c.Sets("recipients", "recipient role" + at, from[org].roles, to[org].roles);
    c.Sets("recipients", "recipient unit" + at, from[org].units, to[org].units);
    c.Sets("recipients", "recipient user" + at, from[org].users, to[org].users);
  }
}

std::string DurationOrNone(const std::optional<CalendarDuration>& d) {
  return d ? DescribeDuration(*d) : std::string("none");
}

void DiffRetention(Changes& c, const Protocol& a, const Protocol& b) {
  const auto& x = a.retention;
  const auto& y = b.retention;
  if (x.delete_on != y.delete_on) {
    c.Add("retention", "deletion date changed from " + (x.delete_on ? "the end of " + DateText(*x.delete_on) : "none") +
                           " to " + (y.delete_on ? "the end of " + DateText(*y.delete_on) : "none"));
  }
  if (x.after_delivery != y.after_delivery) {
    c.Add("retention", "kept after delivery changed from " + DurationOrNone(x.after_delivery) + " to " +
                           DurationOrNone(y.after_delivery));
  }
  if (x.after_first_download != y.after_first_download) {
    c.Add("retention", "kept after the first download changed from " + DurationOrNone(x.after_first_download) +
                           " to " + DurationOrNone(y.after_first_download));
  }
  if (x.on_acknowledgement != y.on_acknowledgement) {
    c.Add("retention", y.on_acknowledgement ? "now deleted as soon as the receiver acknowledges receipt"
                                            : "no longer deleted on acknowledgement");
  }
  if (a.on_termination != b.on_termination) {
    c.Add("on_termination", b.on_termination == OnTermination::kDelete
                                ? "on termination, lists are now deleted (before: kept until their retention ends)"
                                : "on termination, lists are now kept until their retention ends (before: deleted)");
  }
}

std::string FrequencyText(const Frequency& f) {
  if (f.one_off) return "once only";
  const char* per[] = {"day", "week", "month", "year"};
  return "at most " + std::to_string(f.max_transfers) + " list(s) per " + per[static_cast<int>(f.per)];
}

std::string LimitText(uint64_t v, const char* unit) { return std::to_string(v) + " " + unit; }

}  // namespace

std::vector<std::string> FieldRuleWords(const Field& f) {
  std::vector<std::string> w;
  const FieldRule& r = f.rule;
  w.push_back(f.required ? "required: every row needs a value" : "optional: may be left empty");
  switch (r.type) {
    case FieldType::kText:
      w.push_back("text of at most " + std::to_string(r.max_length ? r.max_length : 1000) + " characters");
      break;
    case FieldType::kInteger:
      if (r.min && r.max) w.push_back("whole number from " + std::to_string(*r.min) + " to " + std::to_string(*r.max));
      else if (r.min) w.push_back("whole number of at least " + std::to_string(*r.min));
      else if (r.max) w.push_back("whole number of at most " + std::to_string(*r.max));
      else w.push_back("whole number");
      break;
    case FieldType::kDecimal:
      if (r.decimal_min && r.decimal_max) w.push_back("number from " + *r.decimal_min + " to " + *r.decimal_max);
      else if (r.decimal_min) w.push_back("number of at least " + *r.decimal_min);
      else if (r.decimal_max) w.push_back("number of at most " + *r.decimal_max);
      else w.push_back("number (decimal point or comma)");
      if (r.scale) {
        w.push_back(*r.scale == 0 ? std::string("no digits after the decimal point")
                                  : "at most " + std::to_string(*r.scale) + " digit" + (*r.scale == 1 ? "" : "s") +
                                        " after the decimal point");
      }
      break;
    case FieldType::kDate: w.push_back("a date, YYYY-MM-DD or DD/MM/YYYY"); break;
    case FieldType::kEmail: w.push_back("an e-mail address"); break;
    case FieldType::kPhone: w.push_back("a phone number of 6 to 15 digits"); break;
    case FieldType::kEnum: w.push_back("one of: " + Join(r.values)); break;
    case FieldType::kRegex:
      w.push_back("must match the pattern " + f.pattern + " (the whole value)");
      w.push_back("at most " + std::to_string(r.max_length ? std::min(r.max_length, kRegexInputCap) : kRegexInputCap) +
                  " characters");
      break;
    case FieldType::kBeNationalNumber: w.push_back("a Belgian national register or BIS number (11 digits, check digits)"); break;
    case FieldType::kNlBsn: w.push_back("a Dutch BSN (9 digits, eleven test)"); break;
    case FieldType::kBeEnterpriseNumber: w.push_back("a KBO enterprise number (10 digits, check digits)"); break;
    case FieldType::kIban: w.push_back("an IBAN (country length, check digits)"); break;
  }
  if (!f.unit.empty()) w.push_back("in " + f.unit);
  return w;
}

std::vector<ProtocolChange> DiffProtocols(const Protocol& a, const Protocol& b) {
  Changes c;
  if (a.version_hash == b.version_hash) return {};
  c.Value("title", "title", Quote(a.title), Quote(b.title));
  c.Value("version", "version label", Quote(a.version), Quote(b.version));
  DiffParties(c, a, b);
  DiffDirections(c, a, b);
  c.Sets("purposes", "purpose", a.purposes, b.purposes);
  c.Sets("legal_basis", "legal basis", a.legal_basis, b.legal_basis);
  DiffFields(c, a, b);
  DiffRecipients(c, a, b);
  DiffRetention(c, a, b);
  if (a.valid_from != b.valid_from || a.valid_until != b.valid_until) {
    c.Add("validity", "validity changed from " + DateText(a.valid_from) + " .. " + DateText(a.valid_until) + " to " +
                          DateText(b.valid_from) + " .. " + DateText(b.valid_until) + " (inclusive days)");
  }
  if (a.zone && b.zone) c.Value("time_zone", "time zone", a.zone->name(), b.zone->name());
  c.Value("frequency", "how often", FrequencyText(a.frequency), FrequencyText(b.frequency));
  c.Value("limits", "row limit", LimitText(a.limits.max_rows, "rows"), LimitText(b.limits.max_rows, "rows"));
  c.Value("limits", "size limit", LimitText(a.limits.max_bytes, "bytes"), LimitText(b.limits.max_bytes, "bytes"));
  auto formats = [](const Protocol& p) {
    std::vector<std::string> out;
    for (auto f : p.input_formats) out.emplace_back(InputFormatName(f));
    return out;
  };
  c.Sets("input_formats", "file format", formats(a), formats(b));
  auto approval = [](const Protocol& p) {
    return p.approval ? p.approval->decision_reference + " of " + DateText(p.approval->decision_date) : "none";
  };
  c.Value("approval", "approving decision", approval(a), approval(b));
  if (c.list.empty()) {
    c.Add("text", "only wording the gateway does not enforce changed (descriptions, addresses, references, DPO "
                  "advice); compare the two definitions for the exact text");
  }
  return std::move(c.list);
}

}  // namespace xgw
