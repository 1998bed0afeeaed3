// Readers for the lists a protocol governs (CSV and XLSX), behind one
// row-at-a-time interface so that the checks do not care about the format.
//
// Readers hold plaintext personal data: they wipe their own buffers when
// destroyed. They are not thread-safe. Errors name rows, columns and byte
// offsets, never cell contents.
#ifndef XGW_POLICY_LIST_READER_H_
#define XGW_POLICY_LIST_READER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/hash.h"
#include "crypto/io.h"
#include "policy/protocol.h"

namespace xgw {

class HashPipeline;

// Size limits applied while reading; exceeding one fails with kLimit. The
// defaults suit lists of up to a few million rows.
struct ReaderLimits {
  size_t max_field_bytes = 64 * 1024;  // one cell, after unquoting
  size_t max_row_bytes = 1 << 20;      // one row, all cells
  size_t max_columns = 1000;
  uint64_t max_rows = 50'000'000;
  // XLSX only.
  uint64_t max_file_bytes = 256ull << 20;           // the .xlsx itself
  uint64_t max_entries = 10'000;                    // zip members
  uint64_t max_uncompressed_bytes = 1ull << 30;     // sum of all members
  uint64_t max_compression_ratio = 100;             // per member larger than 1 MiB
  uint64_t max_sheet_xml_bytes = 512ull << 20;      // the sheet's XML, inflated (streamed, not held)
  // Shared strings are held in memory for the whole read: their text plus 8
  // bytes per string, bounded by these two (the bytes bound the part's XML).
  uint64_t max_shared_strings = 2'000'000;
  uint64_t max_shared_strings_bytes = 256ull << 20;
};

class ListReader {
 public:
  virtual ~ListReader() = default;

  // The header row (the first non-blank row), cells as written, UTF-8.
  virtual const std::vector<std::string>& Header() const = 0;

  // Reads the next data row. Cells are UTF-8; the views stay valid until the
  // next call. A row may have fewer or more cells than the header (ragged): the
  // reader reports what it found and does not guess. Returns false at the end.
  // Fails with kFormat (malformed input, position named) or kLimit.
  virtual Result<bool> Next(std::vector<std::string_view>* cells) = 0;

  // Number of the row last returned, counted as a spreadsheet shows it: the
  // header is row 1 in CSV; in XLSX the sheet's own row number.
  virtual uint64_t RowNumber() const = 0;

  // XLSX: the workbook's sheet names in order (at most 50, each shortened to
  // 64 bytes, quotes and control characters replaced) and the sheet read.
  // CSV: none.
  virtual std::vector<std::string> SheetNames() const { return {}; }
  virtual std::string SheetName() const { return ""; }

  virtual InputFormat Format() const = 0;
  // "utf-8", "utf-8-bom" or "windows-1252" (CSV, known once the end is
  // reached); "xlsx".
  virtual std::string_view Encoding() const = 0;

  // REQUIRES: Next() has returned false. Size and SHA-256 of the source bytes
  // exactly as received (the file that is encrypted and sent).
  virtual uint64_t SourceBytes() const = 0;
  virtual Sha256Digest SourceSha256() const = 0;

  // Hashes the source bytes read from now on on `hashes`'s worker thread
  // (one lane of it) instead of the caller's; nullptr stops handing them over.
  // Set nullptr before `hashes` is destroyed: its destruction then consumes
  // what was handed over, so the source hash stays whole. Readers that hash
  // their source when opened (XLSX) ignore it.
  virtual void HashSourceOn(HashPipeline* hashes) { (void)hashes; }
};

// CSV (RFC 4180): separator ',' ';' or tab, detected on the header line;
// UTF-8 with or without BOM, or Windows-1252 (detected by invalid UTF-8 and
// transcoded; a file mixing both is refused); CRLF, LF or CR line ends. A quote
// inside an unquoted field, text after a closing quote and an unterminated
// quote are format errors. Streams through a fixed buffer: memory does not
// depend on the row count. `source` must outlive the reader.
Result<std::unique_ptr<ListReader>> OpenCsvReader(ByteSource& source, const ReaderLimits& limits = {});

// XLSX: the sheet named `sheet`, or the first sheet if empty. Shared and
// inline strings, numbers (integral values without ".0"), booleans ("TRUE" /
// "FALSE"), and date-formatted numbers as ISO dates ("2024-09-27", or
// "2024-09-27T14:30:00" when a time is present). Zip bombs are refused by the
// limits before decompression (declared sizes, ratio, entry count) and while
// decompressing (actual sizes). The sheet XML is streamed (inflated in chunks
// and tokenized one row at a time, DOCTYPE and entity declarations refused):
// memory is one row plus the shared strings, whatever the number of rows.
//
// A password-protected workbook or an old .xls (OLE compound files, not zips)
// fails with kFormat naming what the file is and what to do
// (policy/workbook_kind.h). A missing or empty sheet fails naming the
// workbook's sheets.
//
// OpenXlsxBuffer never touches the disk; `data` must outlive the reader.
// OpenXlsxFile hashes the file, then lets libzip read it through the same open
// file as it needs: the file is not held in memory.
Result<std::unique_ptr<ListReader>> OpenXlsxBuffer(std::span<const uint8_t> data,
                                                   const std::string& sheet = "",
                                                   const ReaderLimits& limits = {});
Result<std::unique_ptr<ListReader>> OpenXlsxFile(const std::string& path, const std::string& sheet = "",
                                                 const ReaderLimits& limits = {});

}  // namespace xgw

#endif  // XGW_POLICY_LIST_READER_H_
