"""Sandbox escape suite for the `python` tool: every attempt must be contained, each asserted on its own.

In-sandbox attempts print ``CONTAINED ...`` when the attack failed and ``ESCAPED ...`` otherwise; the
host-side cases also check the host (listeners, /tmp, environment, leftover processes, returned files).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import struct
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agentic.tools import sandbox
from agentic.tools.sandbox import (
    SandboxError,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
    build_seccomp_filter,
    run_python,
)
from tests.support.services import IN_CI

# Without bwrap the sandbox refuses to run anything; on a developer machine that skips the suite, but in CI
# (`make test` installs bubblewrap) it must fail loudly rather than skip.
pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and not IN_CI, reason="bubblewrap (bwrap) is not installed: `make os-deps`"
)

CANARY_NAME = "AGENTIC_SANDBOX_CANARY"
CANARY_VALUE = f"canary-{uuid.uuid4().hex}"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

LIMITS = SandboxLimits(wall_seconds=10, cpu_seconds=3, memory_bytes=256 * 1024 * 1024, max_processes=32)

PRELUDE = """\
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return r, ctypes.get_errno()

def expect_denied(nr, *args, allowed=(errno.EPERM,)):
    r, e = sc(nr, *args)
    print("CONTAINED" if r == -1 and e in allowed else f"ESCAPED r={r} errno={e}")

def expect_oserror(fn, *args):
    try:
        res = fn(*args)
    except OSError as e:
        print("CONTAINED", e.errno)
    else:
        print("ESCAPED", repr(res)[:200])
"""


@pytest.fixture(scope="module")
def sandbox_base() -> Iterator[Path]:
    """A base directory the unprivileged sandbox uid can traverse (pytest's tmp_path is 0700 root)."""
    base = Path(tempfile.mkdtemp(prefix="agentic-sbx-test-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def workspace(sandbox_base: Path) -> Path:
    return sandbox_base / uuid.uuid4().hex


@pytest.fixture(autouse=True)
def _canary_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CANARY_NAME, CANARY_VALUE)


async def _run(
    code: str, workspace: Path, limits: SandboxLimits = LIMITS, files_in: dict[str, bytes] | None = None
) -> SandboxResult:
    return await run_python(
        PRELUDE + textwrap.dedent(code), workspace=workspace, limits=limits, files_in=files_in
    )


def _exists(path: Path) -> bool:
    return path.exists()


def _assert_contained(result: SandboxResult) -> None:
    lines = result.stdout.splitlines()
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert lines, result.stderr
    assert all(line.startswith("CONTAINED") for line in lines), result.stdout
    assert "ESCAPED" not in result.stdout


# --- attempts judged inside the sandbox ---------------------------------------------------------------

IN_SANDBOX_CASES: dict[str, str] = {
    "net_outside_tcp": """
        s = socket.socket(); s.settimeout(2)
        expect_oserror(s.connect, ("1.1.1.1", 53))
    """,
    "net_outside_udp_dns": """
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
        expect_oserror(s.sendto, b"\\x00" * 12, ("1.1.1.1", 53))
    """,
    "net_dns_lookup": """
        expect_oserror(socket.getaddrinfo, "example.com", 443)
    """,
    # Read from /proc: the netlink route socket `if_nameindex` uses is refused in the sandbox.
    "net_only_loopback_interface": """
        names = [line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]]
        print("CONTAINED" if names == ["lo"] else f"ESCAPED {names}")
        expect_oserror(socket.if_nameindex)
    """,
    "read_etc_shadow": """
        expect_oserror(lambda: open("/etc/shadow").read())
    """,
    "read_etc_passwd_and_etc_listing": """
        expect_oserror(lambda: open("/etc/passwd").read())
        print("CONTAINED" if os.listdir("/etc") == ["ld.so.cache"] else f"ESCAPED {os.listdir('/etc')}")
    """,
    "read_root_home": """
        expect_oserror(os.listdir, "/root")
        expect_oserror(lambda: open("/root/.bashrc").read())
    """,
    "read_project_files": f"""
        expect_oserror(lambda: open("{PROJECT_ROOT}/pyproject.toml").read())
        expect_oserror(os.listdir, "{PROJECT_ROOT}")
        expect_oserror(os.listdir, "/work")
    """,
    "read_project_venv": f"""
        expect_oserror(os.stat, "{PROJECT_ROOT}/.venv/bin/python")
        print("CONTAINED" if ".venv" not in sys.prefix and "agentic" not in sys.modules else "ESCAPED")
        try:
            import agentic  # noqa
        except ImportError:
            print("CONTAINED")
        else:
            print("ESCAPED agentic importable")
    """,
    "root_listing_minimal": """
        allowed = {"usr", "bin", "lib", "lib64", "etc", "proc", "dev", "tmp", "workspace"}
        extra = set(os.listdir("/")) - allowed
        print("CONTAINED" if not extra else f"ESCAPED {extra}")
    """,
    "env_os_environ": f"""
        leaked = [k for k, v in os.environ.items() if "{CANARY_VALUE}" in v or k == "{CANARY_NAME}"]
        print("CONTAINED" if not leaked and set(os.environ) <= {{"PATH", "HOME", "LANG", "PWD",
              "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE"}} else f"ESCAPED {{dict(os.environ)}}")
    """,
    "env_proc_self_environ": f"""
        data = open("/proc/self/environ", "rb").read()
        print("CONTAINED" if b"{CANARY_VALUE}" not in data and b"{CANARY_NAME}" not in data else "ESCAPED")
    """,
    "env_proc_1_environ": f"""
        try:
            data = open("/proc/1/environ", "rb").read()
        except OSError as e:
            print("CONTAINED", e.errno)
        else:
            leaked = b"{CANARY_VALUE}" in data or b"{CANARY_NAME}" in data
            print("ESCAPED" if leaked else "CONTAINED")
    """,
    "proc_snoop_host_processes": f"""
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        cmds = []
        for p in pids:
            try:
                cmds.append(open(f"/proc/{{p}}/cmdline", "rb").read().split(b"\\0")[0])
            except OSError:
                pass
        ok = len(pids) <= 3 and all(c.endswith((b"bwrap", b"python3.11")) for c in cmds)
        print("CONTAINED" if ok else f"ESCAPED {{pids}} {{cmds}}")
        print("CONTAINED" if str({os.getpid()}) not in pids or {os.getpid()} <= 3 else "ESCAPED host pid")
    """,
    "write_root_fs": """
        expect_oserror(lambda: open("/evil", "w").write("x"))
        expect_oserror(os.mkdir, "/evil-dir")
        expect_oserror(lambda: open("/etc/evil", "w").write("x"))
        expect_oserror(lambda: open("/proc/evil", "w").write("x"))
    """,
    "write_usr": """
        expect_oserror(lambda: open("/usr/evil", "w").write("x"))
        expect_oserror(lambda: open("/usr/bin/python3.11", "ab").write(b"x"))
    """,
    "write_workspace_in_readonly": """
        expect_oserror(lambda: open("/workspace/in/new.txt", "w").write("x"))
        expect_oserror(lambda: open("/workspace/in/data.txt", "w").write("x"))
        expect_oserror(os.unlink, "/workspace/in/data.txt")
    """,
    "overwrite_own_script": """
        expect_oserror(lambda: open("/workspace/main.py", "w").write("x"))
    """,
    "symlink_to_etc_passwd": """
        os.symlink("/etc/passwd", "/workspace/pw")
        expect_oserror(lambda: open("/workspace/pw").read())
    """,
    "proc_self_root_escape": """
        print("CONTAINED" if sorted(os.listdir("/proc/self/root")) == sorted(os.listdir("/")) else "ESCAPED")
        expect_oserror(lambda: open("/proc/self/root/etc/shadow").read())
        expect_oserror(os.listdir, "/proc/self/root/root")
    """,
    "proc_1_cwd_and_root_escape": """
        for path in ("/proc/1/cwd", "/proc/1/root"):
            try:
                entries = set(os.listdir(path))
            except OSError as e:
                print("CONTAINED", e.errno)
            else:
                host_dirs = {"root", "work", "home", "boot", "var"} & entries
                print(f"ESCAPED {entries}" if host_dirs else "CONTAINED")
        expect_oserror(lambda: open("/proc/1/root/etc/shadow").read())
    """,
    "ptrace": """
        expect_denied(101, 0, 0, 0, 0)          # PTRACE_TRACEME
        expect_denied(101, 16, 1, 0, 0)         # PTRACE_ATTACH to pid 1 (bwrap's init)
    """,
    "process_vm_readv": """
        expect_denied(310, 1, 0, 0, 0, 0, 0)
    """,
    "mount": """
        expect_denied(165, 0, 0, 0, 0, 0)
        expect_denied(166, 0, 0)                # umount2
        expect_denied(155, 0, 0)                # pivot_root
    """,
    "unshare_namespaces": """
        for flags in (0x10000000, 0x00020000, 0x40000000, 0x20000000):   # NEWUSER, NEWNS, NEWNET, NEWPID
            expect_denied(272, flags)
    """,
    "clone_new_user_namespace": """
        r, e = sc(56, 0x10000000 | 17, 0, 0, 0, 0)   # clone(CLONE_NEWUSER | SIGCHLD)
        if r == 0:
            os._exit(0)
        print("CONTAINED" if r == -1 and e == errno.EPERM else f"ESCAPED r={r} errno={e}")
        expect_denied(435, 0, 0, allowed=(errno.ENOSYS,))   # clone3 cannot be inspected: ENOSYS
    """,
    "setns": """
        fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        expect_denied(308, fd, 0)
    """,
    "chroot": """
        expect_oserror(os.chroot, "/tmp")
        expect_denied(161, 0)
    """,
    "setuid_root": """
        expect_oserror(os.setuid, 0)
        expect_oserror(os.setgid, 0)
        print("CONTAINED" if os.getuid() == 65534 and os.geteuid() == 65534 else "ESCAPED")
    """,
    "capabilities_and_seccomp_status": """
        status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        checks = {"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000",
                  "NoNewPrivs": "1", "Seccomp": "2"}
        bad = {k: status[k].strip() for k, v in checks.items() if status[k].strip() != v}
        print("CONTAINED" if not bad else f"ESCAPED {bad}")
    """,
    "kernel_modules": """
        expect_denied(175, 0, 0, 0)   # init_module
        expect_denied(313, 0, 0, 0)   # finit_module
        expect_denied(176, 0, 0)      # delete_module
        expect_denied(246, 0, 0, 0, 0)  # kexec_load
    """,
    "reboot_and_time": """
        expect_denied(169, 0xfee1dead, 0x28121969, 0x4321fedc, 0)   # reboot(POWER_OFF)
        expect_denied(164, 0, 0)      # settimeofday
        expect_denied(227, 0, 0)      # clock_settime
        expect_denied(167, 0, 0)      # swapon
        expect_denied(103, 0, 0, 0)   # syslog
    """,
    "keyctl_add_key": """
        expect_denied(250, 0, 0, 0, 0, 0)   # keyctl
        expect_denied(248, 0, 0, 0, 0, 0)   # add_key
        expect_denied(249, 0, 0, 0, 0)      # request_key
    """,
    "bpf_perf_userfaultfd_io_uring": """
        expect_denied(321, 0, 0, 0)         # bpf
        expect_denied(298, 0, 0, 0, 0, 0)   # perf_event_open
        expect_denied(323, 0)               # userfaultfd
        expect_denied(425, 1, 0)            # io_uring_setup
        expect_denied(304, 0, 0, 0)         # open_by_handle_at
    """,
    "x32_abi_syscalls": """
        expect_denied(0x40000000 + 39)      # x32 getpid
        expect_denied(0x40000000 + 101)     # x32 ptrace
    """,
    "tiocsti_terminal_injection": """
        expect_oserror(os.open, "/dev/tty", os.O_RDWR)   # new session: no controlling terminal
        c = ctypes.c_char(b"x")
        for fd in (0, 1, 2):
            r = libc.ioctl(ctypes.c_int(fd), ctypes.c_ulong(0x5412), ctypes.byref(c))
            print("CONTAINED" if r == -1 else "ESCAPED")
    """,
    "proc_kcore_and_sysrq": """
        expect_oserror(lambda: open("/proc/kcore", "rb").read(16))
        expect_oserror(lambda: open("/proc/sysrq-trigger", "w").write("b"))
        expect_oserror(lambda: open("/proc/sys/kernel/hostname", "w").write("pwned"))
    """,
    "sys_firmware_absent": """
        expect_oserror(os.listdir, "/sys/firmware")
        expect_oserror(os.listdir, "/sys")
    """,
    "dev_devices_minimal": """
        import stat as st
        allowed = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "console"}
        chars = {n for n in os.listdir("/dev") if st.S_ISCHR(os.lstat(f"/dev/{n}").st_mode)}
        blocks = {n for n in os.listdir("/dev") if st.S_ISBLK(os.lstat(f"/dev/{n}").st_mode)}
        print("CONTAINED" if chars <= allowed and not blocks else f"ESCAPED {chars - allowed} {blocks}")
        for dev in ("/dev/mem", "/dev/kmsg", "/dev/sda", "/dev/vda", "/dev/kvm"):
            expect_oserror(os.stat, dev)
    """,
    "hostname_isolated": """
        print("CONTAINED" if os.uname().nodename == "sandbox" else f"ESCAPED {os.uname().nodename}")
        expect_oserror(socket.sethostname, "pwned")
    """,
    "raw_and_packet_sockets": """
        expect_oserror(socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0)
        expect_oserror(socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    """,
    # Network namespaces do not isolate vsock (on a virtual machine: the hypervisor's port space) or netlink.
    "vsock_listen_refused": """
        try:
            s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
            s.bind((socket.VMADDR_CID_ANY, 5555)); s.listen()
            print("ESCAPED: listening on vsock")
        except OSError as exc:
            print("CONTAINED" if exc.errno == errno.EAFNOSUPPORT else f"ESCAPED errno={exc.errno}")
    """,
    "netlink_refused": """
        for proto in (0, 9, 15):   # NETLINK_ROUTE, NETLINK_AUDIT, NETLINK_KOBJECT_UEVENT
            try:
                socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
                print(f"ESCAPED: netlink {proto}")
            except OSError as exc:
                print("CONTAINED" if exc.errno == errno.EAFNOSUPPORT else f"ESCAPED errno={exc.errno}")
    """,
    # Every family but AF_UNIX, AF_INET and AF_INET6 is refused, by socket and by socketpair, whatever the
    # type; the three allowed ones still work (a refusal of everything would pass the rest of this case).
    "only_unix_and_inet_socket_families": """
        allowed = {1, 2, 10}
        for family in range(0, 64):
            for kind in (1, 2, 3, 5):   # SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET
                r, e = sc(41, family, kind, 0)
                if r >= 0:
                    os.close(r)
                    if family not in allowed:
                        print(f"ESCAPED: socket family {family} type {kind}")
                elif family not in allowed and e != errno.EAFNOSUPPORT:
                    print(f"ESCAPED: socket family {family} type {kind}: errno {e}, not EAFNOSUPPORT")
            pair = (ctypes.c_int * 2)()
            r, e = sc(53, family, 1, 0, ctypes.addressof(pair))
            if r == 0:
                os.close(pair[0]); os.close(pair[1])
                if family not in allowed:
                    print(f"ESCAPED: socketpair family {family}")
            elif family not in allowed and e != errno.EAFNOSUPPORT:
                print(f"ESCAPED: socketpair family {family} refused with errno {e}")
        for family in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
            socket.socket(family, socket.SOCK_STREAM).close()
        a, b = socket.socketpair(); a.close(); b.close()
        print("CONTAINED")
    """,
    "host_unix_sockets_absent": """
        for path in ("/run/dbus/system_bus_socket", "/var/run/docker.sock", "/run/systemd/private"):
            s = socket.socket(socket.AF_UNIX)
            expect_oserror(s.connect, path)
    """,
    "kill_everything": """
        import signal
        try:
            os.kill(-1, signal.SIGKILL)   # may only reach processes of this sandbox (not ourselves)
        except OSError:
            pass
        print("CONTAINED")
    """,
}


@pytest.mark.parametrize("code", list(IN_SANDBOX_CASES.values()), ids=list(IN_SANDBOX_CASES))
async def test_escape_attempt_is_contained(code: str, workspace: Path) -> None:
    result = await _run(code, workspace, files_in={"data.txt": b"input"})
    _assert_contained(result)


# --- attempts judged on the host ----------------------------------------------------------------------


async def test_network_to_host_loopback_listener_fails(workspace: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        port = server.getsockname()[1]
        result = await _run(
            f"""
            for host in ("127.0.0.1", "localhost", "::1"):
                try:
                    s = socket.create_connection((host, {port}), timeout=2)
                except OSError as e:
                    print("CONTAINED", e.errno)
                else:
                    print("ESCAPED", host)
            """,
            workspace,
        )
        _assert_contained(result)
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever reached the host's listener


async def test_host_abstract_unix_socket_is_unreachable(workspace: Path) -> None:
    name = f"agentic-sbx-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("\0" + name)
        server.listen(1)
        server.setblocking(False)
        result = await _run(
            f"""
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            expect_oserror(s.connect, "\\0{name}")
            """,
            workspace,
        )
        _assert_contained(result)
        with pytest.raises(BlockingIOError):
            server.accept()


async def test_private_tmp_does_not_reach_host_tmp(workspace: Path) -> None:
    name = f"agentic-sbx-canary-{uuid.uuid4().hex}"
    result = await _run(
        f"""
        open("/tmp/{name}", "w").write("x")
        print("CONTAINED" if open("/tmp/{name}").read() == "x" else "ESCAPED")
        """,
        workspace,
    )
    _assert_contained(result)
    assert not _exists(Path(tempfile.gettempdir(), name))
    assert not _exists(Path("/tmp", name))  # noqa: S108 - asserting the host /tmp stayed clean


async def test_private_tmp_is_size_capped(workspace: Path) -> None:
    limits = replace(LIMITS, tmpfs_bytes=4 * 1024 * 1024)
    result = await _run(
        """
        try:
            for i in range(100):
                with open(f"/tmp/fill{i}", "wb") as f:
                    f.write(b"x" * 1024 * 1024)
        except OSError as e:
            print("CONTAINED" if e.errno == errno.ENOSPC else f"ESCAPED {e}")
        else:
            print("ESCAPED wrote 100 MiB to /tmp")
        """,
        workspace,
        limits,
    )
    _assert_contained(result)


async def test_symlinks_in_out_are_not_followed_by_the_host(workspace: Path) -> None:
    host_secret = PROJECT_ROOT / "pyproject.toml"
    result = await _run(
        f"""
        os.symlink("{host_secret}", "/workspace/out/leak.txt")
        os.symlink("/etc", "/workspace/out/etcdir")
        os.symlink("{workspace.parent}", "/workspace/out/parent")
        os.mkfifo("/workspace/out/fifo")
        expect_oserror(os.listdir, "/workspace/out/parent")
        expect_oserror(os.listdir, "{workspace.parent}")
        open("/workspace/out/real.txt", "w").write("ok")
        """,
        workspace,
    )
    _assert_contained(result)
    assert result.files == {"real.txt": b"ok"}


async def test_symlink_to_workspace_parent_host_path(workspace: Path, sandbox_base: Path) -> None:
    sibling = sandbox_base / f"sibling-{uuid.uuid4().hex}"
    sibling.mkdir()
    (sibling / "secret.txt").write_text("other task's data")
    (sibling / "secret.txt").chmod(0o644)
    result = await _run(
        f"""
        os.symlink("{sibling}/secret.txt", "/workspace/sib")
        expect_oserror(lambda: open("/workspace/sib").read())
        expect_oserror(lambda: open("/workspace/../{sibling.name}/secret.txt").read())
        expect_oserror(lambda: open("{sibling}/secret.txt").read())
        """,
        workspace,
    )
    _assert_contained(result)


def _leftover_sandbox_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"/workspace/main.py" in cmdline:
            pids.append(int(entry))
    return pids


async def test_fork_bomb_is_contained(workspace: Path) -> None:
    limits = replace(LIMITS, max_processes=16, wall_seconds=3)
    result = await _run(
        """
        import time
        failures = 0
        for _ in range(200):
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
            except OSError as e:
                failures += 1
                last = e.errno
        print("CONTAINED" if failures and last == errno.EAGAIN else "ESCAPED no fork failed")
        sys.stdout.flush()
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        workspace,
        limits,
    )
    assert result.stdout.splitlines()[0] == "CONTAINED", (result.stdout, result.stderr)
    assert result.timed_out
    assert result.duration_seconds < 8
    assert _leftover_sandbox_pids() == []
    assert os.fork is not None  # the host process is alive and well


async def test_background_process_does_not_outlive_the_run(workspace: Path) -> None:
    result = await run_python(
        "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nprint('parent done')\n",
        workspace=workspace,
        limits=LIMITS,
    )
    assert result.exit_code == 0
    assert not result.timed_out
    assert result.duration_seconds < 5
    assert _leftover_sandbox_pids() == []


async def test_concurrent_runs_are_isolated(sandbox_base: Path) -> None:
    async def one(i: int) -> SandboxResult:
        return await run_python(
            f"import os\nopen('/workspace/out/id.txt', 'w').write('{i}')\nprint(sorted(os.listdir('/tmp')))\n"
            f"open('/tmp/mine-{i}', 'w').write('x')\n",
            workspace=sandbox_base / f"concurrent-{uuid.uuid4().hex}",
            limits=LIMITS,
        )

    results = await asyncio.gather(*(one(i) for i in range(3)))
    for i, result in enumerate(results):
        assert result.exit_code == 0, result
        assert result.stdout == "[]\n"  # no other run's /tmp files
        assert result.files == {"id.txt": str(i).encode()}


async def test_memory_bomb_is_contained(workspace: Path) -> None:
    limits = replace(LIMITS, memory_bytes=128 * 1024 * 1024)
    result = await _run(
        """
        try:
            blob = bytearray(1024 * 1024 * 1024)
        except MemoryError:
            print("CONTAINED")
        else:
            print("ESCAPED allocated 1 GiB")
        """,
        workspace,
        limits,
    )
    _assert_contained(result)


async def test_cpu_spin_is_killed(workspace: Path) -> None:
    limits = replace(LIMITS, cpu_seconds=1, wall_seconds=10)
    result = await run_python("while True:\n    pass\n", workspace=workspace, limits=limits)
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL), result
    assert not result.timed_out
    assert result.duration_seconds < 5


async def test_infinite_sleep_hits_the_wall_clock(workspace: Path) -> None:
    limits = replace(LIMITS, wall_seconds=1)
    result = await run_python("import time\ntime.sleep(3600)\n", workspace=workspace, limits=limits)
    assert result.timed_out
    assert result.signal == signal.SIGKILL
    assert result.exit_code is None
    assert result.duration_seconds < 4
    assert _leftover_sandbox_pids() == []


async def test_huge_stdout_is_truncated_and_the_run_ends(workspace: Path) -> None:
    limits = replace(LIMITS, max_stdout_bytes=64 * 1024)
    result = await run_python(
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", workspace=workspace, limits=limits
    )
    assert result.stdout_truncated
    assert len(result.stdout) == 64 * 1024
    assert not result.timed_out
    assert result.duration_seconds < 5


async def test_huge_stderr_is_truncated(workspace: Path) -> None:
    limits = replace(LIMITS, max_stderr_bytes=16 * 1024)
    result = await run_python(
        "import sys\nwhile True:\n    sys.stderr.write('e' * 4096)\n", workspace=workspace, limits=limits
    )
    assert result.stderr_truncated
    assert len(result.stderr) == 16 * 1024


async def test_huge_file_write_hits_the_file_size_limit(workspace: Path) -> None:
    limits = replace(LIMITS, max_file_bytes=1024 * 1024)
    result = await _run(
        """
        try:
            with open("/workspace/out/big.bin", "wb") as f:
                for _ in range(8):
                    f.write(b"x" * 1024 * 1024)
                    f.flush()
        except OSError as e:
            print("CONTAINED" if e.errno == errno.EFBIG else f"ESCAPED {e}")
        else:
            print("ESCAPED wrote 8 MiB")
        """,
        workspace,
        limits,
    )
    _assert_contained(result)
    assert len(result.files["big.bin"]) <= 1024 * 1024
    assert (workspace / "out" / "big.bin").stat().st_size <= 1024 * 1024


async def test_positive_control_reads_input_and_writes_output(workspace: Path) -> None:
    result = await run_python(
        textwrap.dedent(
            """
            import json, os, pathlib
            data = json.loads(pathlib.Path("/workspace/in/numbers.json").read_text())
            nested = pathlib.Path("/workspace/in/sub/note.txt").read_text()
            os.makedirs("/workspace/out/report", exist_ok=True)
            pathlib.Path("/workspace/out/report/sum.txt").write_text(str(sum(data)))
            pathlib.Path("/tmp/scratch").write_text("scratch ok")
            print("sum", sum(data), nested, pathlib.Path("/tmp/scratch").read_text())
            """
        ),
        workspace=workspace,
        limits=LIMITS,
        files_in={"numbers.json": b"[1, 2, 3, 4]", "sub/note.txt": b"hi"},
    )
    assert result.ok, result
    assert result.exit_code == 0
    assert result.signal is None
    assert result.stdout == "sum 10 hi scratch ok\n"
    assert result.files == {"report/sum.txt": b"10"}
    assert (workspace / "in" / "numbers.json").read_bytes() == b"[1, 2, 3, 4]"


async def test_failing_code_reports_exit_code_and_stderr(workspace: Path) -> None:
    code = "import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)\n"
    result = await run_python(code, workspace=workspace, limits=LIMITS)
    assert result.exit_code == 3
    assert result.signal is None
    assert result.stderr == "oops\n"
    assert not result.ok


# --- refusal paths ------------------------------------------------------------------------------------


async def test_refuses_without_bwrap(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which

    def which(cmd: str, *args: object, **kwargs: object) -> str | None:
        return None if cmd == "bwrap" else real_which(cmd)

    monkeypatch.setattr(shutil, "which", which)
    with pytest.raises(SandboxUnavailable, match="bubblewrap") as info:
        await run_python("print('never runs')", workspace=workspace, limits=LIMITS)
    assert info.value.code == "sandbox_unavailable"
    assert not _exists(workspace)  # refused before anything was prepared or run


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "", "./x"])
async def test_rejects_unsafe_input_names(name: str, workspace: Path) -> None:
    with pytest.raises(SandboxError):
        await run_python("print(1)", workspace=workspace, limits=LIMITS, files_in={name: b"x"})
    assert not (workspace.parent / "escape.txt").exists()


def _plant_in_symlink(workspace: Path, target: Path) -> None:
    target.mkdir()
    workspace.mkdir()
    (workspace / "in").symlink_to(target)


async def test_input_dir_planted_symlink_is_not_followed(workspace: Path, sandbox_base: Path) -> None:
    target = sandbox_base / f"target-{uuid.uuid4().hex}"
    _plant_in_symlink(workspace, target)
    # The planted link is removed, never followed, and a real in/ made in its place (it used to refuse the
    # call with an OSError, which crashed the tool).
    result = await run_python(
        "print(open('in/x.txt').read())", workspace=workspace, limits=LIMITS, files_in={"x.txt": b"x"}
    )
    assert result.stdout == "x\n", result.stderr
    assert list(target.iterdir()) == []
    assert not (workspace / "in").is_symlink()


def test_seccomp_program_shape() -> None:
    prog = build_seccomp_filter()
    assert len(prog) % 8 == 0
    first = struct.unpack("=HBBI", prog[:8])
    assert first == (0x20, 0, 0, 4)  # load the arch first
    assert struct.unpack("=HBBI", prog[8:16])[3] == sandbox.AUDIT_ARCH_X86_64
    assert len(prog) // 8 < 4096  # BPF_MAXINSNS


# --- issue 15: output names and a replaced out/ are tool errors, never a crashed attempt -------------------


async def test_an_output_file_name_that_is_not_utf8_is_a_clean_tool_error(workspace: Path) -> None:
    code = "open(b'out/bad-\\xff.txt'.decode('utf-8', 'surrogateescape'), 'w').write('x')"
    with pytest.raises(SandboxError) as refused:
        await _run(code, workspace)
    assert refused.value.code == "sandbox_error"
    assert "not valid UTF-8" in refused.value.message
    assert refused.value.details == {"name": "'bad-\\udcff.txt'"}


async def test_out_replaced_by_a_symlink_is_not_followed_nor_fatal_to_the_next_call(workspace: Path) -> None:
    """The workspace lives for the attempt: a later call of the same attempt must find a real out/ again."""
    planted = "import os, shutil; shutil.rmtree('out'); os.symlink('/etc', 'out'); print('planted')"
    first = await _run(planted, workspace)
    assert first.stdout == "planted\n"
    assert first.files == {}  # the symlink was not followed
    second = await _run("open('out/fine.txt', 'w').write('ok'); print('second')", workspace)
    assert second.stdout == "second\n"
    assert second.files == {"fine.txt": b"ok"}
    assert (workspace / "out").is_dir()
    assert not (workspace / "out").is_symlink()
