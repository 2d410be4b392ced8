#!/usr/bin/env bash
# Fuzzes SequentHTTP's request parser (Sources/fuzz-http) with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz-http.sh                 # 30 s
#   FUZZ_SECONDS=600 scripts/fuzz-http.sh
#
# Exits non-zero when the fuzzer finds a crash, a broken invariant, a slow input or an oversized allocation; the
# input that did it is kept in .build-fuzz/artifacts/. Builds in its own scratch directory (the flags below apply to
# every module, so they must not share one with normal builds).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
# One combined -sanitize flag, not SwiftPM's `--sanitize fuzzer --sanitize address`: SwiftPM passes those as two
# separate -sanitize= options in an order that varies from run to run, and the driver keeps only the last one, so
# a build got either no coverage instrumentation (libFuzzer then fuzzes blind: "no interesting inputs were found")
# or no AddressSanitizer. Passed through -Xswiftc it reaches both the compiles and the link.
flags=(--scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address
       -Xswiftc -parse-as-library -Xswiftc -DFUZZING)

swift build "${flags[@]}" --product fuzz-http
binary="$(swift build "${flags[@]}" --show-bin-path)/fuzz-http"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
corpus="$work/corpus"
artifacts=".build-fuzz/artifacts"
mkdir -p "$corpus" "$artifacts"

# Seed corpus: a few valid requests covering each framing, so mutation starts from the interesting paths.
# (The fuzz target splits each input where its first byte says, so the seeds' first bytes vary that too.)
seed() { printf '%b' "$2" > "$corpus/$1"; }
seed get 'GET /v1/jobs?state=running&limit=5 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n'
seed head 'HEAD /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
seed post-length 'POST /v1/jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"name":1}\n'
seed post-chunked 'POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n'
seed expect 'PUT /v1/models/m%201:predict HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n'
seed spool-length 'POST /spool HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello'
seed spool-chunked '+POST /spool HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /spool HTTP/1.1\r\n\r\n'
seed pipelined 'GET /a HTTP/1.1\r\n\r\nPOST /b?x=a+b%20c HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET http://h/c HTTP/1.1\r\nConnection: close\r\n\r\n'

# Tokens libFuzzer splices in; without them it rarely builds a valid header name or chunk line by chance.
cat > "$work/http.dict" <<'DICT'
"\x0d\x0a"
"\x0d\x0a\x0d\x0a"
" HTTP/1.1\x0d\x0a"
" HTTP/1.0\x0d\x0a"
"HTTP/2.0"
"GET "
"POST "
"/spool "
"PUT "
"HEAD "
"Content-Length: "
"Transfer-Encoding: chunked"
"Transfer-Encoding: gzip, chunked"
"Expect: 100-continue"
"Connection: close"
"0\x0d\x0a\x0d\x0a"
";ext=v"
"%20"
"%zz"
"?a=b&c"
DICT

status=0
SWIFT_BACKTRACE=enable=no "$binary" "$corpus" -dict="$work/http.dict" -max_total_time="$seconds" \
    -timeout=5 -malloc_limit_mb=64 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" || status=$?
if [ "$status" -ne 0 ]; then
    echo "fuzz-http: the fuzzer failed (exit $status); reproducing input(s) in $artifacts/:" >&2
    ls -l "$artifacts" >&2 || true
    exit "$status"
fi
echo "fuzz-http: no failures in ${seconds} s"
