#!/usr/bin/env bash
# Offline checks of the Kubernetes manifests and the Helm chart
# (check.py says which): no cluster can be reached from here, so none is
# contacted. Installs helm-python-sdk (Helm's Go SDK as a library: `helm
# lint` and `helm template` without a helm binary) and kubernetes-validate
# (the API schemas) into a venv under ~/.cache. Prints one summary line
# last.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${RASK_K8S_VENV:-$HOME/.cache/rask-k8s-venv}
want="helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 PyYAML>=6"
if ! "$venv/bin/python" -c 'import helm_python, kubernetes_validate, yaml' 2>/dev/null; then
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q $want
fi
# The rask binary, to check the manifests' arguments against (the
# features `cargo test --workspace` built with, so its build is reused).
cargo test -q --workspace --test slurm --no-run 2>/dev/null
exec "$venv/bin/python" deploy/kubernetes/check.py . "${CARGO_TARGET_DIR:-target}/debug/rask"
