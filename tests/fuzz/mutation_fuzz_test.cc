// Mutation fuzzing of every parser that reads untrusted bytes: protocol
// documents, manifests, CSV and XLSX lists, age headers, audit events,
// checkpoints, configuration, key files. Each target starts from valid inputs
// and feeds thousands of mutations of them (bit flips, byte insertions and
// deletions, repeated and truncated chunks, splices, and for JSON values of
// the wrong type or size in random places) to the parser.
//
// What must hold for every input: the parser returns (no crash, no escaping
// exception, no sanitizer report when built with XGW_SANITIZE=ON), a refusal
// carries a message saying what is wrong, and nothing a list reader or the
// list checks say ever contains a cell value or a header text (personal
// data). Both outcomes must occur, so that the mutations reach past the first
// byte check. Deterministic: XGW_FUZZ_SEED (default 1) and XGW_FUZZ_ITERATIONS
// (per target, default 2000) choose the run; a failure names the iteration.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "crypto/age_format.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "crypto/keyfile.h"
#include "crypto/sign.h"
#include "crypto/signed_note.h"
#include "crypto/subject_key.h"
#include "audit/audit_event.h"
#include "audit/checkpoint.h"
#include "policy/check_list.h"
#include "policy/list_reader.h"
#include "policy/manifest.h"
#include "policy/protocol.h"
#include "policy/xml_stream.h"
#include "tests/fuzz/mutator.h"

using namespace xgw;
using nlohmann::json;
using xgw::fuzz::EnvNumber;
using xgw::fuzz::Mutator;
using xgw::fuzz::MutateJsonValue;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `parse` on mutations of the seeds; `parse` returns true for an
// accepted input and checks its own refusals. Both outcomes must occur.
void Fuzz(const char* target, const std::vector<std::string>& seeds, uint64_t salt,
          const std::function<bool(const std::string&)>& parse) {
  REQUIRE_FALSE(seeds.empty());
  const uint64_t iterations = EnvNumber("XGW_FUZZ_ITERATIONS", 2000);
  Mutator m(EnvNumber("XGW_FUZZ_SEED", 1) * 1000003 + salt);
  uint64_t accepted = 0, refused = 0;
  for (size_t k = 0; k < seeds.size(); ++k) {
    INFO(target << " seed " << k);
    bool ok = false;
    REQUIRE_NOTHROW(ok = parse(seeds[k]));
    (ok ? accepted : refused)++;
  }
  for (uint64_t i = 0; i < iterations; ++i) {
    INFO(target << " iteration " << i << " (XGW_FUZZ_SEED=" << EnvNumber("XGW_FUZZ_SEED", 1) << ")");
    const std::string input = m.Mutate(seeds[m.Below(seeds.size())], seeds);
    bool ok = false;
    REQUIRE_NOTHROW(ok = parse(input));
    (ok ? accepted : refused)++;
  }
  INFO(target << ": " << accepted << " accepted, " << refused << " refused");
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

template <typename T>
bool Accepted(const Result<T>& r) {
  if (r) return true;
  CHECK_FALSE(r.error().message.empty());
  return false;
}

std::string ExampleProtocol(const std::string& name) {
  return ReadFile(std::string(XGW_SOURCE_DIR) + "/config/examples/" + name);
}

std::vector<std::string> ProtocolSeeds() {
  std::vector<std::string> seeds;
  for (const auto& e : std::filesystem::directory_iterator(std::string(XGW_SOURCE_DIR) + "/config/examples")) {
    if (e.path().extension() == ".json") seeds.push_back(ReadFile(e.path().string()));
  }
  return seeds;
}

Protocol Cir() {
  auto p = ParseProtocol(ExampleProtocol("cir-thuispunt-ocmw-2024_VB_00591.json"));
  REQUIRE(p);
  return std::move(*p);
}

const char* const kCirHeader =
    "Naam;Voornaam;Rijksregisternummer;Status dossier;Ontbrekende documenten;Datum uitnodigingsbrief;"
    "Datum herinnering";

// Personal data planted in the lists: no message may ever contain it.
constexpr const char* kMarker = "MARKER";

// Every message a list check produced, and the reader's own error if any.
void CheckNoMessageHoldsListData(const Result<ListCheck>& r) {
  if (!r) {
    CHECK(r.error().message.find(kMarker) == std::string::npos);
    return;
  }
  for (const auto& v : r->violations) {
    INFO(v.code);
    // Messages name a header cell's text in its column label (`column H
    // "MARKERHEADER"`, issue 21 item 4): a mutation may splice a planted
    // value into a well-formed header row, which then is a header text. Only
    // header problems may do so, and only as the label of a header cell;
    // a row problem never shows a marker.
    std::string message = v.message;
    if (v.row == 0) {
      for (const auto& c : r->header.columns) {
        if (c.label.find('"') == std::string::npos) continue;
        for (size_t at; (at = message.find(c.label)) != std::string::npos;) message.erase(at, c.label.size());
      }
    }
    INFO(v.message);
    CHECK(message.find(kMarker) == std::string::npos);
    CHECK(v.column.find(kMarker) == std::string::npos);
    CHECK_FALSE(v.message.empty());
  }
}

}  // namespace

TEST_CASE("FuzzProtocolDocumentsAsBytes") {
  Fuzz("protocol bytes", ProtocolSeeds(), 1, [](const std::string& in) {
    auto p = ParseProtocol(in);
    if (p) return true;
    CHECK_FALSE(p.error().empty());
    for (const auto& problem : p.error()) CHECK_FALSE(problem.reason.empty());
    return false;
  });
}

TEST_CASE("FuzzProtocolDocumentsAsJsonValues") {
  Mutator m(EnvNumber("XGW_FUZZ_SEED", 1) + 7);
  std::vector<json> docs;
  for (const auto& s : ProtocolSeeds()) docs.push_back(json::parse(s));
  std::vector<std::string> seeds;
  // Several values changed at once, from every example.
  for (int i = 0; i < 64; ++i) {
    json d = docs[m.Below(docs.size())];
    for (size_t k = 0, n = 1 + m.Below(3); k < n; ++k) d = MutateJsonValue(d, m);
    seeds.push_back(d.dump());
  }
  for (const auto& s : ProtocolSeeds()) seeds.push_back(s);
  Fuzz("protocol values", seeds, 2, [&](const std::string& in) {
    // Half of the runs change one more value of an input that still parses.
    json doc = json::parse(in, nullptr, false);
    std::string text = in;
    if (!doc.is_discarded() && m.Below(2) == 0) text = MutateJsonValue(doc, m).dump();
    auto p = ParseProtocol(text);
    if (p) return true;
    for (const auto& problem : p.error()) CHECK_FALSE(problem.reason.empty());
    return false;
  });
}

TEST_CASE("FuzzManifests") {
  const Protocol p = Cir();
  std::string csv = std::string(kCirHeader) + "\n";
  for (int i = 1; i <= 3; ++i) {
    csv += "Naam" + std::to_string(i) + ";Voornaam;85073003328;onvolledig;attest;01/08/2024;2024-08-31\n";
  }
  MemorySource src(csv);
  auto reader = OpenCsvReader(src);
  REQUIRE(reader);
  CheckListOptions options;
  const std::vector<uint8_t> key(32, 0x42);
  options.subject_key = key;
  options.subject_key_id = "org-test";
  auto checked = CheckList(p, **reader, options);
  REQUIRE(checked);
  auto canonical = ManifestToCanonicalJson(checked->manifest);
  REQUIRE(canonical);
  Mutator m(EnvNumber("XGW_FUZZ_SEED", 1) + 11);
  std::vector<std::string> seeds = {*canonical};
  for (int i = 0; i < 32; ++i) seeds.push_back(MutateJsonValue(json::parse(*canonical), m).dump());
  Fuzz("manifest", seeds, 3, [](const std::string& in) { return Accepted(ParseManifest(in)); });
}

TEST_CASE("FuzzCsvListsNeverPutCellValuesInMessages") {
  const Protocol p = Cir();
  const std::vector<std::string> seeds = {
      std::string(kCirHeader) + ";MARKERHEADER\nMARKERLAST;MARKERFIRST;MARKER85073003328;MARKERSTATUS;"
                                "MARKERDOCS;MARKERDATE;MARKERREM;MARKEREXTRA\n",
      std::string(kCirHeader) + "\r\nMARKERA;MARKERB;85073003328;onvolledig;attest;01/08/2024;2024-08-31\r\n"
                                "\"MARKER;\"\"quoted\"\"\";MARKERC;85073003329;volledig;;;\r\n",
      std::string(kCirHeader) + "\nJansenMARKER;Piet;85073003328;onvolledig;attest;01/08/2024;2024-08-31\n",
  };
  Fuzz("csv", seeds, 4, [&](const std::string& in) {
    MemorySource src(in);
    ReaderLimits limits;
    limits.max_field_bytes = 4096;
    auto reader = OpenCsvReader(src, limits);
    if (!reader) {
      CHECK(reader.error().message.find(kMarker) == std::string::npos);
      return false;
    }
    auto r = CheckList(p, **reader);
    CheckNoMessageHoldsListData(r);
    return r && r->ok();
  });
}

TEST_CASE("FuzzXlsxListsNeverPutCellValuesInMessages") {
  const Protocol p = Cir();
  const std::string dir = XGW_POLICY_FIXTURES;
  std::vector<std::string> seeds;
  // markers_stored.xlsx is not deflated: its mutations reach the sheet's XML
  // tokenizer (libzip checks the CRC only once the member is read).
  for (const char* f : {"markers.xlsx", "cir_valid.xlsx", "cir_invalid.xlsx", "inline.xlsx", "two_sheets.xlsx",
                        "markers_stored.xlsx"}) {
    seeds.push_back(ReadFile(dir + "/" + f));
  }
  Fuzz("xlsx", seeds, 5, [&](const std::string& in) {
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    auto reader = OpenXlsxBuffer(bytes);
    if (!reader) {
      CHECK(reader.error().message.find(kMarker) == std::string::npos);
      CHECK_FALSE(reader.error().message.empty());
      return false;
    }
    auto r = CheckList(p, **reader);
    CheckNoMessageHoldsListData(r);
    return r.has_value();
  });
}

TEST_CASE("FuzzXlsxSheetXmlTokenizer") {
  // The worksheet tokenizer on its own, fed in small chunks so that every
  // mutation also lands on chunk boundaries.
  class Chunks final : public XmlInput {
   public:
    Chunks(const std::string& s, size_t n) : s_(s), n_(n) {}
    Result<size_t> Read(char* buf, size_t cap) override {
      size_t k = std::min({cap, n_, s_.size() - pos_});
      s_.copy(buf, k, pos_);
      pos_ += k;
      return k;
    }

   private:
    const std::string& s_;
    size_t n_;
    size_t pos_ = 0;
  };
  const std::vector<std::string> seeds = {
      "<?xml version=\"1.0\"?><worksheet xmlns=\"urn:x\"><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\">"
      "<is><t>MARKERQX &amp; &#233;</t></is></c><c r=\"B1\"><v>MARKER1</v></c></row><!-- MARKER -->"
      "<row r=\"2\"><c r=\"A2\" t=\"str\"><v><![CDATA[MARKER<]]></v></c></row></sheetData></worksheet>",
      "<sst><si><r><t xml:space=\"preserve\"> MARKER </t></r><rPh><t>MARKERPH</t></rPh></si></sst>",
  };
  uint64_t n = 0;
  Fuzz("xlsx sheet xml", seeds, 7, [&](const std::string& in) {
    Chunks input(in, 1 + (n++ % 17));
    XmlStream xml(input, "xlsx sheet XML", 4096, 8);
    for (;;) {
      auto ev = xml.Next();
      if (!ev) {
        CHECK(ev.error().message.find(kMarker) == std::string::npos);
        CHECK_FALSE(ev.error().message.empty());
        return false;
      }
      if (*ev == XmlStream::Event::kEof) return true;
    }
  });
}

TEST_CASE("FuzzAgeHeaders") {
  std::vector<std::string> seeds;
  const std::string dir = std::string(XGW_SHARED_DIR) + "/vectors/age/testdata";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string v = ReadFile(e.path().string());
    const size_t body = v.find("\n\n");
    if (body != std::string::npos) seeds.push_back(v.substr(body + 2));
  }
  Fuzz("age header", seeds, 6, [](const std::string& in) {
    MemorySource src(in);
    age::BufferedReader reader(src);
    return Accepted(age::ParseHeader(reader));
  });
}

TEST_CASE("FuzzAuditEventsAndCheckpoints") {
  AuditEvent e;
  e.time_ms = 1727474399123;
  e.actor = {ActorType::kUser, "usr-" + std::string(26, 'a'), "org-" + std::string(26, 'b')};
  e.action = AuditAction::kExchangeUploaded;
  e.protocol_id = "2024_VB_00591";
  e.protocol_version = std::string(64, 'c');
  e.exchange_id = "exc-" + std::string(26, 'd');
  e.orgs = {"org-" + std::string(26, 'e')};
  e.request_id = "req-" + std::string(26, 'f');
  auto canonical = ToCanonicalJson(e);
  REQUIRE(canonical);
  Fuzz("audit event", {*canonical}, 7, [](const std::string& in) { return Accepted(ParseAuditEvent(in)); });
  const std::string root = Base64Encode(std::vector<uint8_t>(32, 7));
  Fuzz("checkpoint", {"xgw.example.org/audit\n42\n" + root + "\n", "a/b\n0\n" + root + "\n"}, 8,
       [](const std::string& in) { return Accepted(ParseCheckpoint(in)); });
}

// What a DPO is handed to verify the log: signed checkpoints and the
// gateway's verifier key; and the signer key file xgwd reads at start.
TEST_CASE("FuzzSignedCheckpointsAndNoteKeys") {
  const Ed25519SecretKey key = Ed25519SecretKey::Generate();
  const NoteSigner signer{"xgw.example.org/audit", &key};
  const NoteVerifier verifier = VerifierFor(signer);
  Checkpoint c;
  c.origin = signer.name;
  c.size = 42;
  c.root.fill(7);
  auto note = SignCheckpoint(c, signer);
  REQUIRE(note);
  Fuzz("signed checkpoint", {*note}, 12,
       [&](const std::string& in) { return Accepted(OpenCheckpoint(in, verifier)); });
  Fuzz("verifier key", {FormatVerifierKey(signer.name, key.public_key())}, 13,
       [](const std::string& in) { return Accepted(ParseVerifierKey(in)); });
  const SecretBuffer signer_key = FormatSignerKey(signer.name, key);
  Fuzz("signer key", {std::string(reinterpret_cast<const char*>(signer_key.data()), signer_key.size())}, 14,
       [](const std::string& in) { return Accepted(ParseSignerKey(in)); });
  Fuzz("subject key", {std::string(64, 'a') + "\n", std::string(32, '\x42')}, 15, [](const std::string& in) {
    MemorySource src(in);
    auto k = ReadSubjectKey(src);
    if (k) return true;
    // The message never holds the content: a key file holds a secret.
    CHECK(k.error().message.find("aaaa") == std::string::npos);
    CHECK_FALSE(k.error().message.empty());
    return false;
  });
}

TEST_CASE("FuzzConfigurationAndKeyFiles") {
  const std::vector<std::string> configs = {
      "{}", R"({"listen":"127.0.0.1:8443","state_dir":"/var/lib/xgw","limits":{"max_header_bytes":16384},)"
            R"("tokens":{"default_ttl_seconds":3600},"threads":2})"};
  Fuzz("config", configs, 9, [](const std::string& in) { return Accepted(ParseConfigText(in)); });
  const std::vector<std::string> recipients = {
      "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
      "# comment\nage1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n\n"};
  Fuzz("recipients", recipients, 10, [](const std::string& in) { return Accepted(age::ParseRecipients(in)); });
  const std::vector<std::string> identities = {
      "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0\n",
      "# created: 2024\n# public key: age1x\nAGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0\n"};
  Fuzz("identities", identities, 11, [](const std::string& in) { return Accepted(age::ParseIdentities(in)); });
}
