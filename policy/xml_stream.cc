// The tokenizer keeps one growable buffer; a token (tag or text run) is
// complete in it before it is parsed, so chunk boundaries never split what a
// caller sees. Text and attribute values are decoded in place: decoding only
// shrinks, and the consumed bytes are not needed again.
#include "policy/xml_stream.h"

#include <algorithm>
#include <cstring>

#include "crypto/secret.h"

namespace xgw {

namespace {

// SpreadsheetML parts nest a handful of levels; the bound keeps the stack of
// open element names small whatever the input.
constexpr size_t kMaxDepth = 256;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t AppendUtf8(char* out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

std::string_view LocalPart(std::string_view qname) {
  auto colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

}  // namespace

uint64_t ParseXmlUnsigned(std::string_view text, uint64_t max) {
  size_t i = 0;
  while (i < text.size() && IsSpace(text[i])) ++i;
  bool negative = i < text.size() && text[i] == '-';
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  uint64_t result = 0;
  bool overflow = false;
  if (i + 1 < text.size() && text[i] == '0' && (text[i + 1] | ' ') == 'x') {
    i += 2;
    while (i < text.size() && text[i] == '0') ++i;
    size_t start = i;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c >= '0' && c <= '9') result = result * 16 + static_cast<uint64_t>(c - '0');
      else if ((c | ' ') >= 'a' && (c | ' ') <= 'f') result = result * 16 + static_cast<uint64_t>((c | ' ') - 'a' + 10);
      else break;
    }
    overflow = i - start > 16;
  } else {
    while (i < text.size() && text[i] == '0') ++i;
    size_t start = i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      result = result * 10 + static_cast<uint64_t>(text[i] - '0');
    }
    size_t digits = i - start;
    overflow = digits >= 20 && !(digits == 20 && (text[start] < '1' || (text[start] == '1' && (result >> 63))));
  }
  if (negative) return 0;
  return (overflow || result > max) ? max : result;
}

XmlStream::XmlStream(XmlInput& input, std::string what, size_t max_token_bytes, size_t chunk_bytes)
    : input_(input), what_(std::move(what)), max_token_(std::max<size_t>(max_token_bytes, 16)),
      chunk_(std::max<size_t>(chunk_bytes, 1)) {}

XmlStream::~XmlStream() { WipeMemory(buf_.data(), buf_.size()); }

Error XmlStream::FormatError(uint64_t at, const char* reason) const {
  return Error{ErrorCode::kFormat, what_ + " does not parse (at byte " + std::to_string(at) + ": " + reason + ")"};
}

Result<bool> XmlStream::Fill() {
  if (eof_) return false;
  if (end_ - pos_ >= max_token_) {
    return Fail(ErrorCode::kLimit, what_ + " has a tag or text longer than " + std::to_string(max_token_) +
                                       " bytes (at byte " + std::to_string(Offset()) + ")");
  }
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    base_offset_ += pos_;
    end_ -= pos_;
    pos_ = 0;
  }
  if (buf_.size() - end_ < chunk_) {
    // Grow by doubling; the old block is wiped, as it may hold personal data.
    size_t want = std::max(buf_.size() * 2, end_ + chunk_);
    std::vector<char> bigger(std::max<size_t>(want, 4096));
    if (end_ > 0) std::memcpy(bigger.data(), buf_.data(), end_);
    WipeMemory(buf_.data(), buf_.size());
    buf_.swap(bigger);
  }
  XGW_TRY(size_t got, input_.Read(buf_.data() + end_, std::min(chunk_, buf_.size() - end_)));
  if (got == 0) {
    eof_ = true;
    return false;
  }
  end_ += got;
  return true;
}

Result<XmlStream::Event> XmlStream::Next() {
  text_ = {};
  attrs_.clear();
  if (pending_end_) {
    pending_end_ = false;
    pop_before_next_ = true;
    return Event::kEnd;
  }
  if (pop_before_next_) {
    pop_before_next_ = false;
    names_.resize(name_starts_.back());
    name_starts_.pop_back();
  }
  for (;;) {
    if (pos_ == end_) {
      XGW_TRY(bool more, Fill());
      if (!more) {
        if (!name_starts_.empty()) return tl::unexpected(FormatError(Offset(), "the document ends inside an element"));
        if (!seen_root_) return tl::unexpected(FormatError(Offset(), "no root element"));
        depth_ = 0;
        return Event::kEof;
      }
    }
    if (buf_[pos_] == '<') {
      auto ev = ReadMarkup();
      if (!ev) return ev;
      if (*ev != Event::kEof) return ev;  // kEof here means "nothing to report"
    } else {
      auto ev = ReadText();
      if (!ev) return ev;
      if (*ev != Event::kEof) return ev;
    }
  }
}

Result<XmlStream::Event> XmlStream::ReadText() {
  size_t scan = 0;  // relative to pos_: bytes known to be text
  bool blank = true;
  bool dropped = false;  // a long whitespace run was discarded
  for (;;) {
    const char* p = buf_.data() + pos_ + scan;
    const char* e = buf_.data() + end_;
    if (blank) {
      while (p < e && IsSpace(*p)) ++p;
      if (p < e && *p != '<') blank = false;
    }
    const char* lt = static_cast<const char*>(std::memchr(p, '<', static_cast<size_t>(e - p)));
    if (lt) {
      scan = static_cast<size_t>(lt - (buf_.data() + pos_));
      break;
    }
    scan = end_ - pos_;
    if (blank && scan > max_token_ / 2) {  // whitespace is never reported: let it stream by
      pos_ = end_;
      scan = 0;
      dropped = true;
    }
    XGW_TRY(bool more, Fill());
    if (!more) break;
  }
  uint64_t at = Offset();
  size_t n = scan;
  if (blank) {
    pos_ += n;
    return Event::kEof;
  }
  if (name_starts_.empty()) return tl::unexpected(FormatError(at, "text outside the root element"));
  if (dropped) {
    return Fail(ErrorCode::kLimit, what_ + " has a text longer than " + std::to_string(max_token_ / 2) +
                                       " bytes (at byte " + std::to_string(at) + ")");
  }
  char* p = buf_.data() + pos_;
  XGW_TRY(size_t len, Decode(p, n, at));
  pos_ += n;
  text_ = std::string_view(p, len);
  depth_ = name_starts_.size();
  return Event::kText;
}

Result<size_t> XmlStream::FindSequence(size_t from, std::string_view seq, const char* unterminated) {
  for (;;) {
    std::string_view window(buf_.data() + pos_, end_ - pos_);
    auto hit = window.find(seq, from);
    if (hit != std::string_view::npos) return hit;
    if (window.size() >= seq.size()) from = std::max(from, window.size() - seq.size() + 1);
    XGW_TRY(bool more, Fill());
    if (!more) return tl::unexpected(FormatError(Offset(), unterminated));
  }
}

Result<size_t> XmlStream::FindTagEnd() {
  size_t scan = 1;
  char quote = 0;
  for (;;) {
    const char* b = buf_.data() + pos_;
    size_t n = end_ - pos_;
    for (; scan < n; ++scan) {
      char c = b[scan];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        return scan;
      }
    }
    XGW_TRY(bool more, Fill());
    if (!more) return tl::unexpected(FormatError(Offset(), "a tag is cut off"));
  }
}

Result<XmlStream::Event> XmlStream::ReadMarkup() {
  while (end_ - pos_ < 9) {
    XGW_TRY(bool more, Fill());
    if (!more) break;
  }
  std::string_view head(buf_.data() + pos_, std::min<size_t>(end_ - pos_, 9));
  uint64_t at = Offset();
  if (head.starts_with("<?")) {
    XGW_TRY(size_t close, FindSequence(2, "?>", "a processing instruction is cut off"));
    pos_ += close + 2;
    return Event::kEof;
  }
  if (head.starts_with("<!--")) {
    XGW_TRY(size_t close, FindSequence(4, "-->", "a comment is cut off"));
    pos_ += close + 3;
    return Event::kEof;
  }
  if (head.starts_with("<![CDATA[")) {
    XGW_TRY(size_t close, FindSequence(9, "]]>", "a CDATA section is cut off"));
    if (name_starts_.empty()) return tl::unexpected(FormatError(at, "text outside the root element"));
    char* p = buf_.data() + pos_ + 9;
    size_t n = close - 9;
    // Only line ends are normalised: a CDATA section has no entities.
    size_t out = 0;
    for (size_t i = 0; i < n; ++i) {
      if (p[i] == '\r') {
        p[out++] = '\n';
        if (i + 1 < n && p[i + 1] == '\n') ++i;
      } else {
        p[out++] = p[i];
      }
    }
    pos_ += close + 3;
    text_ = std::string_view(p, out);
    depth_ = name_starts_.size();
    return Event::kText;
  }
  if (head.starts_with("<!DOCTYPE") || head.starts_with("<!doctype")) {
    return tl::unexpected(FormatError(at, "a DOCTYPE is refused: entity declarations are not allowed"));
  }
  if (head.starts_with("<!")) return tl::unexpected(FormatError(at, "unsupported markup declaration"));
  if (head.size() < 2) return tl::unexpected(FormatError(at, "a tag is cut off"));
  XGW_TRY(size_t close, FindTagEnd());
  return ReadTag(close);
}

Result<XmlStream::Event> XmlStream::ReadTag(size_t close) {
  uint64_t at = Offset();
  char* b = buf_.data() + pos_;
  pos_ += close + 1;
  if (b[1] == '/') {
    size_t i = 2;
    size_t name_end = close;
    while (name_end > i && IsSpace(b[name_end - 1])) --name_end;
    std::string_view name(b + i, name_end - i);
    if (name_starts_.empty()) return tl::unexpected(FormatError(at, "an end tag has no start tag"));
    std::string_view open(names_.data() + name_starts_.back(), names_.size() - name_starts_.back());
    if (name != open) return tl::unexpected(FormatError(at, "an end tag does not match the open element"));
    depth_ = name_starts_.size();
    local_name_ = LocalPart(open);
    pop_before_next_ = true;
    return Event::kEnd;
  }
  size_t i = 1;
  while (i < close && !IsSpace(b[i]) && b[i] != '/' && b[i] != '>') ++i;
  if (i == 1) return tl::unexpected(FormatError(at, "a tag has no name"));
  std::string_view qname(b + 1, i - 1);
  bool empty = false;
  for (;;) {
    while (i < close && IsSpace(b[i])) ++i;
    if (i == close) break;
    if (b[i] == '/') {
      if (i + 1 != close) return tl::unexpected(FormatError(at, "a tag is malformed"));
      empty = true;
      break;
    }
    size_t name_start = i;
    while (i < close && !IsSpace(b[i]) && b[i] != '=' && b[i] != '/') ++i;
    if (i == name_start) return tl::unexpected(FormatError(at, "an attribute has no name"));
    std::string_view aname(b + name_start, i - name_start);
    while (i < close && IsSpace(b[i])) ++i;
    if (i == close || b[i] != '=') return tl::unexpected(FormatError(at, "an attribute has no value"));
    ++i;
    while (i < close && IsSpace(b[i])) ++i;
    if (i == close || (b[i] != '"' && b[i] != '\'')) {
      return tl::unexpected(FormatError(at, "an attribute value is not quoted"));
    }
    char quote = b[i++];
    size_t value_start = i;
    while (i < close && b[i] != quote) {
      if (b[i] == '<') return tl::unexpected(FormatError(at, "an attribute value holds '<'"));
      ++i;
    }
    if (i == close) return tl::unexpected(FormatError(at, "an attribute value is cut off"));
    XGW_TRY(size_t len, Decode(b + value_start, i - value_start, at));
    attrs_.push_back({aname, std::string_view(b + value_start, len)});
    ++i;
  }
  if (name_starts_.size() >= kMaxDepth) return tl::unexpected(FormatError(at, "elements are nested too deeply"));
  seen_root_ = true;
  name_starts_.push_back(names_.size());
  names_.append(qname);
  std::string_view stored(names_.data() + name_starts_.back(), qname.size());
  local_name_ = LocalPart(stored);
  depth_ = name_starts_.size();
  pending_end_ = empty;
  return Event::kStart;
}

const std::string_view* XmlStream::Attr(std::string_view name) const {
  for (const auto& a : attrs_) {
    if (a.name == name) return &a.value;
  }
  return nullptr;
}

Result<size_t> XmlStream::Decode(char* p, size_t n, uint64_t at) {
  size_t i = 0;
  while (i < n && p[i] != '&' && p[i] != '\r') ++i;
  size_t out = i;
  while (i < n) {
    char c = p[i];
    if (c == '\r') {
      p[out++] = '\n';
      i += (i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
      continue;
    }
    if (c != '&') {
      p[out++] = c;
      ++i;
      continue;
    }
    const char* semi = static_cast<const char*>(std::memchr(p + i, ';', std::min<size_t>(n - i, 12)));
    if (!semi) return tl::unexpected(FormatError(at, "an entity reference is malformed"));
    std::string_view ref(p + i + 1, static_cast<size_t>(semi - (p + i + 1)));
    size_t next = static_cast<size_t>(semi - p) + 1;
    if (ref == "lt") p[out++] = '<';
    else if (ref == "gt") p[out++] = '>';
    else if (ref == "amp") p[out++] = '&';
    else if (ref == "quot") p[out++] = '"';
    else if (ref == "apos") p[out++] = '\'';
    else if (ref.size() >= 2 && ref[0] == '#') {
      bool hex = ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty() || digits.size() > 8) return tl::unexpected(FormatError(at, "a character reference is malformed"));
      uint32_t cp = 0;
      for (char d : digits) {
        unsigned v;
        if (d >= '0' && d <= '9') v = static_cast<unsigned>(d - '0');
        else if (hex && (d | ' ') >= 'a' && (d | ' ') <= 'f') v = static_cast<unsigned>((d | ' ') - 'a' + 10);
        else return tl::unexpected(FormatError(at, "a character reference is malformed"));
        cp = cp * (hex ? 16 : 10) + v;
        if (cp > 0x10FFFF) break;
      }
      if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return tl::unexpected(FormatError(at, "a character reference names no character"));
      }
      // The longest reference that fits in 4 bytes of UTF-8 is "&#1;" (4
      // bytes) for one byte of output: writing never overtakes reading.
      out += AppendUtf8(p + out, cp);
    } else {
      return tl::unexpected(FormatError(at, "an unknown entity is referenced (only the five XML entities are allowed)"));
    }
    i = next;
  }
  return out;
}

}  // namespace xgw
