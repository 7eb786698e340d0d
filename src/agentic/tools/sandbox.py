"""Run untrusted Python code in a bubblewrap sandbox (the `python` tool's engine).

Layers, outermost first:

1. **Host uid drop.** When the service runs as root, the launcher runs as an unprivileged host uid
   (``SandboxLimits.host_uid``, default 65534): an escape lands as nobody, and ``RLIMIT_NPROC`` is
   enforced (the kernel ignores it for real uid 0). The sandbox's processes count against that host uid,
   so concurrent runs share the process budget; give each worker slot its own uid to separate them.
   The drop is util-linux ``setpriv`` exec'd first, not ``subprocess``'s ``user``/``group`` arguments:
   uvloop, the event loop ``agentic serve`` runs on, refuses those. Because the drop happens before bwrap,
   the workspace must be reachable by that uid: see ``workspace_root``.
2. **rlimits** via util-linux ``prlimit`` (exec'd, no ``preexec_fn``): CPU seconds, address space,
   processes, file size, open files, no core dumps. They are inherited by bwrap and the code.
3. **bubblewrap**: every namespace unshared (no network at all, own pid/ipc/uts/cgroup/user/mount),
   no further user namespaces, a minimal read-only root (``/usr`` and the ``/lib*``/``/bin`` links,
   ``/etc/ld.so.cache``; not ``/etc``, ``/root``, the project or its venv), fresh ``/proc`` and minimal
   ``/dev``, a size-capped private ``/tmp``, the per-task workspace at ``/workspace`` (``in/`` read-only,
   ``out/`` writable), uid/gid 65534 inside, all capabilities dropped, a cleared environment.
4. **seccomp**: a classic-BPF filter built here (no extra dependency) that kills on a foreign
   architecture, refuses x32 syscalls, and answers ``EPERM`` for kernel-level syscalls
   (see ``DENIED_SYSCALLS``), namespace flags on ``clone``, and ``TIOCSTI``/``TIOCLINUX`` ioctls;
   ``clone3`` gets ``ENOSYS`` (its flags cannot be inspected) so libc falls back to ``clone``;
   ``socket``/``socketpair`` outside ``ALLOWED_SOCKET_FAMILIES`` (vsock, netlink, packet, …) get
   ``EAFNOSUPPORT``.
5. **Wall clock**: the launcher's process group is SIGKILLed at ``wall_seconds``; ``--die-with-parent``
   and the pid namespace take every sandboxed process down with it. Output beyond the caps kills the run.
   The code runs as pid 1 of its pid namespace (``--as-pid-1``): bwrap's own init would be orphaned to the
   host's init on every run and, until that reaps it, count against the host uid's ``RLIMIT_NPROC``. After
   a wall-clock kill the code's pid 1 is still orphaned that way, so the host init must reap promptly.

Libraries: the code runs with the system interpreter under ``/usr`` in isolated mode (``-I -S -B``), so
only the standard library is importable. To offer more, install them into a dedicated read-only tree
(``pip install --target /opt/agentic-sandbox-libs ...`` with the same Python version), add an
``--ro-bind`` of that tree in ``_bwrap_argv`` and prepend it to ``sys.path`` in ``_BOOTSTRAP``.
Never bind the service's own venv: it holds the platform's code and dependencies.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import stat
import struct
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agentic.errors import AgenticError

__all__ = [
    "DENIED_SYSCALLS",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "SandboxStatus",
    "SandboxUnavailable",
    "build_seccomp_filter",
    "last_status",
    "probe",
    "run_python",
    "workspace_root",
]

MiB = 1024 * 1024

SANDBOX_UID = 65534
SANDBOX_GID = 65534
SANDBOX_HOSTNAME = "sandbox"
WORKSPACE = "/workspace"
SCRIPT_NAME = "main.py"

_INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install bubblewrap`) "
    "and util-linux (`prlimit`, and `setpriv` when the service runs as root); the host must allow user "
    "namespaces"
)


class SandboxUnavailable(AgenticError):
    """The sandbox cannot run on this host: the `python` tool is disabled (code never runs unsandboxed)."""

    code = "sandbox_unavailable"
    status_code: ClassVar[int] = 503


class SandboxError(AgenticError):
    """The sandbox was asked to do something unsafe or malformed (e.g. a bad input file name)."""

    code = "sandbox_error"


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource limits of one sandboxed run.

    Attributes:
        wall_seconds: Wall-clock budget; the whole sandbox is killed when it runs out.
        cpu_seconds: RLIMIT_CPU per process (SIGXCPU at the limit, SIGKILL one second later).
        memory_bytes: RLIMIT_AS per process (virtual address space).
        max_processes: RLIMIT_NPROC (counts the launcher too, so keep it >= 8).
        max_file_bytes: RLIMIT_FSIZE: the largest file the code can write (also caps each returned file).
        max_open_files: RLIMIT_NOFILE.
        tmpfs_bytes: Size of the private ``/tmp``.
        max_stdout_bytes: Captured stdout cap; exceeding it kills the run and sets ``stdout_truncated``.
        max_stderr_bytes: Captured stderr cap, same behaviour.
        max_output_files: Most files returned from ``out/``.
        max_output_total_bytes: Most bytes returned from ``out/`` in total.
        host_uid: Host uid the sandbox runs as when the service is root (must not be 0).
        host_gid: Host gid, same rule.
    """

    wall_seconds: float = 10.0
    cpu_seconds: int = 5
    memory_bytes: int = 256 * MiB
    max_processes: int = 64
    max_file_bytes: int = 16 * MiB
    max_open_files: int = 128
    tmpfs_bytes: int = 64 * MiB
    max_stdout_bytes: int = 1 * MiB
    max_stderr_bytes: int = 1 * MiB
    max_output_files: int = 64
    max_output_total_bytes: int = 32 * MiB
    host_uid: int = 65534
    host_gid: int = 65534


@dataclass(slots=True)
class SandboxResult:
    """What a sandboxed run produced.

    ``exit_code`` is the launcher's status: bwrap reports a child killed by signal N as ``128 + N``, which
    is decoded into ``signal`` (so ``sys.exit(137)`` also reads as SIGKILL). A run killed by us (wall clock
    or output cap) has ``exit_code`` None and ``signal`` SIGKILL.
    """

    stdout: str
    stderr: str
    exit_code: int | None
    signal: int | None
    timed_out: bool
    stdout_truncated: bool
    stderr_truncated: bool
    files: dict[str, bytes] = field(default_factory=dict)
    files_truncated: bool = False
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """The code ran to completion and exited 0."""
        return self.exit_code == 0 and not self.timed_out


# --------------------------------------------------------------------------------------------- seccomp

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

_BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_BPF_RET_K = 0x06  # BPF_RET | BPF_K

_SECCOMP_RET_KILL_PROCESS = 0x80000000
_SECCOMP_RET_ERRNO = 0x00050000
_SECCOMP_RET_ALLOW = 0x7FFF0000
_EPERM = 1
_ENOSYS = 38
_EAFNOSUPPORT = 97

# offsets in struct seccomp_data: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64)
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LO = 16
_OFF_ARG1_LO = 24

# x86_64 syscall numbers answered with EPERM.
DENIED_SYSCALLS: Mapping[str, int] = {
    "ptrace": 101,
    "syslog": 103,
    "uselib": 134,
    "personality": 135,
    "vhangup": 153,
    "modify_ldt": 154,
    "pivot_root": 155,
    "_sysctl": 156,
    "adjtimex": 159,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "create_module": 174,
    "init_module": 175,
    "delete_module": 176,
    "get_kernel_syms": 177,
    "query_module": 178,
    "quotactl": 179,
    "nfsservctl": 180,
    "lookup_dcookie": 212,
    "clock_settime": 227,
    "mbind": 237,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "migrate_pages": 256,
    "unshare": 272,
    "move_pages": 279,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_getfd": 438,
    "mount_setattr": 442,
    "quotactl_fd": 443,
}
_NR_CLONE = 56
_NR_IOCTL = 16
_NR_SOCKET = 41
_NR_SOCKETPAIR = 53
# The only address families a sandboxed program may open sockets in: AF_UNIX (pipes between its own
# processes), AF_INET and AF_INET6 (which the empty network namespace leaves with nowhere to go). Every other
# family is refused: AF_VSOCK and AF_NETLINK are not isolated by a network namespace (vsock reaches the
# hypervisor's port space on a virtual machine), and the rest (packet, Bluetooth, AF_ALG, …) have no use here
# and a long record of kernel bugs.
ALLOWED_SOCKET_FAMILIES: Mapping[str, int] = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
_NR_CLONE3 = 435
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
_CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C

_Jump = int | str  # relative offset, or a label resolved by the assembler


def _assemble(program: list[tuple[int, _Jump, _Jump, int] | str]) -> bytes:
    """Resolve labels (strings in the list, or as jump targets) and pack `struct sock_filter`s."""
    labels: dict[str, int] = {}
    insns: list[tuple[int, _Jump, _Jump, int]] = []
    for item in program:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)
    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(insns):

        def rel(target: _Jump, index: int = index) -> int:
            offset = target if isinstance(target, int) else labels[target] - index - 1
            if not 0 <= offset <= 255:
                raise ValueError(f"BPF jump out of range at {index}: {offset}")
            return offset

        out += struct.pack("=HBBI", code, rel(jt), rel(jf), k)
    return bytes(out)


def build_seccomp_filter() -> bytes:
    """Return the classic-BPF seccomp program (x86_64) bwrap loads with ``--seccomp FD``."""
    if sys.byteorder != "little":  # pragma: no cover - x86_64 only
        raise SandboxUnavailable("the seccomp filter is built for x86_64 only")
    prog: list[tuple[int, _Jump, _Jump, int] | str] = [
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_KILL_PROCESS),
        (_BPF_LD_W_ABS, 0, 0, _OFF_NR),
        (_BPF_JGE_K, "eperm", 0, X32_SYSCALL_BIT),
        (_BPF_JEQ_K, "enosys", 0, _NR_CLONE3),
    ]
    prog += [(_BPF_JEQ_K, "eperm", 0, nr) for nr in sorted(set(DENIED_SYSCALLS.values()))]
    prog += [
        (_BPF_JEQ_K, "socket_family", 0, _NR_SOCKET),
        (_BPF_JEQ_K, "socket_family", 0, _NR_SOCKETPAIR),
        (_BPF_JEQ_K, 0, "not_clone", _NR_CLONE),
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LO),
        (_BPF_JSET_K, "eperm", "allow", _CLONE_NS_FLAGS),
        "not_clone",
        (_BPF_JEQ_K, 0, "allow", _NR_IOCTL),
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARG1_LO),
        (_BPF_JEQ_K, "eperm", 0, _TIOCSTI),
        (_BPF_JEQ_K, "eperm", "allow", _TIOCLINUX),
        # The family is an int: the kernel reads the low 32 bits of the argument only.
        "socket_family",
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LO),
    ]
    families = sorted(ALLOWED_SOCKET_FAMILIES.values())
    prog += [(_BPF_JEQ_K, "allow", 0, family) for family in families[:-1]]
    prog += [
        (_BPF_JEQ_K, "allow", "eafnosupport", families[-1]),
        "allow",
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
        "eperm",
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _EPERM),
        "enosys",
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _ENOSYS),
        # What a kernel without the family answers: programs that probe families fall back cleanly.
        "eafnosupport",
        (_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _EAFNOSUPPORT),
    ]
    return _assemble(prog)


# ------------------------------------------------------------------------------------------ host side


@dataclass(frozen=True, slots=True)
class _Tools:
    bwrap: str
    prlimit: str
    setpriv: str | None  # only needed (and required) when the service runs as root


def _find_tools(*, as_root: bool) -> _Tools:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            f"the python tool is disabled: bubblewrap (`bwrap`) was not found; {_INSTALL_HINT}"
        )
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise SandboxUnavailable(f"the python tool is disabled: `prlimit` was not found; {_INSTALL_HINT}")
    setpriv = shutil.which("setpriv") if as_root else None
    if as_root and setpriv is None:
        raise SandboxUnavailable(
            "the python tool is disabled: the service runs as root and util-linux `setpriv`, which drops "
            f"the sandbox to an unprivileged uid, was not found; {_INSTALL_HINT}"
        )
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        raise SandboxUnavailable("the python tool's sandbox supports Linux x86_64 only")
    return _Tools(bwrap, prlimit, setpriv)


def _reaches(path: Path, uid: int, gid: int) -> bool:
    """Whether `uid`/`gid` (not root) can traverse every directory from `/` down to `path`."""
    for current in (*reversed(path.parents), path):
        try:
            st = os.stat(current)
        except OSError:
            return False
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def workspace_root(preferred: Path, limits: SandboxLimits | None = None) -> Path:
    """Where the `python` tool's per-task workspaces live on this host.

    `preferred` when the sandbox uid can reach it, else a private directory of this process under the
    system's temporary directory. As root the sandbox runs as an unprivileged uid that must traverse every
    directory above its workspace (bwrap, already dropped to that uid, binds it). A data directory under
    ``/root``, in a ``mkdtemp`` or otherwise ``0700`` is common and must not disable the tool, so the
    workspaces move instead of the service widening the permissions of its data directory (which holds the
    database and secret key). The private directory is removed when the process exits.
    """
    limits = limits or SandboxLimits()
    preferred = preferred.resolve()
    if os.geteuid() != 0:
        preferred.mkdir(parents=True, exist_ok=True)
        return preferred  # bwrap runs as the service's own uid, which owns its data directory
    parent = preferred.parent
    if _reaches(parent, limits.host_uid, limits.host_gid):
        # Created here, traversable by the sandbox uid whatever the umask (a 0700 one would lock it out).
        preferred.mkdir(parents=True, exist_ok=True)
        preferred.chmod(0o711)
        return preferred
    # mkdtemp: a fresh, root-owned directory no one else could have planted (no symlink race in /tmp).
    base = Path(tempfile.gettempdir()).resolve()
    if not _reaches(base, limits.host_uid, limits.host_gid):
        raise SandboxUnavailable(
            f"the python tool is disabled: its sandbox runs as uid {limits.host_uid}, which can reach "
            f"neither {parent} nor the temporary directory {base}; make one of them traversable (o+x)"
        )
    root = Path(tempfile.mkdtemp(prefix="agentic-workspaces-", dir=base))
    root.chmod(0o711)  # the sandbox uid passes through; it cannot list other tasks' workspaces
    atexit.register(shutil.rmtree, root, True)
    return root


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """Whether the `python` tool can run on this host, as the last probe found it."""

    available: bool
    reason: str | None = None
    workspaces: str | None = None


_status: SandboxStatus | None = None


def last_status() -> SandboxStatus | None:
    """The result of the last `probe` in this process (None before any probe)."""
    return _status


async def probe(workspaces: Path, limits: SandboxLimits | None = None) -> SandboxStatus:
    """Run a one-line program in the sandbox, exactly as the tool would, and remember whether it worked.

    Start-up calls this so that an operator reads *why* the tool is off (no bwrap, user namespaces refused,
    an unreachable workspace) in the log at once, not in the first failed task.
    """
    global _status  # noqa: PLW0603 - one status per process, read by the tools listing
    limits = limits or SandboxLimits(wall_seconds=10)
    workspace = workspaces / f"probe-{os.getpid()}-{time.monotonic_ns()}"
    try:
        result = await run_python("print('sandbox-ok')", workspace=workspace, limits=limits)
    except AgenticError as exc:
        _status = SandboxStatus(False, exc.message, str(workspaces))
        return _status
    except OSError as exc:
        _status = SandboxStatus(False, f"the python tool is disabled: {exc}", str(workspaces))
        return _status
    finally:
        await asyncio.to_thread(shutil.rmtree, workspace, True)
    if result.stdout.strip() == "sandbox-ok" and result.ok:
        _status = SandboxStatus(True, None, str(workspaces))
    else:
        detail = (result.stderr.strip() or f"exit code {result.exit_code}")[-500:]
        _status = SandboxStatus(
            False, f"the python tool is disabled: the sandbox failed: {detail}", str(workspaces)
        )
    return _status


def _find_interpreter() -> str:
    """A Python 3 interpreter that lives under /usr (the only system tree bound into the sandbox)."""
    candidates = [
        os.path.join(sys.base_prefix, "bin", f"python{sys.version_info.major}.{sys.version_info.minor}"),
        "/usr/bin/python3",
        "/usr/local/bin/python3",
    ]
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if real.startswith("/usr/") and os.access(real, os.X_OK):
            return real
    raise SandboxUnavailable(
        "the python tool is disabled: no Python 3 interpreter under /usr to run in the sandbox "
        "(install the distribution's python3 package)"
    )


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def _bwrap_argv(
    *, tools: _Tools, python: str, workspace: Path, limits: SandboxLimits, seccomp_fd: int
) -> list[str]:
    ws = str(workspace)
    drop = (
        # Real, effective and saved ids all change, and supplementary groups go: no way back to root.
        [
            tools.setpriv,
            f"--reuid={limits.host_uid}",
            f"--regid={limits.host_gid}",
            "--clear-groups",
            "--",
        ]
        if tools.setpriv is not None
        else []
    )
    return [
        *drop,
        tools.prlimit,
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.max_processes}",
        f"--fsize={limits.max_file_bytes}",
        f"--nofile={limits.max_open_files}",
        "--core=0",
        "--",
        tools.bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--as-pid-1",
        "--new-session",
        "--clearenv",
        "--setenv", "PATH", "/usr/bin:/bin",
        "--setenv", "HOME", WORKSPACE,
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        "--setenv", "PYTHONNOUSERSITE", "1",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_GID),
        "--hostname", SANDBOX_HOSTNAME,
        "--cap-drop", "ALL",
        *_system_binds(),
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "1777", "--size", str(limits.tmpfs_bytes), "--tmpfs", "/tmp",  # noqa: S108 - a private tmpfs inside the sandbox
        "--bind", ws, WORKSPACE,
        "--ro-bind", os.path.join(ws, "in"), f"{WORKSPACE}/in",
        "--ro-bind", os.path.join(ws, SCRIPT_NAME), f"{WORKSPACE}/{SCRIPT_NAME}",
        "--remount-ro", "/",
        "--chdir", WORKSPACE,
        "--seccomp", str(seccomp_fd),
        "--",
        python, "-I", "-S", "-B", f"{WORKSPACE}/{SCRIPT_NAME}",
    ]  # fmt: skip


def _safe_relpath(name: str) -> tuple[str, ...]:
    parts = tuple(name.split("/"))
    if any(p in ("..", ".", "") for p in parts) or "\0" in name:
        raise SandboxError(f"invalid input file name: {name!r}", details={"file": name})
    return parts


def _open_dir_nofollow(name: str, *, dir_fd: int | None, create: bool) -> int:
    if create:
        # Code in an earlier call of the same attempt may have replaced the directory with a symlink or a
        # file (the workspace is writable inside): remove that (never follow it) and make the directory again.
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=dir_fd)
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=dir_fd)
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    if create:
        os.fchmod(fd, 0o755)  # readable by the sandbox uid whatever the service's umask
    return fd


def _write_file_nofollow(dir_fd: int, name: str, data: bytes) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)  # never write through a planted symlink
    fd = os.open(
        name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd
    )
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o644)
        f.write(data)


def _prepare_workspace(
    workspace: Path, code: str, files_in: Mapping[str, bytes], owner: tuple[int, int] | None
) -> None:
    """Create ``in/``, ``out/`` and the script without following any symlink a previous run left."""
    workspace.mkdir(parents=True, exist_ok=True)
    ws_fd = _open_dir_nofollow(str(workspace), dir_fd=None, create=False)
    try:
        _write_file_nofollow(ws_fd, SCRIPT_NAME, code.encode())
        in_fd = _open_dir_nofollow("in", dir_fd=ws_fd, create=True)
        try:
            for name, data in files_in.items():
                *dirs, leaf = _safe_relpath(name)
                fd = os.dup(in_fd)
                try:
                    for d in dirs:
                        nxt = _open_dir_nofollow(d, dir_fd=fd, create=True)
                        os.close(fd)
                        fd = nxt
                    _write_file_nofollow(fd, leaf, data)
                finally:
                    os.close(fd)
        finally:
            os.close(in_fd)
        out_fd = _open_dir_nofollow("out", dir_fd=ws_fd, create=True)
        try:
            if owner is not None:
                os.fchown(out_fd, *owner)
                os.fchown(ws_fd, *owner)
            os.fchmod(ws_fd, 0o755)
        finally:
            os.close(out_fd)
    finally:
        os.close(ws_fd)


def _output_name(name: str) -> str:
    """`name` if it is text; an undecodable name (surrogates from `os.listdir`) is refused as a tool error."""
    try:
        name.encode()
    except UnicodeEncodeError:
        # No database or JSON document can hold it; it used to fail the attempt when the file was stored.
        raise SandboxError(
            "An output file's name is not valid UTF-8; name the files in out/ with text.",
            details={"name": ascii(name)},
        ) from None
    return name


def _read_output(dir_fd: int, name: str, budget: int) -> bytes | None:
    """Up to `budget` + 1 bytes of a regular file (None if it is gone or not a regular file when opened)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(max(budget, 0) + 1)


def _collect_outputs(workspace: Path, limits: SandboxLimits) -> tuple[dict[str, bytes], bool]:
    """Read regular files under ``out/`` (no symlinks, fifos or devices followed), within the caps."""
    files: dict[str, bytes] = {}
    truncated = False
    total = 0
    try:
        root = _open_dir_nofollow(str(workspace / "out"), dir_fd=None, create=False)
    except OSError:
        return files, False
    stack: list[tuple[int, str, int]] = [(root, "", 0)]
    try:
        while stack:
            dir_fd, prefix, depth = stack.pop()
            try:
                for entry in sorted(os.listdir(dir_fd)):
                    rel = _output_name(f"{prefix}{entry}")
                    try:
                        st = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        if depth < 8:
                            with contextlib.suppress(OSError):
                                sub = _open_dir_nofollow(entry, dir_fd=dir_fd, create=False)
                                stack.append((sub, rel + "/", depth + 1))
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        continue  # symlinks, fifos, sockets, devices: never opened on the host
                    if len(files) >= limits.max_output_files:
                        truncated = True
                        continue
                    budget = min(limits.max_file_bytes, limits.max_output_total_bytes - total)
                    data = _read_output(dir_fd, entry, budget)
                    if data is None:
                        continue
                    if len(data) > budget:
                        truncated = True
                        data = data[: max(budget, 0)]
                    files[rel] = data
                    total += len(data)
            finally:
                os.close(dir_fd)
    finally:
        _close_all(fd for fd, _, _ in stack)  # directories queued but unread when an error stopped the walk
    return files, truncated


def _close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        os.close(fd)


class _Capture:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.truncated = False

    async def drain(self, stream: asyncio.StreamReader, overflow: asyncio.Event) -> None:
        while chunk := await stream.read(65536):
            room = self.cap - len(self.buf)
            if len(chunk) > room:  # keep draining (discarding) so the pipe reaches EOF once the run is killed
                self.buf += chunk[: max(room, 0)]
                self.truncated = True
                overflow.set()
            else:
                self.buf += chunk


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def _supervise(
    proc: asyncio.subprocess.Process, limits: SandboxLimits
) -> tuple[_Capture, _Capture, bool, bool]:
    """Capture output within the caps; kill the process group on the wall clock or an output overflow."""
    assert proc.stdout is not None  # noqa: S101 - pipes were requested above
    assert proc.stderr is not None  # noqa: S101
    out, err = _Capture(limits.max_stdout_bytes), _Capture(limits.max_stderr_bytes)
    overflow = asyncio.Event()
    readers = asyncio.gather(out.drain(proc.stdout, overflow), err.drain(proc.stderr, overflow))
    overflow_wait: asyncio.Future[Any] = asyncio.ensure_future(overflow.wait())
    finished: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(readers, proc.wait()))
    timed_out = killed = False
    try:
        done, _ = await asyncio.wait(
            {finished, overflow_wait}, timeout=limits.wall_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if finished not in done:
            timed_out = not done
            killed = True
            _kill_group(proc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(finished), timeout=5)
    finally:
        overflow_wait.cancel()
        if not finished.done():
            _kill_group(proc)
            finished.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await finished
    return out, err, timed_out, killed


async def run_python(
    code: str,
    *,
    workspace: Path,
    limits: SandboxLimits,
    files_in: dict[str, bytes] | None = None,
) -> SandboxResult:
    """Run ``code`` as ``/workspace/main.py`` in a fresh sandbox and return its output and ``out/`` files.

    Args:
        code: Untrusted Python source.
        workspace: Per-task absolute host directory (created if missing). Every directory above it must be
            traversable (``o+x``) by ``limits.host_uid`` when the service runs as root.
        limits: Resource limits.
        files_in: Files placed under ``/workspace/in`` (read-only inside); names are relative paths.

    Raises:
        SandboxUnavailable: bwrap/prlimit/a system Python are missing, or (as root) the sandbox uid cannot
            reach the workspace; nothing is run.
        SandboxError: An input file name is unsafe.
    """
    as_root = os.geteuid() == 0
    tools = _find_tools(as_root=as_root)
    python = _find_interpreter()
    if as_root and (limits.host_uid == 0 or limits.host_gid == 0):
        raise SandboxError("the sandbox must not run as host root")
    owner = (limits.host_uid, limits.host_gid) if as_root else None
    if not workspace.is_absolute():
        raise SandboxError("the workspace path must be absolute", details={"workspace": str(workspace)})
    if as_root and not await asyncio.to_thread(_reaches, workspace.parent, limits.host_uid, limits.host_gid):
        raise SandboxUnavailable(
            f"the python tool cannot run: its sandbox uid {limits.host_uid} cannot reach {workspace.parent} "
            "(use `workspace_root` to choose the workspaces' directory)"
        )
    await asyncio.to_thread(_prepare_workspace, workspace, code, files_in or {}, owner)

    seccomp_fd = os.memfd_create("agentic-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(seccomp_fd, build_seccomp_filter())
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        argv = _bwrap_argv(
            tools=tools,
            python=python,
            workspace=workspace,
            limits=limits,
            seccomp_fd=seccomp_fd,
        )
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},  # none of the service's environment
            cwd="/",
            pass_fds=(seccomp_fd,),
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(seccomp_fd)

    out, err, timed_out, killed = await _supervise(proc, limits)
    duration = time.monotonic() - started
    rc = proc.returncode

    exit_code: int | None
    sig: int | None = None
    if killed or rc is None or rc < 0:
        exit_code = None
        sig = signal.SIGKILL if killed or rc is None else -rc
    else:
        exit_code = rc
        if 128 < rc < 128 + 65:
            sig = rc - 128
    files, files_truncated = await asyncio.to_thread(_collect_outputs, workspace, limits)
    return SandboxResult(
        stdout=out.buf.decode("utf-8", "replace"),
        stderr=err.buf.decode("utf-8", "replace"),
        exit_code=exit_code,
        signal=sig,
        timed_out=timed_out,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        files=files,
        files_truncated=files_truncated,
        duration_seconds=duration,
    )
