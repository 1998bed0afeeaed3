// The two forms of a manifest's subject index (docs/protocol-format.md,
// #subject-index): listed (hex values in the manifest) and streamed (count
// and SHA-256 in the manifest, the values beside it). Values here are
// arbitrary bytes, not derived from any person.
#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "policy/manifest.h"

using namespace xgw;
using nlohmann::json;

namespace {

Manifest Base() {
  Manifest m;
  m.protocol_id = "2024_VB_00591";
  m.protocol_version = std::string(64, 'a');
  m.columns = {"last_name", "national_number"};
  m.row_count = 2;
  m.byte_size = 100;
  m.sha256 = std::string(64, 'b');
  m.rows_sha256 = std::string(64, 'c');
  m.subject_key_id = "org";
  return m;
}

std::vector<Sha256Digest> Values(int n) {
  std::vector<Sha256Digest> v;
  for (int i = 0; i < n; ++i) v.push_back(Sha256::Hash(std::string(1, static_cast<char>('a' + i))));
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("StreamedAndListedFormsOfOneIndexAgreeOnCountAndDigest") {
  const auto values = Values(3);
  Manifest streamed = Base(), listed = Base();
  SetSubjectIndex(&streamed, values, true);
  SetSubjectIndex(&listed, values, false);
  auto s = ManifestToCanonicalJson(streamed);
  auto l = ManifestToCanonicalJson(listed);
  REQUIRE(s);
  REQUIRE(l);
  const json sj = json::parse(*s)["subject_index"];
  CHECK(sj == json{{"key_id", "org"}, {"count", 3}, {"sha256", streamed.subject_index_sha256}});
  CHECK(json::parse(*l)["subject_index"]["values"].size() == 3);
  auto sp = ParseManifest(*s);
  auto lp = ParseManifest(*l);
  REQUIRE(sp);
  REQUIRE(lp);
  CHECK(*sp == streamed);
  CHECK(*lp == listed);
  CHECK(sp->subject_index.empty());
  CHECK(sp->subject_count == lp->subject_count);
  CHECK(sp->subject_index_sha256 == lp->subject_index_sha256);
  Sha256 all;
  for (const auto& v : values) all.Update(v);
  CHECK(sp->subject_index_sha256 == HexEncode(all.Finish()));
}

TEST_CASE("AManifestWithoutAnIndexHasTheDigestOfNoBytes") {
  Manifest m = Base();
  m.subject_key_id.clear();
  auto p = ParseManifest(*ManifestToCanonicalJson(m));
  REQUIRE(p);
  CHECK(p->subject_count == 0);
  CHECK(p->subject_index_sha256 == HexEncode(Sha256::Hash(std::string_view())));
}

TEST_CASE("StreamedIndexDescriptionsThatCannotBeTrueAreRefused") {
  Manifest m = Base();
  SetSubjectIndex(&m, Values(2), true);
  const json j = json::parse(*ManifestToCanonicalJson(m));
  auto refuse = [](json doc) { return !ParseManifest(doc.dump()).has_value(); };
  CHECK_FALSE(refuse(j));
  auto a = j; a["subject_index"]["count"] = 5;                      CHECK(refuse(a));  // > rows x columns
  auto b = j; b["subject_index"]["count"] = 0;                      CHECK(refuse(b));  // not the empty digest
  auto c = j; c["subject_index"]["sha256"] = std::string(64, 'G');  CHECK(refuse(c));
  auto d = j; d["subject_index"]["key_id"] = "";                    CHECK(refuse(d));
  auto e = j; e["subject_index"]["values"] = json::array();         CHECK(refuse(e));  // both forms at once
  auto f = j; f["subject_index"].erase("sha256");                   CHECK(refuse(f));
  auto g = j; g["subject_index"]["count"] = -1;                     CHECK(refuse(g));
  auto h = j; h["row_count"] = 0;                                   CHECK(refuse(h));
  auto k = j; k["subject_index"]["count"] = 4;                      CHECK_FALSE(refuse(k));  // 2 rows x 2 columns
}
