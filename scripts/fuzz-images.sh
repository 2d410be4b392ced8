#!/usr/bin/env bash
# Fuzzes SequentData's image decoder (Sources/fuzz-images: libjpeg and libpng behind the CImageCodecs shim, EXIF
# parsing, orientation, alpha compositing) with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz-images.sh                 # 30 s
#   FUZZ_SECONDS=600 scripts/fuzz-images.sh
#
# Exits non-zero when the fuzzer finds a crash, a broken invariant, a leak, a slow input or an oversized allocation;
# the input that did it is kept in .build-fuzz-images/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
scratch=.build-fuzz-images
# As in fuzz-http.sh: one combined -sanitize flag through -Xswiftc (SwiftPM's `--sanitize fuzzer --sanitize address`
# reaches the driver as two options in a varying order and only the last one counts). In addition the C shim is
# compiled with coverage and ASan (-Xcc), since much of what is fuzzed (EXIF parsing, CMYK conversion, the error
# paths around libjpeg/libpng) is C. That changes every C module's flags, so this script has its own scratch
# directory rather than sharing fuzz-http's .build-fuzz.
flags=(--scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address
       -Xswiftc -parse-as-library -Xswiftc -DFUZZING)

swift build "${flags[@]}" --product fuzz-images
binary="$(swift build "${flags[@]}" --show-bin-path)/fuzz-images"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
corpus="$work/corpus"
artifacts="$scratch/artifacts"
mkdir -p "$corpus" "$artifacts"

# Seed corpus: tiny JPEGs and PNGs covering each decoder path, written by the fuzz binary itself with the module's
# encoders (no binary fixtures in the repository).
SEQUENT_FUZZ_WRITE_SEEDS="$corpus" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$binary"
ls "$corpus" | tr '\n' ' '; echo

# Markers and chunk names libFuzzer splices in; it rarely builds a valid segment header by chance.
cat > "$work/images.dict" <<'DICT'
"\xff\xd8\xff"
"\xff\xd9"
"\xff\xc0\x00\x11\x08"
"\xff\xc2\x00\x11\x08"
"\xff\xc4"
"\xff\xda"
"\xff\xdb"
"\xff\xdd\x00\x04"
"\xff\xd0"
"\xff\xe1"
"\xff\xee\x00\x0eAdobe"
"Exif\x00\x00"
"MM\x00\x2a\x00\x00\x00\x08"
"II\x2a\x00\x08\x00\x00\x00"
"\x01\x12\x00\x03\x00\x00\x00\x01"
"\x12\x01\x03\x00\x01\x00\x00\x00"
"\x89PNG\x0d\x0a\x1a\x0a"
"IHDR"
"PLTE"
"tRNS"
"IDAT"
"IEND"
"eXIf"
"gAMA"
"iCCP"
"zTXt"
DICT

status=0
SWIFT_BACKTRACE=enable=no "$binary" "$corpus" -dict="$work/images.dict" -max_total_time="$seconds" \
    -max_len=16384 -timeout=10 -malloc_limit_mb=256 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" || status=$?
if [ "$status" -ne 0 ]; then
    echo "fuzz-images: the fuzzer failed (exit $status); reproducing input(s) in $artifacts/:" >&2
    ls -l "$artifacts" >&2 || true
    exit "$status"
fi
echo "fuzz-images: no failures in ${seconds} s"
