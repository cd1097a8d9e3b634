#!/usr/bin/env bash
# Generate the sample configuration files from etc/oslo-config-generator/*:
# etc/netnode.conf.sample, etc/dhcp_agent.ini.sample, etc/l3_agent.ini.sample,
# etc/metadata_agent.ini.sample.  The samples are not committed (they are made
# from the option definitions, so they are current by construction).
#
# Usage: tools/generate-config-samples.sh [OUTPUT_DIR]
#   OUTPUT_DIR  write the samples there instead of etc/ (created if missing)
# The generator is $OSLO_CONFIG_GENERATOR, else the one of .venv, else the one on PATH.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${1:-}

generator=${OSLO_CONFIG_GENERATOR:-}
if [ -z "$generator" ]; then
    if [ -x "$top/.venv/bin/oslo-config-generator" ]; then
        generator=$top/.venv/bin/oslo-config-generator
    elif command -v oslo-config-generator >/dev/null; then
        generator=$(command -v oslo-config-generator)
    else
        echo "generate-config-samples: oslo-config-generator not found;" \
             "install oslo.config or set OSLO_CONFIG_GENERATOR" >&2
        exit 1
    fi
fi

cd "$top"
[ -z "$out_dir" ] || mkdir -p "$out_dir"
for file in etc/oslo-config-generator/*; do
    args=(--config-file="$file")
    if [ -n "$out_dir" ]; then
        sample=$(sed -n 's/^output_file *= *//p' "$file")
        args+=(--output-file="$out_dir/$(basename "$sample")")
    fi
    PYTHONWARNINGS=${PYTHONWARNINGS:-ignore} "$generator" "${args[@]}"
done
