#!/bin/sh
# Regenerate the SCALE-Sim v3.0.0 golden reports in this directory (run from this directory).
# SCALE-Sim lives in a side venv, never a cgap dependency:
#   python3 -m venv /tmp/scalesim-venv && /tmp/scalesim-venv/bin/pip install scalesim==3.0.0 'numpy<2' 'pandas<2.3'
# Each run:  $PY -m scalesim.scale -c CFG -t TOPO -l layout.csv -p OUT
# and we keep OUT/<run_name>/COMPUTE_REPORT.csv and DETAILED_ACCESS_REPORT.csv as <topo>__<cfg>/.
set -e
PY=${SCALESIM_PY:-/tmp/scalesim-venv/bin/python}
run() {  # run TOPO CFG
    out=$(mktemp -d)
    "$PY" -m scalesim.scale -c "$2.cfg" -t "$1.csv" -l layout.csv -p "$out" > /dev/null
    mkdir -p "$1__$2"
    cp "$out/$2/COMPUTE_REPORT.csv" "$out/$2/DETAILED_ACCESS_REPORT.csv" "$1__$2/"
    rm -rf "$out"
}
for cfg in os_8x8 ws_16x8 is_8x16 os_32x32 ws_12x20; do run topo_small "$cfg"; done
for cfg in os_32x32 ws_16x8 is_8x16; do run topo_resnet20 "$cfg"; done
