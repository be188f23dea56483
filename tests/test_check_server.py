"""The warm `course check` server (autograder/check_server.py): the same verdicts as a check
without it, the same sentences for bad input, only for its own user, and it ends by itself."""

import os
import socket
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import CourseError, check_server
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the check server is Linux only")

NB = ROOT / "notebooks" / "01_gradient_descent" / "01_gradient_descent.ipynb"


def _env(cache, **more):
    env = dict(os.environ, COURSE_ROOT=str(ROOT), COURSE_CACHE_DIR=str(cache), COURSE_CHECK_SERVER="1",
               COURSE_CHECK_SERVER_IDLE_S="120")
    env.update(more)
    env.pop("COURSE_GRADING", None)
    return env


def _check(path, env, cwd):
    return subprocess.run([sys.executable, "-m", "autograder.cli", "check", str(path)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def short_tmp():
    """A folder with a short path: a socket's path has at most 107 bytes."""
    d = Path(tempfile.mkdtemp(prefix="cs-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _servers(cache):
    """pids of check servers started with this cache folder."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"autograder.check_server" in cmd and any(str(cache).encode() in part for part in cmd):
                found.append(int(d.name))
    return found


def _wait_gone(cache, timeout=30):
    end = time.monotonic() + timeout
    while _servers(cache) and time.monotonic() < end:
        time.sleep(0.5)
    return not _servers(cache)


@pytest.fixture(scope="module")
def warm():
    """A course check run the ordinary way (it leaves a server behind) and that server, ready."""
    tmp = Path(tempfile.mkdtemp(prefix="cs-"))
    cache = tmp / "cache"
    env = _env(cache)
    work = tmp / "learner"
    work.mkdir()
    (work / NB.name).write_bytes(NB.read_bytes())
    first = _check(NB.name, env, work)
    assert first.returncode == 0, first.stderr
    old = dict(os.environ)
    os.environ.update(COURSE_CACHE_DIR=str(cache), COURSE_CHECK_SERVER="1")
    try:
        path = check_server.socket_path(ROOT, "none")
        end = time.monotonic() + 240
        while not path.exists() and time.monotonic() < end:
            time.sleep(0.5)
        assert path.exists(), "no check server was left behind by the first check"
        yield {"tmp": tmp, "cache": cache, "env": env, "work": work, "first": first, "path": path}
    finally:
        os.environ.clear()
        os.environ.update(old)
        for pid in _servers(cache):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_server_gives_the_verdict_a_check_without_it_gives(warm):
    cwd = os.getcwd()
    os.chdir(warm["work"])
    try:
        res = check_server.ask(ROOT, NB.name, "none", 600)
    finally:
        os.chdir(cwd)
    assert res is not None, "the warm server did not answer"
    from autograder.grading import report_lines

    assert "\n".join(report_lines(res)) + "\n" == warm["first"].stdout
    again = _check(NB.name, warm["env"], warm["work"])     # through the command, now served warm
    assert again.returncode == 0 and again.stdout == warm["first"].stdout


def test_a_wrong_notebook_gets_the_same_sentence_from_the_server(warm):
    (warm["work"] / "broken.ipynb").write_text("{ not json")
    inline = _check("broken.ipynb", dict(warm["env"], COURSE_CHECK_SERVER="0"), warm["work"])
    cwd = os.getcwd()
    os.chdir(warm["work"])
    try:
        with pytest.raises(CourseError) as err:
            check_server.ask(ROOT, "broken.ipynb", "none", 600)
        with pytest.raises(CourseError) as missing:
            check_server.ask(ROOT, "no-such.ipynb", "none", 600)
    finally:
        os.chdir(cwd)
    assert inline.returncode == 2
    assert inline.stderr.strip() == f"course check: {err.value}"
    assert "no-such.ipynb does not exist" in str(missing.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_another_user_cannot_reach_the_server(warm):
    path = str(warm["path"])
    pid = os.fork()
    if pid == 0:    # the child: another user
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                s.sendall(b'{"notebook": "x.ipynb", "cwd": "/"}')
                s.shutdown(socket.SHUT_WR)
                code = 1 if s.recv(100) else 0       # connected (root's folder mode aside): no answer
            except OSError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, "another user got an answer from the check server"
    mode = os.stat(Path(path).parent).st_mode & 0o777
    assert mode == 0o700


def test_a_stale_socket_means_an_ordinary_check(short_tmp):
    tmp_path = short_tmp
    cache = tmp_path / "cache"
    old = dict(os.environ)
    os.environ.update(COURSE_CACHE_DIR=str(cache))
    try:
        path = check_server.socket_path(ROOT, "none")
        path.parent.mkdir(parents=True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))       # a socket file nobody listens on (a server that was killed)
        s.close()
        assert check_server.ask(ROOT, str(NB), "none", 30) is None
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_the_server_ends_when_idle_or_replaced(short_tmp):
    tmp_path = short_tmp
    cache = tmp_path / "cache"
    env = _env(cache, COURSE_CHECK_SERVER_IDLE_S="2")
    subprocess.run([sys.executable, "-c", "from autograder import check_server; check_server.start(__import__('pathlib').Path("
                    f"{str(ROOT)!r}), 'none')"], env=env, check=True, timeout=60)
    end = time.monotonic() + 60
    while not _servers(cache) and time.monotonic() < end:
        time.sleep(0.2)
    assert _servers(cache), "the server did not start"
    assert _wait_gone(cache, timeout=240), "an idle check server did not end"
    env = _env(cache, COURSE_CHECK_SERVER_IDLE_S="600")
    subprocess.run([sys.executable, "-c", "from autograder import check_server; check_server.start(__import__('pathlib').Path("
                    f"{str(ROOT)!r}), 'none')"], env=env, check=True, timeout=60)
    old = dict(os.environ)
    os.environ.update(COURSE_CACHE_DIR=str(cache))
    try:
        path = check_server.socket_path(ROOT, "none")
    finally:
        os.environ.clear()
        os.environ.update(old)
    end = time.monotonic() + 240
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.2)
    assert path.exists()
    path.unlink()               # what a newer version's server does to an older one's socket
    assert _wait_gone(cache, timeout=240), "a check server whose socket was replaced did not end"


def test_no_server_starts_where_it_is_turned_off(short_tmp):
    tmp_path = short_tmp
    cache = tmp_path / "cache"
    env = _env(cache, COURSE_CHECK_SERVER="0")
    work = tmp_path / "w"
    work.mkdir()
    (work / NB.name).write_bytes(NB.read_bytes())
    assert _check(NB.name, env, work).returncode == 0
    time.sleep(1)
    assert not _servers(cache) and not (cache.parent / "check").exists()
