#include "policy/decisions.h"

#include <algorithm>

namespace xgw {

namespace {

// Identifies the calendar period (in the protocol's zone) an instant falls in.
int64_t PeriodKey(const Protocol& p, Instant t) {
  using namespace std::chrono;
  auto local = p.zone->ToLocal(t);
  auto d = sys_days{local.date};
  switch (p.frequency.per) {
    case Period::kDay: return d.time_since_epoch().count();
    case Period::kWeek: {
      // Weeks start on Monday (ISO 8601).
      unsigned wd = weekday{d}.iso_encoding();  // 1 = Monday
      return (d - days{wd - 1}).time_since_epoch().count();
    }
    case Period::kMonth:
      return static_cast<int>(local.date.year()) * 12 + static_cast<int>(static_cast<unsigned>(local.date.month()));
    case Period::kYear: return static_cast<int>(local.date.year());
  }
  return 0;
}

// Longest span a calendar period can have, plus a day for zone offsets.
std::chrono::seconds PeriodBound(Period p) {
  using std::chrono::days;
  switch (p) {
    case Period::kDay: return days{2};
    case Period::kWeek: return days{8};
    case Period::kMonth: return days{32};
    case Period::kYear: return days{367};
  }
  return days{367};
}

std::string_view PeriodName(Period p) {
  switch (p) {
    case Period::kDay: return "day";
    case Period::kWeek: return "week";
    case Period::kMonth: return "month";
    case Period::kYear: return "year";
  }
  return "";
}

}  // namespace

Violations FrequencyViolations(const Protocol& p, const SendRequest& req) {
  Violations v;
  if (p.frequency.one_off) {
    if (req.transfers_in_window > 0) {
      v.push_back({"one_off_used", "the protocol allows one transfer and it has taken place", 0, ""});
    }
  } else if (req.transfers_in_window >= p.frequency.max_transfers) {
    v.push_back({"period_quota_reached", "the protocol allows " + std::to_string(p.frequency.max_transfers) +
                                             " transfer(s) per " + std::string(PeriodName(p.frequency.per)) +
                                             " and they have taken place", 0, ""});
  }
  return v;
}

Violations DecideSend(const Protocol& p, const ProtocolStatus& status, const Manifest& m, const SendRequest& req) {
  Violations v;
  if (m.protocol_id != p.id || m.protocol_version != p.version_hash) {
    v.push_back({"protocol_mismatch", "the manifest names another protocol or protocol version", 0, ""});
  }
  auto active = ActiveViolations(p, status, req.now);
  v.insert(v.end(), active.begin(), active.end());
  if (p.retention.delete_on && req.now >= p.zone->EndOfDay(*p.retention.delete_on)) {
    v.push_back({"retention_already_passed", "the protocol's fixed deletion date has passed", 0, ""});
  }
  if (!p.IsSender(req.sender_organisation)) {
    v.push_back({"sender_not_sending_party", "the sender's organisation is not a sending party of this protocol", 0, ""});
  }
  if (!p.Accepts(m.list_format)) {
    v.push_back({"format_not_allowed", "the protocol does not allow " + std::string(InputFormatName(m.list_format)) + " lists", 0, ""});
  }
  std::vector<std::string> seen;
  for (const auto& column : m.columns) {
    if (!p.FieldByName(column)) {
      v.push_back({"column_not_allowed", "the manifest declares a column the protocol does not allow", 0, ""});
    } else if (std::find(seen.begin(), seen.end(), column) != seen.end()) {
      v.push_back({"duplicate_column", "the manifest declares field " + column + " twice", 0, column});
    }
    seen.push_back(column);
  }
  for (const auto& f : p.fields) {
    if (f.required && std::find(m.columns.begin(), m.columns.end(), f.name) == m.columns.end()) {
      v.push_back({"required_column_missing", "required field " + f.name + " is missing", 0, f.name});
    }
  }
  if (m.row_count > p.limits.max_rows) {
    v.push_back({"too_many_rows", "the list has " + std::to_string(m.row_count) + " rows; the protocol allows at most " +
                                      std::to_string(p.limits.max_rows), 0, ""});
  }
  if (m.byte_size > p.limits.max_bytes) {
    v.push_back({"too_many_bytes", "the list has " + std::to_string(m.byte_size) + " bytes; the protocol allows at most " +
                                       std::to_string(p.limits.max_bytes), 0, ""});
  }
  const Violations frequency = FrequencyViolations(p, req);
  v.insert(v.end(), frequency.begin(), frequency.end());
  return v;
}

Violations MayReceive(const Protocol& p, const UserRef& user) {
  for (const auto& r : p.recipients) {
    if (r.organisation != user.organisation) continue;
    if (std::find(r.users.begin(), r.users.end(), user.user_id) != r.users.end()) return {};
    for (const auto& role : user.roles) {
      if (std::find(r.roles.begin(), r.roles.end(), role) != r.roles.end()) return {};
      // Membership of a unit is the role "unit.<unit id>".
      if (role.rfind("unit.", 0) == 0 &&
          std::find(r.units.begin(), r.units.end(), std::string_view(role).substr(5)) != r.units.end()) {
        return {};
      }
    }
  }
  if (!p.IsReceiver(user.organisation)) {
    return {{"recipient_not_allowed", "the user's organisation is not a receiving party of this protocol", 0, ""}};
  }
  return {{"recipient_not_allowed",
           "none of the user's roles or units (role unit.<id>) is a recipient under this protocol, nor is the user named",
           0, ""}};
}

Expiry ComputeExpiryAndCause(const Protocol& p, const ExchangeEvents& e) {
  const auto& r = p.retention;
  Expiry expiry{Instant::max(), ExpiryCause::kRetentionDate};
  auto earliest = [&](Instant t, ExpiryCause cause) {
    if (t < expiry.at) expiry = {t, cause};
  };
  if (r.delete_on) earliest(p.zone->EndOfDay(*r.delete_on), ExpiryCause::kRetentionDate);
  if (r.after_delivery) earliest(r.after_delivery->AddTo(e.delivered, *p.zone), ExpiryCause::kAfterDelivery);
  if (r.after_first_download && e.first_download) {
    earliest(r.after_first_download->AddTo(*e.first_download, *p.zone), ExpiryCause::kAfterFirstDownload);
  }
  if (r.on_acknowledgement && e.acknowledged) earliest(*e.acknowledged, ExpiryCause::kAcknowledged);
  if (p.on_termination == OnTermination::kDelete && e.protocol_terminated) {
    earliest(*e.protocol_terminated, ExpiryCause::kProtocolTerminated);
  }
  return expiry;
}

Instant ComputeExpiry(const Protocol& p, const ExchangeEvents& e) { return ComputeExpiryAndCause(p, e).at; }

std::string_view ExpiryReason(ExpiryCause cause) {
  switch (cause) {
    case ExpiryCause::kRetentionDate: return "retention_expired";
    case ExpiryCause::kAfterDelivery: return "after_delivery";
    case ExpiryCause::kAfterFirstDownload: return "after_first_download";
    case ExpiryCause::kAcknowledged: return "on_acknowledgement";
    case ExpiryCause::kProtocolTerminated: return "protocol_terminated";
  }
  return "retention_expired";
}

TransferWindow RelevantTransfers(const Protocol& p, Instant now) {
  if (p.frequency.one_off) return {Instant{}, 1, "one_off"};
  // PeriodKey never decreases with time: bisect for the period's first second.
  const int64_t key = PeriodKey(p, now);
  Instant lo = now - PeriodBound(p.frequency.per);  // before the period
  Instant hi = now;                                 // inside it
  while (hi - lo > std::chrono::seconds(1)) {
    const Instant mid = lo + (hi - lo) / 2;
    (PeriodKey(p, mid) == key ? hi : lo) = mid;
  }
  return {hi, p.frequency.max_transfers, std::string(PeriodName(p.frequency.per)) + "@" + p.zone->name()};
}

}  // namespace xgw
