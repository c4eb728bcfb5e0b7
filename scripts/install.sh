#!/usr/bin/env bash
# Install privroute (editable) with a llama.cpp build that runs on any x86-64 CPU it meets.
#
#   scripts/install.sh [EXTRAS] [PIP OPTIONS...]      e.g.  scripts/install.sh all,dev
#
# llama-cpp-python compiles llama.cpp during `pip install`. Its default (GGML_NATIVE=ON)
# uses every instruction of the machine that builds it -- AVX-512, AMX on recent Xeons --
# and the first local answer then dies with SIGILL wherever one is missing or unusable
# (cloud VMs that advertise AMX, images built on one CPU and run on another). These flags
# target x86-64-v3 (AVX2/FMA/F16C/BMI2, every x86-64 CPU since 2013-2015) and nothing newer.
#
#   PRIVROUTE_GPU=cuda  scripts/install.sh all   adds -DGGML_CUDA=on (NVIDIA)
#   PRIVROUTE_GPU=metal scripts/install.sh all   Apple silicon (Metal; the x86 flags do not apply)
#   CMAKE_ARGS="..."    scripts/install.sh all   your own flags, used as they are
#
# pip reuses a llama-cpp-python it has already installed or built and cached, whatever
# CMAKE_ARGS says. To rebuild one (privroute doctor names this when it finds a SIGILL):
#   CMAKE_ARGS="<flags>" pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python
# The flags also live in privroute/backends/build.py (PORTABLE_CMAKE_ARGS); keep both equal.
set -euo pipefail
cd "$(dirname "$0")/.."

PORTABLE="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF"
if [ -z "${CMAKE_ARGS:-}" ]; then
  case "${PRIVROUTE_GPU:-}" in
    "") CMAKE_ARGS="$PORTABLE" ;;
    cuda) CMAKE_ARGS="$PORTABLE -DGGML_CUDA=on" ;;
    metal) CMAKE_ARGS="-DGGML_METAL=on" ;;
    *) echo "install.sh: PRIVROUTE_GPU must be cuda or metal" >&2; exit 2 ;;
  esac
  if [ "${PRIVROUTE_GPU:-}" != metal ]; then
    case "$(uname -m)" in x86_64|amd64) ;; *) CMAKE_ARGS="${CMAKE_ARGS/$PORTABLE/-DGGML_NATIVE=OFF}" ;; esac
  fi
fi
export CMAKE_ARGS
extras="${1:-all}"
shift || true
exec python -m pip install "$@" -e ".[${extras}]"
