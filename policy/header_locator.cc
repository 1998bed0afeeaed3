#include "policy/header_locator.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "crypto/secret.h"

namespace xgw {

namespace {

struct HeldRow {
  uint64_t number = 0;
  std::vector<std::string> cells;
};

void Wipe(HeldRow& row) {
  for (auto& c : row.cells) WipeMemory(c.data(), c.size());
  row.cells.clear();
}

bool Blank(const std::vector<std::string_view>& cells) {
  return std::all_of(cells.begin(), cells.end(), [](std::string_view c) { return c.empty(); });
}

class LocatedList final : public ListReader {
 public:
  explicit LocatedList(ListReader& source) : source_(source) {}
  ~LocatedList() override {
    Wipe(header_);
    for (auto& r : ahead_) Wipe(r);
    Wipe(current_);
  }

  // Reads ahead up to `search_rows` non-blank rows and picks the header.
  Result<void> Detect(const Protocol& protocol, uint64_t search_rows, HeaderMatch* match) {
    std::vector<HeldRow> rows;  // every row read, blank ones included, in order
    rows.push_back({source_.RowNumber(), source_.Header()});
    uint64_t non_blank = 1;
    std::vector<std::string_view> cells;
    while (non_blank < search_rows) {
      auto next = source_.Next(&cells);
      if (!next) {
        if (next.error().code == ErrorCode::kIo || next.error().code == ErrorCode::kInternal) return tl::unexpected(next.error());
        error_ = next.error();  // replayed after the rows before it
        break;
      }
      if (!*next) break;
      if (!Blank(cells)) ++non_blank;
      rows.push_back({source_.RowNumber(), {cells.begin(), cells.end()}});
    }
    size_t best = 0;
    int best_score = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (Blank(Views(rows[i].cells))) continue;
      const int score = HeaderRowScore(protocol, rows[i].cells);
      if (score > best_score) {
        best = i;
        best_score = score;
      }
    }
    for (size_t i = 0; i < best; ++i) {
      if (!Blank(Views(rows[i].cells)) && match->title_rows.size() < 20) match->title_rows.push_back(rows[i].number);
      Wipe(rows[i]);
    }
    header_ = std::move(rows[best]);
    for (size_t i = best + 1; i < rows.size(); ++i) ahead_.push_back(std::move(rows[i]));
    return {};
  }

  // Skips to row `number`, which becomes the header.
  Result<void> Seek(uint64_t number, HeaderMatch* match) {
    if (source_.RowNumber() == number) {
      header_ = {number, source_.Header()};
      return {};
    }
    if (source_.RowNumber() > number) return NotThere(number);
    if (match->title_rows.size() < 20) match->title_rows.push_back(source_.RowNumber());
    std::vector<std::string_view> cells;
    for (;;) {
      XGW_TRY(bool more, source_.Next(&cells));
      if (!more || source_.RowNumber() > number) return NotThere(number);
      if (source_.RowNumber() == number) {
        if (Blank(cells)) return NotThere(number);
        header_ = {number, {cells.begin(), cells.end()}};
        return {};
      }
      if (!Blank(cells) && match->title_rows.size() < 20) match->title_rows.push_back(source_.RowNumber());
    }
  }

  const std::vector<std::string>& Header() const override { return header_.cells; }

  Result<bool> Next(std::vector<std::string_view>* cells) override {
    Wipe(current_);
    if (!ahead_.empty()) {
      current_ = std::move(ahead_.front());
      ahead_.pop_front();
      cells->assign(current_.cells.begin(), current_.cells.end());
      replaying_ = true;
      return true;
    }
    replaying_ = false;
    if (error_) {
      Error e = *error_;
      error_.reset();
      return tl::unexpected(e);
    }
    return source_.Next(cells);
  }

  uint64_t RowNumber() const override { return replaying_ ? current_.number : source_.RowNumber(); }
  std::vector<std::string> SheetNames() const override { return source_.SheetNames(); }
  std::string SheetName() const override { return source_.SheetName(); }
  InputFormat Format() const override { return source_.Format(); }
  std::string_view Encoding() const override { return source_.Encoding(); }
  uint64_t SourceBytes() const override { return source_.SourceBytes(); }
  Sha256Digest SourceSha256() const override { return source_.SourceSha256(); }
  void HashSourceOn(HashPipeline* hashes) override { source_.HashSourceOn(hashes); }
  uint64_t HeaderRow() const { return header_.number; }

 private:
  static std::vector<std::string_view> Views(const std::vector<std::string>& cells) {
    return {cells.begin(), cells.end()};
  }
  static tl::unexpected<Error> NotThere(uint64_t number) {
    return Fail(ErrorCode::kNotFound, "row " + std::to_string(number) +
                                          " (given as the header row) is blank or not in the list");
  }

  ListReader& source_;
  HeldRow header_;
  std::deque<HeldRow> ahead_;  // rows read ahead, replayed before the source's
  HeldRow current_;
  bool replaying_ = false;
  std::optional<Error> error_;
};

}  // namespace

Result<std::unique_ptr<ListReader>> LocateHeader(const Protocol& protocol, ListReader& source,
                                                 const HeaderSearch& search, HeaderMatch* match) {
  auto located = std::make_unique<LocatedList>(source);
  match->sheet = source.SheetName();
  match->sheets = source.SheetNames();
  if (search.header_row != 0) {
    XGW_CHECK(located->Seek(search.header_row, match));
  } else {
    XGW_CHECK(located->Detect(protocol, std::max<uint64_t>(search.search_rows, 1), match));
  }
  match->header_row = located->HeaderRow();
  MatchHeader(protocol, located->Header(), match);
  return std::unique_ptr<ListReader>(std::move(located));
}

}  // namespace xgw
