#!/usr/bin/env bash
# Build the peer virtual environments that annkit's equivalence tests compare against (idempotent).
#
#   bash tools/peer_envs.sh paddle      # → /work/venvs/paddle (override with ANNKIT_PEER_ROOT=/some/dir)
#
# paddle: PaddlePaddle (CPU) + PaddleSeg, for tests/test_convert_paddleseg.py and bench/paddleseg_speed.py.
# PaddleSeg is installed with --no-deps because it pins GUI OpenCV (opencv-python <= 4.6) and visualdl; what its
# import actually needs is installed by name instead. The tests find the interpreter through ANNKIT_PADDLE_PYTHON
# (default: /work/venvs/paddle/bin/python).
set -euo pipefail

root="${ANNKIT_PEER_ROOT:-/work/venvs}"
python="${PYTHON:-python3}"

build_paddle() {
    local venv="$root/paddle"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import paddle, paddleseg.models" 2>/dev/null; then
        echo "peer env paddle: ready at $venv"
        return
    fi
    mkdir -p "$root"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "paddlepaddle==3.3.1" numpy pyyaml filelock prettytable tqdm scipy \
        scikit-learn scikit-image opencv-python-headless six requests
    "$venv/bin/python" -m pip install --quiet --no-deps "paddleseg==2.8.0"
    "$venv/bin/python" -c "import paddle, paddleseg.models; print('peer env paddle: paddle', paddle.__version__)"
}

case "${1:-}" in
    paddle) build_paddle ;;
    *) echo "usage: $0 paddle   (builds \$ANNKIT_PEER_ROOT/paddle, default /work/venvs/paddle)" >&2; exit 2 ;;
esac
