#!/usr/bin/env bash
# Runs the issue's benchmarks, each with an iteration count that keeps the
# whole run to a few minutes on 2 cores. Extra arguments go to go test
# (e.g. -count 3 for benchstat, or -cpuprofile cpu.out with one benchmark).
# WebhookDeliveries' postgres half needs GITACCESS_TEST_POSTGRES_URL
# (eval "$(bash .ci/postgres.sh)"); without it, it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench '^BenchmarkCredentialGet$' -benchtime 300x ./bench/ "$@"
go test -run '^$' -bench '^BenchmarkClone$' -benchtime 20x ./bench/ "$@"
go test -run '^$' -bench '^BenchmarkArchive$' -benchtime 8x ./bench/ "$@"
go test -run '^$' -bench '^BenchmarkWebhookDeliveries$' -benchtime 1x -timeout 30m ./bench/ "$@"
