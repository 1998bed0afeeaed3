#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "policy/xml_stream.h"

using namespace xgw;

namespace {

// Serves a string in chunks of a fixed size.
class StringInput final : public XmlInput {
 public:
  explicit StringInput(std::string text) : text_(std::move(text)) {}
  Result<size_t> Read(char* buf, size_t cap) override {
    size_t n = std::min(cap, text_.size() - pos_);
    text_.copy(buf, n, pos_);
    pos_ += n;
    return n;
  }

 private:
  std::string text_;
  size_t pos_ = 0;
};

// The events as text: "<name a=v>", "</name>", "'text'"; or the error.
Result<std::vector<std::string>> Events(const std::string& xml, size_t chunk, size_t max_token = 1 << 16) {
  StringInput in(xml);
  XmlStream s(in, "test XML", max_token, chunk);
  std::vector<std::string> out;
  for (;;) {
    XGW_TRY(auto ev, s.Next());
    switch (ev) {
      case XmlStream::Event::kStart: {
        std::string e = "<" + std::string(s.LocalName());
        if (auto* r = s.Attr("r")) e += " r=" + std::string(*r);
        out.push_back(e + ">" + std::to_string(s.Depth()));
        break;
      }
      case XmlStream::Event::kEnd:
        out.push_back("</" + std::string(s.LocalName()) + ">" + std::to_string(s.Depth()));
        break;
      case XmlStream::Event::kText:
        out.push_back("'" + std::string(s.Text()) + "'");
        break;
      case XmlStream::Event::kEof:
        return out;
    }
  }
}

const std::string kSheet =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n"
    "<x:worksheet xmlns:x=\"urn:x\"><!-- a comment > with -- dashes --><sheetData>\n  "
    "<row r=\"1\"><c r='A1' t=\"inlineStr\"><is><t>Piet &amp; co &lt;&#233;&#x20AC;&quot;&apos;&gt;</t></is></c>"
    "<c r=\"B&#49;\"/><c r=\"C1\"><v>1<!--split-->2</v></c><c><v><![CDATA[a<b]]></v></c></row>"
    "<row r=\"2\"><c><is><t>line\r\nend\rx</t></is></c></row>\n</sheetData></x:worksheet>\n";

}  // namespace

TEST_CASE("XmlStreamGivesTheSameEventsWhateverTheChunkSize") {
  auto whole = Events(kSheet, 1 << 16);
  REQUIRE(whole);
  CHECK(*whole == std::vector<std::string>{
                      "<worksheet>1", "<sheetData>2", "<row r=1>3", "<c r=A1>4", "<is>5", "<t>6",
                      "'Piet & co <\xC3\xA9\xE2\x82\xAC\"'>'", "</t>6", "</is>5", "</c>4", "<c r=B1>4", "</c>4",
                      "<c r=C1>4", "<v>5", "'1'", "'2'", "</v>5", "</c>4", "<c>4", "<v>5", "'a<b'", "</v>5",
                      "</c>4", "</row>3", "<row r=2>3", "<c>4", "<is>5", "<t>6", "'line\nend\nx'", "</t>6",
                      "</is>5", "</c>4", "</row>3", "</sheetData>2", "</worksheet>1"});
  for (size_t chunk : {1, 2, 3, 5, 7, 13, 64}) {
    INFO("chunk " << chunk);
    auto split = Events(kSheet, chunk);
    REQUIRE(split);
    CHECK(*split == *whole);
  }
}

TEST_CASE("XmlStreamRefusesDoctypeAndEntityDeclarations") {
  const std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>"
      "<lolz>&lol2;</lolz>";
  auto r = Events(laughs, 4);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kFormat);
  CHECK(r.error().message == "test XML does not parse (at byte 21: a DOCTYPE is refused: entity declarations are not allowed)");
  auto xxe = Events("<a>&xxe;</a>", 64);
  REQUIRE_FALSE(xxe);
  CHECK(xxe.error().message.find("unknown entity") != std::string::npos);
  CHECK(Events("<!ENTITY x \"y\"><a/>", 64).error().code == ErrorCode::kFormat);
}

TEST_CASE("XmlStreamMalformedMarkupAtAChunkBoundaryNamesItsOffset") {
  // The mismatched end tag starts at byte 6 and crosses every chunk boundary
  // tried; the message is the same for all.
  for (size_t chunk : {1, 2, 4, 7, 8, 64}) {
    INFO("chunk " << chunk);
    auto r = Events("<a><b></a></b>", chunk);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "test XML does not parse (at byte 6: an end tag does not match the open element)");
    CHECK(Events("<a><b x=1/></a>", chunk).error().message.find("not quoted") != std::string::npos);
    CHECK(Events("<a><b x=\"1", chunk).error().message.find("cut off") != std::string::npos);
    CHECK(Events("<a><b>", chunk).error().message.find("ends inside an element") != std::string::npos);
    CHECK(Events("<a>&#xD800;</a>", chunk).error().code == ErrorCode::kFormat);
    CHECK(Events("<a>&amp</a>", chunk).error().code == ErrorCode::kFormat);
    CHECK(Events("<a><!-- open </a>", chunk).error().code == ErrorCode::kFormat);
    CHECK(Events("x<a/>", chunk).error().code == ErrorCode::kFormat);
    CHECK(Events("", chunk).error().code == ErrorCode::kFormat);
  }
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "<a>";
  CHECK(Events(deep, 64).error().message.find("nested too deeply") != std::string::npos);
}

TEST_CASE("XmlStreamErrorsNeverQuoteTheDocument") {
  for (const char* bad : {"<a>SECRETQX &bogus;</a>", "<a SECRETQX></a>", "<a><SECRETQX></a>", "<a x='SECRETQX<'/>"}) {
    auto r = Events(bad, 3);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("SECRETQX") == std::string::npos);
  }
}

TEST_CASE("XmlStreamBoundsTokensButLetsWhitespaceStreamBy") {
  // 1 MiB of whitespace between elements with a 4 KiB token limit: fine.
  auto ws = Events("<a>" + std::string(1 << 20, ' ') + "<b/>\n</a>", 1000, 4096);
  REQUIRE(ws);
  CHECK(ws->size() == 4);
  // Text longer than the limit is refused with kLimit.
  auto text = Events("<a>" + std::string(8192, 'x') + "</a>", 1000, 4096);
  REQUIRE_FALSE(text);
  CHECK(text.error().code == ErrorCode::kLimit);
  // So is a tag that never closes.
  auto tag = Events("<a b=\"" + std::string(8192, 'x') + "\"/>", 1000, 4096);
  REQUIRE_FALSE(tag);
  CHECK(tag.error().code == ErrorCode::kLimit);
}

TEST_CASE("ParseXmlUnsignedReadsNumbersAsPugixmlDid") {
  CHECK(ParseXmlUnsigned("42", UINT64_MAX) == 42);
  CHECK(ParseXmlUnsigned("  7x", UINT64_MAX) == 7);
  CHECK(ParseXmlUnsigned("0x1F", UINT64_MAX) == 31);
  CHECK(ParseXmlUnsigned("-3", UINT64_MAX) == 0);
  CHECK(ParseXmlUnsigned("", UINT64_MAX) == 0);
  CHECK(ParseXmlUnsigned("99999999999999999999999", UINT64_MAX) == UINT64_MAX);
  CHECK(ParseXmlUnsigned("18446744073709551615", UINT64_MAX) == UINT64_MAX);
  CHECK(ParseXmlUnsigned("4294967296", UINT32_MAX) == UINT32_MAX);
}
