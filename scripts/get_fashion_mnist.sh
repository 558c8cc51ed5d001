#!/usr/bin/env bash
# Install Fashion-MNIST offline, from Debian's dataset-fashion-mnist package, into the layout
# torchvision's FashionMNIST reads with download=False: <root>/FashionMNIST/raw/<name> (the four
# files decompressed; the .gz files themselves do not match torchvision's checksums).
# Usage: scripts/get_fashion_mnist.sh [DATA_ROOT]   (default: $DVN_DATA, else data/)
set -euo pipefail
root=${1:-${DVN_DATA:-data}}
raw="$root/FashionMNIST/raw"
names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
done_already=1
for n in "${names[@]}"; do [ -s "$raw/$n" ] || done_already=0; done
if [ "$done_already" = 1 ]; then echo "Fashion-MNIST already in $raw"; exit 0; fi
if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null; then
    echo "error: Fashion-MNIST is not in $raw and apt-get is not available." >&2
    echo "Put the four files ${names[*]} (decompressed) in $raw, or let torchvision download them." >&2
    exit 1
  fi
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null || {
    $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null; }
fi
mkdir -p "$raw"
for n in "${names[@]}"; do
  src=$(dpkg -L dataset-fashion-mnist | grep "/$n.gz$" | head -n1)
  [ -n "$src" ] || { echo "error: dataset-fashion-mnist has no $n.gz" >&2; exit 1; }
  gunzip -c "$src" > "$raw/$n.tmp" && mv "$raw/$n.tmp" "$raw/$n"
done
echo "Fashion-MNIST installed in $raw"
