#!/usr/bin/env bash
# Unpacks Python's safetensors package into DIR, with a Python to run it,
# for the export tests (TestExportSafetensors). Debian 12 packages neither
# safetensors nor a Python its Debian 13 build runs on, so the packages
# come from Debian 13 (trixie): python3-safetensors, python3-numpy (which
# safetensors reads tensors into), python3.13 and the C library it needs.
# They are unpacked, not installed: DIR/python3 runs that Python through
# the unpacked C library's loader and leaves the system as it was.
#
# Usage: fetch_safetensors_python.sh DIR
set -euo pipefail
dir=${1:?usage: fetch_safetensors_python.sh DIR}
if [ -x "$dir/python3" ] && "$dir/python3" -c 'import safetensors' 2>/dev/null; then
	exit 0
fi
command -v apt-get >/dev/null || { echo "apt-get not found: cannot fetch Debian's safetensors" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
apt="$dir/apt"
rm -rf "$apt" "$dir/root"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$dir/root"
# The machine's own Debian mirror (a proxy or a local copy may be all it
# reaches), else Debian's.
mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ' || true)
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} trixie main" >"$apt/sources.list"
opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1
	-o APT::Sandbox::User=root -qq)
apt-get "${opts[@]}" update
(cd "$apt/debs" && apt-get "${opts[@]}" download \
	python3-safetensors python3-numpy python3.13-minimal libpython3.13-minimal libpython3.13-stdlib libc6)
for deb in "$apt/debs"/*.deb; do
	dpkg-deb -x "$deb" "$dir/root"
done
rm -rf "$apt"
cat >"$dir/python3" <<'WRAP'
#!/bin/sh
# Debian 13's Python 3.13 with its safetensors and numpy, on its own C library.
root=$(dirname "$0")/root
lib=$root/usr/lib/x86_64-linux-gnu
PYTHONHOME=$root/usr PYTHONPATH=$root/usr/lib/python3/dist-packages PYTHONNOUSERSITE=1 \
	exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" \
	"$root/usr/bin/python3.13" "$@"
WRAP
chmod +x "$dir/python3"
"$dir/python3" -c 'import safetensors, numpy; print("safetensors", safetensors.__version__, "numpy", numpy.__version__, "in", __import__("sys").version.split()[0])'
