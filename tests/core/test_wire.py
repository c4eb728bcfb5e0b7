"""Frames between the router and a local worker (no model), and the portable build flags."""

from __future__ import annotations

import os
import re
import time

import pytest

from privroute.backends.build import PORTABLE_CMAKE_ARGS, rebuild_command
from privroute.backends.wire import FrameReader, error_from_wire, error_to_wire, write_frame
from privroute.errors import BackendError, ContextOverflow, LocalTimeout, LocalWorkerError, MissingDependency
from tests.paths import REPO

pytestmark = pytest.mark.fast


@pytest.fixture
def pipe() -> tuple[int, int]:
    read, write = os.pipe()
    os.set_blocking(write, False)
    yield read, write
    for fd in (read, write):
        try:
            os.close(fd)
        except OSError:
            pass


class TestFrames:
    def test_round_trip_in_pieces(self, pipe: tuple[int, int]) -> None:
        read, write = pipe
        reader = FrameReader(read)
        messages = [{"delta": "é" * n} for n in (0, 1, 5000)] + [{"done": {"finish_reason": "stop"}}]
        for message in messages:
            write_frame(write, message, time.monotonic() + 5)
        assert [reader.read(time.monotonic() + 5) for _ in messages] == messages

    def test_a_frame_larger_than_the_pipe_waits_for_the_reader(self, pipe: tuple[int, int]) -> None:
        _, write = pipe
        with pytest.raises(LocalTimeout):  # nobody reads: the write gives up at its deadline
            write_frame(write, {"messages": "x" * (1 << 20)}, time.monotonic() + 0.3)

    def test_read_times_out_and_then_sees_the_close(self, pipe: tuple[int, int]) -> None:
        read, write = pipe
        reader = FrameReader(read)
        with pytest.raises(LocalTimeout):
            reader.read(time.monotonic() + 0.2)
        assert reader.poll() is None
        os.close(write)
        with pytest.raises(LocalWorkerError):
            reader.read(time.monotonic() + 5)


class TestErrors:
    def test_context_overflow_keeps_its_counts(self) -> None:
        error = error_from_wire(error_to_wire(ContextOverflow(prompt_tokens=900, fits=448, n_ctx=512,
                                                              answer_tokens=64)), "local")
        assert isinstance(error, ContextOverflow)
        assert (error.prompt_tokens, error.fits, error.n_ctx, error.answer_tokens) == (900, 448, 512, 64)

    def test_missing_dependency_keeps_its_hint(self) -> None:
        error = error_from_wire(error_to_wire(MissingDependency("llama-cpp-python", "local")), "local")
        assert isinstance(error, MissingDependency) and "privroute[local]" in str(error)

    def test_a_foreign_exception_crosses_as_its_type_only(self) -> None:
        wire = error_to_wire(ValueError("Patient Jane Roe said something"))
        error = error_from_wire(wire, "local")
        assert type(error) is BackendError and "ValueError" in str(error) and "Jane" not in str(error)


class TestBuildFlags:
    def test_install_script_readme_and_code_agree(self) -> None:
        script = (REPO / "scripts" / "install.sh").read_text()
        assert re.search(r'^PORTABLE="(.*)"$', script, re.MULTILINE).group(1) == PORTABLE_CMAKE_ARGS
        readme = (REPO / "README.md").read_text()
        assert PORTABLE_CMAKE_ARGS in readme and "./scripts/install.sh all,dev && python -m pytest" in readme
        assert "./scripts/install.sh all,dev && python -m pytest" in (REPO / ".ci" / "run").read_text()

    def test_rebuild_command_forces_a_fresh_build(self) -> None:
        command = rebuild_command()
        assert "--no-cache-dir" in command and "--force-reinstall" in command and "GGML_NATIVE=OFF" in command
        assert "-DGGML_CUDA=on" in rebuild_command("cuda")
