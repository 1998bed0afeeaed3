#include "audit/fault_points.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace xgw {

bool FaultPointActive(std::string_view name) {
  static const std::string dir = [] {
    const char* d = std::getenv("XGW_FAULT_DIR");
    return std::string(d == nullptr ? "" : d);
  }();
  if (dir.empty()) return false;
  const std::string path = dir + "/" + std::string(name);
  return ::access(path.c_str(), F_OK) == 0;
}

}  // namespace xgw
