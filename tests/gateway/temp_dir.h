// A fresh directory under /tmp for one test, removed with everything in it.
#ifndef XGW_TESTS_GATEWAY_TEMP_DIR_H_
#define XGW_TESTS_GATEWAY_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

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

}  // namespace xgw::test

#endif  // XGW_TESTS_GATEWAY_TEMP_DIR_H_
