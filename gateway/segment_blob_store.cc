#include "gateway/segment_blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/group_commit.h"

namespace xgw {

namespace {

constexpr uint64_t kBlock = 4096;
constexpr size_t kHeaderBytes = 128;
constexpr size_t kMaxIdBytes = kHeaderBytes - 26;
constexpr uint8_t kMagic[8] = {'x', 'g', 'w', 's', 'e', 'g', '0', '1'};
constexpr uint64_t kMinSegmentBytes = 32ull << 20;

uint64_t AlignUp(uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }
uint64_t RecordBytes(uint64_t size) { return AlignUp(kHeaderBytes + size); }

uint64_t Fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

void PutLe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Header: magic (8), FNV-1a 64 of bytes 16..127 (8), data length (8),
// id length (2), id (up to 102), zeros.
void FillHeader(uint8_t* h, const std::string& id, uint64_t size) {
  std::memset(h, 0, kHeaderBytes);
  std::memcpy(h, kMagic, sizeof kMagic);
  PutLe(h + 16, size, 8);
  PutLe(h + 24, id.size(), 2);
  std::memcpy(h + 26, id.data(), id.size());
  PutLe(h + 8, Fnv1a(h + 16, kHeaderBytes - 16), 8);
}

std::optional<std::pair<std::string, uint64_t>> ParseHeader(const uint8_t* h) {
  if (std::memcmp(h, kMagic, sizeof kMagic) != 0) return std::nullopt;
  if (GetLe(h + 8, 8) != Fnv1a(h + 16, kHeaderBytes - 16)) return std::nullopt;
  const uint64_t size = GetLe(h + 16, 8);
  const size_t id_len = GetLe(h + 24, 2);
  if (id_len == 0 || id_len > kMaxIdBytes) return std::nullopt;
  return std::make_pair(std::string(reinterpret_cast<const char*>(h + 26), id_len), size);
}

Result<void> WriteAllAt(int fd, const uint8_t* p, uint64_t n, uint64_t off, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(IoError("pwrite", path, errno));
    }
    p += w;
    n -= static_cast<uint64_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return {};
}

// Removes [off, off+len) from the file: its blocks are freed (a hole reads as
// zeros); where the file system cannot punch holes they are overwritten.
Result<void> Punch(int fd, uint64_t off, uint64_t len, const std::string& path) {
  if (len == 0) return {};
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                  static_cast<off_t>(len)) == 0) {
    return {};
  }
  if (errno != EOPNOTSUPP && errno != ENOSYS) return tl::unexpected(IoError("fallocate", path, errno));
  static const std::vector<uint8_t> zeros(256u << 10);
  while (len > 0) {
    const uint64_t n = std::min<uint64_t>(len, zeros.size());
    XGW_CHECK(WriteAllAt(fd, zeros.data(), n, off, path));
    off += n;
    len -= n;
  }
  return {};
}

Result<void> SyncFile(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return tl::unexpected(IoError("fsync", path, errno));
  return {};
}

struct Segment {
  Segment(uint64_t n, std::string p, int f, uint64_t s)
      : number(n), path(std::move(p)), fd(f), size(s), sync([this]() -> Result<void> {
          if (::fdatasync(fd) != 0) {
            // After a failed fdatasync the kernel may have dropped the dirty
            // pages and report the next one as a success: no record written
            // into this segment so far may count as durable, and none is
            // written into it any more.
            failed.store(true);
            return tl::unexpected(IoError("fdatasync", path, errno));
          }
          return {};
        }) {}
  ~Segment() { ::close(fd); }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  const uint64_t number;
  const std::string path;
  const int fd;
  const uint64_t size;
  DirectorySync sync;  // shared fdatasyncs of the segment (the ticket scheme fits a file too)
  std::atomic<bool> failed{false};  // an fdatasync failed: see sync
  // Under State::mu:
  uint64_t next = 0;     // allocation offset (the active segment)
  uint64_t records = 0;  // records in the index or being written
  bool writable = false; // active or spare: kept when empty
  bool removed = false;
};

struct Record {
  std::shared_ptr<Segment> seg;
  uint64_t offset = 0;  // of the header
  uint64_t size = 0;    // ciphertext bytes
  std::shared_ptr<std::atomic<bool>> gone;
};

std::string SegmentName(uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx.seg", static_cast<unsigned long long>(number));
  return buf;
}

std::optional<uint64_t> SegmentNumber(const std::string& name) {
  if (name.size() != 20 || !name.ends_with(".seg")) return std::nullopt;
  uint64_t n = 0;
  for (size_t i = 0; i < 16; ++i) {
    const char c = name[i];
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else return std::nullopt;
    n = (n << 4) | static_cast<uint64_t>(v);
  }
  return n;
}

// A packed blob streamed from its segment.
class PackedSource final : public ByteSource {
 public:
  explicit PackedSource(Record r) : r_(std::move(r)) {}
  Result<size_t> Read(std::span<uint8_t> buf) override {
    if (pos_ >= r_.size || buf.empty()) return 0;
    if (r_.gone->load(std::memory_order_acquire)) return Deleted();
    const uint64_t want = std::min<uint64_t>(buf.size(), r_.size - pos_);
    ssize_t n;
    do {
      n = ::pread(r_.seg->fd, buf.data(), want, static_cast<off_t>(r_.offset + kHeaderBytes + pos_));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return tl::unexpected(IoError("pread", r_.seg->path, errno));
    if (n == 0) return Fail(ErrorCode::kIo, "segment " + r_.seg->path + " ends inside a blob");
    // Deleted while this read ran: what it read may be the punched hole.
    if (r_.gone->load(std::memory_order_acquire)) return Deleted();
    pos_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }

 private:
  static Result<size_t> Deleted() { return Fail(ErrorCode::kNotFound, "the blob was deleted while it was read"); }
  Record r_;
  uint64_t pos_ = 0;
};

}  // namespace

class SegmentBlobStore::State {
 public:
  std::string dir, seg_dir;
  SegmentBlobOptions opt;
  std::unique_ptr<FileBlobStore> files;

  mutable std::mutex mu;
  std::condition_variable cv;  // a spare is ready or needed; stop
  std::unordered_map<std::string, Record> index;
  std::unordered_map<std::string, std::shared_ptr<std::atomic<bool>>> pending;  // id -> discarded
  std::map<uint64_t, std::shared_ptr<Segment>> segments;
  std::shared_ptr<Segment> active, spare;
  uint64_t next_number = 1;
  std::optional<Error> prepare_error;
  bool stop = false;
  std::atomic<bool> stopping{false};
  uint64_t punched_at_open = 0;
  std::thread preparer;

  using Removals = std::vector<std::shared_ptr<Segment>>;

  // Room for `bytes` in the active segment (switching to the spare when it
  // is full, waiting for one if none is ready): the segment and the offset.
  Result<std::pair<std::shared_ptr<Segment>, uint64_t>> ReserveLocked(std::unique_lock<std::mutex>& lock,
                                                                      uint64_t bytes, Removals& removals) {
    for (;;) {
      if (active && !active->failed.load() && active->next + bytes <= active->size) {
        const uint64_t off = active->next;
        active->next += bytes;
        ++active->records;
        return std::make_pair(active, off);
      }
      if (spare) {
        std::shared_ptr<Segment> old = std::exchange(active, std::move(spare));
        cv.notify_all();  // the preparer makes the next spare
        if (old) {
          old->writable = false;
          ++old->records;  // ReleaseLocked's count: "one fewer" of none
          ReleaseLocked(old, removals);
        }
        continue;
      }
      if (stop) return Fail(ErrorCode::kIo, "the blob store is closing");
      if (prepare_error) return tl::unexpected(*prepare_error);
      cv.wait(lock);
    }
  }

  // One record fewer in `seg`; an empty segment nobody writes is removed.
  void ReleaseLocked(const std::shared_ptr<Segment>& seg, Removals& removals) {
    if (--seg->records > 0 || seg->writable || seg->removed) return;
    seg->removed = true;
    segments.erase(seg->number);
    removals.push_back(seg);
  }

  void Remove(const Removals& removals) {
    for (const auto& seg : removals) ::unlink(seg->path.c_str());
    // Best effort: a segment that comes back after a crash holds only holes
    // and is removed at the next Open.
    if (!removals.empty()) (void)SyncDirectory(seg_dir);
  }

  std::optional<Record> TakeLocked(const std::string& id, const Segment* only_seg = nullptr, uint64_t only_off = 0) {
    auto it = index.find(id);
    if (it == index.end()) return std::nullopt;
    if (only_seg && (it->second.seg.get() != only_seg || it->second.offset != only_off)) return std::nullopt;
    Record r = std::move(it->second);
    index.erase(it);
    r.gone->store(true, std::memory_order_release);
    return r;
  }

  // Punches taken records (and fsyncs their segments when `durable`), then
  // releases them. Returns the first error; every record is released.
  Result<void> Drop(const std::vector<Record>& records, bool durable) {
    Result<void> result;
    std::set<Segment*> touched;
    for (const auto& r : records) {
      if (auto p = Punch(r.seg->fd, r.offset, RecordBytes(r.size), r.seg->path); !p && result) result = p;
      touched.insert(r.seg.get());
    }
    if (durable) {
      for (Segment* seg : touched) {
        if (auto s = SyncFile(seg->fd, seg->path); !s && result) result = s;
      }
    }
    Removals removals;
    {
      std::lock_guard lock(mu);
      for (const auto& r : records) ReleaseLocked(r.seg, removals);
    }
    Remove(removals);
    return result;
  }

  // A range [off, off+bytes) reserved by a publication that did not happen.
  void Abandon(const std::shared_ptr<Segment>& seg, uint64_t off, uint64_t bytes) {
    (void)Punch(seg->fd, off, bytes, seg->path);
    Removals removals;
    {
      std::lock_guard lock(mu);
      ReleaseLocked(seg, removals);
    }
    Remove(removals);
  }

  uint64_t SegmentBytes() const {
    if (opt.segment_bytes > 0) return AlignUp(std::max(opt.segment_bytes, RecordBytes(opt.max_packed_bytes)));
    return AlignUp(std::max(kMinSegmentBytes, 8 * RecordBytes(opt.max_packed_bytes)));
  }

  // A new segment: written with zeros and synced as .tmp, then renamed into
  // place and the directory synced, so that writing a record into it later
  // changes no metadata and nothing about it can be lost once its data is
  // synced.
  Result<std::shared_ptr<Segment>> PrepareSegment(uint64_t number) {
    const std::string path = seg_dir + "/" + SegmentName(number);
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return tl::unexpected(IoError("open", tmp, errno));
    auto fail = [&](Error e) -> Result<std::shared_ptr<Segment>> {
      ::close(fd);
      ::unlink(tmp.c_str());
      return tl::unexpected(std::move(e));
    };
    const uint64_t size = SegmentBytes();
    static const std::vector<uint8_t> zeros(256u << 10);
    // A chunk at a time, each written out before the next: the uploads'
    // own syncs never queue behind tens of MiB of zeros, and the final
    // fdatasync has only the metadata left. The zeros leave the page cache
    // (a record overwrites whole blocks, so none is read back).
    for (uint64_t off = 0; off < size;) {
      if (stopping.load()) return fail(Error{ErrorCode::kIo, "the blob store is closing"});
      const uint64_t n = std::min<uint64_t>(zeros.size(), size - off);
      if (auto w = WriteAllAt(fd, zeros.data(), n, off, tmp); !w) return fail(w.error());
      if (::sync_file_range(fd, static_cast<off_t>(off), static_cast<off_t>(n),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
        return fail(IoError("sync_file_range", tmp, errno));
      }
      (void)::posix_fadvise(fd, static_cast<off_t>(off), static_cast<off_t>(n), POSIX_FADV_DONTNEED);
      off += n;
    }
    if (::fdatasync(fd) != 0) return fail(IoError("fdatasync", tmp, errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(IoError("rename", tmp, errno));
    if (auto s = SyncDirectory(seg_dir); !s) {
      ::close(fd);
      ::unlink(path.c_str());
      return tl::unexpected(s.error());
    }
    return std::make_shared<Segment>(number, path, fd, size);
  }

  void PrepareLoop() {
    std::unique_lock lock(mu);
    while (!stop) {
      if (spare) {
        cv.wait(lock);
        continue;
      }
      const uint64_t number = next_number++;
      lock.unlock();
      auto seg = PrepareSegment(number);
      lock.lock();
      if (seg) {
        spare = std::move(*seg);
        spare->writable = true;
        segments[number] = spare;
        prepare_error.reset();
        cv.notify_all();
      } else {
        std::fprintf(stderr, "xgwd: cannot prepare a blob segment: %s\n", ToString(seg.error()).c_str());
        prepare_error = seg.error();
        cv.notify_all();
        cv.wait_for(lock, std::chrono::seconds(1), [this] { return stop; });
      }
    }
  }

  // At Open: the records of `seg` into the index; every other range (a
  // write cut short by a crash, zeros never used) punched.
  Result<void> Scan(const std::shared_ptr<Segment>& seg) {
    constexpr uint64_t kChunk = 256u << 10;
    std::vector<uint8_t> buf(kChunk);
    std::optional<uint64_t> run;  // start of a range that is no record
    bool punched = false;
    auto end_run = [&](uint64_t at) -> Result<void> {
      if (run && at > *run) {
        XGW_CHECK(Punch(seg->fd, *run, at - *run, seg->path));
        ++punched_at_open;
        punched = true;
      }
      run.reset();
      return {};
    };
    uint64_t off = 0;
    while (off < seg->size) {
      const off_t data = ::lseek(seg->fd, static_cast<off_t>(off), SEEK_DATA);
      if (data < 0) {
        if (errno != ENXIO) return tl::unexpected(IoError("lseek", seg->path, errno));
        XGW_CHECK(end_run(off));  // only a hole is left
        off = seg->size;
        break;
      }
      if (static_cast<uint64_t>(data) > off) {
        XGW_CHECK(end_run(off));
        off = static_cast<uint64_t>(data) / kBlock * kBlock;
        if (off >= seg->size) break;
      }
      const uint64_t want = std::min<uint64_t>(kChunk, seg->size - off);
      ssize_t n;
      do {
        n = ::pread(seg->fd, buf.data(), want, static_cast<off_t>(off));
      } while (n < 0 && errno == EINTR);
      if (n < 0) return tl::unexpected(IoError("pread", seg->path, errno));
      uint64_t pos = 0;
      bool jumped = false;
      for (; pos + kHeaderBytes <= static_cast<uint64_t>(n); pos += kBlock) {
        const uint64_t at = off + pos;
        if (auto h = ParseHeader(buf.data() + pos); h && at + RecordBytes(h->second) <= seg->size) {
          XGW_CHECK(end_run(at));
          XGW_CHECK(AddAtOpen(seg, h->first, at, h->second));
          off = at + RecordBytes(h->second);
          jumped = true;
          break;
        }
        if (!run) run = at;
      }
      if (jumped) continue;
      if (pos == 0) break;
      off += pos;
    }
    if (!run && off < seg->size) run = off;
    XGW_CHECK(end_run(seg->size));
    if (punched) XGW_CHECK(SyncFile(seg->fd, seg->path));
    return {};
  }

  // A record found at Open. Of two records of one id the later one is kept
  // (ranges are handed out in order): an earlier one was unpublished (its
  // punch not synced before a crash) before the id was published again.
  Result<void> AddAtOpen(const std::shared_ptr<Segment>& seg, const std::string& id, uint64_t off, uint64_t size) {
    if (auto it = index.find(id); it != index.end()) {
      const Record& old = it->second;
      XGW_CHECK(Punch(old.seg->fd, old.offset, RecordBytes(old.size), old.seg->path));
      XGW_CHECK(SyncFile(old.seg->fd, old.seg->path));
      --old.seg->records;
      ++punched_at_open;
    }
    index[id] = Record{seg, off, size, std::make_shared<std::atomic<bool>>(false)};
    ++seg->records;
    return {};
  }
};

namespace {

using State = SegmentBlobStore::State;

class PendingPacked final : public PendingBlob {
 public:
  PendingPacked(std::shared_ptr<State> st, std::string id, uint64_t limit, std::shared_ptr<std::atomic<bool>> discarded)
      : st_(std::move(st)), id_(std::move(id)), limit_(limit), discarded_(std::move(discarded)) {
    buf_.reserve(kHeaderBytes + std::min<uint64_t>(limit_, 64u << 10));
    buf_.resize(kHeaderBytes);
  }
  ~PendingPacked() override {
    if (state_ == State_::kWriting) Forget();
  }

  Result<void> Write(std::span<const uint8_t> data) override {
    if (state_ != State_::kWriting) return Fail(ErrorCode::kConflict, "the blob is no longer being written");
    if (size_ + data.size() > limit_) return Fail(ErrorCode::kLimit, "the blob is larger than announced");
    buf_.insert(buf_.end(), data.begin(), data.end());
    size_ += data.size();
    return {};
  }
  Result<void> Finish() override { return {}; }
  uint64_t size() const override { return size_; }

  Result<std::unique_ptr<ByteSource>> ReadBack() override {
    if (state_ != State_::kWriting) return Fail(ErrorCode::kConflict, "the blob is no longer pending");
    return std::unique_ptr<ByteSource>(
        std::make_unique<MemorySource>(std::span<const uint8_t>(buf_).subspan(kHeaderBytes)));
  }

  Result<void> Publish() override {
    const auto conflict = [] { return Fail(ErrorCode::kConflict, "the blob cannot be published"); };
    if (state_ != State_::kWriting) return conflict();
    // One id space over both stores: never beside a file blob of this id.
    struct stat st{};
    if (::stat(st_->files->BlobPath(id_).c_str(), &st) == 0) return conflict();
    const uint64_t bytes = RecordBytes(size_);
    FillHeader(buf_.data(), id_, size_);
    // Whole blocks: a partial one would make the kernel read it first.
    buf_.resize(bytes, 0);
    State::Removals removals;
    std::shared_ptr<Segment> seg;
    uint64_t off = 0;
    {
      std::unique_lock lock(st_->mu);
      if (discarded_->load() || st_->index.contains(id_)) return conflict();
      auto reserved = st_->ReserveLocked(lock, bytes, removals);
      if (!reserved) {
        lock.unlock();
        st_->Remove(removals);
        return tl::unexpected(reserved.error());
      }
      std::tie(seg, off) = std::move(*reserved);
    }
    st_->Remove(removals);
    if (auto w = WriteAllAt(seg->fd, buf_.data(), buf_.size(), off, seg->path); !w) {
      st_->Abandon(seg, off, bytes);
      return w;
    }
    {
      std::lock_guard lock(st_->mu);
      if (!discarded_->load() && !st_->index.contains(id_)) {
        st_->index[id_] = Record{seg, off, size_, std::make_shared<std::atomic<bool>>(false)};
        if (auto it = st_->pending.find(id_); it != st_->pending.end() && it->second == discarded_) {
          st_->pending.erase(it);
        }
        state_ = State_::kPublished;
      }
    }
    if (state_ != State_::kPublished) {
      st_->Abandon(seg, off, bytes);
      return conflict();
    }
    // After the write: a sync that starts from now on covers it.
    ticket_ = seg->sync.Changed();
    seg_ = std::move(seg);
    off_ = off;
    std::vector<uint8_t>().swap(buf_);
    return {};
  }

  Result<void> AwaitDurable() override {
    if (state_ != State_::kPublished) return Fail(ErrorCode::kConflict, "the blob was not published");
    XGW_CHECK(seg_->sync.SyncedPast(ticket_));
    if (seg_->failed.load()) return Fail(ErrorCode::kIo, "an fdatasync of " + seg_->path + " failed");
    return {};
  }

  void Unpublish() override {
    if (state_ == State_::kPublished) {
      std::optional<Record> r;
      {
        std::lock_guard lock(st_->mu);
        r = st_->TakeLocked(id_, seg_.get(), off_);
      }
      // Not synced: after a crash the record is an orphan, removed again.
      if (r) (void)st_->Drop({*r}, false);
    } else if (state_ == State_::kWriting) {
      Forget();
    }
    state_ = State_::kGone;
  }

  void Discard() override {
    if (state_ == State_::kWriting) Forget();
    state_ = State_::kGone;
    std::vector<uint8_t>().swap(buf_);
  }

 private:
  enum class State_ { kWriting, kPublished, kGone };
  void Forget() {
    std::lock_guard lock(st_->mu);
    if (auto it = st_->pending.find(id_); it != st_->pending.end() && it->second == discarded_) st_->pending.erase(it);
  }

  std::shared_ptr<State> st_;
  std::string id_;
  uint64_t limit_;
  std::shared_ptr<std::atomic<bool>> discarded_;
  std::vector<uint8_t> buf_;  // header room, then the ciphertext
  uint64_t size_ = 0;
  State_ state_ = State_::kWriting;
  std::shared_ptr<Segment> seg_;
  uint64_t off_ = 0;
  DirectorySync::Ticket ticket_ = 0;
};

// The names in `dir`, sorted.
Result<std::vector<std::string>> Names(const std::string& dir) {
  XGW_TRY(auto names, DirectoryNames(dir));
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

SegmentBlobStore::SegmentBlobStore(std::shared_ptr<State> state) : state_(std::move(state)) {}

SegmentBlobStore::~SegmentBlobStore() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
    state_->stopping = true;
    state_->cv.notify_all();
  }
  if (state_->preparer.joinable()) state_->preparer.join();
}

Result<std::unique_ptr<SegmentBlobStore>> SegmentBlobStore::Open(const std::string& dir, SegmentBlobOptions options) {
  auto st = std::make_shared<State>();
  st->dir = dir;
  st->seg_dir = dir + "/segments";
  st->opt = options;
  XGW_TRY(st->files, FileBlobStore::Open(dir));
  if (::mkdir(st->seg_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return tl::unexpected(IoError("mkdir", st->seg_dir, errno));
  }
  XGW_TRY(auto names, Names(st->seg_dir));
  bool removed_any = false;
  for (const auto& name : names) {
    const std::string path = st->seg_dir + "/" + name;
    if (name.ends_with(".seg.tmp")) {  // a segment whose preparation was cut short
      removed_any |= ::unlink(path.c_str()) == 0;
      continue;
    }
    const auto number = SegmentNumber(name);
    if (!number) continue;
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return tl::unexpected(IoError("open", path, errno));
    struct stat sb{};
    if (::fstat(fd, &sb) != 0) {
      const int err = errno;
      ::close(fd);
      return tl::unexpected(IoError("fstat", path, err));
    }
    auto seg = std::make_shared<Segment>(*number, path, fd, static_cast<uint64_t>(sb.st_size));
    st->next_number = std::max(st->next_number, *number + 1);
    st->segments[*number] = seg;
    XGW_CHECK(st->Scan(seg));
  }
  // Segments left without a record (all deleted, or a spare never used).
  for (auto it = st->segments.begin(); it != st->segments.end();) {
    if (it->second->records == 0) {
      removed_any |= ::unlink(it->second->path.c_str()) == 0;
      it = st->segments.erase(it);
    } else {
      ++it;
    }
  }
  if (removed_any) XGW_CHECK(SyncDirectory(st->seg_dir));
  if (st->opt.max_packed_bytes > 0) {
    st->preparer = std::thread([raw = st.get()] { raw->PrepareLoop(); });
  }
  return std::unique_ptr<SegmentBlobStore>(new SegmentBlobStore(std::move(st)));
}

Result<std::unique_ptr<PendingBlob>> SegmentBlobStore::Create(const std::string& id, uint64_t expected_max) {
  State& st = *state_;
  if (st.opt.max_packed_bytes == 0 || expected_max > st.opt.max_packed_bytes || id.empty() ||
      id.size() > kMaxIdBytes) {
    return st.files->Create(id, expected_max);
  }
  const auto busy = [] { return Fail(ErrorCode::kConflict, "an upload of this exchange is in progress"); };
  struct stat sb{};
  if (::stat(st.files->PendingPath(id).c_str(), &sb) == 0) return busy();
  auto discarded = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(st.mu);
    if (!st.pending.emplace(id, discarded).second) return busy();
  }
  return std::unique_ptr<PendingBlob>(std::make_unique<PendingPacked>(state_, id, expected_max, std::move(discarded)));
}

Result<StoredBlob> SegmentBlobStore::Read(const std::string& id) {
  std::optional<Record> r;
  {
    std::lock_guard lock(state_->mu);
    if (auto it = state_->index.find(id); it != state_->index.end()) r = it->second;
  }
  if (!r) return state_->files->Read(id);
  const uint64_t size = r->size;
  return StoredBlob{std::make_unique<PackedSource>(std::move(*r)), size};
}

Result<void> SegmentBlobStore::Delete(const std::string& id) {
  State& st = *state_;
  std::optional<Record> r;
  {
    std::lock_guard lock(st.mu);
    if (auto it = st.pending.find(id); it != st.pending.end()) {
      it->second->store(true);
      st.pending.erase(it);
    }
    r = st.TakeLocked(id);
  }
  if (!r) return st.files->Delete(id);
  ::unlink(st.files->PendingPath(id).c_str());  // an upload of it in progress, if any
  return st.Drop({*r}, true);
}

Result<std::vector<std::string>> SegmentBlobStore::List() {
  XGW_TRY(auto ids, state_->files->List());
  std::lock_guard lock(state_->mu);
  ids.reserve(ids.size() + state_->index.size());
  for (const auto& [id, r] : state_->index) ids.push_back(id);
  return ids;
}

Result<uint64_t> SegmentBlobStore::RemoveOrphans(const std::vector<std::string>& ids) {
  State& st = *state_;
  std::vector<Record> taken;
  std::vector<std::string> files;
  {
    std::lock_guard lock(st.mu);
    for (const auto& id : ids) {
      if (auto r = st.TakeLocked(id)) taken.push_back(std::move(*r));
      else files.push_back(id);
    }
  }
  // Best effort, as with files: an orphan that comes back after a crash is
  // removed again.
  (void)st.Drop(taken, true);
  uint64_t removed = taken.size();
  if (!files.empty()) {
    XGW_TRY(auto n, st.files->RemoveOrphans(files));
    removed += n;
  }
  return removed;
}

Result<uint64_t> SegmentBlobStore::DiscardAllPending() {
  uint64_t n = 0;
  {
    std::lock_guard lock(state_->mu);
    for (auto& [id, flag] : state_->pending) flag->store(true);
    n = state_->pending.size();
    state_->pending.clear();
  }
  XGW_TRY(auto files, state_->files->DiscardAllPending());
  return n + files;
}

SegmentBlobStore::Stats SegmentBlobStore::stats() const {
  std::lock_guard lock(state_->mu);
  return Stats{state_->index.size(), state_->segments.size(), state_->punched_at_open};
}

Result<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& dir, uint64_t packed_max_bytes) {
  struct stat sb{};
  if (packed_max_bytes > 0 || ::stat((dir + "/segments").c_str(), &sb) == 0) {
    XGW_TRY(auto s, SegmentBlobStore::Open(dir, {.max_packed_bytes = packed_max_bytes}));
    return std::unique_ptr<BlobStore>(std::move(s));
  }
  XGW_TRY(auto f, FileBlobStore::Open(dir));
  return std::unique_ptr<BlobStore>(std::move(f));
}

}  // namespace xgw
