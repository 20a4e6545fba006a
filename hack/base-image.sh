#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The local stand-in for python:3.11-slim-bookworm, built from Debian's packages (no registry is
# needed), and imported into the engine of hack/engine.sh. Prints the image's name on stdout.
#
#   hack/engine.sh exec hack/base-image.sh
#
# As in the official image: Debian bookworm, `python` and `pip` in /usr/local/bin (a virtualenv made
# by Debian's python3.11 in /usr/local, so pip installs there instead of refusing with PEP 668),
# LANG=C.UTF-8, no documentation (the dpkg excludes of Debian's slim images, which also apply to
# packages the Dockerfile installs later). Unlike it: the machine's CA bundle, so that pip and apt
# inside a build trust the TLS of the registries this machine reaches.
#
# The image is named chatbot-base:bookworm-py3.11-<key>, the key a hash of its inputs (this script,
# the mirror, the CA bundle). A root filesystem tarball is kept under the cache, so an engine whose
# data was removed imports it again without debootstrap; neither is rebuilt while the key holds.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=bookworm
MIRROR=${CHATBOT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${CHATBOT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
PACKAGES=python3,python3-venv,ca-certificates

base_key() {
  {
    cat "${BASH_SOURCE[0]}"
    printf '%s\n' "${MIRROR}" "${SECURITY_MIRROR}"
    cat "${CA_BUNDLE}"
  } | sha256sum | cut -c1-12
}

# What Debian's slim images leave out, for debootstrap's packages and every later one alike.
write_dpkg_excludes() { # root
  cat >"$1/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  find "$1/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$1/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$1"/usr/share/{man,groff,info,lintian,linda,locale}/*
}

# As Debian's images for Docker configure apt: no package files or caches are left in a layer.
write_apt_config() { # root
  local conf="$1/etc/apt/apt.conf.d" clean
  clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true'
  printf 'DPkg::Post-Invoke { "%s"; };\nAPT::Update::Post-Invoke { "%s"; };\n' "${clean}" "${clean}" \
    >"${conf}/docker-clean"
  printf 'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' >>"${conf}/docker-clean"
  printf 'Acquire::Languages "none";\n' >"${conf}/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' >"${conf}/docker-gzip-indexes"
  printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"${conf}/docker-autoremove-suggests"
}

build_rootfs_tarball() { # tarball
  local root
  root=$(mktemp -d "${CACHE_ROOT}/base-rootfs.XXXXXX")
  # The rootfs holds device nodes and root-owned files: remove it whatever happens.
  # shellcheck disable=SC2064
  trap "rm -rf '${root}'" EXIT
  log "debootstrap ${SUITE} from ${MIRROR} (about 2 minutes)"
  nice -n 10 debootstrap --variant=minbase --include="${PACKAGES}" "${SUITE}" "${root}" "${MIRROR}" \
    >"${root}.log" 2>&1 || {
    tail -n 30 "${root}.log" >&2
    die "debootstrap failed (full log: ${root}.log)"
  }
  rm -f "${root}.log"
  cat >"${root}/etc/apt/sources.list" <<EOF
deb ${MIRROR} ${SUITE} main
deb ${MIRROR} ${SUITE}-updates main
deb ${SECURITY_MIRROR} ${SUITE}-security main
EOF
  write_dpkg_excludes "${root}"
  write_apt_config "${root}"
  cp "${CA_BUNDLE}" "${root}${CA_BUNDLE}"
  # The machine's bundle also as a local CA, so that a later update-ca-certificates keeps it.
  cp "${CA_BUNDLE}" "${root}/usr/local/share/ca-certificates/build-machine.crt"
  # /usr/local becomes a virtualenv of Debian's python3.11: python, pip, site-packages where the
  # official image has them. Its pip comes from the wheel python3-venv ships: no network needed.
  chroot "${root}" /usr/bin/python3 -m venv /usr/local
  rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/cache/apt/*.bin "${root}"/var/cache/apt/archives/*.deb "${root}"/var/log/*.log \
    "${root}"/var/cache/debconf/*-old "${root}"/usr/local/lib/python3.11/site-packages/*/__pycache__ \
    "${root}"/usr/local/lib/python3.11/site-packages/pip/_vendor/*/__pycache__
  tar --numeric-owner --xattrs -C "${root}" -czf "$1.partial" .
  mv "$1.partial" "$1"
  rm -rf "${root}"
  trap - EXIT
}

main() {
  command -v debootstrap >/dev/null || die "debootstrap is missing: run hack/install-system-deps.sh"
  [[ $(id -u) -eq 0 ]] || die "debootstrap and chroot need root: run as root (or with sudo)"
  [[ -n "${DOCKER_HOST:-}" ]] || die "no engine: run this as hack/engine.sh exec hack/base-image.sh"
  local key name dir
  key=$(base_key)
  name="chatbot-base:${SUITE}-py3.11-${key}"
  dir="${CACHE_ROOT}/base-image"
  mkdir -p "${dir}"
  exec 7>"${dir}/.lock"
  flock 7
  if ! docker image inspect "${name}" >/dev/null 2>&1; then
    [[ -s "${dir}/${key}.tar.gz" ]] || build_rootfs_tarball "${dir}/${key}.tar.gz"
    log "importing ${name}"
    docker import \
      -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV LANG=C.UTF-8' \
      -c 'CMD ["python3"]' \
      "${dir}/${key}.tar.gz" "${name}" >/dev/null
    # Tarballs of earlier keys are of no further use.
    find "${dir}" -maxdepth 1 -name '*.tar.gz' -not -name "${key}.tar.gz" -delete
  fi
  printf '%s\n' "${name}"
}

main "$@"
