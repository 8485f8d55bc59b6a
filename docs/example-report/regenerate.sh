#!/usr/bin/env bash
# Regenerate docs/example-report/ from a fresh quick report: report.md and its figures.
# About four minutes on two cores; needs the research extra (pip install -e ".[research]").
# tests/test_report.py checks that the example parses and names the same sections as a fresh report.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
difficult-customer report --quick --out "$out" --no-progress
rm -f docs/example-report/*.png
cp "$out/report.md" "$out"/*.png docs/example-report/
echo "docs/example-report/ regenerated from $out"
