// Recognises the spreadsheet files xgw cannot read as lists, so that a clerk
// is told what the file is and what to do instead of "not a valid zip".
//
// A password-protected .xlsx and an old .xls are both OLE compound files
// (Microsoft's "Compound File Binary" format, [MS-CFB]): the first has an
// `EncryptedPackage` stream, the second a `Workbook` (or, before Excel 97,
// `Book`) stream. Only the directory of the compound file is read, with every
// offset bounds-checked and every sector chain bounded, so a malformed file
// yields kOtherCompound, never a crash or a long loop.
#ifndef XGW_POLICY_WORKBOOK_KIND_H_
#define XGW_POLICY_WORKBOOK_KIND_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "crypto/error.h"

namespace xgw {

enum class CompoundKind {
  kNotCompound,         // not an OLE compound file (maybe a zip, maybe CSV)
  kEncryptedWorkbook,   // an OOXML workbook encrypted with a password
  kLegacyXls,           // an Excel 97-2003 (or older) workbook
  kOtherCompound,       // another or malformed compound file (old Word, ...)
};

// Reads `out.size()` bytes at `offset`; false if they are not all there.
using ReadAtFn = std::function<bool(uint64_t offset, std::span<uint8_t> out)>;

// True if `head` (the first bytes of a file, at least 8 of them) starts with
// the compound-file signature D0 CF 11 E0 A1 B1 1A E1.
bool HasCompoundSignature(std::span<const uint8_t> head);

// What kind of compound file `file_size` bytes read through `read` are.
CompoundKind SniffCompoundFile(uint64_t file_size, const ReadAtFn& read);
CompoundKind SniffCompoundBuffer(std::span<const uint8_t> data);
// kIo if the file cannot be opened; kNotCompound for a file too short.
Result<CompoundKind> SniffCompoundPath(const std::string& path);

// The refusal for a compound file, in words for the clerk: what the file is
// and what to do with it (kFormat). nullopt for kNotCompound.
std::optional<Error> CompoundFileError(CompoundKind kind);

}  // namespace xgw

#endif  // XGW_POLICY_WORKBOOK_KIND_H_
