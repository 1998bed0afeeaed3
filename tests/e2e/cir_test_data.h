// Test data and small helpers shared by the end-to-end tests that play the
// CIR protocol (tests/e2e/exchange_*_test.cc, tests/client/client_e2e_test.cc).
// Every person here is synthetic: national numbers have valid check digits but
// belong to no one.
#ifndef XGW_TESTS_E2E_CIR_TEST_DATA_H_
#define XGW_TESTS_E2E_CIR_TEST_DATA_H_

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "crypto/age.h"
#include "crypto/io.h"
#include "tests/e2e/harness.h"

namespace xgw::e2e {

inline const char* const kCirProtocolFile =
    XGW_SOURCE_DIR "/config/examples/cir-thuispunt-ocmw-2024_VB_00591.json";

inline std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A synthetic Belgian national register number (valid check digits, born
// 30/07/1985, serial 0..999), not a real person.
inline std::string SyntheticNrn(int serial) {
  char base[32];
  std::snprintf(base, sizeof base, "850730%03d", serial % 1000);
  const unsigned long long n = std::stoull(base);
  char out[48];
  std::snprintf(out, sizeof out, "%s%02llu", base, 97 - (n % 97));
  return out;
}

// The header row of a CIR list.
inline const std::string kCirHeader =
    "Naam;Voornaam;Rijksregisternummer;Status dossier;Ontbrekende documenten;Datum uitnodigingsbrief;"
    "Datum herinnering\n";

// Row `i` of a synthetic CIR list (fictional name, synthetic national number).
inline std::string CirRow(int i) {
  return "Testnaam" + std::to_string(i) + ";Voornaam;" + SyntheticNrn(i) +
         ";onvolledig;attest;01/08/2024;2024-08-31\n";
}

// Synthetic national number `i`: distinct for i below 20 million (as
// bench/policy/gen_lists.py makes them), born 1940-1999, valid check digits.
inline std::string DistinctNrn(int i) {
  char base[16];
  std::snprintf(base, sizeof base, "%02d%02d%02d%03d", 40 + i % 60, 1 + (i / 60) % 12, 1 + (i / 720) % 28,
                1 + (i / 20160) % 997);
  const unsigned long long n = std::stoull(base);
  char out[24];
  std::snprintf(out, sizeof out, "%s%02llu", base, 97 - n % 97);
  return out;
}

// Row `i` of a synthetic CIR list of distinct people.
inline std::string DistinctCirRow(int i) {
  return "Testnaam" + std::to_string(i) + ";Voornaam;" + DistinctNrn(i) + ";onvolledig;attest;01/08/2024;2024-08-31\n";
}

// The plaintext of a downloaded age file, decrypted with `identity`
// (fails the test if it does not decrypt).
inline std::string DecryptAge(const age::Identity& identity, const std::string& ciphertext) {
  MemorySource src(ciphertext);
  StringSink plain;
  const age::Identity* ids[] = {&identity};
  REQUIRE(age::Decrypt(ids, src, plain));
  return plain.str();
}

}  // namespace xgw::e2e

#endif  // XGW_TESTS_E2E_CIR_TEST_DATA_H_
