// The protocol: a data-sharing agreement in machine-checkable form. Format:
// docs/protocol-format.md, JSON Schema: docs/protocol.schema.json.
//
// A Protocol is immutable once parsed; share it freely between threads.
// Its identity is `version_hash`, the lower-case hex SHA-256 of the canonical
// JSON (RFC 8785 style) of the document exactly as written: any change, even
// a typo fix, is a new version that every party must accept again.
#ifndef XGW_POLICY_PROTOCOL_H_
#define XGW_POLICY_PROTOCOL_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "crypto/error.h"
#include "policy/timezone.h"
#include "policy/validators.h"

namespace xgw {

using Date = std::chrono::year_month_day;

struct Dpo {
  std::string name, email, phone;  // phone may be empty
};

struct Party {
  std::string id;                 // stable organisation id, e.g. "org-ocmw-gent"
  std::string name;
  std::string country;            // "BE" or "NL"
  std::string enterprise_number;  // normalised: KBO 10 digits (BE) or KvK 8 digits (NL)
  Dpo dpo;
  // Organisational units (teams, departments) recipient rules may name, e.g.
  // "dienst-thuislozenzorg". A user belongs to unit U when they hold the role
  // "unit.U" (MayReceive): units need no other registration in the gateway.
  std::vector<std::string> units;
};

struct Direction {
  std::string from, to;  // party ids
};

enum class SpecialCategory { kNone, kArt9, kArt10 };  // GDPR art. 9 / art. 10 data

struct Field {
  std::string name;                  // canonical column name, [a-z0-9_]+
  std::vector<std::string> aliases;  // accepted headers besides `name`
  FieldRule rule;
  bool required = false;             // the column must be present and every cell filled
  bool subject_identifier = false;   // values go (keyed-hashed) into the subject index
  SpecialCategory special_category = SpecialCategory::kNone;
  std::string special_category_basis;  // the art. 9(2) / 10 exception relied on
  std::string justification;
  std::string unit;                    // unit of measure of a number ("EUR", "m2"); may be empty
  std::string pattern;                 // regex: the pattern as written
};

struct RecipientRule {
  std::string organisation;        // a receiving party
  std::vector<std::string> roles;  // any of these roles ...
  std::vector<std::string> users;  // ... or one of these user ids
  std::vector<std::string> units;  // ... or anyone in one of these units of the organisation
};

// An ISO 8601 duration that may use calendar units: "P3M", "P1Y", "P1M15D",
// "P30D", "PT12H". Years and months are added to the civil date in the
// protocol's time zone (a day that does not exist in the target month is
// clamped to the month's last day: 31 January + P1M = 28 or 29 February, at
// the same wall-clock time); weeks, days, hours and minutes are then added as
// exact seconds (P1D = 86400 s), as they always were.
struct CalendarDuration {
  int32_t months = 0;               // years count as 12 months
  std::chrono::seconds exact{0};    // weeks, days, hours, minutes
  std::string text;                 // as written, e.g. "P3M"

  Instant AddTo(Instant from, const TimeZone& zone) const;
  bool operator==(const CalendarDuration& o) const { return months == o.months && exact == o.exact; }
};

// Every rule present applies; the earliest resulting instant wins. At least
// one unconditional rule (delete_on or after_delivery) is always present.
struct Retention {
  std::optional<Date> delete_on;  // deleted at the end of this day, protocol time zone
  std::optional<CalendarDuration> after_delivery;
  std::optional<CalendarDuration> after_first_download;
  bool on_acknowledgement = false;  // deleted when the receiver acknowledges
};

enum class Period { kDay, kWeek, kMonth, kYear };  // calendar periods, protocol time zone

struct Frequency {
  bool one_off = true;
  uint32_t max_transfers = 1;  // per `per`, when periodic
  Period per = Period::kMonth;
};

struct Limits {
  uint64_t max_rows = 0;
  uint64_t max_bytes = 0;
};

enum class InputFormat { kCsv, kXlsx };
std::string_view InputFormatName(InputFormat format);  // "csv", "xlsx"

struct DpoAdvice {
  std::string party;
  Date date;
  std::string advice;  // "favourable", "favourable_with_conditions", "unfavourable"
};

struct Approval {
  std::string decision_reference;
  Date decision_date;
  std::string decided_by;
  std::vector<DpoAdvice> dpo_advice;
};

enum class OnTermination { kDelete, kKeep };

struct Protocol {
  std::string id, version, title;
  std::shared_ptr<const TimeZone> zone;  // every date of the protocol is in this zone
  std::vector<Party> parties;
  std::vector<Direction> directions;
  std::vector<std::string> purposes;
  std::vector<std::string> legal_basis;
  std::vector<Field> fields;
  std::vector<RecipientRule> recipients;
  Retention retention;
  Date valid_from, valid_until;  // inclusive days
  Frequency frequency;
  Limits limits;
  std::vector<InputFormat> input_formats;
  std::optional<Approval> approval;  // absent in drafts
  std::string publication_url;       // may be empty
  std::optional<Date> next_review;
  OnTermination on_termination = OnTermination::kDelete;

  std::string version_hash;  // hex SHA-256 of CanonicalJson(document)
  nlohmann::json document;   // the document as loaded

  // Field whose canonical name or an alias folds (FoldName) equal to `header`.
  const Field* FieldForHeader(std::string_view header) const;
  const Field* FieldByName(std::string_view name) const;
  const Party* PartyById(std::string_view id) const;
  bool IsSender(std::string_view party_id) const;
  bool IsReceiver(std::string_view party_id) const;
  bool Accepts(InputFormat format) const;
  // First instant of valid_from / first instant after valid_until.
  Instant ValidFromInstant() const;
  Instant ValidUntilInstant() const;

  std::unordered_map<std::string, size_t> header_index;  // folded header -> field index
};

// One problem found while loading: where ("$.fields[2].aliases[0]") and why.
struct ProtocolProblem {
  std::string path;
  std::string reason;
};
using ProtocolProblems = std::vector<ProtocolProblem>;

struct ProtocolLoadOptions {
  std::string zoneinfo_dir = "/usr/share/zoneinfo";
};

// Parses and fully validates a protocol document. Returns every problem found
// (unknown or duplicate keys, wrong types, missing members, unknown validator,
// duplicate aliases, empty recipients, end before start, ...), not the first.
tl::expected<Protocol, ProtocolProblems> ParseProtocol(std::string_view json_text,
                                                       const ProtocolLoadOptions& options = {});
tl::expected<Protocol, ProtocolProblems> ParseProtocolDocument(const nlohmann::json& document,
                                                       const ProtocolLoadOptions& options = {});

// Reads a file and parses it; problems are joined into one kFormat error
// ("$.path: reason; $.path: reason").
Result<Protocol> LoadProtocolFile(const std::string& path, const ProtocolLoadOptions& options = {});
Error ProblemsToError(const ProtocolProblems& problems);

// ISO 8601 durations of weeks, days, hours, minutes ("P30D", "P2W", "PT12H",
// "P1DT6H"); years and months are refused because their length varies.
std::optional<std::chrono::seconds> ParseDuration(std::string_view text);
// The same, plus years and months before the weeks ("P1Y", "P3M", "P1Y2M10D",
// "P1MT12H"). nullopt when malformed or zero.
std::optional<CalendarDuration> ParseCalendarDuration(std::string_view text);
// "3 months", "1 year and 15 days", "30 days", "12 hours".
std::string DescribeDuration(const CalendarDuration& duration);
// The date `months` calendar months after `date`, clamped to the month's end.
Date AddMonths(const Date& date, int32_t months);

}  // namespace xgw

#endif  // XGW_POLICY_PROTOCOL_H_
