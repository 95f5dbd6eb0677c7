"""sslbind runs on Windows and macOS clients: no POSIX-only module or attribute on the client's paths.

There is no Windows machine in CI, so (a) a subprocess makes the POSIX-only modules and `os`/`signal`
attributes unavailable before it imports `generator`, then renders a record, writes a plan into it
and checks it, with stdout and stderr in cp1252 (a Windows console redirected to a file); (b) a
static check walks every module under generator/ outside the lab (which needs Linux or macOS) and
fails on an unguarded import of a POSIX-only module.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.portable import RESERVED_NAMES, safe_file_name
from generator.render import host_dir

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "generator"

# Modules Windows does not have (macOS has them, but the rule is one for both).
POSIX_MODULES = ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "syslog", "posix", "crypt")
# `os` and `signal` attributes Windows lacks; code must reach them through getattr/hasattr.
OS_ATTRIBUTES = (
    "O_DIRECTORY",
    "O_NOFOLLOW",
    "O_NONBLOCK",
    "O_CLOEXEC",
    "getuid",
    "geteuid",
    "getgid",
    "fchmod",
    "fchown",
    "chown",
    "sync",
    "fork",
    "setsid",
    "killpg",
    "getpgid",
    "uname",
    "statvfs",
)
SIGNAL_ATTRIBUTES = ("SIGHUP", "SIGKILL", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGPIPE", "SIGCHLD")

# Third-party packages take their own Windows branch there (and have their own Windows CI); here
# they are imported before the block so that only sslbind's code meets a Windows-like stdlib.
THIRD_PARTY = ("click", "rich.console", "rich.table", "jinja2", "yaml", "pydantic", "pypsrp.client", "psutil")

DRIVER = """
import json, os, signal, sys
sys.path.insert(0, {root!r})
for name in {third_party!r}:
    __import__(name)
for name in {modules!r}:
    sys.modules[name] = None  # `import fcntl` now raises ImportError, as on Windows
for name in {os_attrs!r}:
    if hasattr(os, name):
        delattr(os, name)
for name in {signal_attrs!r}:
    if hasattr(signal, name):
        delattr(signal, name)
os.name_for_test = "nt"  # marker only: sslbind must not need os.name to be posix

from pathlib import Path  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from generator.cli import cli  # noqa: E402
from generator.record import add_plan, check_record  # noqa: E402

def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return {{"args": list(args), "exit": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}}

out = sys.argv[1]
steps = [run("render", sys.argv[2], "-o", out)]
record = os.path.join(out, "CHG0012345")
add_plan(Path(record), {{"kind": "plan", "hosts": {{}}}}, "20261130T000000Z")
steps.append({{"args": ["check_record"], "problems": check_record(Path(record))}})
steps.append(run("record", "check", record))
steps.append(run("render", sys.argv[3], "-o", out))  # a bad spec whose message is not cp1252
print(json.dumps(steps, ensure_ascii=True))
"""


def _driver() -> str:
    return DRIVER.format(
        root=str(ROOT),
        third_party=THIRD_PARTY,
        modules=POSIX_MODULES,
        os_attrs=OS_ATTRIBUTES,
        signal_attrs=SIGNAL_ATTRIBUTES,
    )


def test_render_plan_record_and_check_without_posix_only_modules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nchange: {id: CHG1, title: t}\ntargets: []\nunknown\u2192key: 1\n", "utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0", "SOURCE_DATE_EPOCH": "0"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _driver(),
            str(tmp_path / "out"),
            str(ROOT / "examples/renew-api.yaml"),
            str(bad),
        ],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode("cp1252", "replace")
    render, checked, check, refused = json.loads(done.stdout.decode("cp1252").splitlines()[-1])
    assert render["exit"] == 0 and "wrote change record" in render["stdout"], render
    assert checked["problems"] == []  # the plan is in the record with its sidecar
    assert (tmp_path / "out/CHG0012345/plans/20261130T000000Z.json").is_file()
    assert check["exit"] == 0 and check["stdout"].endswith("intact\n"), check
    assert refused["exit"] == 2 and "Traceback" not in refused["stderr"], refused
    assert len(refused["stderr"].strip().splitlines()) == 1, refused


def test_cli_prints_non_cp1252_text_on_a_cp1252_console(tmp_path: Path) -> None:
    """A line carrying a character cp1252 lacks (here the record's folder name) is printed with an
    escape, never failing a command whose work is done (a redirected Windows console is cp1252)."""
    sslbind = Path(sys.executable).with_name("sslbind")
    out = tmp_path / "changes\u2192q1"
    subprocess.run(
        [str(sslbind), "render", str(ROOT / "examples/renew-api.yaml"), "-o", str(out)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0"}
    done = subprocess.run(
        [str(sslbind), "record", "check", str(out / "CHG0012345")],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    stdout, stderr = done.stdout.decode("cp1252"), done.stderr.decode("cp1252")
    assert done.returncode == 0, stderr
    assert stdout.endswith("changes\\u2192q1/CHG0012345: intact\n"), stdout
    assert "Traceback" not in stderr and "not UTF-8" not in stderr, stderr


@pytest.mark.parametrize(
    ("host", "folder"),
    [
        ("web01.contoso.local", "web01.contoso.local"),
        ("2001:db8::10", "2001_db8__10"),
        ("[::1]", "__1"),
        ("con", "_con"),
        ("NUL.contoso.local", "_NUL.contoso.local"),
        ("com1", "_com1"),
        ("lpt9.example", "_lpt9.example"),
        ("console.contoso.local", "console.contoso.local"),  # only the exact reserved names
        ("web01.", "web01_"),
        ("web01..", "web01__"),
    ],
)
def test_host_folders_are_valid_windows_file_names(host: str, folder: str) -> None:
    assert host_dir(host) == folder


def test_safe_file_name_is_deterministic_and_keeps_distinct_names_distinct() -> None:
    names = ["a", "a.", "a_", "con", "_con", "con.", "Con.x", "aux", "AUX"]
    mapped = [safe_file_name(n) for n in names]
    assert mapped == [safe_file_name(n) for n in names]
    for name, safe in zip(names, mapped, strict=True):
        stem = safe.split(".")[0].upper()
        assert stem not in RESERVED_NAMES and not safe.endswith((".", " ")), (name, safe)
        assert not set(safe) & set('<>:"/\\|?*'), (name, safe)
    # names that differ only by a leading '_' or a trailing '.' stay apart ('_' is in no host name)
    hosts = ["a", "a.", "con", "con.", "Con.x", "aux"]
    assert len({safe_file_name(h) for h in hosts}) == len(hosts)


@pytest.mark.parametrize("char", [*'<>:"/\\|?*', "\x01"])
def test_safe_file_name_replaces_characters_windows_forbids(char: str) -> None:
    assert safe_file_name(f"a{char}b") == f"a_{ord(char):02x}_b"


# --- (b) the static check -------------------------------------------------------------------------


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """An import or attribute inside `try: ... except ImportError` (or ModuleNotFoundError), or under
    an `if` testing `sys.platform`, `os.name` or `hasattr`. A function-level import is not a guard:
    the function may run on Windows."""
    current = parents.get(node)
    while current is not None:
        if isinstance(current, ast.Try):
            names = {ast.unparse(h.type) for h in current.handlers if h.type is not None}
            if any("ImportError" in n or "ModuleNotFoundError" in n for n in names):
                return True
        if isinstance(current, ast.If) and any(
            w in ast.unparse(current.test) for w in ("sys.platform", "os.name", "hasattr(")
        ):
            return True
        current = parents.get(current)
    return False


def unguarded_posix_imports(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "lab" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text("utf-8"), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                if name in POSIX_MODULES and not _guarded(node, parents):
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno}: import {name}")
    return found


def unguarded_posix_attributes(root: Path) -> list[str]:
    """`os.O_DIRECTORY`, `signal.SIGKILL` and the like used directly rather than through getattr."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "lab" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text("utf-8"), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
                continue
            module, attr = node.value.id, node.attr
            posix_only = (module == "os" and attr in OS_ATTRIBUTES) or (
                module == "signal" and attr in SIGNAL_ATTRIBUTES
            )
            if posix_only and not _guarded(node, parents):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {module}.{attr}")
    return found


def test_no_unguarded_posix_only_import_outside_the_lab() -> None:
    assert unguarded_posix_imports(GENERATOR) == []


def test_no_direct_posix_only_attribute_outside_the_lab() -> None:
    assert unguarded_posix_attributes(GENERATOR) == []


def test_the_static_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The checks above can fail: a planted module trips both, a guarded one trips neither."""
    package = tmp_path / "generator"
    (package / "lab").mkdir(parents=True)
    (package / "bad.py").write_text("import os\nimport fcntl\nfd = os.O_DIRECTORY\n", "utf-8")
    (package / "lab" / "ok.py").write_text("import fcntl\n", "utf-8")
    (package / "good.py").write_text(
        "import os\ntry:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n"
        "flag = getattr(os, 'O_DIRECTORY', 0)\n",
        "utf-8",
    )
    assert unguarded_posix_imports(package) == ["generator/bad.py:2: import fcntl"]
    assert unguarded_posix_attributes(package) == ["generator/bad.py:3: os.O_DIRECTORY"]
