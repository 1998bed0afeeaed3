// The blob store contract (gateway/blob_store.h), on the embedded file
// store: what any other store (PostgreSQL large objects, S3) must also do.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "crypto/io.h"
#include "gateway/file_blob_store.h"
#include "temp_dir.h"

namespace {

using xgw::ErrorCode;
using xgw::FileBlobStore;
using xgw::test::TempDir;

using xgw::test::ReadAll;

std::unique_ptr<xgw::PendingBlob> Written(FileBlobStore& store, const std::string& id, const std::string& bytes) {
  auto blob = store.Create(id, bytes.size());
  REQUIRE(blob);
  REQUIRE((*blob)->Write(xgw::AsBytes(bytes)));
  REQUIRE((*blob)->Finish());
  return std::move(*blob);
}

}  // namespace

TEST_CASE("a pending blob is invisible until published, then durable and readable as written") {
  TempDir dir;
  auto store = FileBlobStore::Open(dir.path + "/blobs");
  REQUIRE(store);
  auto blob = Written(**store, "exc-1", "age bytes");
  CHECK_FALSE((*store)->Read("exc-1"));
  CHECK((*store)->List()->empty());
  auto back = blob->ReadBack();
  REQUIRE(back);
  CHECK(ReadAll(**back) == "age bytes");
  REQUIRE(blob->Publish());
  REQUIRE(blob->AwaitDurable());
  blob.reset();  // a published blob stays when its writer goes
  auto read = (*store)->Read("exc-1");
  REQUIRE(read);
  CHECK(read->size == 9);
  CHECK(ReadAll(*read->source) == "age bytes");
  CHECK(*(*store)->List() == std::vector<std::string>{"exc-1"});
}

TEST_CASE("publication never replaces a blob, and a second writer of one id is refused") {
  TempDir dir;
  auto store = FileBlobStore::Open(dir.path + "/blobs");
  REQUIRE(store);
  auto first = Written(**store, "exc-1", "first");
  auto busy = (*store)->Create("exc-1", 10);
  REQUIRE_FALSE(busy);
  CHECK(busy.error().code == ErrorCode::kConflict);
  REQUIRE(first->Publish());
  REQUIRE(first->AwaitDurable());
  auto second = Written(**store, "exc-1", "second");
  auto published = second->Publish();
  REQUIRE_FALSE(published);
  CHECK(published.error().code == ErrorCode::kConflict);
  second.reset();
  CHECK(ReadAll(*(*store)->Read("exc-1")->source) == "first");
  CHECK((*store)->DiscardAllPending().value() == 0);  // the refused one removed itself
}

TEST_CASE("discarded, unpublished and deleted blobs leave nothing behind") {
  TempDir dir;
  auto store = FileBlobStore::Open(dir.path + "/blobs");
  REQUIRE(store);
  auto a = Written(**store, "exc-a", "a");
  a->Discard();
  auto b = Written(**store, "exc-b", "b");
  REQUIRE(b->Publish());
  b->Unpublish();
  CHECK_FALSE((*store)->Read("exc-b"));
  auto c = Written(**store, "exc-c", "c");
  REQUIRE(c->Publish());
  REQUIRE(c->AwaitDurable());
  REQUIRE((*store)->Delete("exc-c"));
  REQUIRE((*store)->Delete("exc-c"));  // absent is not an error
  auto d = Written(**store, "exc-d", "d");
  auto gone = (*store)->Delete("exc-d");  // removes the pending one too
  REQUIRE(gone);
  CHECK(d->Publish().error().code == ErrorCode::kConflict);
  CHECK((*store)->List()->empty());
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path + "/blobs")) files += e.is_regular_file();
  CHECK(files == 0);
}

TEST_CASE("orphans and pending blobs are removed on request, counted") {
  TempDir dir;
  auto store = FileBlobStore::Open(dir.path + "/blobs");
  REQUIRE(store);
  for (const char* id : {"exc-1", "exc-2", "exc-3"}) {
    auto blob = Written(**store, id, id);
    REQUIRE(blob->Publish());
    REQUIRE(blob->AwaitDurable());
  }
  auto pending = Written(**store, "exc-4", "pending");
  CHECK((*store)->RemoveOrphans({"exc-1", "exc-3", "exc-9"}).value() == 2);
  CHECK(*(*store)->List() == std::vector<std::string>{"exc-2"});
  CHECK((*store)->DiscardAllPending().value() == 1);
  CHECK(pending->Publish().error().code == ErrorCode::kConflict);
}
