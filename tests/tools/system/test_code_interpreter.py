"""The local sandbox against hostile code: each attack is stopped with a clear result, the
server is unharmed and the next call works (in a fresh interpreter when one was killed).

Every test here runs inside the sandbox's own limits, set small (a few processes, a couple
of seconds): a fork bomb or a runaway loop cannot hurt the machine the suite shares.
One sandbox is reused by most tests (its interpreter is restarted only where a test kills it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

import agentdown
from agentdown.tools.system.code_interpreter import Sandbox, SandboxError, SandboxLimits, launch
from agentdown.tools.system.code_interpreter.launch import SANDBOX_UID, namespaces_available

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(sys.platform != "linux", reason="the local sandbox is Linux-only"),
]

NAMESPACES = namespaces_available()
needs_ns = pytest.mark.skipif(not NAMESPACES, reason="this machine allows no user namespaces")
ROOT = os.geteuid() == 0

LIMITS = SandboxLimits(
    wall_seconds=2,
    cpu_seconds=20,
    memory_bytes=1024 * 2**20,
    max_processes=12,
    max_file_bytes=2 * 2**20,
    output_chars=2000,
    startup_seconds=30,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in app data directory holding a secret the sandbox must not see."""
    data = tmp_path_factory.mktemp("data")
    (data / "secret.txt").write_text("the-data-dir-secret")
    return data


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(data_dir: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(data_dir / "sandboxes" / "one", LIMITS)
    yield box
    await box.close()


async def test_plain_code_runs_and_keeps_state(sandbox: Sandbox) -> None:
    first = await sandbox.run("x = 21\nprint('hello')")
    assert first.error is None and first.stdout == "hello\n"
    second = await sandbox.run("x * 2")
    assert second.result == "42"
    assert sandbox.isolation == ("namespaces" if NAMESPACES else "rlimits")


@needs_ns
async def test_host_files_are_hidden(sandbox: Sandbox, data_dir: Path) -> None:
    host_passwd = Path("/etc/passwd").read_text()
    execution = await sandbox.run("open('/etc/passwd').read()")
    assert execution.result is not None and "sandbox:x:1000" in execution.result
    assert "daemon:" in host_passwd and "daemon:" not in execution.result  # not the host's
    app = data_dir.parent / "app"  # a stand-in app folder beside the data directory
    app.mkdir(exist_ok=True)
    (app / "main.agent.md").write_text("---\nname: main\n---\nsecret instructions\n")
    hidden = (app / "main.agent.md", app, data_dir / "secret.txt", Path(agentdown.__file__))
    for path in (*hidden, Path("/etc/shadow"), Path("/var/log"), Path("/run"), Path("/sys/kernel")):
        probe = await sandbox.run(f"import os\nos.path.exists({str(path)!r})")
        assert probe.result == "False", path
    etc = await sandbox.run("sorted(os.listdir('/etc')), os.listdir('/mnt')")
    assert etc.result is not None and "'shadow'" not in etc.result and "['data']" in etc.result
    # At the top: the system's directories, and the first component of Python's installation.
    python_tops = {Path(os.path.realpath(p)).parts[1] for p in (sys.prefix, sys.base_prefix)}
    allowed = {"proc", "tmp", "mnt", "dev", "etc", "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"}
    top = await sandbox.run("sorted(os.listdir('/'))")
    assert top.result is not None and set(eval(top.result)) <= allowed | python_tops


@needs_ns
async def test_the_filesystem_outside_the_directory_is_read_only(sandbox: Sandbox) -> None:
    for target in ("/usr/evil", os.path.realpath(sys.prefix) + "/evil", "/etc/evil", "/evil"):
        execution = await sandbox.run(f"open({target!r}, 'w')")
        assert execution.error is not None and (
            "Read-only" in execution.error or "Permission" in execution.error
        )
        assert not Path(target).exists()


@needs_ns
async def test_server_environment_and_processes_are_invisible(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTDOWN_TEST_SECRET", "env-secret-value")
    box = Sandbox(data_dir / "sandboxes" / "env", LIMITS)
    try:
        execution = await box.run(
            "import os\n"
            "env = dict(os.environ)\n"
            "try:\n    raw = open('/proc/self/environ', 'rb').read()\nexcept PermissionError:\n    raw = b''\n"
            "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "(str(env) + str(raw)).count('env-secret-value'), len(pids) < 10"
        )
        assert execution.result == "(0, True)", execution
        assert str(os.getpid()) not in (await box.run("os.listdir('/proc')")).result  # type: ignore[operator]
    finally:
        await box.close()


@needs_ns
async def test_privileges_are_dropped(sandbox: Sandbox) -> None:
    execution = await sandbox.run(
        "import os, subprocess\n"
        "try:\n    os.setuid(0)\n    r = 'setuid worked'\nexcept PermissionError:\n    r = 'refused'\n"
        "nested = subprocess.run(['unshare', '--user', '--map-root-user', 'true']).returncode\n"
        "os.getuid(), r, nested != 0"
    )
    assert execution.result == "(1000, 'refused', True)", execution


@needs_ns
async def test_no_network_not_even_the_hosts_loopback(sandbox: Sandbox) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.setblocking(False)
    try:
        execution = await sandbox.run(
            f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))"
        )
        assert execution.error is not None and "OSError" in execution.error
        dns = await sandbox.run("socket.getaddrinfo('example.com', 443)")
        assert dns.error is not None and "gaierror" in dns.error
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever reached the host's loopback
    finally:
        listener.close()


async def test_infinite_loop_is_stopped_and_the_next_call_starts_fresh(sandbox: Sandbox) -> None:
    await sandbox.run("kept = 1\nopen('kept.txt', 'w').write('still here')")
    starts = sandbox.starts
    execution = await sandbox.run("while True:\n    pass")
    assert execution.restarted and execution.error is not None
    assert "wall-time limit of 2 s" in execution.error and "variables and imports are lost" in execution.error
    after = await sandbox.run("import os\n'kept' in globals(), open('kept.txt').read()")
    assert after.result == "(False, 'still here')"
    assert sandbox.starts == starts + 1


async def test_fork_bomb_is_bounded_then_stopped(sandbox: Sandbox) -> None:
    if not NAMESPACES and not ROOT:
        pytest.skip("RLIMIT_NPROC counts every process of this uid outside a user namespace")
    counted = await sandbox.run(
        "import os, time\nn = 0\n"
        "try:\n"
        "    while n < 1000:\n"
        "        if os.fork() == 0:\n            time.sleep(30)\n            os._exit(0)\n"
        "        n += 1\n"
        "except OSError as exc:\n    err = exc.errno\n"
        "n, err"
    )
    assert counted.result is not None and counted.error is None, counted
    forked = int(counted.result.strip("()").split(",")[0])
    assert forked < LIMITS.max_processes  # the rest were refused (EAGAIN)
    bomb = await sandbox.run(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    )
    assert bomb.restarted and bomb.error is not None and "wall-time" in bomb.error
    assert (await sandbox.run("print('alive')")).stdout == "alive\n"
    # The sleeping children died with the interpreter they belonged to.
    if NAMESPACES:
        # pid 1 (the supervisor) and the interpreter: nothing else.
        procs = await sandbox.run("import os\nlen([p for p in os.listdir('/proc') if p.isdigit()])")
        assert procs.result == "2"


async def test_huge_allocation_fails_inside_and_the_interpreter_survives(sandbox: Sandbox) -> None:
    await sandbox.run("survivor = 'yes'")
    execution = await sandbox.run("blob = bytearray(10 * 1024**3)")
    assert execution.error is not None and execution.error.startswith("MemoryError")
    assert "memory limit is 1024 MiB" in execution.error
    assert not execution.restarted
    assert (await sandbox.run("survivor")).result == "'yes'"


async def test_huge_print_is_capped_while_written(sandbox: Sandbox) -> None:
    execution = await sandbox.run("for _ in range(200_000):\n    print('x' * 100)")
    assert execution.error is None
    assert len(execution.stdout) == LIMITS.output_chars and execution.stdout_truncated
    assert execution.to_dict()["stdout_truncated"] is True
    # Output written by another process straight to the file descriptor is capped too.
    shell = await sandbox.run(
        "import subprocess\nsubprocess.run('head -c 1000000 /dev/zero | tr \"\\\\0\" y', shell=True)"
    )
    assert len(shell.stdout) == LIMITS.output_chars and shell.stdout_truncated
    err = await sandbox.run("import sys\nsys.stderr.write('e' * 100000)")
    assert len(err.stderr) == LIMITS.output_chars and err.stderr_truncated


async def test_file_size_limit(sandbox: Sandbox) -> None:
    execution = await sandbox.run("open('big.bin', 'wb').write(b'0' * (3 * 1024 * 1024))")
    assert execution.error is not None and "File too large" in execution.error
    assert (sandbox.directory / "big.bin").stat().st_size <= LIMITS.max_file_bytes


async def test_cpu_time_limit(data_dir: Path) -> None:
    box = Sandbox(
        data_dir / "sandboxes" / "cpu", SandboxLimits(wall_seconds=15, cpu_seconds=1, startup_seconds=30)
    )
    try:
        execution = await box.run("while True:\n    pass")
        assert (
            execution.restarted and execution.error is not None and "CPU-time limit of 1 s" in execution.error
        )
        assert execution.duration < 10
        assert (await box.run("1 + 1")).result == "2"
    finally:
        await box.close()


async def test_exit_and_crash_are_reported(sandbox: Sandbox) -> None:
    for code, words in (
        ("import os\nos._exit(3)", "exited (status 3)"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", ""),
    ):
        execution = await sandbox.run(code)
        assert execution.restarted and execution.error is not None and words in execution.error
        assert (await sandbox.run("'ok'")).result == "'ok'"
    raised = await sandbox.run("raise SystemExit(2)")
    assert raised.error is not None and raised.error.startswith("SystemExit") and not raised.restarted


async def test_symlinks_out_of_the_directory_are_never_followed(sandbox: Sandbox) -> None:
    execution = await sandbox.run(
        "import os\n"
        "os.symlink('/etc/passwd', 'leak.png')\n"
        "os.symlink('/etc', 'etcdir')\n"
        "os.makedirs('sub', exist_ok=True)\n"
        "os.symlink('/etc/hostname', 'sub/leak.svg')"
    )
    assert execution.error is None
    assert execution.images == [] and execution.files_created == []
    with pytest.raises(OSError):
        sandbox.put_file("leak.png", b"overwrite?")  # O_NOFOLLOW: the server does not write through it
    assert "root:" in Path("/etc/passwd").read_text()


async def test_put_file_names_are_checked(sandbox: Sandbox) -> None:
    for name in ("../escape", "/abs", "a/b", "..", ".", "", "x\0y"):
        with pytest.raises(ValueError):
            sandbox.put_file(name, b"x")
    path = sandbox.put_file("input.csv", b"a,b\n1,2\n")
    assert path.parent == sandbox.directory
    execution = await sandbox.run("open('input.csv').read()")
    assert execution.result == "'a,b\\n1,2\\n'"
    assert execution.files_created == []  # the server put it there: not the code's output


async def test_written_images_come_back(sandbox: Sandbox) -> None:
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
        b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    execution = await sandbox.run(f"open('dot.png', 'wb').write({png!r})\nopen('notes.txt', 'w').write('n')")
    assert [p.name for p in execution.files_created] == ["dot.png", "notes.txt"]
    assert [(i.media_type, i.data) for i in execution.images] == [("image/png", png)]
    assert execution.images[0].additional_properties["file"] == "dot.png"
    again = await sandbox.run("1")
    assert again.files_created == []  # unchanged files are not reported twice


def _reachable_by_others(path: str) -> bool:
    parts = Path(path).parts
    return all(os.stat(Path(*parts[:i])).st_mode & 0o001 for i in range(1, len(parts)))


async def test_rlimits_fallback(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = Sandbox(data_dir / "sandboxes" / "plain", SandboxLimits(wall_seconds=2, isolation="rlimits"))
    uid = SANDBOX_UID if ROOT else os.getuid()
    try:
        if ROOT and not _reachable_by_others(os.path.realpath(sys.base_prefix)):
            # Here (Python under /root, mode 700) the fallback must refuse, saying why...
            with pytest.raises(SandboxError, match="not searchable by other users"):
                await box.run("1")
            # ...and the rest of it is tested as a non-root server would run it (same uid).
            monkeypatch.setattr(launch, "server_is_root", lambda: False)
            uid = os.getuid()
        execution = await box.run(
            "import os, resource\nos.getuid(), resource.getrlimit(resource.RLIMIT_NPROC)"
        )
        assert box.isolation == "rlimits"
        assert execution.result == f"({uid}, (16, 16))"
        loop = await box.run("import subprocess\nsubprocess.Popen(['sleep', '60'])\nwhile True:\n    pass")
        assert loop.restarted and "wall-time" in (loop.error or "")
        assert (await box.run("2")).result == "2"
    finally:
        await box.close()


async def test_server_survives_concurrent_calls(sandbox: Sandbox) -> None:
    results = await asyncio.gather(*(sandbox.run(f"{i} * 2") for i in range(5)))
    assert [r.result for r in results] == [str(i * 2) for i in range(5)]


async def test_directory_size_cap_deletes_the_calls_files(data_dir: Path) -> None:
    limits = SandboxLimits(
        wall_seconds=5, max_file_bytes=2**20, max_directory_bytes=2**20, startup_seconds=30
    )
    box = Sandbox(data_dir / "sandboxes" / "full", limits)
    try:
        ok = await box.run("_ = open('keep.bin', 'wb').write(b'k' * 1000)")
        assert ok.error is None and [p.name for p in ok.files_created] == ["keep.bin"]
        over = await box.run("for i in range(3):\n    _ = open(f'part{i}.bin', 'wb').write(b'0' * 600_000)")
        assert over.error is not None and "over its limit of 1 MiB" in over.error
        assert over.files_created == []
        assert sorted(p.name for p in box.directory.iterdir() if not p.name.startswith(".")) == ["keep.bin"]
    finally:
        await box.close()


async def test_fifos_and_devices_are_not_read(sandbox: Sandbox) -> None:
    execution = await sandbox.run("import os\nos.mkfifo('pipe.png')")
    assert execution.error is None and execution.images == [] and execution.files_created == []


async def test_server_side_file_walks_never_follow_symlinks(tmp_path: Path) -> None:
    from agentdown.tools.system.code_interpreter.files import delete_file, read_file, scan

    box, outside = tmp_path / "box", tmp_path / "outside"
    box.mkdir()
    outside.mkdir()
    (outside / "victim.png").write_bytes(b"host file")
    (box / "sub").symlink_to(outside)  # a directory swapped for a symlink
    (box / "link.png").symlink_to(outside / "victim.png")
    (box / "real.png").write_bytes(b"mine")
    listing, cut = scan(box)
    assert list(listing) == ["real.png"] and not cut
    assert read_file(box, "sub/victim.png", 100) is None
    assert read_file(box, "link.png", 100) is None
    assert read_file(box, "../outside/victim.png", 100) is None
    assert read_file(box, "real.png", 100) == b"mine" and read_file(box, "real.png", 2) is None
    delete_file(box, "sub/victim.png")
    delete_file(box, "../outside/victim.png")
    assert (outside / "victim.png").read_bytes() == b"host file"
    delete_file(box, "link.png")  # the link itself goes, not its target
    assert not (box / "link.png").is_symlink() and (outside / "victim.png").exists()


@needs_ns
async def test_the_unprivileged_launch_path(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As a non-root server runs it: `unshare --map-root-user`, no uid switch (the only uid
    # a user may map is its own); namespaces and rlimits apply all the same.
    monkeypatch.setattr(launch, "server_is_root", lambda: False)
    box = Sandbox(data_dir / "sandboxes" / "unprivileged", LIMITS)
    try:
        execution = await box.run(
            "import os, socket\ntry:\n    socket.create_connection(('127.0.0.1', 1))\nexcept OSError as e:\n    net = e.errno\nos.getuid(), os.getcwd(), net"
        )
        assert execution.result == "(0, '/mnt/data', 101)", execution
        assert box.isolation == "namespaces"
    finally:
        await box.close()


@needs_ns
async def test_shared_memory_and_multiprocessing_work(sandbox: Sandbox) -> None:
    execution = await sandbox.run(
        "import multiprocessing as mp\n"
        "def square(x):\n    return x * x\n"
        "with mp.get_context('fork').Pool(2) as pool:\n    out = pool.map(square, range(4))\n"
        "out"
    )
    assert execution.result == "[0, 1, 4, 9]", execution


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the seccomp filter is x86-64 only")
async def test_seccomp_takes_risky_kernel_interfaces_away(sandbox: Sandbox) -> None:
    execution = await sandbox.run(
        "import ctypes\n"
        "libc = ctypes.CDLL('libc.so.6', use_errno=True)\n"
        "def call(*args):\n"
        "    ctypes.set_errno(0)\n"
        "    return libc.syscall(*args), ctypes.get_errno()\n"
        "[call(101, 0, 0, 0, 0),"  # ptrace(PTRACE_TRACEME): allowed to anyone without a filter
        " call(425, 1, 0),"  # io_uring_setup
        " call(321, 0, 0, 0),"  # bpf
        " call(323, 0),"  # userfaultfd
        " call(272, 0x10000000),"  # unshare(CLONE_NEWUSER)
        " call(298, 0, 0, -1, -1, 0),"  # perf_event_open
        " call(0x40000000 + 39)]"  # getpid through the x32 ABI
    )
    assert execution.result == str([(-1, 1)] * 7), execution
    assert sandbox.seccomp
    threads = await sandbox.run(
        "import threading, subprocess\nt = threading.Thread(target=print, args=('t',))\nt.start()\nt.join()\n"
        "subprocess.run(['true']).returncode"
    )
    assert threads.result == "0" and threads.stdout == "t\n"
