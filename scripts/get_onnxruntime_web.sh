#!/usr/bin/env bash
# Install ONNX Runtime Web for the deployment page's live demo, so that the reader's browser runs
# the exported levels with no network: the pinned npm package's WebAssembly build (the ES module
# ort.wasm.min.mjs and its ort-wasm-simd-threaded.{mjs,wasm}, about 14 MB) goes to
# book/_extra/ort/, which the build copies to the top of the HTML (html_extra_path).
# npm checks the package against the registry's integrity hash; we check it against ours too.
# Usage: scripts/get_onnxruntime_web.sh   (idempotent; needs npm, or an existing copy)
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.30.0
sha512=ab4cbe26baedba45d2cec05610c71c55fa97db92d19a8b171c5f8269126683ca590a5cdc57bb2f35ce2b298de32f4d956fb42644c0ecd528a0a91e025c07ca61
dest=book/_extra/ort
files="ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm"
if [ -s "$dest/ort-wasm-simd-threaded.wasm" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  echo "onnxruntime-web $version already in $dest"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source scripts/npm_unpack.sh
npm_unpack onnxruntime-web "$version" "$sha512" "$tmp" \
  "copy dist/{${files// /,}} of onnxruntime-web@$version into $dest"
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
for f in $files; do cp "$tmp/package/dist/$f" "$dest.tmp/"; done
cp "$tmp/package/package.json" "$dest.tmp/"  # names the version and its licence (MIT)
echo "$version" > "$dest.tmp/VERSION"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "onnxruntime-web $version installed in $dest"
