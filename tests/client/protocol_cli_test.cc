// `xgw protocol new`, `check` and the plain words of `show` and `diff`
// (issue 21 items 1-3), through build/bin/xgw where a command is run. Files
// are written only in the test's own temporary directory.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "client/protocol_view.h"

using namespace xgw;
using nlohmann::json;

namespace {

struct ScopedDir {
  std::string path;
  ScopedDir() {
    std::string pattern = std::filesystem::temp_directory_path().string() + "/xgw-protocol-cli-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    path = buf.data();
  }
  ~ScopedDir() { std::filesystem::remove_all(path); }
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs build/bin/xgw with `args` in `dir` (stdin from /dev/null: no
// questions); returns the exit code, *out gets stdout.
int RunXgw(const std::string& dir, const std::string& args, std::string* out) {
  std::string cmd = "cd '" + dir + "' && " + std::string(XGW_BIN_DIR) + "/xgw " + args +
                    " </dev/null >xgw.stdout 2>xgw.stderr";
  int status = std::system(cmd.c_str());
  *out = ReadFile(dir + "/xgw.stdout");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("xgw protocol new writes a skeleton that xgw protocol check checks offline, path and hint per problem") {
  ScopedDir dir;
  std::string out;
  REQUIRE(RunXgw(dir.path,
                 "protocol new -o draft.json --id 2026_X --title 'A test' --sender org-a --sender-name A "
                 "--sender-number 0400.032.156 --receiver org-b --receiver-name B --from 2026-01-01 "
                 "--periodic month --retention P3M",
                 &out) == 0);
  const std::string draft = ReadFile(dir.path + "/draft.json");
  CHECK(draft.find("\"after_delivery\": \"P3M\"") != std::string::npos);
  CHECK(draft.find("// ") != std::string::npos);

  CHECK(RunXgw(dir.path, "protocol check draft.json", &out) == 1);
  CHECK(out.find("$.parties[1].enterprise_number: not a valid KBO enterprise number") != std::string::npos);
  CHECK(out.find("what to do: copy the number from the KBO public search") != std::string::npos);
  CHECK(out.find("$.purposes[0]: placeholder still there (TODO)") != std::string::npos);

  REQUIRE(RunXgw(dir.path, "protocol check --json draft.json", &out) == 1);
  json j = json::parse(out);
  REQUIRE(j["problems"].size() > 3);
  for (const auto& p : j["problems"]) {
    CHECK(p["path"].get<std::string>().rfind("$", 0) == 0);
    CHECK_FALSE(p["hint"].get<std::string>().empty());
  }
  CHECK(j["version_hash"].is_null());

  // A complete protocol passes and its version hash is the loader's.
  std::filesystem::copy_file(std::string(XGW_SOURCE_DIR) + "/config/examples/schuldhulp-maanden-eenheid-2026.json",
                             dir.path + "/ok.json");
  CHECK(RunXgw(dir.path, "protocol check ok.json", &out) == 0);
  CHECK(out.find("ok.json: no problems; version hash ") == 0);

  // The skeleton is never written over an existing file without --force.
  CHECK(RunXgw(dir.path, "protocol new -o draft.json", &out) != 0);
  CHECK(ReadFile(dir.path + "/draft.json") == draft);
}

TEST_CASE("protocol show names every rule a sender must meet: ranges, decimals, units, patterns, units of people") {
  auto p = LoadProtocolFile(std::string(XGW_SOURCE_DIR) + "/config/examples/schuldhulp-maanden-eenheid-2026.json");
  REQUIRE(p);
  const std::string text = cli::DescribeProtocol(*p, json{{"state", "valid"}});
  CHECK(text.find("  - arrears_amount (decimal, required)") != std::string::npos);
  CHECK(text.find("      number from 0.01 to 100000\n      at most 2 digits after the decimal point\n      in EUR\n") !=
        std::string::npos);
  CHECK(text.find("      whole number from 2 to 120\n      in months\n") != std::string::npos);
  CHECK(text.find("      must match the pattern [1-9][0-9]{3} ?[A-Z]{2} (the whole value)") != std::string::npos);
  CHECK(text.find("      text of at most 200 characters") != std::string::npos);
  CHECK(text.find("everyone in the unit team-schuldhulp") != std::string::npos);
  CHECK(text.find("deleted 3 months after delivery") != std::string::npos);
  CHECK(text.find("a day missing in the target month becomes its last day") != std::string::npos);
}

TEST_CASE("protocol diff groups the gateway's change lines under plain headings") {
  json answer = {{"id", "P"},
                 {"from", {{"version", "1"}, {"version_hash", std::string(64, 'a')}}},
                 {"to", {{"version", "2"}, {"version_hash", std::string(64, 'b')}}},
                 {"changes",
                  {{{"area", "retention"}, {"text", "kept after delivery changed from 2 months to 3 months"}},
                   {{"area", "fields"}, {"text", "field added: phone (phone, optional)"}},
                   {{"area", "future_area"}, {"text", "something new"}}}}};
  const std::string t = cli::DescribeDiff(answer);
  const auto columns = t.find("Columns:\n  - field added: phone (phone, optional)\n");
  const auto kept = t.find("How long lists are kept:\n  - kept after delivery changed from 2 months to 3 months\n");
  CHECK(columns != std::string::npos);
  CHECK(kept != std::string::npos);
  CHECK(columns < kept);  // in the order of the format, not of the answer
  CHECK(t.find("future_area:\n  - something new\n") != std::string::npos);  // nothing is dropped
  answer["changes"] = json::array();
  CHECK(cli::DescribeDiff(answer).find("  nothing\n") != std::string::npos);
}
