#!/usr/bin/env bash
# Installs the two real PyTorch builds the interop tests compare torchwire with (they fail, never skip, without
# them), where they are missing:
#   - torch 1.13 and torchvision from Debian's packages, run by /usr/bin/python3 (needs root for apt-get);
#   - torch 2.13 (CPU), safetensors, numpy and huggingface_hub (sharded checkpoints) from pip, in .venv-torch at the
#     repository's root;
#   - nginx from Debian's packages: the real HTTP server the range-read tests start on 127.0.0.1 (not as a service);
#   - chromium from Debian's packages: the browser the viewer's end-to-end tests drive (playwright-core).
# Set TORCHWIRE_PIP_INDEX to a package index URL to install from it (default: pip's configured extra index, if any,
# so that an unreachable public index is not retried).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! /usr/bin/python3 -c "import torch, torchvision" 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q python3-torch python3-torchvision
fi
/usr/bin/python3 -c "import torch, torchvision; print('real torch', torch.__version__, 'torchvision', torchvision.__version__, '(Debian)')"

if ! [ -x /usr/sbin/nginx ] || ! [ -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q nginx chromium
fi
/usr/sbin/nginx -v
/usr/bin/chromium --version

if ! .venv-torch/bin/python -c "import torch, safetensors, numpy, huggingface_hub" 2>/dev/null; then
  index="${TORCHWIRE_PIP_INDEX:-$(python3 -m pip config get global.extra-index-url 2>/dev/null | awk '{print $1}' || true)}"
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install -q ${index:+--index-url "$index"} torch==2.13.0 safetensors numpy huggingface_hub
fi
.venv-torch/bin/python -c "import torch, safetensors; print('real torch', torch.__version__, 'safetensors', safetensors.__version__, '(pip, .venv-torch)')"
