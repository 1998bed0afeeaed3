#include "policy/header_match.h"

#include <algorithm>

#include "policy/edit_distance.h"
#include "policy/validators.h"

namespace xgw {

namespace {

// Work bounds for hostile headers: only this many cells of a row are compared
// fuzzily, and only keys up to this length.
constexpr size_t kMaxFuzzyCells = 200;
constexpr size_t kMaxKeyBytes = 64;

// The fuzzy form of a header: FoldName (case, accents, spacing) without the
// spaces and punctuation people add or drop ("Rijksregister nr." ~ "rijksregisternr").
std::string FuzzyKey(std::string_view text) {
  std::string out;
  for (char c : FoldName(text)) {
    auto b = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || b >= 0x80) out.push_back(c);
  }
  return out;
}

// Edits allowed between a header and a name: about one in four characters,
// at most three; none for keys under four characters ("rrn" vs "nr").
size_t AllowedEdits(size_t length) {
  if (length < 4) return 0;
  return std::min<size_t>(3, std::max<size_t>(1, length / 4));
}

struct Name {
  size_t field;
  std::string key;
  std::string_view written;  // as the protocol writes it
};

std::vector<Name> NamesOf(const Protocol& p) {
  std::vector<Name> names;
  for (size_t i = 0; i < p.fields.size(); ++i) {
    names.push_back({i, FuzzyKey(p.fields[i].name), p.fields[i].name});
    for (const auto& a : p.fields[i].aliases) names.push_back({i, FuzzyKey(a), a});
  }
  return names;
}

// The name closest to `header` within the allowed edits; nullptr if none.
const Name* Nearest(const std::vector<Name>& names, std::string_view header, size_t* distance) {
  const std::string key = FuzzyKey(header);
  if (key.empty() || key.size() > kMaxKeyBytes) return nullptr;
  const Name* best = nullptr;
  size_t best_d = SIZE_MAX;
  for (const auto& n : names) {
    const size_t allowed = AllowedEdits(std::min(key.size(), n.key.size()));
    const size_t gap = key.size() > n.key.size() ? key.size() - n.key.size() : n.key.size() - key.size();
    if (n.key.empty() || gap > allowed) continue;
    const size_t d = key == n.key ? 0 : EditDistance(key, n.key);
    if (d <= allowed && d < best_d) {
      best = &n;
      best_d = d;
    }
  }
  if (distance != nullptr) *distance = best_d;
  return best;
}

std::string Quoted(std::string_view s) { return "\"" + DisplayText(s) + "\""; }

std::string MissingRequired(const Protocol& p, const std::vector<bool>& named) {
  std::string out;
  for (size_t i = 0; i < p.fields.size(); ++i) {
    if (p.fields[i].required && !named[i]) out += (out.empty() ? "" : ", ") + p.fields[i].name;
  }
  return out;
}

}  // namespace

std::string ColumnLetter(size_t index) {
  std::string out;
  for (size_t n = index + 1; n > 0; n = (n - 1) / 26) out.insert(out.begin(), static_cast<char>('A' + (n - 1) % 26));
  return out;
}

std::string DisplayText(std::string_view text, size_t max_bytes) {
  size_t cut = std::min(text.size(), max_bytes);
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  std::string out;
  for (char c : text.substr(0, cut)) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == '"' || c == 0x7f ? '?' : c);
  if (!IsValidUtf8(out)) return "?";
  if (cut < text.size()) out += "...";
  return out;
}

int HeaderRowScore(const Protocol& protocol, const std::vector<std::string>& cells) {
  const auto names = NamesOf(protocol);
  int score = 0;
  for (size_t i = 0; i < cells.size() && i < kMaxFuzzyCells; ++i) {
    if (protocol.FieldForHeader(cells[i])) {
      score += 2;
    } else if (Nearest(names, cells[i], nullptr) != nullptr) {
      score += 1;
    }
  }
  return score;
}

void MatchHeader(const Protocol& p, const std::vector<std::string>& header, HeaderMatch* m) {
  m->columns.assign(header.size(), ColumnMatch{});
  std::vector<int> column_of(p.fields.size(), -1);
  for (size_t i = 0; i < header.size(); ++i) {
    ColumnMatch& c = m->columns[i];
    if (FoldName(header[i]).empty()) {
      c.status = ColumnStatus::kUnnamed;
      continue;
    }
    const Field* f = p.FieldForHeader(header[i]);
    if (f == nullptr) continue;
    c.field = static_cast<int>(f - p.fields.data());
    if (column_of[c.field] >= 0) {
      c.status = ColumnStatus::kDuplicate;
      c.duplicate_of = column_of[c.field];
    } else {
      c.status = ColumnStatus::kField;
      column_of[c.field] = static_cast<int>(i);
      m->recognised = true;
    }
  }
  // Unknown headers close to a name of a field no column names are that
  // field misspelt; when two are close to one field, the closer one is.
  const auto names = NamesOf(p);
  std::vector<size_t> best_distance(p.fields.size(), SIZE_MAX);
  std::vector<size_t> distance(header.size(), SIZE_MAX);
  for (size_t i = 0; i < header.size() && i < kMaxFuzzyCells; ++i) {
    ColumnMatch& c = m->columns[i];
    if (c.status != ColumnStatus::kNotAField) continue;
    const Name* n = Nearest(names, header[i], &distance[i]);
    if (n == nullptr) continue;
    c.field = static_cast<int>(n->field);
    c.nearest_name = std::string(n->written);
    if (column_of[n->field] < 0) best_distance[n->field] = std::min(best_distance[n->field], distance[i]);
  }
  for (size_t i = 0; i < header.size(); ++i) {
    ColumnMatch& c = m->columns[i];
    if (c.status == ColumnStatus::kNotAField && c.field >= 0 && column_of[c.field] < 0 &&
        distance[i] == best_distance[c.field]) {
      c.status = ColumnStatus::kProbableMisspelling;
      best_distance[c.field] = SIZE_MAX;  // one column per field
    }
  }
  // Which header texts are shown. A text that names a field or comes close
  // to one is a column name, never a person's data: shown once the row is
  // recognised. Any other text is shown only when the row is plainly a
  // header, three quarters of its named cells naming a field or close to
  // one: a header row run together with a data row (a lost line break), or
  // a data row taken for the header, keeps its values to itself.
  size_t named = 0, matching = 0;
  for (const auto& c : m->columns) {
    if (c.status == ColumnStatus::kUnnamed) continue;
    ++named;
    if (c.status != ColumnStatus::kNotAField) ++matching;
  }
  const bool plain_header = m->recognised && matching * 4 >= named * 3;
  for (size_t i = 0; i < header.size(); ++i) {
    ColumnMatch& c = m->columns[i];
    c.label = "column " + ColumnLetter(i);
    const bool echo = c.status == ColumnStatus::kNotAField ? plain_header : c.status != ColumnStatus::kUnnamed && m->recognised;
    if (echo) c.label += " " + Quoted(header[i]);
  }
}

void HideUnknownHeaderTexts(HeaderMatch* m) {
  for (size_t i = 0; i < m->columns.size(); ++i) {
    if (m->columns[i].status == ColumnStatus::kNotAField) m->columns[i].label = "column " + ColumnLetter(i);
  }
}

Violations HeaderViolations(const Protocol& p, const HeaderMatch& m, uint64_t header_search_rows) {
  Violations out;
  if (!m.recognised) {
    std::string fields;
    for (const auto& f : p.fields) fields += (fields.empty() ? "" : ", ") + f.name;
    std::string text = "no row among the first " + std::to_string(header_search_rows) +
                       " has a column named as a field of the protocol (" + fields +
                       ", or their other names in `xgw protocol show " + p.id + "`)";
    if (m.sheets.size() > 1) {
      text += "; the list may be on another sheet than \"" + m.sheet + "\": the workbook's sheets are ";
      for (size_t i = 0; i < m.sheets.size(); ++i) text += (i ? ", \"" : "\"") + m.sheets[i] + "\"";
      text += " (choose one with xgw send --sheet NAME)";
    }
    text += "; if the header row is further down, give its number with xgw send --header-row N";
    out.push_back({"header_not_found", text, 0, ""});
    return out;
  }
  std::vector<bool> named(p.fields.size(), false);
  for (const auto& c : m.columns) {
    if (c.field >= 0 && (c.status == ColumnStatus::kField || c.status == ColumnStatus::kProbableMisspelling)) {
      named[c.field] = true;
    }
  }
  std::vector<bool> really_named(p.fields.size(), false);
  for (const auto& c : m.columns) {
    if (c.status == ColumnStatus::kField) really_named[c.field] = true;
  }
  const std::string missing = MissingRequired(p, named);
  for (size_t i = 0; i < m.columns.size(); ++i) {
    const ColumnMatch& c = m.columns[i];
    const std::string where = "column " + ColumnLetter(i);
    switch (c.status) {
      case ColumnStatus::kField:
      case ColumnStatus::kUnnamed:
        break;
      case ColumnStatus::kDuplicate:
        out.push_back({"duplicate_column", c.label + " is field " + p.fields[c.field].name + " again, like " +
                                               m.columns[c.duplicate_of].label + ": keep one of the two",
                       0, where});
        break;
      case ColumnStatus::kProbableMisspelling: {
        const Field& f = p.fields[c.field];
        out.push_back({"column_misspelt",
                       c.label + " is not a name the protocol knows; did you mean " + Quoted(c.nearest_name) + " (" +
                           (f.required ? "required field " : "field ") + f.name +
                           (f.required ? ", which is missing" : "") + ")? Rename the header" +
                           (f.required ? "; do not remove the column" : ", or remove the column if it is not that field"),
                       0, where});
        break;
      }
      case ColumnStatus::kNotAField: {
        std::string text = c.label + " is not a field of the protocol";
        if (c.field >= 0 && really_named[c.field]) {
          text += " (it looks like " + Quoted(c.nearest_name) + ", which another column already is)";
        }
        if (!missing.empty()) {
          text += "; required field(s) " + missing + " are missing: if this column holds one of them, rename its "
                  "header to that field's name (`xgw protocol show " + p.id + "` lists them), otherwise remove it "
                  "(data minimisation)";
        } else {
          text += " (data minimisation): remove it, or let xgw send --drop-extra send a copy without it";
        }
        out.push_back({"column_not_allowed", text, 0, where});
        break;
      }
    }
  }
  return out;
}

std::string FieldColumnLabel(const Protocol& p, const HeaderMatch& m, size_t column) {
  const ColumnMatch& c = m.columns[column];
  return c.label + " (" + p.fields[c.field].name + ")";
}

}  // namespace xgw
