#!/usr/bin/env bash
# Superseded by tools/build_wheels.sh (sdist -> wheel from the sdist ->
# auditwheel repair -> fresh venv -> the sdist's tests), which .ci/run runs;
# kept so that the name in older notes still works.
exec bash "$(dirname "$0")/../tools/build_wheels.sh" "$@"
