#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing, then vets and
# tests everything. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests drive for real are listed in test-deps.txt.
packages=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
while read -r cmd pkg; do
  case "$cmd" in ''|'#'*) continue ;; esac
  have "$cmd" || packages+=("$pkg")
done < test-deps.txt

if [ ${#packages[@]} -gt 0 ]; then
  echo "test.sh: installing ${packages[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# A missing tool now fails its test instead of skipping it.
export MEDCMDB_REQUIRE_TOOLS=1

echo "test.sh: go vet"
go vet ./...
echo "test.sh: go test"
go test -count=1 -timeout 40m "$@" ./...
# Each fuzz target also runs briefly beyond its seed corpus (go test above replays
# testdata/fuzz): MEDCMDB_FUZZTIME per target, 0 to skip. Long runs are recorded in
# bench/soak.md; a failure here leaves the crasher in testdata/fuzz for go test.
fuzztime="${MEDCMDB_FUZZTIME:-5s}"
if [ "$fuzztime" != "0" ]; then
  echo "test.sh: fuzz targets, $fuzztime each"
  grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sort -u | while IFS=: read -r file fn; do
    target="${fn#func }"
    pkg="./$(dirname "${file#./}")"
    if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "$pkg" 2>&1); then
      echo "$out"
      echo "test.sh: fuzz target $target in $pkg failed"
      exit 1
    fi
    echo "  $target ok"
  done
fi
echo "test.sh: deployment artefacts (deploy/check)"
(cd deploy/check && go vet ./... && go test -count=1 ./...)
