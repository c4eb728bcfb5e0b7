"""How llama-cpp-python should be built, for messages that name the fix.

llama-cpp-python compiles llama.cpp at install time. With its default
``GGML_NATIVE=ON`` the library uses every instruction the *build* machine has
(AVX-512, AMX on recent Xeons), and dies with SIGILL on the first answer where
one of them is missing or not usable (a VM that advertises AMX without enabling
its tile state, an image built on one CPU and run on another). The portable
flags target x86-64-v3 (AVX2, FMA, F16C, BMI2: every x86-64 CPU since 2013-2015),
without AVX-512 or AMX. ``scripts/install.sh`` uses the same flags.
"""

from __future__ import annotations

import shlex

__all__ = ["GPU_CMAKE_ARGS", "PORTABLE_CMAKE_ARGS", "rebuild_command"]

PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF"
)

GPU_CMAKE_ARGS = {
    "cuda": "-DGGML_CUDA=on",
    "metal": "-DGGML_METAL=on",
}


def rebuild_command(gpu: str | None = None) -> str:
    """The command that rebuilds llama-cpp-python portably (pip would otherwise reuse a cached wheel)."""
    args = PORTABLE_CMAKE_ARGS if gpu != "metal" else GPU_CMAKE_ARGS["metal"]
    if gpu == "cuda":
        args = f"{args} {GPU_CMAKE_ARGS['cuda']}"
    return (f"CMAKE_ARGS={shlex.quote(args)} pip install --no-cache-dir --force-reinstall --no-deps "
            f"llama-cpp-python")
