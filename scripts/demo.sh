#!/usr/bin/env bash
# The demo, as one command on a fresh Debian 12 machine: installs what it needs (scripts/setup.sh,
# idempotent), then boots a Debian 6.1 kernel in QEMU that arms its crash kernel with
# `kds-loader crash load`, panics, lets kds-capture save the dump to an ext4 disk, and reads the
# dump back with kds-analyzer. Files go to artifacts/demo/ (or the directory given).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
dotnet build demo/KdumpSharp.Demo -c Release -nologo -v quiet
exec dotnet demo/KdumpSharp.Demo/bin/Release/net10.0/kds-demo.dll "$@"
