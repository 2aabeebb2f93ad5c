#!/bin/sh
# First step of the image build: the packages must come from somewhere. With WHEELS=local the
# wheel folder of the build context must hold wheels; with WHEELS=pypi the index must answer.
# Either way a build that cannot get its packages stops here, with one line that says the fix,
# instead of failing minutes later inside pip.
set -eu
wheels=${1:?wheel folder}
source=${2:?pypi or local}
index=${3:?index url}
case "$source" in
local)
    if ! ls "$wheels"/*.whl >/dev/null 2>&1; then
        echo "ce2nce build: WHEELS=local but containers/wheels/ holds no wheel: fetch them" \
            "first on a machine with network (containers/build.sh does), or build with" \
            "--build-arg WHEELS=pypi" >&2
        exit 1
    fi ;;
pypi)
    if ! python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=20)" \
        "$index" >/dev/null 2>&1; then
        echo "ce2nce build: cannot reach $index (no network in this build?): build with" \
            "network, or fetch the wheels into containers/wheels first (containers/build.sh" \
            "does) and build with --build-arg WHEELS=local" >&2
        exit 1
    fi ;;
*)
    echo "ce2nce build: WHEELS=$source: use pypi or local" >&2
    exit 1 ;;
esac
