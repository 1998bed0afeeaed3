// Where `-o PATH` writes. Every output path used here lies inside the test's
// own temporary directory: the non-regular file is a FIFO made there, never
// a device of the machine.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "client/cli.h"
#include "crypto/age.h"
#include "crypto/keyfile.h"

using namespace xgw;
using xgw::cli::IfExists;
using xgw::cli::Output;

namespace {

struct ScopedDir {
  std::string path;
  ScopedDir() {
    std::string pattern =
        std::filesystem::temp_directory_path().string() + "/xgw-output-test-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    path = buf.data();
  }
  ~ScopedDir() { std::filesystem::remove_all(path); }
};

// Runs build/bin/xgw with `args` (a shell word list) in `dir`, stdout and
// stderr into files there; returns the exit code and sets *err to stderr.
int RunXgw(const std::string& dir, const std::string& args, std::string* err = nullptr) {
  std::string cmd = "cd '" + dir + "' && " + std::string(XGW_BIN_DIR) + "/xgw " + args +
                    " >xgw.stdout 2>xgw.stderr";
  int status = std::system(cmd.c_str());
  if (err != nullptr) {
    std::ifstream in(dir + "/xgw.stderr", std::ios::binary);
    err->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::filesystem::remove(dir + "/xgw.stdout");
  std::filesystem::remove(dir + "/xgw.stderr");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

bool IsFifo(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

// A FIFO in the test's directory, read by a thread for as long as it lives.
// The test keeps a write end open itself, so that neither side's open()
// blocks and the reader sees end of stream only after Finish(): a command
// that replaces the FIFO instead of writing into it cannot hang the test.
class FifoReader {
 public:
  explicit FifoReader(std::string path) : path_(std::move(path)) {
    REQUIRE(::mkfifo(path_.c_str(), 0600) == 0);
    hold_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(hold_ >= 0);
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    reader_ = std::thread([this, fd] {
      char buf[65536];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        got_.append(buf, static_cast<size_t>(n));
      ::close(fd);
    });
  }
  ~FifoReader() { Finish(); }
  // Closes the test's write end and returns everything read.
  const std::string& Finish() {
    if (hold_ >= 0) {
      ::close(hold_);
      hold_ = -1;
      reader_.join();
    }
    return got_;
  }

 private:
  std::string path_;
  int hold_ = -1;
  std::thread reader_;
  std::string got_;
};

// A key pair in dir/key.txt and a random-ish plaintext dir/plain.bin
// (invented bytes, no person in it).
struct Keys {
  std::string recipient;
  std::string plain;
  explicit Keys(const std::string& dir) {
    auto id = age::X25519Identity::Generate();
    recipient = id.Recipient().String();
    REQUIRE(age::WriteIdentityFile(dir + "/key.txt", id, nullptr));
    for (int i = 0; i < 200000; ++i) plain.push_back(static_cast<char>('a' + (i * 7919) % 26));
    WriteFile(dir + "/plain.bin", plain);
  }
};

}  // namespace

TEST_CASE("DecryptIntoAFifoWritesThroughItAndLeavesItAFifo") {
  ScopedDir dir;
  Keys keys(dir.path);
  REQUIRE(RunXgw(dir.path, "encrypt -r " + keys.recipient + " -o c.age plain.bin") == 0);
  FifoReader fifo(dir.path + "/out.fifo");
  CHECK(RunXgw(dir.path, "decrypt -i key.txt -o out.fifo c.age") == 0);
  CHECK(fifo.Finish() == keys.plain);
  CHECK(IsFifo(dir.path + "/out.fifo"));
  // Nothing was created beside it (no temporary file left, none renamed).
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path),
                      std::filesystem::directory_iterator()) == 4);
}

TEST_CASE("EncryptIntoAFifoWritesThroughItAndLeavesItAFifo") {
  ScopedDir dir;
  Keys keys(dir.path);
  FifoReader fifo(dir.path + "/c.fifo");
  CHECK(RunXgw(dir.path, "encrypt -r " + keys.recipient + " -o c.fifo plain.bin") == 0);
  const std::string cipher = fifo.Finish();
  CHECK(IsFifo(dir.path + "/c.fifo"));
  REQUIRE(cipher.starts_with("age-encryption.org/v1\n"));
  WriteFile(dir.path + "/c.age", cipher);
  CHECK(RunXgw(dir.path, "decrypt -i key.txt -o round.bin c.age") == 0);
  CHECK(ReadFile(dir.path + "/round.bin") == keys.plain);
}

TEST_CASE("AnExistingRegularOutputFileIsRefusedUnchangedWithoutForceAndReplacedWithIt") {
  ScopedDir dir;
  Keys keys(dir.path);
  REQUIRE(RunXgw(dir.path, "encrypt -r " + keys.recipient + " -o c.age plain.bin") == 0);
  WriteFile(dir.path + "/out.csv", "an earlier list\n");
  std::string err;
  CHECK(RunXgw(dir.path, "decrypt -i key.txt -o out.csv c.age", &err) == 1);
  CHECK(ReadFile(dir.path + "/out.csv") == "an earlier list\n");
  CHECK(err.find("out.csv") != std::string::npos);
  CHECK(err.find("--force") != std::string::npos);
  // encrypt refuses the same way, and leaves no temporary file behind.
  CHECK(RunXgw(dir.path, "encrypt -r " + keys.recipient + " -o out.csv plain.bin", &err) == 1);
  CHECK(ReadFile(dir.path + "/out.csv") == "an earlier list\n");
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path),
                      std::filesystem::directory_iterator()) == 4);

  CHECK(RunXgw(dir.path, "decrypt --force -i key.txt -o out.csv c.age") == 0);
  CHECK(ReadFile(dir.path + "/out.csv") == keys.plain);
  struct stat st {};
  REQUIRE(::stat((dir.path + "/out.csv").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);  // plaintext
  CHECK(RunXgw(dir.path, "encrypt --force -r " + keys.recipient + " -o c.age plain.bin") == 0);
  CHECK(ReadFile(dir.path + "/c.age").starts_with("age-encryption.org/v1\n"));
}

TEST_CASE("ASymlinkToAFileIsRefusedWithoutForceAndWithItTheFileIsReplacedAndTheLinkKept") {
  ScopedDir dir;
  Keys keys(dir.path);
  REQUIRE(RunXgw(dir.path, "encrypt -r " + keys.recipient + " -o c.age plain.bin") == 0);
  std::filesystem::create_directory(dir.path + "/lists");
  WriteFile(dir.path + "/lists/target.csv", "an earlier list\n");
  std::filesystem::create_symlink("lists/target.csv", dir.path + "/latest.csv");

  CHECK(RunXgw(dir.path, "decrypt -i key.txt -o latest.csv c.age") == 1);
  CHECK(ReadFile(dir.path + "/lists/target.csv") == "an earlier list\n");
  CHECK(std::filesystem::is_symlink(dir.path + "/latest.csv"));

  CHECK(RunXgw(dir.path, "decrypt --force -i key.txt -o latest.csv c.age") == 0);
  REQUIRE(std::filesystem::is_symlink(dir.path + "/latest.csv"));
  CHECK(std::filesystem::read_symlink(dir.path + "/latest.csv") == "lists/target.csv");
  CHECK(ReadFile(dir.path + "/lists/target.csv") == keys.plain);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path + "/lists"),
                      std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("ASymlinkToAFifoIsWrittenThroughAndBothStay") {
  ScopedDir dir;
  Keys keys(dir.path);
  REQUIRE(RunXgw(dir.path, "encrypt -r " + keys.recipient + " -o c.age plain.bin") == 0);
  FifoReader fifo(dir.path + "/out.fifo");
  std::filesystem::create_symlink("out.fifo", dir.path + "/link");
  CHECK(RunXgw(dir.path, "decrypt -i key.txt -o link c.age") == 0);
  CHECK(fifo.Finish() == keys.plain);
  CHECK(std::filesystem::is_symlink(dir.path + "/link"));
  CHECK(IsFifo(dir.path + "/out.fifo"));
}

TEST_CASE("ADanglingSymlinkIsRefusedAndNothingIsCreatedThroughIt") {
  ScopedDir dir;
  Keys keys(dir.path);
  REQUIRE(RunXgw(dir.path, "encrypt -r " + keys.recipient + " -o c.age plain.bin") == 0);
  std::filesystem::create_symlink("nowhere.csv", dir.path + "/link");
  for (const char* force : {"", "--force "}) {
    std::string err;
    CHECK(RunXgw(dir.path, std::string("decrypt ") + force + "-i key.txt -o link c.age", &err) ==
          1);
    CHECK(err.find("link") != std::string::npos);
    CHECK(std::filesystem::is_symlink(dir.path + "/link"));
    CHECK_FALSE(std::filesystem::exists(dir.path + "/nowhere.csv"));
  }
}

TEST_CASE("ANewOutputPathIsCreatedOnlyWhenTheCommandSucceeds") {
  ScopedDir dir;
  Keys keys(dir.path);
  REQUIRE(RunXgw(dir.path, "encrypt -r " + keys.recipient + " -o c.age plain.bin") == 0);
  std::string bad = ReadFile(dir.path + "/c.age");
  bad[bad.size() - 100] ^= 1;
  WriteFile(dir.path + "/bad.age", bad);
  CHECK(RunXgw(dir.path, "decrypt -i key.txt -o out.csv bad.age") == 1);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/out.csv"));
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path),
                      std::filesystem::directory_iterator()) == 4);
  CHECK(RunXgw(dir.path, "decrypt -i key.txt -o out.csv c.age") == 0);
  CHECK(ReadFile(dir.path + "/out.csv") == keys.plain);
}

// The command line looks at the path once, at the start; what happens to the
// path while a long command runs is caught when the output is committed.

TEST_CASE("AFileThatAppearsAtANewPathMeanwhileIsNotReplacedByCommit") {
  ScopedDir dir;
  const std::string path = dir.path + "/out.csv";
  auto out = Output::Open(path, 0600);
  REQUIRE(out);
  REQUIRE(out->sink().Write(AsBytes("a new list\n")));
  WriteFile(path, "another command's list\n");
  auto r = out->Commit();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kConflict);
  CHECK(r.error().message.find("--force") != std::string::npos);
  CHECK(ReadFile(path) == "another command's list\n");
  out = {};  // abandoned: its temporary file goes
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path),
                      std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("WithForceAFifoThatTookTheFilesPlaceMeanwhileIsNotReplaced") {
  ScopedDir dir;
  const std::string path = dir.path + "/out.csv";
  WriteFile(path, "an earlier list\n");
  auto out = Output::Open(path, 0600, IfExists::kReplace);
  REQUIRE(out);
  REQUIRE(out->sink().Write(AsBytes("a new list\n")));
  REQUIRE(::unlink(path.c_str()) == 0);
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  auto r = out->Commit();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kConflict);
  CHECK(IsFifo(path));
}

TEST_CASE("AnAbandonedOutputGivesAFifoNoBufferedBytesAndAFileNothing") {
  ScopedDir dir;
  {
    FifoReader fifo(dir.path + "/out.fifo");
    {
      auto out = Output::Open(dir.path + "/out.fifo", 0600);
      REQUIRE(out);
      REQUIRE(out->sink().Write(AsBytes("a partial list\n")));
    }  // no Commit: the command failed
    CHECK(fifo.Finish().empty());
  }
  {
    auto out = Output::Open(dir.path + "/new.csv", 0600);
    REQUIRE(out);
    REQUIRE(out->sink().Write(AsBytes("a partial list\n")));
  }
  CHECK_FALSE(std::filesystem::exists(dir.path + "/new.csv"));
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path),
                      std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("ANewFileGetsTheModeAskedAndAFifoKeepsItsOwn") {
  ScopedDir dir;
  auto out = Output::Open(dir.path + "/new.csv", 0600);
  REQUIRE(out);
  REQUIRE(out->Commit());
  struct stat st {};
  REQUIRE(::stat((dir.path + "/new.csv").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  FifoReader fifo(dir.path + "/out.fifo");
  REQUIRE(::chmod((dir.path + "/out.fifo").c_str(), 0620) == 0);
  auto to_fifo = Output::Open(dir.path + "/out.fifo", 0600, IfExists::kReplace);
  REQUIRE(to_fifo);
  REQUIRE(to_fifo->sink().Write(AsBytes("x")));
  REQUIRE(to_fifo->Commit());
  to_fifo = {};
  CHECK(fifo.Finish() == "x");
  REQUIRE(::stat((dir.path + "/out.fifo").c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK((st.st_mode & 07777) == 0620);
}

TEST_CASE("KeygenDashYRefusesAnExistingFileWithoutForceAndKeygenNeverTakesForce") {
  ScopedDir dir;
  Keys keys(dir.path);
  WriteFile(dir.path + "/recipients.txt", "an earlier recipient list\n");
  CHECK(RunXgw(dir.path, "keygen -y -o recipients.txt key.txt") == 1);
  CHECK(ReadFile(dir.path + "/recipients.txt") == "an earlier recipient list\n");
  CHECK(RunXgw(dir.path, "keygen -y --force -o recipients.txt key.txt") == 0);
  CHECK(ReadFile(dir.path + "/recipients.txt") == keys.recipient + "\n");
  const std::string before = ReadFile(dir.path + "/key.txt");
  CHECK(RunXgw(dir.path, "keygen --force -o key.txt") == 2);
  CHECK(ReadFile(dir.path + "/key.txt") == before);
}
