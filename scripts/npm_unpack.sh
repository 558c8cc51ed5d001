# Sourced by the scripts that vendor a pinned npm package into the book (get_mathjax.sh,
# get_onnxruntime_web.sh), so that the book needs no network when it is read: fetch the package
# once, check it against its pinned sha512, unpack it under DIR/package/.
#   npm_unpack NAME VERSION SHA512 DIR "what to copy by hand where npm is missing"
npm_unpack() {
  local name=$1 version=$2 sha512=$3 dir=$4 by_hand=$5
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed once to fetch $name $version (apt-get install -y npm), or $by_hand" >&2
    return 1
  fi
  (cd "$dir" && npm pack -q "$name@$version" >/dev/null 2>&1)
  echo "$sha512  $dir/$name-$version.tgz" | sha512sum -c --quiet -
  tar xzf "$dir/$name-$version.tgz" -C "$dir"
}
