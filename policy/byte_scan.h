// Eight bytes at a time ("SWAR") tests for the per-cell hot paths: the CSV
// reader, text validation and the canonical row. Cells are short (a dozen
// bytes), so testing a word costs less than a loop over its bytes, and a
// word that does hold a byte of interest falls back to the byte loop.
// Internal to policy/; pure functions.
#ifndef XGW_POLICY_BYTE_SCAN_H_
#define XGW_POLICY_BYTE_SCAN_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace xgw::byte_scan {

// Words are loaded in memory order: the first byte is the lowest.
static_assert(std::endian::native == std::endian::little, "byte_scan assumes a little-endian machine");

inline constexpr uint64_t kOnes = 0x0101010101010101ull;
inline constexpr uint64_t kHighBits = 0x8080808080808080ull;

inline uint64_t Load8(const void* p) {
  uint64_t x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

// The last n < 8 bytes of a cell as a word, the missing bytes set to `fill`
// (a byte the caller's test passes), so a short tail is tested like a word.
inline uint64_t LoadTail(const void* p, size_t n, uint8_t fill) {
  uint64_t x = kOnes * fill;
  std::memcpy(&x, p, n);
  return x;
}

// True if some byte of `x` is below `n` (n <= 0x80). Exact as a yes/no
// answer (a borrow only spreads past a byte that is itself below n).
constexpr bool HasByteBelow(uint64_t x, uint8_t n) { return ((x - kOnes * n) & ~x & kHighBits) != 0; }

// True if some byte of `x` equals `b`.
constexpr bool HasByte(uint64_t x, uint8_t b) { return HasByteBelow(x ^ (kOnes * b), 1); }

// 0x80 in each byte of `x` that is zero, 0 elsewhere; exact (no carry
// crosses bytes), so the lowest set bit locates the first such byte.
constexpr uint64_t ZeroBytes(uint64_t x) {
  constexpr uint64_t kLow7 = 0x7F7F7F7F7F7F7F7Full;
  return ~(((x & kLow7) + kLow7) | x | kLow7);
}

// Index (0..7, in memory order) of the first byte flagged in a ZeroBytes
// mask. REQUIRES: mask != 0.
inline size_t FirstFlagged(uint64_t mask) { return static_cast<size_t>(__builtin_ctzll(mask)) / 8; }

// True if some byte of `x` is 0x80 or above (not ASCII).
constexpr bool HasHighByte(uint64_t x) { return (x & kHighBits) != 0; }

}  // namespace xgw::byte_scan

#endif  // XGW_POLICY_BYTE_SCAN_H_
