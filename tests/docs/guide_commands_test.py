#!/usr/bin/env python3
"""The per-role guides show commands that work and output that is true.

usage: guide_commands_test.py SOURCE_DIR BIN_DIR

Checks docs/sender.md, receiver.md, dpo.md and operator-guide.md (and the
`xgwd init` output shown in operations.md) against the real xgw and xgwd:

1. Every `xgw ...` and `xgwd ...` command line in them, in code blocks or
   inline code, names a real command, and the CLI accepts its flags: it is
   run with --help right after the command name (an unknown flag, or a flag
   missing its value, is a usage error), and every flag must appear in the
   command's --help text.
2. A world is set up in a temporary directory (xgwd init, a real daemon on
   127.0.0.1 with a manual clock on 20 September 2024, the CIR protocol, a
   clerk, a social worker, a colleague outside the protocol, a DPO), and the
   code blocks marked in the guides are run in it:

     <!-- test: run as=WHO [exit=N] [order=N] [tty] [retry] [stdout=VAR] -->
         runs the block with bash as WHO (their own HOME, so ~/.config/xgw
         is theirs); every command must end with exit N (default 0). tty: on
         a pseudo-terminal, answering the fingerprint, token and passphrase
         prompts. retry: try again for up to 10 s (the sweeper is
         asynchronous). stdout=VAR: standard output must be VAR's value.
     <!-- test: transcript as=WHO [exit=N] [order=N] [tty] -->
         the block is `$ COMMAND` and then what it prints; the command is run
         and its output must match, line by line and in order (with tty, on a
         pseudo-terminal: prompts in the order the user meets them). `…` and
         `<word>` stand for any text.
     <!-- test: xgwd-init-output -->
         every line of the block matches a line `xgwd init` printed.

   Blocks run by increasing order (default 50), then in file order. In the
   commands, the guides' example gateway address, pin, subject-key paths,
   `exc-…` (the exchange sent in the scenario), `usr-…` (with usr=WHO) and
   /var/lib/xgwd (the test's state directory) and `~/` (WHO's home) are
   replaced by the real ones.

Everything is written under one temporary directory that is removed at the
end; the daemon is stopped with SIGTERM. The list sent is generated
(scripts/sample_list.py: fictional people) and no command output that could
hold a list's cells is printed.
"""
import json
import os
import pathlib
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

GUIDES = ["docs/sender.md", "docs/receiver.md", "docs/dpo.md", "docs/operator-guide.md"]
INIT_OUTPUT_DOCS = GUIDES + ["docs/operations.md"]
PASSPHRASE = "correct horse battery staple"

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


# ---------------------------------------------------------------- parsing

MARKER = re.compile(r"^<!--\s*test:\s*([a-z-]+)\s*(.*?)\s*-->\s*$")


def code_blocks(text):
    """(line number, marker or None, block lines) for every fenced block."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            indent = len(lines[i]) - len(lines[i].lstrip())
            marker = None
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            if j >= 0 and MARKER.match(lines[j].strip()):
                m = MARKER.match(lines[j].strip())
                attrs = {}
                for word in m.group(2).split():
                    key, _, value = word.partition("=")
                    attrs[key] = value if value else True
                marker = (m.group(1), attrs)
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                i += 1
            yield start, marker, [l[indent:] if l[:indent].strip() == "" else l for l in lines[start:i]]
        i += 1


def inline_spans(text):
    """Inline code spans outside fenced blocks, with their line numbers."""
    in_block = False
    for n, line in enumerate(text.split("\n"), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            continue
        for span in re.findall(r"`([^`]+)`", line):
            yield n, span


def command_lines(block_lines):
    """Shell command lines of a block: continuations joined, comments and
    output lines (after `# ->`) dropped, `$ ` prompts removed."""
    joined, current = [], ""
    for line in block_lines:
        s = line.rstrip()
        if s.startswith("$ "):
            s = s[2:]
        current += s
        if current.endswith("\\") or current.endswith("|"):
            current = current.rstrip("\\") + " "
            continue
        joined.append(current)
        current = ""
    if current:
        joined.append(current)
    return joined


def xgw_invocations(line):
    """The `xgw ...`/`xgwd ...` commands in one shell line, as word lists."""
    code = re.sub(r"(^|\s)#.*$", "", line)
    out = []
    for part in re.split(r"\|\||&&|[|;]", code):
        part = re.split(r"\s[<>]|^[<>]|\s\d?>", part)[0].strip()
        try:
            words = shlex.split(part.replace("[", " ").replace("]", " "))
        except ValueError:
            words = part.replace("[", " ").replace("]", " ").split()
        if words and words[0] in ("xgw", "xgwd"):
            out.append(words)
    return out


# ---------------------------------------------------------------- static check

def help_text(bins, program, command, env):
    args = [bins[program]] + ([command] if command else []) + ["--help"]
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=20)
    return r.returncode, r.stdout + r.stderr


def static_check(root, bins, env):
    top = help_text(bins, "xgw", None, env)[1]
    commands = set(re.findall(r"^  ([a-z][a-z-]+)\s", top, re.M))
    if len(commands) < 10:
        fail("xgw --help", f"lists only {len(commands)} commands: has its format changed?")
    xgwd_help = help_text(bins, "xgwd", None, env)[1]
    checked = 0
    for rel in GUIDES:
        text = (root / rel).read_text(encoding="utf-8")
        found = []
        for start, _, block in code_blocks(text):
            for k, line in enumerate(command_lines(block)):
                found += [(start + k, w) for w in xgw_invocations(line)]
        for n, span in inline_spans(text):
            found += [(n, w) for w in xgw_invocations(span)]
        for n, words in found:
            where = f"{rel}:{n}: `{' '.join(words)}`"
            checked += 1
            if words[0] == "xgwd":
                for flag in (w.split("=")[0] for w in words[1:] if w.startswith("-")):
                    if not re.search(r"(^|[\s\[(])" + re.escape(flag) + r"\b", xgwd_help, re.M):
                        fail(where, f"xgwd does not document {flag} in `xgwd --help`")
                continue
            if len(words) < 2 or words[1].startswith("-"):
                continue
            cmd = words[1]
            if cmd not in commands:
                fail(where, f"`xgw {cmd}` is not a command of `xgw --help`")
                continue
            # --help right after the command: the parser still reads every
            # flag that follows, so an unknown flag or a missing value fails.
            r = subprocess.run([bins["xgw"], cmd, "--help"] + words[2:], capture_output=True, text=True,
                               env=env, timeout=20)
            if r.returncode != 0 or not r.stdout.startswith("usage:"):
                fail(where, f"the CLI does not accept it (exit {r.returncode}): {r.stderr.strip()}")
                continue
            # A command with subcommands lists them in its usage lines
            # (`xgw audit events ...`, `xgw protocol (activate | ...) ID`).
            subs = set()
            for line in r.stdout.splitlines():
                if f"xgw {cmd} " in line:
                    for word in re.sub(r"[()|]", " ", line.split(f"xgw {cmd} ", 1)[1]).split():
                        if not re.fullmatch(r"[a-z][a-z-]*", word):
                            break
                        subs.add(word)
            for word in words[2:2 + (2 if len(words) > 2 and words[2] == "pin" else 1)] if subs else []:
                if word not in subs:
                    fail(where, f"`{word}` is not a subcommand in `xgw {cmd} --help`")
            for flag in (w.split("=")[0] for w in words[2:] if re.match(r"^--?[a-z]", w)):
                if not re.search(r"(^|[\s\[(])" + re.escape(flag) + r"\b", r.stdout, re.M):
                    fail(where, f"{flag} is not in `xgw {cmd} --help`")
    if checked < 40:
        fail("guides", f"only {checked} xgw/xgwd commands found: has the extraction broken?")
    return checked


# ---------------------------------------------------------------- the world

class World:
    def __init__(self, root, bins, work):
        self.root, self.bins, self.work = root, bins, work
        self.daemon = None
        self.vars = {}
        self.people = {}   # who -> {"id", "token"}

    def home(self, who):
        h = self.work / "home" / who
        h.mkdir(parents=True, exist_ok=True, mode=0o700)
        return h

    def env(self, who):
        env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_") and k != "XDG_CONFIG_HOME"}
        env.update(HOME=str(self.home(who)), XGW_PASSPHRASE_FILE=str(self.work / "passphrase"),
                   PATH=f"{self.bins['xgw'].parent}:{env.get('PATH', '/usr/bin:/bin')}", LC_ALL="C.UTF-8")
        return env

    def xgw(self, who, *args, check=True):
        r = subprocess.run([str(self.bins["xgw"]), *args], capture_output=True, text=True, env=self.env(who),
                           cwd=self.home(who), stdin=subprocess.DEVNULL, timeout=60, start_new_session=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"setup: xgw {args[0]} as {who} failed (exit {r.returncode}): {r.stderr.strip()}")
        return r

    def start(self):
        (self.work / "passphrase").write_text(PASSPHRASE + "\n")
        os.chmod(self.work / "passphrase", 0o600)
        state = self.work / "state"
        r = subprocess.run([str(self.bins["xgwd"]), "init", "--state", str(state)], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"xgwd init failed: {r.stderr.strip()}")
        self.init_output = r.stdout.splitlines()
        fields = dict(l.split(": ", 1) for l in self.init_output if re.match(r"^[a-z-]+: ", l))
        pin_hex = re.search(r"sha256:([0-9a-f]{64})", r.stdout)
        self.vars.update(PIN=fields["certificate-pin"], STATE=str(state),
                         PIN_B64=fields["certificate-pin"].removeprefix("sha256//"),
                         PIN_HEX=pin_hex.group(1) if pin_hex else "")
        self.people["operator"] = {"id": fields["operator-user"], "token": fields["operator-token"]}
        config = self.config = pathlib.Path(fields["config"])
        cfg = json.loads(config.read_text())
        cfg.update(listen="127.0.0.1:0", clock={"mode": "manual", "start": "2024-09-20T07:00:00Z"},
                   exchanges={"sweep_interval_seconds": 1}, log={"requests": False})
        config.write_text(json.dumps(cfg, indent=2))
        port = self.work / "port"
        self.daemon = subprocess.Popen([str(self.bins["xgwd"]), "serve", "-c", str(config), "--port-file", str(port)],
                                       stdout=open(self.work / "xgwd.log", "w"), stderr=subprocess.STDOUT)
        for _ in range(200):
            if port.exists() and port.read_text().strip():
                break
            if self.daemon.poll() is not None:
                raise RuntimeError("xgwd exited at start")
            time.sleep(0.05)
        else:
            raise RuntimeError("xgwd did not start")
        self.vars["URL"] = f"https://127.0.0.1:{port.read_text().strip()}"
        self.write_token("operator")
        self.xgw("operator", "login", "--gateway", self.vars["URL"], "--token-file", "operator.tok",
                 "--pin", self.vars["PIN"])

        def org(name, number):
            return json.loads(self.xgw("operator", "org", "create", "--name", name, "--enterprise-number", number,
                                       "--json").stdout)["id"]
        thuispunt = org("Thuispunt Gent", "BE 0400.032.156")
        ocmw = org("OCMW Gent", "0212.214.125")
        self.vars.update(ORG_THUISPUNT=thuispunt, ORG_OCMW=ocmw)
        for who, o, role in [("clerk", thuispunt, "sender"), ("worker", ocmw, "social-worker-thuislozenzorg"),
                             ("colleague", ocmw, "staff-parking-department"), ("dpo", thuispunt, "dpo")]:
            uid = json.loads(self.xgw("operator", "user", "create", "--org", o, "--name", who, "--role", role,
                                      "--json").stdout)["id"]
            token = self.xgw("operator", "token", "issue", uid, "--ttl", "365d").stdout.strip()
            self.people[who] = {"id": uid, "token": token}
            self.write_token(who)
        # The colleague is logged in and has a key; the clerk, the social
        # worker and the DPO log in as their guides say.
        self.xgw("colleague", "login", "--gateway", self.vars["URL"], "--token-file", "token", "--pin",
                 self.vars["PIN"])
        self.xgw("colleague", "register-key", "--new-identity", "colleague.age", "--no-passphrase")
        example = self.root / "config/examples/cir-thuispunt-ocmw-2024_VB_00591.json"
        self.xgw("operator", "protocol", "propose", str(example))
        self.xgw("operator", "protocol", "accept", "2024_VB_00591", "--org", thuispunt)
        self.xgw("operator", "protocol", "accept", "2024_VB_00591", "--org", ocmw)
        self.xgw("operator", "protocol", "activate", "2024_VB_00591")
        # The clerk's list, as CSV and as a workbook; the subject-index key.
        rows = subprocess.run([sys.executable, str(self.root / "scripts/sample_list.py"), "--rows", "25"],
                              capture_output=True, text=True, check=True).stdout
        clerk = self.home("clerk")
        (clerk / "lijst.csv").write_text(rows)
        write_xlsx(clerk / "lijst.xlsx", [r.split(";") for r in rows.splitlines()])
        key = os.urandom(32).hex() + "\n"
        for who in ("clerk", "dpo"):
            (self.home(who) / "subject.key").write_text(key)
            os.chmod(self.home(who) / "subject.key", 0o600)

    def write_token(self, who):
        name = "operator.tok" if who == "operator" else "token"
        path = self.home(who) / name
        path.write_text(self.people[who]["token"] + "\n")
        os.chmod(path, 0o600)

    def exchange(self):
        if "EXC" not in self.vars:
            r = self.xgw("clerk", "inbox", "--sent", "--json", check=False)
            items = json.loads(r.stdout) if r.returncode == 0 else []
            if isinstance(items, dict):
                items = items.get("items", [])
            self.vars["EXC"] = items[0]["id"] if items else "exc-none-sent"
        return self.vars["EXC"]

    def substitute(self, text, who, attrs):
        home = self.home(who)
        text = text.replace("https://gateway.example.be:8443", self.vars["URL"])
        text = text.replace("https://gateway.example.be", self.vars["URL"])
        text = text.replace("/path/to/subject.key", str(home / "subject.key"))
        text = text.replace("/secure/path/subject.key", str(home / "subject.key"))
        text = text.replace("/var/lib/xgwd", self.vars["STATE"])
        text = re.sub(r"(^|\s)~/", lambda m: m.group(1) + str(home) + "/", text)
        text = re.sub(r"sha256//…", self.vars["PIN"], text)
        if "exc-" in text:
            text = re.sub(r"exc-(0123)?…", self.exchange(), text)
        if "usr" in attrs:
            text = text.replace("usr-…", self.people[attrs["usr"]]["id"])
        return text

    def stop(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.daemon.kill()


def write_xlsx(path, rows):
    """A minimal workbook (inline strings, one sheet), enough for xgw send."""
    def col(i):
        s = ""
        i += 1
        while i:
            i, r = divmod(i - 1, 26)
            s = chr(65 + r) + s
        return s

    def esc(v):
        return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    sheet_rows = "".join(
        f'<row r="{n}">' + "".join(f'<c r="{col(i)}{n}" t="inlineStr"><is><t>{esc(v)}</t></is></c>'
                                   for i, v in enumerate(row)) + "</row>" for n, row in enumerate(rows, 1))
    ns = "http://schemas.openxmlformats.org"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{ns}/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
                   '"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
        z.writestr("_rels/.rels",
                   f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" '
                   'Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml",
                   f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}/spreadsheetml/2006/main" '
                   f'xmlns:r="{ns}/officeDocument/2006/relationships"><sheets>'
                   '<sheet name="Lijst" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" '
                   'Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml",
                   f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}/spreadsheetml/2006/main">'
                   f"<sheetData>{sheet_rows}</sheetData></worksheet>")


# ---------------------------------------------------------------- running blocks

def run_on_pty(argv, env, cwd, answers, timeout=60):
    """Runs argv on a pseudo-terminal, answering prompts; returns (exit, text)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out, pending = b"", b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        pending += data
        for prompt, answer, hidden in answers:
            if re.search(prompt, pending):
                if hidden:  # wait until the program turned echo off
                    for _ in range(500):
                        try:
                            import termios
                            if not termios.tcgetattr(fd)[3] & termios.ECHO:
                                break
                        except Exception:
                            break
                        time.sleep(0.01)
                os.write(fd, answer.encode() + b"\n")
                pending = b""
                break
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    # As a terminal shows it: a carriage return starts the line again (the
    # progress bar redraws itself), so keep what follows the last one.
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    return os.waitstatus_to_exitcode(status), "\n".join(l.rstrip("\r").split("\r")[-1] for l in text.split("\n"))


def run(world, who, script, tty):
    env = world.env(who)
    if tty:
        answers = [(rb"Type yes to trust it: $", "yes", False),
                   (rb"Token \(from your operator\): $", world.people[who]["token"], True),
                   (rb"(?i)passphrase[^\n]*: $", PASSPHRASE, True)]
        env.pop("XGW_PASSPHRASE_FILE", None)
        return run_on_pty(["/bin/bash", "-c", script], env, world.home(who), answers) + ("",)
    r = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, env=env, cwd=world.home(who),
                       stdin=subprocess.DEVNULL, timeout=60, start_new_session=True)
    return r.returncode, r.stdout + r.stderr, r.stdout


def line_pattern(expected, world, who, attrs):
    expected = world.substitute(expected, who, attrs)
    parts = re.split(r"(…|<[a-z0-9 _-]+>)", expected)
    return re.compile("".join(".+?" if p == "…" or (p.startswith("<") and p.endswith(">")) else re.escape(p)
                              for p in parts) + r"\s*$")


def check_output(where, expected_lines, actual_text, world, who, attrs):
    actual = [l.rstrip() for l in actual_text.rstrip("\n").split("\n")]
    expected = [l.rstrip() for l in expected_lines]
    while expected and not expected[-1]:
        expected.pop()
    if len(actual) != len(expected):
        fail(where, f"prints {len(actual)} lines, the guide shows {len(expected)}:\n" + shown(actual))
        return
    for n, (e, a) in enumerate(zip(expected, actual), 1):
        if not line_pattern(e, world, who, attrs).match(a):
            fail(where, f"line {n} is not as the guide shows it:\n  guide:  {e}\n  actual: {a}\n"
                        f"it prints:\n" + shown(actual))
            return


def shown(lines):
    # Command output is quoted only in a failure; the guides' commands print
    # ids, dates and messages, never a list's cells.
    return "\n".join("  | " + l for l in lines[:30])


def human_size(n):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def check_json_body_limit(root, world):
    """The guides state the limits a send meets as xgwd's defaults have them:
    sender.md's size table names each setting with its default, and the
    operator guide says how large a create document may be."""
    r = subprocess.run([str(world.bins["xgwd"]), "--dump-config", "-c", str(world.config)], capture_output=True,
                       text=True, timeout=20)
    limits = json.loads(r.stdout)["limits"]
    sender = (root / "docs/sender.md").read_text(encoding="utf-8")
    for key in ("max_json_body_bytes", "max_upload_bytes"):
        human = human_size(limits[key])
        if not re.search(r"\|\s*" + re.escape(human) + r"\s*\|\s*operator:\s*`limits\." + key + "`", sender):
            fail("docs/sender.md", f"its size table does not give limits.{key} as {human}")
    mib = human_size(limits["max_json_body_bytes"])
    if not re.search(r"at most\s+(`limits.max_json_body_bytes`,\s+)?" + re.escape(mib).replace(r"\ ", r"\s+"),
                     (root / "docs/operator-guide.md").read_text(encoding="utf-8")):
        fail("docs/operator-guide.md", f"does not say that the create document may be at most {mib} "
                                       "(limits.max_json_body_bytes)")


def run_blocks(root, world):
    blocks = []
    for f, rel in enumerate(GUIDES + ["docs/operations.md"]):
        text = (root / rel).read_text(encoding="utf-8")
        for start, marker, lines in code_blocks(text):
            if marker:
                blocks.append((int(marker[1].get("order", 50)), f, start, rel, marker, lines))
    if sum(1 for b in blocks if b[4][0] in ("run", "transcript")) < int(os.environ.get("XGW_GUIDES_MIN_BLOCKS", 15)):
        fail("guides", "fewer than 15 blocks are marked to run: were the markers removed?")
    ran = 0
    for rel in INIT_OUTPUT_DOCS:  # `certificate-pin: …` quoted in the text
        for n, span in inline_spans((root / rel).read_text(encoding="utf-8")):
            if span.startswith("certificate-pin:"):
                pat = line_pattern(span, world, "operator", {})
                if not any(pat.match(a) for a in world.init_output):
                    fail(f"{rel}:{n}", f"`xgwd init` prints no line like `{span}`")
    check_json_body_limit(root, world)
    for _, _, start, rel, (kind, attrs), lines in sorted(blocks, key=lambda b: b[:3]):
        where = f"{rel}:{start}"
        if kind == "xgwd-init-output":
            for e in (l for l in lines if l.strip()):
                pat = line_pattern(e, world, "operator", attrs)
                if not any(pat.match(a) for a in world.init_output):
                    fail(where, f"`xgwd init` prints no line like: {e}")
            continue
        if kind not in ("run", "transcript"):
            fail(where, f"unknown marker `test: {kind}`")
            continue
        who = attrs.get("as", "operator")
        want = int(attrs.get("exit", 0))
        tty = bool(attrs.get("tty"))
        if kind == "transcript":
            if not lines or not lines[0].startswith("$ "):
                fail(where, "a transcript starts with `$ COMMAND`")
                continue
            commands, output = [lines[0][2:]], lines[1:]
        else:
            commands, output = command_lines(lines), None
        block_stdout, code = "", want
        for command in (c for c in commands if c.strip() and not c.lstrip().startswith("#")):
            script = "set -o pipefail\n" + world.substitute(command, who, attrs)
            deadline = time.time() + (10 if attrs.get("retry") else 0)
            while True:
                code, text, stdout = run(world, who, script, tty)
                if code == want or time.time() > deadline:
                    break
                time.sleep(0.3)
            ran += 1
            block_stdout += stdout
            if code != want:
                fail(f"{where}: `{command}` as {who}", f"exit {code}, the guide expects {want}:\n" +
                     shown(text.splitlines()))
                break
        if "stdout" in attrs and code == want and block_stdout.strip() != world.vars[attrs["stdout"]]:
            fail(where, f"prints {block_stdout.strip()!r}, not the value of {attrs['stdout']}")
        if output is not None and code == want:
            check_output(f"{where}: `{commands[0]}` as {who}", output, text, world, who, attrs)
    return ran


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root = pathlib.Path(sys.argv[1]).resolve()
    bin_dir = pathlib.Path(sys.argv[2]).resolve()
    bins = {"xgw": bin_dir / "xgw", "xgwd": bin_dir / "xgwd"}
    started = time.time()
    work = pathlib.Path(tempfile.mkdtemp(prefix="xgw-guides-"))
    world = World(root, bins, work)
    try:
        checked = static_check(root, bins, world.env("nobody"))
        world.start()
        ran = run_blocks(root, world)
    finally:
        world.stop()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("the guides do not match the CLI:\n" + "\n".join("- " + f for f in failures))
        return 1
    print(f"guides: {checked} commands accepted by the CLI, {ran} commands run as the guides show them "
          f"({time.time() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
