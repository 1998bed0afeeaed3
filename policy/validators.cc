#include "policy/validators.h"

#include <algorithm>
#include <array>
#include <chrono>

#include "policy/byte_scan.h"
#include "policy/decimal.h"
#include "policy/timezone.h"

namespace xgw {

namespace {

constexpr std::array<std::string_view, 12> kTypeNames = {
    "text",  "integer", "decimal", "date",   "email",                "phone",
    "enum",  "regex",   "be_national_number", "nl_bsn", "be_enterprise_number", "iban"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  // Most cells have nothing to trim: a first and a last byte that are
  // neither whitespace nor part of U+00A0 decide.
  if (s.empty() || (!IsSpace(s.front()) && s.front() != '\xC2' && !IsSpace(s.back()) && s.back() != '\xA0')) {
    return s;
  }
  // Also strips U+00A0 (no-break space, C2 A0), common in spreadsheet exports.
  for (;;) {
    if (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
    else if (s.size() >= 2 && s[0] == '\xC2' && s[1] == '\xA0') s.remove_prefix(2);
    else break;
  }
  for (;;) {
    if (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
    else if (s.size() >= 2 && s[s.size() - 2] == '\xC2' && s.back() == '\xA0') s.remove_suffix(2);
    else break;
  }
  return s;
}

// Keeps the digits of `raw` in *out if everything else is an accepted
// separator. A bare digit string up to 4 digits shorter than `len` (a numeric
// spreadsheet cell that lost its leading zeros) is padded back. Writes into
// the caller's string so that a checked column reuses one buffer.
bool DigitsInto(std::string_view raw, size_t len, std::string* out) {
  raw = Trim(raw);
  out->clear();
  bool separators = false;
  for (char c : raw) {
    if (IsDigit(c)) {
      out->push_back(c);
    } else if (c == ' ' || c == '.' || c == '-' || c == '/') {
      separators = true;
    } else {
      return false;
    }
    if (out->size() > len) return false;
  }
  if (out->size() < len) {
    if (separators || out->empty() || len - out->size() > 4) return false;
    out->insert(0, len - out->size(), '0');
  }
  return true;
}

// Optional-returning form of an *Into normaliser, for the public functions.
template <typename Into>
std::optional<std::string> AsOptional(std::string_view raw, Into into) {
  std::string out;
  if (!into(raw, &out)) return std::nullopt;
  return out;
}

uint64_t ToNumber(std::string_view digits) {
  uint64_t v = 0;
  for (char c : digits) v = v * 10 + static_cast<uint64_t>(c - '0');
  return v;
}

// Decodes one UTF-8 code point at s[i]; returns false on malformed input.
bool DecodeUtf8(std::string_view s, size_t& i, uint32_t* cp) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    *cp = b;
    ++i;
    return true;
  }
  size_t n;
  uint32_t v;
  if ((b & 0xE0) == 0xC0) {
    n = 1;
    v = b & 0x1Fu;
  } else if ((b & 0xF0) == 0xE0) {
    n = 2;
    v = b & 0x0Fu;
  } else if ((b & 0xF8) == 0xF0) {
    n = 3;
    v = b & 0x07u;
  } else {
    return false;
  }
  if (i + n >= s.size()) return false;
  for (size_t k = 1; k <= n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return false;
    v = (v << 6) | (c & 0x3Fu);
  }
  static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
  if (v < kMin[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
  *cp = v;
  i += n + 1;
  return true;
}

// Base letters of U+00C0..U+00FF and U+0100..U+017F, lower case; '*' marks
// letters that fold to two letters or have no base letter.
constexpr std::string_view kLatin1Fold =
    "aaaaaa*ceeeeiiii" "dnooooo*ouuuuy**" "aaaaaa*ceeeeiiii" "dnooooo*ouuuuy*y";
constexpr std::string_view kLatinAFold =
    "aaaaaacccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh" "iiiiiiiiii" "**" "jj" "kkk"
    "llllllllll" "nnnnnnnnn" "oooooo" "**" "rrrrrr" "ssssssss" "tttttt" "uuuuuuuuuuuu" "ww"
    "yyy" "zzzzzz" "s";

void AppendFolded(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    char c = static_cast<char>(cp);
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out.push_back(c);
    return;
  }
  if (cp >= 0x300 && cp <= 0x36F) return;  // combining marks (decomposed accents)
  char base = 0;
  if (cp >= 0xC0 && cp <= 0xFF) base = kLatin1Fold[cp - 0xC0];
  if (cp >= 0x100 && cp <= 0x17F) base = kLatinAFold[cp - 0x100];
  if (base != 0 && base != '*') {
    out.push_back(base);
    return;
  }
  switch (cp) {
    case 0xC6: case 0xE6: out += "ae"; return;
    case 0xDF: out += "ss"; return;
    case 0xDE: case 0xFE: out += "th"; return;
    case 0x152: case 0x153: out += "oe"; return;
    case 0x132: case 0x133: out += "ij"; return;
    default: break;
  }
  // Anything else is kept as UTF-8.
  if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Count of code points, or nullopt on invalid UTF-8 / a control character.
std::optional<size_t> TextLength(std::string_view s, bool* control) {
  using namespace byte_scan;
  size_t n = 0;
  *control = false;
  for (size_t i = 0; i < s.size();) {
    // Up to eight printable ASCII bytes are as many code points and no control.
    const size_t w = std::min<size_t>(8, s.size() - i);
    const uint64_t x = w == 8 ? Load8(s.data() + i) : LoadTail(s.data() + i, w, 'a');
    if (!HasHighByte(x) && !HasByteBelow(x, 0x20) && !HasByte(x, 0x7F)) {
      i += w;
      n += w;
      continue;
    }
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if ((b < 0x20 && b != '\t') || b == 0x7F) *control = true;
      ++i;
    } else {
      uint32_t cp;
      if (!DecodeUtf8(s, i, &cp)) return std::nullopt;
      if (cp >= 0x80 && cp <= 0x9F) *control = true;
    }
    ++n;
  }
  return n;
}

bool ValidBeDate(unsigned mm, unsigned dd) {
  bool month_ok = mm <= 12 || (mm >= 20 && mm <= 32) || (mm >= 40 && mm <= 52);
  return month_ok && dd <= 31;
}

bool DateInto(std::string_view raw, std::string* out) {
  raw = Trim(raw);
  // Spreadsheet date-times at midnight: "2024-09-27T00:00:00" or "... 00:00:00".
  if (raw.size() == 19 && (raw[10] == 'T' || raw[10] == ' ') && raw.substr(11) == "00:00:00") {
    raw = raw.substr(0, 10);
  }
  std::chrono::year_month_day d;
  if (ParseIsoDate(raw, &d)) {
    out->assign(raw);
    return true;
  }
  // d/m/yyyy with '/', '-' or '.'.
  unsigned parts[3] = {0, 0, 0};
  size_t len[3] = {0, 0, 0};
  int p = 0;
  char sep = 0;
  for (char c : raw) {
    if (IsDigit(c)) {
      parts[p] = parts[p] * 10 + static_cast<unsigned>(c - '0');
      if (++len[p] > 4) return false;
    } else if ((c == '/' || c == '-' || c == '.') && p < 2 && (sep == 0 || sep == c)) {
      sep = c;
      ++p;
    } else {
      return false;
    }
  }
  if (p != 2 || len[0] < 1 || len[0] > 2 || len[1] < 1 || len[1] > 2 || len[2] != 4) return false;
  d = std::chrono::year_month_day{std::chrono::year{static_cast<int>(parts[2])},
                                  std::chrono::month{parts[1]}, std::chrono::day{parts[0]}};
  if (!d.ok()) return false;
  // YYYY-MM-DD by hand: the year has exactly 4 digits, month and day at most
  // 2 (checked above); snprintf cost more than the rest of the check.
  const char buf[10] = {static_cast<char>('0' + parts[2] / 1000), static_cast<char>('0' + parts[2] / 100 % 10),
                        static_cast<char>('0' + parts[2] / 10 % 10), static_cast<char>('0' + parts[2] % 10),
                        '-', static_cast<char>('0' + parts[1] / 10), static_cast<char>('0' + parts[1] % 10),
                        '-', static_cast<char>('0' + parts[0] / 10), static_cast<char>('0' + parts[0] % 10)};
  out->assign(buf, sizeof buf);
  return true;
}

bool ValidEmail(std::string_view s, std::string* out) {
  if (s.size() > 254) return false;
  auto at = s.find('@');
  if (at == 0 || at == std::string_view::npos || at > 64 || s.find('@', at + 1) != std::string_view::npos) return false;
  for (char c : s.substr(0, at)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) ||
              std::string_view("!#$%&'*+/=?^_`{|}~.-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  auto local = s.substr(0, at);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  auto domain = s.substr(at + 1);
  if (domain.empty() || domain.find('.') == std::string_view::npos) return false;
  std::string dom;
  size_t label = 0;
  for (size_t i = 0; i < domain.size(); ++i) {
    char c = domain[i];
    if (c == '.') {
      if (label == 0 || domain[i - 1] == '-') return false;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || IsDigit(c) || (c == '-' && label > 0)) {
      ++label;
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
      ++label;
    } else {
      return false;
    }
    if (label > 63) return false;
    dom.push_back(c);
  }
  if (label == 0 || domain.back() == '-') return false;
  *out = std::string(local) + "@" + dom;
  return true;
}

bool ValidPhone(std::string_view s, std::string* out) {
  std::string n;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (IsDigit(c)) n.push_back(c);
    else if (c == '+' && i == 0) n.push_back(c);
    else if (c != ' ' && c != '(' && c != ')' && c != '-' && c != '.' && c != '/') return false;
  }
  size_t digits = n.size() - (n.empty() || n[0] != '+' ? 0 : 1);
  if (digits < 6 || digits > 15) return false;
  *out = std::move(n);
  return true;
}

bool ParseInteger(std::string_view s, int64_t* v, std::string* out) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) return false;
  int64_t x = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    x = x * 10 + (c - '0');
  }
  *v = neg ? -x : x;
  *out = std::to_string(*v);
  return true;
}

bool ParseDecimal(std::string_view s, std::string* out) {
  std::string r;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    if (s[0] == '-') r.push_back('-');
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 40) return false;
  bool point = false;
  size_t int_digits = 0, frac_digits = 0;
  for (char c : s) {
    if (IsDigit(c)) {
      (point ? frac_digits : int_digits)++;
      r.push_back(c);
    } else if ((c == '.' || c == ',') && !point) {
      point = true;
      r.push_back('.');
    } else {
      return false;
    }
  }
  if (int_digits == 0 || (point && frac_digits == 0)) return false;
  // Canonical: no leading zeros in the integer part, no trailing fraction zeros.
  size_t start = r[0] == '-' ? 1 : 0;
  while (r.size() > start + 1 && r[start] == '0' && r[start + 1] != '.') r.erase(start, 1);
  if (point) {
    while (r.back() == '0') r.pop_back();
    if (r.back() == '.') r.pop_back();
  }
  if (r == "-0") r = "0";
  *out = std::move(r);
  return true;
}

int IbanLength(std::string_view country) {
  struct Entry { const char* cc; int len; };
  static constexpr Entry kTable[] = {
      {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
      {"BG", 22}, {"BH", 22}, {"BR", 29}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
      {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"ES", 24}, {"FI", 18}, {"FO", 18},
      {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28},
      {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
      {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21},
      {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30},
      {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29},
      {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
      {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}};
  for (const auto& e : kTable) {
    if (country == e.cc) return e.len;
  }
  return 0;
}

bool BeNationalNumberInto(std::string_view raw, std::string* out) {
  if (!DigitsInto(raw, 11, out)) return false;
  const std::string_view d = *out;
  unsigned mm = static_cast<unsigned>(ToNumber(d.substr(2, 2)));
  unsigned dd = static_cast<unsigned>(ToNumber(d.substr(4, 2)));
  if (!ValidBeDate(mm, dd)) return false;
  uint64_t base = ToNumber(d.substr(0, 9));
  uint64_t check = ToNumber(d.substr(9, 2));
  bool before2000 = 97 - base % 97 == check;
  bool after2000 = 97 - (2000000000ULL + base) % 97 == check;
  return before2000 || after2000;
}

bool NlBsnInto(std::string_view raw, std::string* out) {
  if (!DigitsInto(raw, 9, out)) return false;
  const std::string_view d = *out;
  int64_t sum = 0;
  for (size_t i = 0; i < 8; ++i) sum += (d[i] - '0') * static_cast<int64_t>(9 - i);
  sum -= d[8] - '0';
  return sum % 11 == 0 && d != "000000000";
}

bool BeEnterpriseNumberInto(std::string_view raw, std::string* out) {
  raw = Trim(raw);
  if (raw.size() >= 2 && (raw[0] == 'B' || raw[0] == 'b') && (raw[1] == 'E' || raw[1] == 'e')) {
    raw.remove_prefix(2);
  }
  if (!DigitsInto(raw, 10, out)) return false;
  const std::string_view d = *out;
  if (d[0] != '0' && d[0] != '1') return false;
  uint64_t base = ToNumber(d.substr(0, 8));
  return 97 - base % 97 == ToNumber(d.substr(8, 2));
}

bool IbanInto(std::string_view raw, std::string* out) {
  raw = Trim(raw);
  std::string& s = *out;
  s.clear();
  for (char c : raw) {
    if (c == ' ' || c == '-') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!IsDigit(c) && !(c >= 'A' && c <= 'Z')) return false;
    s.push_back(c);
    if (s.size() > 34) return false;
  }
  if (s.size() < 15 || !(s[0] >= 'A' && s[0] <= 'Z') || !(s[1] >= 'A' && s[1] <= 'Z') ||
      !IsDigit(s[2]) || !IsDigit(s[3])) {
    return false;
  }
  if (IbanLength(std::string_view(s).substr(0, 2)) != static_cast<int>(s.size())) return false;
  // mod-97 over the account part followed by country and check digits.
  uint64_t rem = 0;
  for (size_t k = 0; k < s.size(); ++k) {
    char c = s[(k + 4) % s.size()];
    if (IsDigit(c)) {
      rem = (rem * 10 + static_cast<uint64_t>(c - '0')) % 97;
    } else {
      rem = (rem * 100 + static_cast<uint64_t>(c - 'A' + 10)) % 97;
    }
  }
  return rem == 1;
}

}  // namespace

std::string_view FieldTypeName(FieldType type) { return kTypeNames[static_cast<size_t>(type)]; }

std::optional<FieldType> FieldTypeFromName(std::string_view name) {
  for (size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == name) return static_cast<FieldType>(i);
  }
  return std::nullopt;
}

bool IsIdentifierType(FieldType type) {
  return type == FieldType::kBeNationalNumber || type == FieldType::kNlBsn ||
         type == FieldType::kBeEnterpriseNumber || type == FieldType::kIban;
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    if (!DecodeUtf8(text, i, &cp)) return false;
  }
  return true;
}

std::string FoldName(std::string_view text) {
  std::string folded;
  folded.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    if (!DecodeUtf8(text, i, &cp)) {
      ++i;  // callers pass valid UTF-8; skip a stray byte rather than fail
      continue;
    }
    if (cp == 0xA0) cp = ' ';
    AppendFolded(cp, folded);
  }
  std::string out;
  out.reserve(folded.size());
  bool pending_space = false;
  for (char c : folded) {
    if (IsSpace(c) || c == '_' || c == '-') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::optional<std::string> NormaliseBeNationalNumber(std::string_view raw) {
  return AsOptional(raw, BeNationalNumberInto);
}
std::optional<std::string> NormaliseNlBsn(std::string_view raw) { return AsOptional(raw, NlBsnInto); }
std::optional<std::string> NormaliseBeEnterpriseNumber(std::string_view raw) {
  return AsOptional(raw, BeEnterpriseNumberInto);
}
std::optional<std::string> NormaliseIban(std::string_view raw) { return AsOptional(raw, IbanInto); }

std::optional<std::string> NormaliseIdentifier(FieldType type, std::string_view raw) {
  FieldRule rule;
  rule.type = type;
  std::string out;
  std::string_view failed;
  if (!ValidateValue(rule, raw, &out, &failed)) return std::nullopt;
  return out;
}

namespace {

// The index of the ']' that closes the character class opened at `open`
// (a leading '^' and a ']' right after it belong to the class), or
// pattern.size() if there is none.
size_t ClassEnd(std::string_view pattern, size_t open) {
  size_t j = open + 1;
  if (j < pattern.size() && pattern[j] == '^') ++j;
  if (j < pattern.size() && pattern[j] == ']') ++j;
  for (; j < pattern.size() && pattern[j] != ']'; ++j) {
    if (pattern[j] == '\\') ++j;
  }
  return std::min(j, pattern.size());
}

// Why `pattern` is refused ("" if it is not): one scan that tracks, per open
// group, whether it holds a quantifier or an alternation, so that such a
// group may not itself be repeated (nested quantifiers: catastrophic
// backtracking); backreferences, lookaround, lazy and possessive quantifiers
// are refused outright.
std::string RegexRefusal(std::string_view pattern) {
  const auto refuse = [](const char* why) { return std::string(why); };
  struct Group { bool inner_repeat = false; };
  std::vector<Group> stack(1);
  bool last_closed_group_repeats = false;  // the atom just before a quantifier was a risky group
  bool last_was_atom = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    bool is_quant = c == '*' || c == '+' || c == '{' || c == '?';
    if (is_quant) {
      if (!last_was_atom) {
        if (c == '?') return refuse("lazy quantifiers and (? groups other than (?: are not allowed");
        return refuse("quantifier without an atom");
      }
      bool unbounded_or_repeat = c != '?';
      if (c == '{') {
        auto close = pattern.find('}', i);
        if (close == std::string_view::npos) return refuse("unterminated {n,m}");
        auto body = pattern.substr(i + 1, close - i - 1);
        unbounded_or_repeat = body != "0,1" && body != "1" && body != "0";
        i = close;
      }
      if (unbounded_or_repeat && last_closed_group_repeats) {
        return refuse("a repeated group may not contain a quantifier or alternation (nested quantifiers)");
      }
      if (unbounded_or_repeat) stack.back().inner_repeat = true;
      if (i + 1 < pattern.size() && (pattern[i + 1] == '?' || pattern[i + 1] == '+')) {
        return refuse("lazy and possessive quantifiers are not allowed");
      }
      last_was_atom = false;
      last_closed_group_repeats = false;
      continue;
    }
    last_closed_group_repeats = false;
    last_was_atom = true;
    switch (c) {
      case '\\':
        if (i + 1 >= pattern.size()) return refuse("trailing backslash");
        if (IsDigit(pattern[i + 1]) && pattern[i + 1] != '0') return refuse("backreferences are not allowed");
        if (pattern[i + 1] == 'k') return refuse("backreferences are not allowed");
        ++i;
        break;
      case '[':
        i = ClassEnd(pattern, i);
        if (i >= pattern.size()) return refuse("unterminated character class");
        break;
      case '(':
        if (i + 1 < pattern.size() && pattern[i + 1] == '?') {
          if (i + 2 < pattern.size() && pattern[i + 2] == ':') {
            i += 2;
          } else {
            return refuse("lookaround is not allowed");
          }
        }
        stack.emplace_back();
        last_was_atom = false;
        break;
      case ')': {
        if (stack.size() < 2) return refuse("unbalanced parenthesis");
        bool risky = stack.back().inner_repeat;
        stack.pop_back();
        if (risky) stack.back().inner_repeat = true;
        last_closed_group_repeats = risky;
        break;
      }
      case '|':
        stack.back().inner_repeat = true;  // alternation inside a repeated group is risky too
        last_was_atom = false;
        break;
      default:
        break;
    }
  }
  if (stack.size() != 1) return refuse("unbalanced parenthesis");
  return "";
}

}  // namespace

Result<std::shared_ptr<const std::regex>> CompileSafeRegex(std::string_view pattern) {
  auto refuse = [](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument, "regex pattern refused: " + why);
  };
  if (pattern.empty() || pattern.size() > 200) return refuse("must be 1..200 characters");
  if (std::string why = RegexRefusal(pattern); !why.empty()) return refuse(why);
  try {
    return std::make_shared<const std::regex>(std::string(pattern), std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    return refuse("pattern does not compile");
  }
}

bool ValidateCell(const FieldRule& rule, std::string_view raw, std::string* scratch, std::string_view* normalised,
                  std::string_view* failed) {
  std::string_view v = Trim(raw);
  auto fail = [&](std::string_view name) {
    *failed = name;
    return false;
  };
  // Types whose normal form is built in *scratch.
  auto built = [&](bool ok, std::string_view name) {
    if (!ok) return fail(name);
    *normalised = *scratch;
    return true;
  };
  switch (rule.type) {
    case FieldType::kText: {
      bool control = false;
      auto n = TextLength(v, &control);
      if (!n) return fail("text.utf8");
      if (control) return fail("text.control_character");
      if (*n > (rule.max_length ? rule.max_length : 1000)) return fail("text.max_length");
      *normalised = v;
      return true;
    }
    case FieldType::kInteger: {
      int64_t x;
      if (!ParseInteger(v, &x, scratch)) return fail("integer.syntax");
      if (rule.min && x < *rule.min) return fail("integer.min");
      if (rule.max && x > *rule.max) return fail("integer.max");
      return built(true, "");
    }
    case FieldType::kDecimal:
      if (!ParseDecimal(v, scratch)) return fail("decimal.syntax");
      if (rule.scale && DecimalScale(*scratch) > *rule.scale) return fail("decimal.scale");
      if (rule.decimal_min && CompareDecimal(*scratch, *rule.decimal_min) < 0) return fail("decimal.min");
      if (rule.decimal_max && CompareDecimal(*scratch, *rule.decimal_max) > 0) return fail("decimal.max");
      return built(true, "");
    case FieldType::kDate:
      return built(DateInto(v, scratch), "date.syntax");
    case FieldType::kEmail:
      return built(ValidEmail(v, scratch), "email.syntax");
    case FieldType::kPhone:
      return built(ValidPhone(v, scratch), "phone.syntax");
    case FieldType::kEnum: {
      std::string folded = FoldName(v);
      for (const auto& value : rule.values) {
        if (FoldName(value) == folded) {
          *normalised = value;
          return true;
        }
      }
      return fail("enum.value");
    }
    case FieldType::kRegex: {
      bool control = false;
      auto n = TextLength(v, &control);
      if (!n) return fail("regex.utf8");
      size_t cap = rule.max_length ? std::min(rule.max_length, kRegexInputCap) : kRegexInputCap;
      if (*n > cap || v.size() > 4 * kRegexInputCap) return fail("regex.max_length");
      if (!rule.regex || !std::regex_match(v.begin(), v.end(), *rule.regex)) return fail("regex.match");
      *normalised = v;
      return true;
    }
    case FieldType::kBeNationalNumber:
      return built(BeNationalNumberInto(v, scratch), "be_national_number.check_digits");
    case FieldType::kNlBsn:
      return built(NlBsnInto(v, scratch), "nl_bsn.eleven_test");
    case FieldType::kBeEnterpriseNumber:
      return built(BeEnterpriseNumberInto(v, scratch), "be_enterprise_number.check_digits");
    case FieldType::kIban:
      return built(IbanInto(v, scratch), "iban.check");
  }
  return fail("unknown_type");
}

bool ValidateValue(const FieldRule& rule, std::string_view raw, std::string* out, std::string_view* failed) {
  std::string_view normalised;
  if (!ValidateCell(rule, raw, out, &normalised, failed)) return false;
  if (normalised.data() != out->data()) out->assign(normalised);
  return true;
}

}  // namespace xgw
