#!/usr/bin/env bash
# Validates the pipeline files in ci/ against their schemas: the GitHub action
# and workflows and the GitLab template with check-jsonschema's vendored schemas,
# the Kubernetes manifests with kubernetes-validate (bundled schemas, --strict).
# Both come from PyPI into a throwaway virtualenv (python3-venv); nothing else is
# fetched. Usage: ci/validate.sh   (exit 0 valid, 1 invalid, 2 tools missing)
set -euo pipefail
cd "$(dirname "$0")"

venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv" || {
    echo "validate.sh: python3 -m venv failed (apt-get install python3-venv)" >&2
    exit 2
}
"$venv/bin/pip" install --quiet --disable-pip-version-check check-jsonschema kubernetes-validate || {
    echo "validate.sh: pip install check-jsonschema kubernetes-validate failed" >&2
    exit 2
}

"$venv/bin/check-jsonschema" --builtin-schema vendor.github-actions github/action.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows \
    github/example-workflow.yml github/sharded-workflow.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci gitlab/imapspec.gitlab-ci.yml
"$venv/bin/kubernetes-validate" --strict k8s/imapspec-shards.yaml k8s/imapspec-merge.yaml k8s/imapspec-load.yaml
echo "validate.sh: every ci/ YAML file is valid"
