#!/usr/bin/env bash
# The manual: installs the docs extra (and gradfit) into a fresh virtualenv,
# then builds the Sphinx site with warnings as errors. The tutorial page runs
# its code and draws its figures during the build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv --clear .venv-docs
# shellcheck disable=SC1091
. .venv-docs/bin/activate
pip install ".[docs]"
rm -rf docs/_build docs/api docs/_generated
sphinx-build -W -E -b html docs docs/_build/html
test -s docs/_build/html/tutorial.html && test -s docs/_build/html/api.html
ls docs/_generated/*.png
