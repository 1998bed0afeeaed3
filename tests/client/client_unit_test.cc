// Unit tests of the xgw client pieces that need no daemon. Every person in
// these lists is invented.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>

#include "client/cli.h"
#include "client/config.h"
#include "client/exchange_crypto.h"
#include "client/http.h"
#include "client/list_check.h"
#include "client/session.h"
#include "crypto/bech32.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "policy/check_list.h"
#include "policy/protocol.h"

using namespace xgw;
using namespace xgw::cli;

namespace {

std::string TempDir() {
  std::string pattern = std::filesystem::temp_directory_path().string() + "/xgw-client-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  REQUIRE(::mkdtemp(buf.data()) != nullptr);
  return buf.data();
}

struct ScopedDir {
  std::string path = TempDir();
  ~ScopedDir() { std::filesystem::remove_all(path); }
};

Protocol Cir() {
  auto p = LoadProtocolFile(std::string(XGW_SOURCE_DIR) + "/config/examples/cir-thuispunt-ocmw-2024_VB_00591.json");
  REQUIRE(p);
  return std::move(*p);
}

std::string MakeNrn(const std::string& yymmdd, int serial) {
  char base[16];
  std::snprintf(base, sizeof base, "%s%03d", yymmdd.c_str(), serial);
  unsigned long long n = std::stoull(base);
  char out[32];  // g++ 12 -Wformat-truncation cannot bound `base`: leave it room
  std::snprintf(out, sizeof out, "%s%02llu", base, 97 - (n % 97));
  return out;
}

const std::string kHeader =
    "Naam;Voornaam;Rijksregisternummer;Status dossier;Ontbrekende documenten;Datum uitnodigingsbrief;Datum herinnering\n";

ListCheck Check(const Protocol& p, const std::string& csv, std::span<const uint8_t> key = {}) {
  MemorySource src(csv);
  auto reader = OpenCsvReader(src);
  REQUIRE(reader);
  CheckListOptions o;
  o.subject_key = key;
  o.subject_key_id = key.empty() ? "" : "org";
  auto r = CheckList(p, **reader, o);
  REQUIRE(r);
  return std::move(*r);
}

int RunXgw(const std::string& args, std::string* err = nullptr) {
  std::string cmd = std::string(XGW_BIN_DIR) + "/xgw " + args + " 2>/tmp/xgw-client-test-err.$$ >/dev/null";
  if (err != nullptr) cmd += "; rc=$?; cat /tmp/xgw-client-test-err.$$ >&2; rm -f /tmp/xgw-client-test-err.$$; exit $rc";
  else cmd += "; rc=$?; rm -f /tmp/xgw-client-test-err.$$; exit $rc";
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("ConfigIsWrittenWithMode0600AndRoundTrips") {
  ScopedDir dir;
  std::string path = dir.path + "/sub/dir/config.json";
  ClientConfig c;
  c.gateway_url = "https://gw.example:8443";
  c.token = "xgwt_secret";
  c.pin = "sha256//" + Base64Encode(std::vector<uint8_t>(32, 7));
  c.identity_file = "/home/x/id.age";
  c.subject_key_file = "/home/x/subject.key";
  c.subject_key_id = "org-a/1";
  c.user_id = "usr-1";
  c.organisation_id = "org-1";
  REQUIRE(SaveConfig(path, c));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir.path + "/sub/dir").c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
  auto back = LoadConfig(path);
  REQUIRE(back);
  CHECK(*back == c);
}

TEST_CASE("ConfigReadableByOthersIsRefused") {
  ScopedDir dir;
  std::string path = dir.path + "/config.json";
  ClientConfig c;
  c.gateway_url = "https://gw.example";
  REQUIRE(SaveConfig(path, c));
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  auto r = LoadConfig(path);
  REQUIRE(!r);
  CHECK(r.error().code == ErrorCode::kForbidden);
}

TEST_CASE("MissingConfigIsNotFoundAndMalformedConfigIsFormat") {
  ScopedDir dir;
  auto missing = LoadConfig(dir.path + "/none.json");
  REQUIRE(!missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
  std::string path = dir.path + "/bad.json";
  {
    auto f = AtomicFile::Create(path, 0600);
    REQUIRE(f);
    REQUIRE(f->Write(AsBytes("{not json")));
    REQUIRE(f->Commit());
  }
  auto bad = LoadConfig(path);
  REQUIRE(!bad);
  CHECK(bad.error().code == ErrorCode::kFormat);
}

TEST_CASE("ConfigPathPrefersFlagThenEnvironmentThenXdg") {
  ::setenv("XGW_CONFIG", "/tmp/from-env.json", 1);
  ::setenv("XDG_CONFIG_HOME", "/tmp/xdg", 1);
  CHECK(ConfigPath("/tmp/flag.json") == "/tmp/flag.json");
  CHECK(ConfigPath("") == "/tmp/from-env.json");
  ::unsetenv("XGW_CONFIG");
  CHECK(ConfigPath("") == "/tmp/xdg/xgw/config.json");
  ::unsetenv("XDG_CONFIG_HOME");
  ::setenv("HOME", "/tmp/home", 1);
  CHECK(ConfigPath("") == "/tmp/home/.config/xgw/config.json");
}

TEST_CASE("StateFileRoundTripsNextToTheConfig") {
  ScopedDir dir;
  std::string cfg = dir.path + "/c.json";
  auto empty = LoadState(cfg);
  REQUIRE(empty);
  CHECK(empty->audit_checkpoint.empty());
  ClientState s{"origin+1234abcd+AAAA", "origin\n1\nAAAA\n"};
  REQUIRE(SaveState(cfg, s));
  struct stat st {};
  REQUIRE(::stat((cfg + ".state.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto back = LoadState(cfg);
  REQUIRE(back);
  CHECK(back->audit_verifier_key == s.audit_verifier_key);
  CHECK(back->audit_checkpoint == s.audit_checkpoint);
}

TEST_CASE("SigningKeyDerivationIsDeterministicAndFollowsTheSpec") {
  std::vector<uint8_t> scalar(32, 0x42);
  SecretBuffer text = Bech32Encode("age-secret-key-", scalar);
  std::string upper(text.view());
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto id = age::X25519Identity::Parse(upper);
  REQUIRE(id);
  auto k1 = DeriveSigningKey(*id);
  auto k2 = DeriveSigningKey(*id);
  REQUIRE(k1);
  REQUIRE(k2);
  CHECK(k1->public_key() == k2->public_key());
  // Spec: seed = HKDF-SHA-256(ikm = scalar, salt = "", info = "xgw/v1/ed25519-signing-key", 32).
  SecretBuffer seed = HkdfSha256(scalar, {}, "xgw/v1/ed25519-signing-key", 32);
  auto expected = Ed25519SecretKey::FromSeed(seed.span());
  REQUIRE(expected);
  CHECK(k1->public_key() == expected->public_key());
  auto other = DeriveSigningKey(age::X25519Identity::Generate());
  REQUIRE(other);
  CHECK(other->public_key() != k1->public_key());
}

TEST_CASE("SignedManifestVerifiesAndAnyChangeIsCaught") {
  auto p = Cir();
  auto check = Check(p, kHeader + "Testnaam;Voornaam;" + MakeNrn("850730", 1) + ";onvolledig;attest;01/08/2024;2024-08-31\n");
  REQUIRE(check.ok());
  auto key = DeriveSigningKey(age::X25519Identity::Generate());
  REQUIRE(key);
  auto sm = SignManifest(check.manifest, *key);
  REQUIRE(sm);
  std::string vk = Base64Encode(key->public_key());
  auto ok = VerifySignedManifest(sm->canonical_json, sm->signature, vk);
  REQUIRE(ok);
  CHECK(*ok == check.manifest);
  // Whitespace does not matter (the signature is over the canonical form) ...
  auto spaced = nlohmann::json::parse(sm->canonical_json).dump(2);
  CHECK(VerifySignedManifest(spaced, sm->signature, vk));
  // ... but content does.
  Manifest lied = check.manifest;
  lied.columns.pop_back();
  auto lied_json = ManifestToCanonicalJson(lied);
  REQUIRE(lied_json);
  auto bad = VerifySignedManifest(*lied_json, sm->signature, vk);
  REQUIRE(!bad);
  CHECK(bad.error().code == ErrorCode::kSignature);
  auto other = DeriveSigningKey(age::X25519Identity::Generate());
  REQUIRE(other);
  CHECK(!VerifySignedManifest(sm->canonical_json, sm->signature, Base64Encode(other->public_key())));
}

TEST_CASE("PinIsSha256OfTheSubjectPublicKeyInfo") {
  std::vector<uint8_t> spki = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
  std::string pin = FormatPin(spki);
  CHECK(pin == "sha256//" + Base64Encode(Sha256::Hash(spki)));
  CHECK(IsValidPin(pin));
  CHECK_FALSE(IsValidPin("sha256//abc"));
  CHECK_FALSE(IsValidPin("sha1//" + Base64Encode(Sha256::Hash(spki))));
  // The hex form `xgwd init` prints is accepted and turned into curl's form.
  CHECK(NormalisePin("sha256:" + HexEncode(Sha256::Hash(spki))) == pin);
  CHECK_FALSE(NormalisePin("sha256:abcd").has_value());
  CHECK_FALSE(PinOfPemCertificate("not a certificate"));
}

TEST_CASE("PinOfACertificateMatchesOpenssl") {
  ScopedDir dir;
  std::string cmd = "cd " + dir.path +
                    " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem "
                    "-days 1 -subj /CN=test >/dev/null 2>&1"
                    " && openssl x509 -in c.pem -pubkey -noout | openssl pkey -pubin -outform der |"
                    " openssl dgst -sha256 -binary | base64 > pin.txt";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto pem = FileSource::Open(dir.path + "/c.pem");
  REQUIRE(pem);
  StringSink text;
  REQUIRE(Copy(*pem, text));
  auto pin = PinOfPemCertificate(text.str());
  REQUIRE(pin);
  auto expected = FileSource::Open(dir.path + "/pin.txt");
  REQUIRE(expected);
  StringSink e;
  REQUIRE(Copy(*expected, e));
  std::string want = e.str();
  while (!want.empty() && want.back() == '\n') want.pop_back();
  CHECK(*pin == "sha256//" + want);
}

TEST_CASE("ViolationExplanationsNameRowsAndColumnsButNeverValues") {
  auto p = Cir();
  // Values chosen to be recognisable if they ever leaked.
  std::string bad_nrn = "85073099999";
  std::string csv = kHeader.substr(0, kHeader.size() - 1) + ";Geheime kolom\n" +
                    "Zeldzaamnaam;Uniekevoornaam;" + bad_nrn + ";onvolledig;attest;31/02/2024;2024-13-45;geheimewaarde\n";
  auto check = Check(p, csv);
  REQUIRE_FALSE(check.ok());
  std::string all;
  for (const auto& v : check.violations) all += ExplainViolation(v) + "\n";
  CHECK(all.find("column_not_allowed") != std::string::npos);
  CHECK(all.find("row 2") != std::string::npos);
  // Header texts of a recognised header are named with the Excel letter
  // (issue 21 item 4); cell values never are.
  CHECK(all.find("column H \"Geheime kolom\"") != std::string::npos);
  for (const std::string& secret : {bad_nrn, std::string("Zeldzaamnaam"), std::string("Uniekevoornaam"),
                                    std::string("geheimewaarde"),
                                    std::string("31/02/2024"), std::string("2024-13-45")})
    CHECK(all.find(secret) == std::string::npos);
}

TEST_CASE("ReceivedListThatDiffersFromItsManifestIsCaught") {
  auto p = Cir();
  std::string csv = kHeader + "Testnaam;Voornaam;" + MakeNrn("850730", 1) + ";onvolledig;attest;01/08/2024;2024-08-31\n";
  auto check = Check(p, csv);
  REQUIRE(check.ok());
  SECTION("an honest manifest matches") {
    MemorySource src(csv);
    auto r = CheckReceivedList(p, check.manifest, src, {});
    REQUIRE(r);
    CHECK(r->ok());
  }
  SECTION("declared columns differ from the columns sent") {
    Manifest lied = check.manifest;
    lied.columns.erase(lied.columns.begin());
    MemorySource src(csv);
    auto r = CheckReceivedList(p, lied, src, {});
    REQUIRE(r);
    CHECK(r->code == "manifest_mismatch");
    CHECK(std::find(r->mismatches.begin(), r->mismatches.end(), "columns") != r->mismatches.end());
  }
  SECTION("a modified list no longer matches the fingerprint") {
    std::string changed = csv;
    changed[changed.size() - 2] = '9';
    MemorySource src(changed);
    auto r = CheckReceivedList(p, check.manifest, src, {});
    REQUIRE(r);
    CHECK(r->code == "manifest_mismatch");
    CHECK(std::find(r->mismatches.begin(), r->mismatches.end(), "sha256") != r->mismatches.end());
  }
}

TEST_CASE("GatewayStatusesMapToDocumentedExitCodes") {
  CHECK(ExitCodeFor(ProblemToError(422, {})) == 3);
  CHECK(ExitCodeFor(ProblemToError(403, {{"violations", nlohmann::json::array({"column_not_allowed"})}})) == 3);
  CHECK(ExitCodeFor(ProblemToError(401, {})) == 4);
  CHECK(ExitCodeFor(ProblemToError(403, {{"title", "Forbidden"}})) == 4);
  CHECK(ExitCodeFor(Error{ErrorCode::kIo, "network: cannot reach the gateway"}) == 5);
  CHECK(ExitCodeFor(ProblemToError(404, {})) == 1);
  CHECK(ExitCodeFor(Error{ErrorCode::kIo, "write /x: disk full"}) == 1);
  auto e = ProblemToError(409, {{"title", "Conflict"}, {"detail", "already accepted"}});
  CHECK(e.message.find("already accepted") != std::string::npos);
}

TEST_CASE("DurationsAcceptUnitsAndIso8601") {
  CHECK(ParseDurationSeconds("90s") == 90);
  CHECK(ParseDurationSeconds("15m") == 900);
  CHECK(ParseDurationSeconds("12h") == 43200);
  CHECK(ParseDurationSeconds("3d") == 259200);
  CHECK(ParseDurationSeconds("2w") == 1209600);
  CHECK(ParseDurationSeconds("45") == 45);
  CHECK(ParseDurationSeconds("P30D") == 30 * 86400);
  CHECK_FALSE(ParseDurationSeconds("3x"));
  CHECK_FALSE(ParseDurationSeconds("d"));
  CHECK_FALSE(ParseDurationSeconds(""));
}

TEST_CASE("SubjectKeyFileMayBeRawOrHex") {
  ScopedDir dir;
  std::string hex = std::string(64, 'a') + "\n";
  for (const auto& [name, content] : {std::pair<std::string, std::string>{"raw", std::string(32, 'k')},
                                      std::pair<std::string, std::string>{"hex", hex},
                                      std::pair<std::string, std::string>{"bad", "short"}}) {
    std::string path = dir.path + "/" + name;
    auto f = AtomicFile::Create(path, 0600);
    REQUIRE(f);
    REQUIRE(f->Write(AsBytes(content)));
    REQUIRE(f->Commit());
  }
  ClientConfig c;
  Args raw, hexa, bad, none;
  raw.values["subject-key"] = {dir.path + "/raw"};
  hexa.values["subject-key"] = {dir.path + "/hex"};
  bad.values["subject-key"] = {dir.path + "/bad"};
  auto k1 = LoadSubjectKey(raw, c);
  REQUIRE(k1);
  REQUIRE(*k1);
  CHECK((*k1)->size() == 32);
  auto k2 = LoadSubjectKey(hexa, c);
  REQUIRE(k2);
  REQUIRE(*k2);
  CHECK((*k2)->span()[0] == 0xaa);
  auto k3 = LoadSubjectKey(bad, c);
  REQUIRE(!k3);
  CHECK(k3.error().code == ErrorCode::kKey);
  auto k4 = LoadSubjectKey(none, c);
  REQUIRE(k4);
  CHECK_FALSE(*k4);
}

TEST_CASE("BadArgumentsExitWithUsageCodeAndNothingIsDone") {
  ScopedDir dir;
  std::string cfg = " --config " + dir.path + "/c.json";
  CHECK(RunXgw("send" + cfg) == 2);                          // no --protocol
  CHECK(RunXgw("send --protocol P" + cfg) == 2);             // no file
  CHECK(RunXgw("send --protocol P a.csv b.csv" + cfg) == 2);  // two files
  CHECK(RunXgw("send --bogus" + cfg) == 2);
  CHECK(RunXgw("receive" + cfg) == 2);
  CHECK(RunXgw("receive X --raw" + cfg) == 2);  // --raw needs -o
  CHECK(RunXgw("audit" + cfg) == 2);
  CHECK(RunXgw("audit frobnicate" + cfg) == 2);
  CHECK(RunXgw("login --gateway http://plain" + cfg) == 2);
  CHECK(RunXgw("login --gateway https://x --pin sha256//short" + cfg) == 2);
  CHECK(RunXgw("token issue" + cfg) == 2);
  CHECK(RunXgw("nosuchcommand") == 2);
  // Not logged in: a plain error, not a crash.
  CHECK(RunXgw("inbox" + cfg) == 1);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/c.json"));
}

namespace {

// Runs fn with stderr redirected to a temp file; returns what it printed.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  std::fflush(stderr);
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture != nullptr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(capture), STDERR_FILENO);
  fn();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string text;
  std::rewind(capture);
  for (int c; (c = std::fgetc(capture)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(capture);
  return text;
}

// A command with a bug: writes part of a list to its output file, then
// throws an exception whose text quotes a national number.
std::string g_output_path;
int ThrowsMidOutput(std::span<char* const>) {
  auto out = cli::Output::Open(g_output_path, 0600);
  REQUIRE(out);
  const std::string part = "Rijksregisternummer\n85073003328\n";
  REQUIRE(out->sink().Write({reinterpret_cast<const uint8_t*>(part.data()), part.size()}));
  throw std::runtime_error("parse error at '85073003328'");
}
int ThrowsBadAlloc(std::span<char* const>) { throw std::bad_alloc(); }
int ThrowsNonStandard(std::span<char* const>) { throw 42; }
int ReturnsPolicyRefusal(std::span<char* const> args) { return static_cast<int>(args.size()) + 2; }

}  // namespace

TEST_CASE("AnExceptionEscapingACommandIsAnInternalErrorThatQuotesNothingAndLeavesNoOutputFile") {
  ScopedDir dir;
  g_output_path = dir.path + "/received.csv";
  int rc = -1;
  const std::string err = CaptureStderr([&] { rc = cli::RunGuarded(ThrowsMidOutput, {}); });
  CHECK(rc == cli::kExitFailure);
  CHECK(err.find("xgw: error: internal:") != std::string::npos);
  CHECK(err.find("xgw: hint: this is a bug in xgw") != std::string::npos);
  CHECK(err.find("85073003328") == std::string::npos);
  CHECK(err.find("parse error") == std::string::npos);
  CHECK(std::filesystem::is_empty(dir.path));  // neither the file nor its temp

  CHECK(CaptureStderr([&] { rc = cli::RunGuarded(ThrowsBadAlloc, {}); }).find("out of memory") != std::string::npos);
  CHECK(rc == cli::kExitFailure);
  CHECK(CaptureStderr([&] { rc = cli::RunGuarded(ThrowsNonStandard, {}); }).find("internal") != std::string::npos);
  CHECK(rc == cli::kExitFailure);
  // A command that returns is not touched: its exit code passes through.
  char arg[] = "x";
  char* argv[] = {arg};
  CHECK(CaptureStderr([&] { rc = cli::RunGuarded(ReturnsPolicyRefusal, argv); }).empty());
  CHECK(rc == 3);
}

TEST_CASE("Times are shown in Brussels time with the offset, across the changes of summer time") {
  using xgw::cli::LocalTime;
  CHECK(LocalTime("2024-09-20T07:00:00Z") == "2024-09-20 09:00 +02:00");
  CHECK(LocalTime("2024-12-01T07:00:00Z") == "2024-12-01 08:00 +01:00");
  // 27 October 2024: 03:00 summer time becomes 02:00 winter time, so 02:30 happens twice.
  CHECK(LocalTime("2024-10-27T00:30:00Z") == "2024-10-27 02:30 +02:00");
  CHECK(LocalTime("2024-10-27T01:30:00Z") == "2024-10-27 02:30 +01:00");
  // 31 March 2024: 02:00 winter time becomes 03:00 summer time.
  CHECK(LocalTime("2024-03-31T00:59:00Z") == "2024-03-31 01:59 +01:00");
  CHECK(LocalTime("2024-03-31T01:00:00Z") == "2024-03-31 03:00 +02:00");
  CHECK(LocalTime("2024-09-20T07:00:00.123Z") == "2024-09-20 09:00 +02:00");  // audit times have milliseconds
  // Anything that is not a UTC time is shown as it came.
  CHECK(LocalTime("") == "");
  CHECK(LocalTime("yesterday") == "yesterday");
  CHECK(LocalTime("2024-09-20T07:00:00+02:00") == "2024-09-20T07:00:00+02:00");
}
