#!/usr/bin/env bash
# An upload in chunks against the same upload in one request, in the same
# run: the hidden test case BenchUploadInChunksAgainstOnePut of
# build/tests/e2e_upload_chunks_test uploads one encrypted synthetic CIR list
# to the real xgwd over TLS alternately as one PUT .../content and as chunks
# + finalize, and prints MB/s of each and the ratio (best of the rounds).
#
# usage: bench/gateway/chunks.sh [MIB [CHUNK_MIB [ROUNDS]]]   (default: 1024 8 2)
# Needs a build with -DXGW_TESTS=ON (targets xgwd e2e_upload_chunks_test).
# The test keeps the list and its ciphertext in memory (about 2.1 GB at 1 GiB).
set -euo pipefail
cd "$(dirname "$0")/../../build"
XGW_BENCH_CHUNKS_MIB="${1:-1024}" XGW_BENCH_CHUNK_MIB="${2:-8}" XGW_BENCH_ROUNDS="${3:-2}" \
  ./tests/e2e_upload_chunks_test "BenchUploadInChunksAgainstOnePut" | grep '^bench:'
