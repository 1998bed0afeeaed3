// A fresh directory under /tmp for one test, removed with everything in it;
// and ReadAll, for the stores' contract tests.
#ifndef XGW_TESTS_GATEWAY_TEMP_DIR_H_
#define XGW_TESTS_GATEWAY_TEMP_DIR_H_

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "crypto/io.h"

namespace xgw::test {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/xgw-gateway-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// Everything `src` yields, to its end (a read error fails the test).
inline std::string ReadAll(ByteSource& src) {
  std::string out;
  uint8_t buf[4096];
  for (;;) {
    auto n = src.Read(buf);
    REQUIRE(n);
    if (*n == 0) return out;
    out.append(reinterpret_cast<const char*>(buf), *n);
  }
}

}  // namespace xgw::test

#endif  // XGW_TESTS_GATEWAY_TEMP_DIR_H_
