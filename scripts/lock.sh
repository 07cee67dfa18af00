#!/usr/bin/env bash
# Regenerate the two lock files from pyproject.toml, with hashes, keeping today's versions unless
# a package is named with --upgrade-package (uv's option; pass it through as arguments).
#   requirements.lock       what the service runs (the image installs only this)
#   requirements-test.lock  what the tests add on top of it
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
command -v "$UV" >/dev/null || { echo "needs uv: pip install uv (or UV=/path/to/uv)" >&2; exit 2; }
common=(--quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
        --no-header --annotation-style line --custom-compile-command "bash scripts/lock.sh")
old=$(mktemp -d)
trap 'rm -rf "$old"' EXIT
# Today's pins, without hashes, as constraints: a lock refresh changes nothing by itself.
sed -n 's/^\([A-Za-z0-9_.-]*==[^ ;\\]*\).*/\1/p' requirements.lock requirements-test.lock > "$old/pins.txt"
"$UV" pip compile pyproject.toml "${common[@]}" -c "$old/pins.txt" "$@" -o requirements.lock
"$UV" pip compile pyproject.toml --extra test "${common[@]}" -c "$old/pins.txt" "$@" -o "$old/all.lock"
# The constraints file is a temporary one: say what it was instead of where.
sed -i -E 's#-c [^ ,]*/pins.txt#the previous lock#' requirements.lock "$old/all.lock"
sed -i '1i # What the service runs, pinned with hashes. Regenerate with: bash scripts/lock.sh' requirements.lock
# The test lock is everything the test extra adds to the runtime lock.
python3 - "$old/all.lock" <<'PY'
import re, sys
def blocks(path):
    out, name = {}, None
    for line in open(path):
        m = re.match(r"^([A-Za-z0-9_.-]+)==", line)
        if m:
            name = m.group(1).lower()
            out[name] = line
        elif name and line.startswith(" "):
            out[name] += line
    return out
runtime = blocks("requirements.lock")
test = {k: v for k, v in blocks(sys.argv[1]).items() if k not in runtime}
with open("requirements-test.lock", "w") as f:
    f.write("# Test-only packages on top of requirements.lock. Regenerate with: bash scripts/lock.sh\n")
    f.writelines(test[k] for k in sorted(test))
PY
