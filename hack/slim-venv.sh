#!/usr/bin/env bash
# Runs inside the Dockerfile's build stages, never on the host: trims a finished virtualenv before
# the runtime stage copies it (see docs/images.md, "What the images hold").
#
#   slim-venv VENV [PATH...]   PATHs relative to site-packages are removed too (unused subpackages)
#
# What goes: test suites that packages ship, and debug symbols of compiled extensions. What stays:
# the bytecode pip compiled at install, since the read-only root filesystem lets Python cache none
# at run time and every start would compile again.
set -euo pipefail
venv=$1
shift
site=$("${venv}/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
find "${site}" -mindepth 2 -type d -name tests -prune -exec rm -rf {} +
# Not the libraries auditwheel vendored into `<package>.libs/` (NumPy's OpenBLAS): patchelf rewrote
# their headers, and strip leaves them unloadable ("ELF load command address/offset not
# page-aligned": NumPy, hence semantic search, failed to import in the bot image).
find "${site}" -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} +
for path in "$@"; do
  [[ -e "${site}/${path}" ]] || { echo "slim-venv: ${site}/${path} does not exist" >&2; exit 1; }
  rm -rf "${site:?}/${path}"
done
