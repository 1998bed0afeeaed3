// A pull tokenizer for the XML subset that SpreadsheetML parts use
// (worksheets, shared strings): elements, attributes, text, comments,
// processing instructions, CDATA sections, the five predefined entities and
// numeric character references. It reads its input in chunks, so memory is
// bounded by the largest single tag or text run (max_token_bytes), never by
// the document's size.
//
// Refused with kFormat: a DOCTYPE (so no entity declarations: external
// entities and entity expansion bombs cannot happen), unknown entities,
// mismatched or missing end tags, markup that is cut off, elements nested
// more than 256 deep. Errors name a byte
// offset and a reason, never the document's text.
//
// Whitespace-only text is not reported (as pugixml's default parse, which the
// readers used before, dropped it); it may be arbitrarily long. End-of-line
// sequences in text and attribute values are normalised to "\n".
//
// Not thread-safe. The buffer may hold personal data: it is wiped when
// released.
#ifndef XGW_POLICY_XML_STREAM_H_
#define XGW_POLICY_XML_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"

namespace xgw {

// Where the XML bytes come from.
class XmlInput {
 public:
  virtual ~XmlInput() = default;
  // Fills up to `cap` bytes of `buf`; returns how many, 0 at the end.
  virtual Result<size_t> Read(char* buf, size_t cap) = 0;
};

class XmlStream {
 public:
  enum class Event { kStart, kEnd, kText, kEof };
  struct Attribute {
    std::string_view name;   // as written, with any prefix
    std::string_view value;  // entities decoded
  };

  // `what` starts every format error ("xlsx sheet XML does not parse"); the
  // offset and reason follow in parentheses. `input` must outlive the stream.
  // Reads `chunk_bytes` at a time; a tag or text run longer than
  // `max_token_bytes` fails with kLimit.
  XmlStream(XmlInput& input, std::string what, size_t max_token_bytes, size_t chunk_bytes = 64 * 1024);
  ~XmlStream();
  XmlStream(const XmlStream&) = delete;
  XmlStream& operator=(const XmlStream&) = delete;

  // The next event. An empty element (<a/>) gives kStart then kEnd. Views
  // returned by the accessors below stay valid until the next call.
  Result<Event> Next();

  // kStart / kEnd: the element's name without its namespace prefix.
  std::string_view LocalName() const { return local_name_; }
  // kStart / kEnd: open elements including this one (the root is 1).
  // kText: open elements (the text's parent is the deepest).
  size_t Depth() const { return depth_; }
  // kStart: the first attribute with this exact name, or nullptr.
  const std::string_view* Attr(std::string_view name) const;
  // kText: the decoded text (a CDATA section is reported as its own text).
  std::string_view Text() const { return text_; }
  // Bytes consumed so far (for error messages).
  uint64_t Offset() const { return base_offset_ + pos_; }

 private:
  Result<bool> Fill();  // false at end of input
  Error FormatError(uint64_t at, const char* reason) const;
  Result<Event> ReadText();
  Result<Event> ReadMarkup();
  Result<Event> ReadTag(size_t end);
  Result<size_t> FindTagEnd();  // index of the closing '>' relative to buf_
  Result<size_t> FindSequence(size_t from, std::string_view seq, const char* unterminated);
  // Decodes entities and end-of-line sequences in place; returns the new size.
  Result<size_t> Decode(char* p, size_t n, uint64_t at);

  XmlInput& input_;
  std::string what_;
  size_t max_token_;
  size_t chunk_;
  std::vector<char> buf_;  // [pos_, end_) not yet consumed
  size_t pos_ = 0;
  size_t end_ = 0;
  uint64_t base_offset_ = 0;  // document offset of buf_[0]
  bool eof_ = false;
  bool seen_root_ = false;

  // Open elements: qualified names back to back, with their start offsets.
  std::string names_;
  std::vector<size_t> name_starts_;
  bool pending_end_ = false;  // the last start tag was <a/>
  bool pop_before_next_ = false;

  std::string_view local_name_;
  std::string closing_name_;  // the name of the element a kEnd closes
  size_t depth_ = 0;
  std::vector<Attribute> attrs_;
  std::string_view text_;
};

// pugixml's integer reading, kept so that numbers in attributes and cells mean
// what they meant before: leading whitespace, an optional sign, decimal or
// "0x" hex digits, stops at the first other character; saturates at `max`,
// negative values give 0. Empty text gives 0.
uint64_t ParseXmlUnsigned(std::string_view text, uint64_t max);

}  // namespace xgw

#endif  // XGW_POLICY_XML_STREAM_H_
