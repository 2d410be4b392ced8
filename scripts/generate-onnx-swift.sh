#!/usr/bin/env bash
# Regenerates Sources/SequentONNX/Generated/onnx.pb.swift from an onnx.proto (not part of the build: the
# generated file is committed). Needs Debian's protobuf-compiler and swift-protobuf's protoc-gen-swift, built
# once (about 5 minutes on 2 cores):
#   git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf && cd /tmp/swift-protobuf \
#     && git checkout 1.39.0 && swift build -c release --product protoc-gen-swift
# Usage: scripts/generate-onnx-swift.sh PATH/TO/onnx.proto PATH/TO/protoc-gen-swift
# Then update the version, sha256 and protoc version in the header below and in Generated/NOTICE.
set -euo pipefail
proto="$1" plugin="$2"
out="$(cd "$(dirname "$0")/.." && pwd)/Sources/SequentONNX/Generated"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/onnx.proto"
(cd "$work" && protoc --plugin=protoc-gen-swift="$plugin" --swift_out=. --swift_opt=Visibility=Internal onnx.proto)
sha="$(sha256sum "$work/onnx.proto" | cut -d' ' -f1)"
{
    # The committed file's own header (everything before protoc-gen-swift's "DO NOT EDIT") says where the
    # proto came from; it is kept.
    sed '/^\/\/ DO NOT EDIT\./,$d' "$out/onnx.pb.swift"
    cat "$work/onnx.pb.swift"
} > "$work/with-header.swift"
mv "$work/with-header.swift" "$out/onnx.pb.swift"
echo "wrote $out/onnx.pb.swift from onnx.proto sha256 $sha ($(protoc --version))"
