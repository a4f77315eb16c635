#!/usr/bin/env bash
# Render workbooks to PNG pages for a visual check (developer tool, not CI).
#
#   scripts/render_workbooks.sh [OUTDIR] [XLSX ...]
#
# Defaults: every workbooks/*.xlsx and pyxl-out/workbooks/*.xlsx, into
# pyxl-out/render/.  Each workbook is first turned into a values-only copy
# (`pyxl calc --values-only`: LibreOffice recalculates array formulas on load
# and does not know PyXL's functions), then converted to PDF by LibreOffice
# (headless) and to PNG pages by pdftoppm.  Needs Debian's
# libreoffice-calc-nogui (or libreoffice-calc) and poppler-utils.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-pyxl-out/render}"
shift || true
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  shopt -s nullglob
  files=(workbooks/*.xlsx pyxl-out/workbooks/*.xlsx)
fi
command -v soffice >/dev/null || { echo "soffice not found: apt-get install -y libreoffice-calc-nogui" >&2; exit 1; }
command -v pdftoppm >/dev/null || { echo "pdftoppm not found: apt-get install -y poppler-utils" >&2; exit 1; }
mkdir -p "$out/tmp"
for f in "${files[@]}"; do
  base="$(basename "${f%.*}")"
  case "$f" in workbooks/*) ;; *) base="demo-$base";; esac
  vals="$out/tmp/$base.xlsx"
  python -m pyxl.cli calc "$f" -o "$vals" --values-only --quiet
  soffice --headless --calc --convert-to pdf --outdir "$out/tmp" "$vals" >/dev/null 2>&1
  rm -f "$out/$base"-*.png
  pdftoppm -png -r "${RENDER_DPI:-70}" -l "${RENDER_PAGES:-40}" "$out/tmp/$base.pdf" "$out/$base"
  echo "$f -> $(ls "$out/$base"-*.png | wc -l) pages in $out/"
done
