#!/bin/sh
# W2's real traces and libCacheSim's algorithms, in bench/.data/ (git-ignored,
# reused on re-runs): the libcachesim 0.3.5 sdist from PyPI (checked by its
# sha256) unpacked for its data files, and a venv with the libcachesim wheel
# (GPL; only ever in this venv, never a dependency of the library).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../.data"
version=0.3.5
sdist="libcachesim-$version.tar.gz"
url="https://files.pythonhosted.org/packages/af/c4/45905a3f8bc84593550af94a882795e78f2f2b200f90737ff8e4bdb71d5c/$sdist"
sha=a1512046ab45bc0e5f0a81e5673cd02209477ffeefcb17a05fa714a06371abfb
files="cloudPhysicsIO.csv twitter_cluster52.csv"
mkdir -p "$data"
cd "$data"
dir="libcachesim-$version/src/libCacheSim/data"
if [ ! -f "$dir/twitter_cluster52.csv" ] || [ ! -f "$dir/cloudPhysicsIO.csv" ]; then
    if [ ! -f "$sdist" ] || ! echo "$sha  $sdist" | sha256sum -c - >/dev/null 2>&1; then
        echo "bench-setup: downloading $sdist"
        curl -fsSL -o "$sdist.part" "$url"
        mv "$sdist.part" "$sdist"
    fi
    echo "$sha  $sdist" | sha256sum -c - >/dev/null
    tar xzf "$sdist" $(for f in $files; do echo "$dir/$f"; done)
    rm -f "$sdist"
fi
if [ ! -x venv/bin/python ] || ! venv/bin/python -c "import libcachesim" 2>/dev/null; then
    echo "bench-setup: creating the venv with libcachesim==$version"
    python3 -m venv venv
    venv/bin/pip install -q "libcachesim==$version"
fi
echo "bench-setup: traces in bench/.data/$dir, libCacheSim in bench/.data/venv"
