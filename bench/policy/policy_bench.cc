// Validates one list against a protocol with CheckList and prints rows/s.
// Usage: policy_bench PROTOCOL.json LIST.(csv|xlsx) [--no-index]
// Peak RSS is measured from outside with /usr/bin/time -v (see run.sh).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "policy/check_list.h"
#include "policy/list_reader.h"
#include "policy/protocol.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: policy_bench PROTOCOL.json LIST.(csv|xlsx) [--no-index]\n");
    return 2;
  }
  std::string list = argv[2];
  bool index = !(argc > 3 && std::string(argv[3]) == "--no-index");
  auto protocol = xgw::LoadProtocolFile(argv[1]);
  if (!protocol) {
    std::fprintf(stderr, "%s\n", xgw::ToString(protocol.error()).c_str());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<xgw::ListReader> reader;
  std::optional<xgw::FileSource> file;
  if (list.size() > 5 && list.substr(list.size() - 5) == ".xlsx") {
    auto r = xgw::OpenXlsxFile(list);
    if (!r) return std::fprintf(stderr, "%s\n", xgw::ToString(r.error()).c_str()), 1;
    reader = std::move(*r);
  } else {
    auto f = xgw::FileSource::Open(list);
    if (!f) return std::fprintf(stderr, "%s\n", xgw::ToString(f.error()).c_str()), 1;
    file.emplace(std::move(*f));
    auto r = xgw::OpenCsvReader(*file);
    if (!r) return std::fprintf(stderr, "%s\n", xgw::ToString(r.error()).c_str()), 1;
    reader = std::move(*r);
  }
  std::vector<uint8_t> key(32, 7);
  xgw::CheckListOptions options;
  if (index) {
    options.subject_key = key;
    options.subject_key_id = "bench";
  }
  auto result = xgw::CheckList(*protocol, *reader, options);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result) return std::fprintf(stderr, "%s\n", xgw::ToString(result.error()).c_str()), 1;
  const auto& m = result->manifest;
  std::printf("rows=%llu bytes=%llu violations=%zu subjects=%zu seconds=%.3f rows_per_s=%.0f MB_per_s=%.1f\n",
              static_cast<unsigned long long>(m.row_count), static_cast<unsigned long long>(m.byte_size),
              result->violations.size(), m.subject_index.size(), secs, static_cast<double>(m.row_count) / secs,
              static_cast<double>(m.byte_size) / secs / 1e6);
  return result->ok() ? 0 : 3;
}
