"""The sandbox where it really runs: on uvloop (what `agentic serve` uses) and asyncio, as root and not.

Issue 13: under `agentic serve` as root every `python` call failed (uvloop refuses `subprocess`'s `user`/
`group` arguments), and once past that, bwrap, dropped to the sandbox uid, could not reach a workspace under a
`0700` data directory. These tests run the sandbox on each event loop and each side of the uid branch.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvloop

from agentic.tools import sandbox
from agentic.tools.sandbox import SandboxLimits, probe, run_python, workspace_root
from tests.support.services import IN_CI

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and not IN_CI, reason="bubblewrap (bwrap) is not installed: `make os-deps`"
)

AS_ROOT = os.geteuid() == 0
LIMITS = SandboxLimits(wall_seconds=10, cpu_seconds=3)
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}
# A file the code writes is owned on the host by the uid the sandbox really ran as.
OWNER_CODE = "open('out/owner', 'w').write('x')"


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A `0700` directory, like a data directory under `/root` or a `mkdtemp`."""
    path = Path(tempfile.mkdtemp(prefix="agentic-private-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _run_on(loop: str, code: str, workspace: Path) -> sandbox.SandboxResult:
    # Not pytest-asyncio's loop: each test picks the loop the way `agentic serve` (uvicorn) or a test would.
    async def go() -> sandbox.SandboxResult:
        return await run_python(code, workspace=workspace, limits=LIMITS)

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(go())


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_python_runs_on_each_event_loop_with_a_private_data_dir(loop: str, private_dir: Path) -> None:
    """The `python` tool works on uvloop and asyncio even when the data directory is `0700`."""
    workspace = workspace_root(private_dir / "workspaces", LIMITS) / uuid.uuid4().hex
    result = _run_on(loop, f"print('hello'); {OWNER_CODE}", workspace)
    assert result.ok, (result.exit_code, result.stderr)
    assert result.stdout == "hello\n"
    assert result.files == {"owner": b"x"}
    # As root the launcher dropped to the sandbox uid before bwrap ran; otherwise it runs as the service.
    assert (workspace / "out" / "owner").stat().st_uid == (LIMITS.host_uid if AS_ROOT else os.geteuid())


def test_workspace_root_moves_out_of_an_unreachable_data_dir(private_dir: Path) -> None:
    preferred = private_dir / "workspaces"
    root = workspace_root(preferred, LIMITS)
    if AS_ROOT:
        assert not str(root).startswith(str(private_dir))
        assert root.stat().st_mode & 0o777 == 0o711
        assert root.stat().st_uid == 0
    else:
        assert root == preferred.resolve()


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_workspace_root_stays_in_a_reachable_data_dir_and_works_there(private_dir: Path, umask: int) -> None:
    """A data dir the sandbox uid can traverse keeps the workspaces, and the tool runs there (`make run`)."""
    private_dir.chmod(0o755)
    (private_dir / "data").mkdir()
    (private_dir / "data").chmod(0o755)  # the data dir as `make run` makes it under a usual umask
    previous = os.umask(umask)  # a strict umask must not make the new workspaces dir unreachable
    try:
        root = workspace_root(private_dir / "data" / "workspaces", LIMITS)
    finally:
        os.umask(previous)
    assert root == (private_dir / "data" / "workspaces").resolve()
    result = _run_on("uvloop", "print('here')", root / uuid.uuid4().hex)
    assert result.ok, (result.exit_code, result.stderr)
    assert result.stdout == "here\n"


@pytest.mark.skipif(not AS_ROOT, reason="the unreachable-workspace refusal is the root branch")
async def test_an_unreachable_workspace_is_refused_with_a_reason(private_dir: Path) -> None:
    """Before: bwrap's `Can't find source path …: Permission denied` reached the model as stderr."""
    with pytest.raises(sandbox.SandboxUnavailable, match="cannot reach"):
        await run_python("print(1)", workspace=private_dir / "ws", limits=LIMITS)


async def test_probe_reports_why_the_tool_is_off(private_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = workspace_root(private_dir / "workspaces", LIMITS)
    status = await probe(root)
    assert status.available, status.reason
    assert sandbox.last_status() == status
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "bwrap" else real_which(name))
    status = await probe(root)
    assert not status.available
    assert status.reason is not None
    assert "bubblewrap" in status.reason
    assert list(root.iterdir()) == []  # the probe leaves no workspace behind


@pytest.mark.skipif(not AS_ROOT, reason="needs root to start the service as another uid")
def test_python_runs_for_a_service_that_is_not_root(tmp_path: Path) -> None:
    """The other side of the uid branch: a service user runs bwrap itself (no setpriv), on uvloop."""
    uid = 65533
    data = Path(tempfile.mkdtemp(prefix="agentic-nonroot-"))
    try:
        os.chown(data, uid, uid)
        data.chmod(0o700)  # the service's own private data directory
        script = textwrap.dedent(
            f"""
            import asyncio, uuid, uvloop
            from pathlib import Path
            from agentic.tools.sandbox import SandboxLimits, run_python, workspace_root

            async def main():
                root = workspace_root(Path({str(data)!r}) / "workspaces")
                assert root == Path({str(data)!r}).resolve() / "workspaces", root
                workspace = root / uuid.uuid4().hex
                result = await run_python({OWNER_CODE!r}, workspace=workspace,
                                          limits=SandboxLimits(wall_seconds=10))
                owner = (workspace / "out" / "owner").stat().st_uid
                print(result.exit_code, owner, result.stderr.strip())

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(main())
            """
        )
        done = subprocess.run(  # noqa: S603 - our own interpreter and script
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", script],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd="/",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[:2] == ["0", str(uid)], done.stdout + done.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)


# --- the refusals on the root side of the uid branch ------------------------------------------------------


def test_as_root_without_setpriv_the_tool_is_off_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "setpriv" else real_which(name))
    with pytest.raises(sandbox.SandboxUnavailable, match="setpriv"):
        sandbox._find_tools(as_root=True)
    assert sandbox._find_tools(as_root=False).setpriv is None  # not needed by a service user


@pytest.mark.skipif(not AS_ROOT, reason="the refusal applies to a service running as root")
def test_as_root_the_sandbox_never_runs_as_host_root(private_dir: Path) -> None:
    limits = SandboxLimits(wall_seconds=10, cpu_seconds=3, host_uid=0)

    async def go() -> None:
        await run_python("print(1)", workspace=private_dir / "ws", limits=limits)

    with pytest.raises(sandbox.SandboxError, match="host root"):
        asyncio.run(go())
    assert not (private_dir / "ws").exists()  # refused before anything was prepared


@pytest.mark.skipif(not AS_ROOT, reason="the workspaces move only when the service runs as root")
def test_as_root_with_no_reachable_directory_the_tool_is_off_and_says_why(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "_reaches", lambda path, uid, gid: False)
    with pytest.raises(sandbox.SandboxUnavailable, match="can reach neither"):
        workspace_root(private_dir / "workspaces", LIMITS)
