#!/usr/bin/env bash
# The short form of the daemon soak (scripts/soak.sh, 30 minutes under `make test-long`):
# 90 s of churning targets and HTTP reads, the daemon's RSS flat after warm-up.
exec "$(dirname "$0")/../../scripts/soak.sh" "${SOAK_SECONDS:-90}"
