#!/usr/bin/env bash
# Copies the one source of the CRDs, crds/*.yaml, into the chart (chart/files/crds/), which
# renders them in templates/crd-chatbots.yaml. tests/e2e/test_chart.py fails when they drift.
#
#   hack/sync-crds.sh           copy
#   hack/sync-crds.sh --check   exit 1, naming the files, if the chart's copy differs
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source_dir="${root}/crds"
chart_dir="${root}/chart/files/crds"

shopt -s nullglob
sources=("${source_dir}"/*.yaml)
((${#sources[@]})) || {
  echo "no CRDs in ${source_dir}" >&2
  exit 1
}

if [[ "${1:-}" == "--check" ]]; then
  status=0
  for file in "${sources[@]}"; do
    if ! cmp -s "${file}" "${chart_dir}/$(basename "${file}")"; then
      echo "chart/files/crds/$(basename "${file}") differs from crds/: run hack/sync-crds.sh" >&2
      status=1
    fi
  done
  for file in "${chart_dir}"/*.yaml; do
    [[ -f "${source_dir}/$(basename "${file}")" ]] || {
      echo "chart/files/crds/$(basename "${file}") has no source in crds/: remove it" >&2
      status=1
    }
  done
  exit "${status}"
fi

mkdir -p "${chart_dir}"
rm -f "${chart_dir}"/*.yaml
cp "${sources[@]}" "${chart_dir}/"
echo "copied ${#sources[@]} CRD(s) into chart/files/crds/"
