// The compound-file directory walk ([MS-CFB] sections 2.2 to 2.6): header,
// FAT sectors (from the header's DIFAT and the DIFAT chain), then the
// directory chain, reading only the 128-byte directory entries' names and
// types. Nothing else of the file (and no cell) is read.
#include "policy/workbook_kind.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace xgw {

namespace {

constexpr uint8_t kSignature[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
constexpr uint32_t kMaxRegularSector = 0xFFFFFFFA;
// Bounds on the walk, whatever the header claims: Excel's directories have a
// handful of entries; 4096 directory sectors are 16,384 to 131,072 entries.
constexpr uint64_t kMaxDirectorySectors = 4096;
constexpr uint64_t kMaxFatSectors = 1u << 16;  // 8 GiB of 512-byte sectors

uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

class CompoundDirectory {
 public:
  CompoundDirectory(uint64_t size, const ReadAtFn& read) : size_(size), read_(read) {}

  // Fills fat_sectors_ and dir_start_; false if the header is unusable.
  bool ReadHeader() {
    uint8_t h[512];
    if (size_ < sizeof h || !read_(0, h) || std::memcmp(h, kSignature, 8) != 0) return false;
    const uint16_t shift = Le16(h + 0x1E);
    if (shift != 9 && shift != 12) return false;
    sector_size_ = 1u << shift;
    const uint32_t fat_count = Le32(h + 0x2C);
    dir_start_ = Le32(h + 0x30);
    if (fat_count > kMaxFatSectors || fat_count > size_ / sector_size_ + 1) return false;
    for (uint32_t i = 0; i < 109 && fat_sectors_.size() < fat_count; ++i) fat_sectors_.push_back(Le32(h + 0x4C + 4 * i));
    // The DIFAT chain: sectors of FAT-sector numbers, the last entry of each
    // pointing to the next; bounded by the FAT count.
    uint32_t difat = Le32(h + 0x44);
    const uint32_t per = sector_size_ / 4 - 1;
    std::vector<uint8_t> buf(sector_size_);
    for (uint64_t steps = 0; fat_sectors_.size() < fat_count; ++steps) {
      if (difat > kMaxRegularSector || steps > fat_count || !ReadSector(difat, buf)) return false;
      for (uint32_t i = 0; i < per && fat_sectors_.size() < fat_count; ++i) fat_sectors_.push_back(Le32(&buf[4 * i]));
      difat = Le32(&buf[4 * per]);
    }
    return true;
  }

  // Calls `on_entry(name folded to ASCII lower case, object type)` for every
  // directory entry; false if the chain is broken.
  template <typename F>
  bool ForEachEntry(F on_entry) {
    std::vector<uint8_t> buf(sector_size_);
    uint32_t sector = dir_start_;
    for (uint64_t n = 0; sector <= kMaxRegularSector; ++n) {
      if (n >= kMaxDirectorySectors || !ReadSector(sector, buf)) return false;
      for (uint32_t off = 0; off + 128 <= sector_size_; off += 128) {
        const uint8_t* e = &buf[off];
        const uint16_t name_bytes = Le16(e + 64);
        std::string name;
        for (uint16_t i = 0; i + 2 < name_bytes && i < 62; i += 2) {
          const uint16_t c = Le16(e + i);
          name.push_back(c < 0x80 ? static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c) : '?');
        }
        on_entry(name, e[66]);
      }
      auto next = NextSector(sector);
      if (!next) return false;
      sector = *next;
    }
    return true;
  }

 private:
  bool ReadSector(uint32_t sector, std::span<uint8_t> out) const {
    const uint64_t offset = (static_cast<uint64_t>(sector) + 1) * sector_size_;
    return offset + out.size() <= size_ && read_(offset, out);
  }

  std::optional<uint32_t> NextSector(uint32_t sector) {
    const uint32_t per = sector_size_ / 4;
    const uint64_t fat_index = sector / per;
    if (fat_index >= fat_sectors_.size() || fat_sectors_[fat_index] > kMaxRegularSector) return std::nullopt;
    uint8_t entry[4];
    const uint64_t offset = (static_cast<uint64_t>(fat_sectors_[fat_index]) + 1) * sector_size_ + 4ull * (sector % per);
    if (offset + 4 > size_ || !read_(offset, entry)) return std::nullopt;
    return Le32(entry);
  }

  uint64_t size_;
  const ReadAtFn& read_;
  uint32_t sector_size_ = 512;
  uint32_t dir_start_ = 0;
  std::vector<uint32_t> fat_sectors_;
};

}  // namespace

bool HasCompoundSignature(std::span<const uint8_t> head) {
  return head.size() >= 8 && std::memcmp(head.data(), kSignature, 8) == 0;
}

CompoundKind SniffCompoundFile(uint64_t file_size, const ReadAtFn& read) {
  uint8_t head[8];
  if (file_size < 8 || !read(0, head) || !HasCompoundSignature(head)) return CompoundKind::kNotCompound;
  CompoundDirectory dir(file_size, read);
  if (!dir.ReadHeader()) return CompoundKind::kOtherCompound;
  bool encrypted = false, workbook = false;
  constexpr uint8_t kStream = 2;
  const bool complete = dir.ForEachEntry([&](const std::string& name, uint8_t type) {
    if (type != kStream) return;
    if (name == "encryptedpackage") encrypted = true;
    if (name == "workbook" || name == "book") workbook = true;
  });
  // A broken chain after a telling entry still tells: the advice is the same.
  (void)complete;
  if (encrypted) return CompoundKind::kEncryptedWorkbook;
  if (workbook) return CompoundKind::kLegacyXls;
  return CompoundKind::kOtherCompound;
}

CompoundKind SniffCompoundBuffer(std::span<const uint8_t> data) {
  return SniffCompoundFile(data.size(), [&](uint64_t offset, std::span<uint8_t> out) {
    if (offset > data.size() || out.size() > data.size() - offset) return false;
    std::memcpy(out.data(), data.data() + offset, out.size());
    return true;
  });
}

Result<CompoundKind> SniffCompoundPath(const std::string& path) {
  FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) return Fail(ErrorCode::kIo, "cannot open " + path);
  struct stat st {};
  if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(fp);
    return Fail(ErrorCode::kIo, "cannot read " + path + " (not a regular file)");
  }
  const auto kind = SniffCompoundFile(static_cast<uint64_t>(st.st_size), [&](uint64_t offset, std::span<uint8_t> out) {
    return fseeko(fp, static_cast<off_t>(offset), SEEK_SET) == 0 && std::fread(out.data(), 1, out.size(), fp) == out.size();
  });
  std::fclose(fp);
  return kind;
}

std::optional<Error> CompoundFileError(CompoundKind kind) {
  switch (kind) {
    case CompoundKind::kNotCompound:
      return std::nullopt;
    case CompoundKind::kEncryptedWorkbook:
      return Error{ErrorCode::kFormat,
                   "the workbook is password-protected (encrypted), so it cannot be checked; xgw does not need "
                   "a password, it encrypts the list itself: open it in Excel, remove the password (File > Info > "
                   "Protect Workbook > Encrypt with Password, empty the password) and save it as .xlsx, or save it "
                   "as CSV UTF-8, then send that file"};
    case CompoundKind::kLegacyXls:
      return Error{ErrorCode::kFormat,
                   "the file is an old Excel 97-2003 workbook (.xls), which xgw does not read: open it in Excel "
                   "or LibreOffice and save it as Excel Workbook (.xlsx) or CSV UTF-8, then send that file"};
    case CompoundKind::kOtherCompound:
      return Error{ErrorCode::kFormat,
                   "the file is an old-style Microsoft Office document (a compound file), not an Excel list xgw "
                   "can read: save the list as Excel Workbook (.xlsx) or CSV UTF-8, then send that file"};
  }
  return std::nullopt;
}

}  // namespace xgw
