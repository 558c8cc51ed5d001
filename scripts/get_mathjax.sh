#!/usr/bin/env bash
# Install a local MathJax 3 for the book, so that its math renders from disk with no network:
# the pinned npm package's tex-chtml.js and its CHTML fonts (about 1.6 MB) go to
# book/_extra/mathjax/, which the build copies to the top of the HTML (html_extra_path; not
# _static, whose .js files Jupyter Book would load on every page) and _config.yml's
# mathjax_path points at.
# npm checks the package against the registry's integrity hash; we check it against ours too.
# Usage: scripts/get_mathjax.sh   (idempotent; needs npm, or an existing copy)
set -euo pipefail
cd "$(dirname "$0")/.."
version=3.2.2
sha512=06df9249553c7811b6ef30a155ec0e89c62ced7b1db78d2a9b8f94a47c97ee4d3f3bd36588f73ec7bee4d7f144b0fb2328f64626fb5164cd6f3be81e5b43a11b
dest=book/_extra/mathjax
if [ -s "$dest/tex-chtml.js" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  echo "MathJax $version already in $dest"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source scripts/npm_unpack.sh
npm_unpack mathjax "$version" "$sha512" "$tmp" \
  "copy es5/tex-chtml.js and es5/output/chtml/fonts/woff-v2/ of mathjax@$version into $dest"
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/output/chtml/fonts"
cp "$tmp/package/es5/tex-chtml.js" "$tmp/package/LICENSE" "$dest.tmp/"
cp -r "$tmp/package/es5/output/chtml/fonts/woff-v2" "$dest.tmp/output/chtml/fonts/"
echo "$version" > "$dest.tmp/VERSION"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "MathJax $version installed in $dest"
