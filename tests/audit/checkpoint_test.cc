// Checkpoint bodies (C2SP tlog-checkpoint) and their signed notes.
#include <catch2/catch.hpp>

#include "audit/checkpoint.h"
#include "tests/audit/audit_test_util.h"

using namespace xgw;

TEST_CASE("CheckpointBodyHasOriginSizeAndRootLines") {
  Checkpoint c{"xgw.test/log", 5, MerkleEmptyRoot(), {}};
  CHECK(FormatCheckpoint(c) == "xgw.test/log\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
  c.extensions = {"ext one"};
  auto back = ParseCheckpoint(FormatCheckpoint(c));
  REQUIRE(back);
  CHECK(back->size == 5);
  CHECK(back->extensions == std::vector<std::string>{"ext one"});
}

TEST_CASE("MalformedCheckpointBodiesAreRejected") {
  const std::string root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  CHECK_FALSE(ParseCheckpoint("o\n05\n" + root + "\n"));
  CHECK_FALSE(ParseCheckpoint("o\n-5\n" + root + "\n"));
  CHECK_FALSE(ParseCheckpoint("o\n18446744073709551616\n" + root + "\n"));
  CHECK_FALSE(ParseCheckpoint("o\n5\nAAAA\n"));
  CHECK_FALSE(ParseCheckpoint("o\n5\n" + root));
  CHECK_FALSE(ParseCheckpoint("\n5\n" + root + "\n"));
  CHECK_FALSE(ParseCheckpoint("o\n5\n" + root + "\n\n"));
  CHECK(ParseCheckpoint("o\n0\n" + root + "\n"));
}

TEST_CASE("SignedCheckpointOpensOnlyWithTheLogsKey") {
  auto key = xgw::testing::FixedKey();
  NoteSigner signer{"xgw.test/log", key.get()};
  Checkpoint c{"xgw.test/log", 7, MerkleLeafHash("r"), {}};
  auto note = SignCheckpoint(c, signer);
  REQUIRE(note);
  auto opened = OpenCheckpoint(*note, VerifierFor(signer));
  REQUIRE(opened);
  CHECK(opened->root == c.root);
  auto other = xgw::testing::FixedKey(9);
  NoteSigner wrong{"xgw.test/log", other.get()};
  CHECK(OpenCheckpoint(*note, VerifierFor(wrong)).error().code == ErrorCode::kSignature);
  // A key named differently from the origin may not sign it.
  NoteSigner misnamed{"other.log", key.get()};
  CHECK_FALSE(SignCheckpoint(c, misnamed));
}
