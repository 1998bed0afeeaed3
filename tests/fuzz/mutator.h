// Mutations for fuzz tests: byte-level (Mutator) and JSON-value-level
// (MutateJsonValue), deterministic for a given seed. Used by
// tests/fuzz/mutation_fuzz_test.cc (parsers) and
// tests/e2e/input_fuzz_e2e_test.cc (the running daemon).
#ifndef XGW_TESTS_FUZZ_MUTATOR_H_
#define XGW_TESTS_FUZZ_MUTATOR_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xgw::fuzz {

inline uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return std::strtoull(v, nullptr, 10);
}

// Byte-level mutations of one input, one to four at a time.
class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  size_t Below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string Mutate(const std::string& seed, const std::vector<std::string>& corpus) {
    std::string s = seed;
    const size_t rounds = 1 + Below(4);
    for (size_t r = 0; r < rounds; ++r) MutateOnce(s, corpus);
    return s;
  }

 private:
  void MutateOnce(std::string& s, const std::vector<std::string>& corpus) {
    static const std::string kTokens[] = {"\n", "\r\n", "\"", ";", ",", "\t", "\\", "{", "}", "[", "]", ":", "-",
                                          "0", "-1", "1e308", "18446744073709551616", "\xEF\xBB\xBF", "\xC3",
                                          "\xFF", std::string(1, '\0'), "---", "-> ", "age-encryption.org/v1",
                                          "<", ">", "&amp;", "&#0;", "PK\x03\x04"};
    switch (Below(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[Below(s.size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // set a byte to anything
        if (!s.empty()) s[Below(s.size())] = static_cast<char>(Below(256));
        break;
      case 2:  // insert a token the formats give meaning to
        s.insert(Below(s.size() + 1), kTokens[Below(std::size(kTokens))]);
        break;
      case 3: {  // delete a chunk
        if (s.empty()) break;
        const size_t at = Below(s.size());
        s.erase(at, 1 + Below(std::min<size_t>(64, s.size() - at)));
        break;
      }
      case 4: {  // repeat a chunk (long lines, deep nesting)
        if (s.empty()) break;
        const size_t at = Below(s.size());
        const std::string chunk = s.substr(at, 1 + Below(std::min<size_t>(32, s.size() - at)));
        std::string rep;
        for (size_t i = 0, n = 1 + Below(200); i < n; ++i) rep += chunk;
        s.insert(at, rep);
        break;
      }
      case 5:  // truncate
        s.resize(Below(s.size() + 1));
        break;
      case 6: {  // splice in a piece of another input
        const std::string& other = corpus[Below(corpus.size())];
        if (other.empty()) break;
        const size_t from = Below(other.size());
        s.insert(Below(s.size() + 1), other.substr(from, 1 + Below(other.size() - from)));
        break;
      }
      default: {  // overwrite with a long run of one byte
        const size_t at = Below(s.size() + 1);
        s.insert(at, std::string(1 + Below(5000), static_cast<char>(Below(256))));
        break;
      }
    }
  }

  std::mt19937_64 rng_;
};

// Replaces one value somewhere in a JSON document with one of another type
// or an extreme size, so that parsing succeeds and the validation behind it runs.
inline nlohmann::json MutateJsonValue(nlohmann::json doc, Mutator& m) {
  std::vector<nlohmann::json*> nodes;
  std::function<void(nlohmann::json&)> collect = [&](nlohmann::json& j) {
    nodes.push_back(&j);
    if (j.is_object() || j.is_array()) {
      for (auto& child : j) collect(child);
    }
  };
  collect(doc);
  nlohmann::json& target = *nodes[m.Below(nodes.size())];
  switch (m.Below(11)) {
    case 0: target = nullptr; break;
    case 1: target = true; break;
    case 2: target = -1; break;
    case 3: target = 1e308; break;
    case 4: target = std::numeric_limits<uint64_t>::max(); break;
    case 5: target = ""; break;
    case 6: target = std::string(100000, 'x'); break;
    case 7: target = nlohmann::json::array(); break;
    case 8: target = nlohmann::json::object(); break;
    case 9: target = nlohmann::json::array({target, target}); break;
    default:
      if (target.is_object() && !target.empty()) target.erase(target.begin());
      else target = "\xE2\x80\xAE\t\n";
      break;
  }
  return doc;
}

}  // namespace xgw::fuzz

#endif  // XGW_TESTS_FUZZ_MUTATOR_H_
