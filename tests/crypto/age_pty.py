#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal and answers its passphrase prompts.

usage: age_pty.py PASSPHRASE COMMAND [ARGS...]

`age` reads passphrases only from a terminal, so interop tests drive it (and
xgw's own prompt) through a pty. Every prompt containing "passphrase" and
ending in ":" is answered with PASSPHRASE. The terminal output goes to stderr;
the exit status is the command's. Gives up after 120 seconds.
"""
import os
import pty
import re
import select
import sys
import termios
import time


def wait_for_echo_off(fd):
    """A prompt is printed before the program turns echo off; answering in
    between races with its terminal-mode change (which may flush our input).
    Wait until echo is off, for at most 10 seconds."""
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if not termios.tcgetattr(fd)[3] & termios.ECHO:
                return
        except termios.error:
            return
        time.sleep(0.01)


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    passphrase = sys.argv[1].encode()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    pending = b""
    answered = 0
    deadline = time.time() + 120
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        sys.stderr.buffer.write(data)
        pending += data
        if re.search(rb"(?i)passphrase[^\n]*:\s*$", pending):
            wait_for_echo_off(fd)
            os.write(fd, passphrase + b"\n")
            answered += 1
            pending = b""
    else:
        os.kill(pid, 9)
        sys.stderr.write("age_pty: timed out\n")
        return 124
    _, status = os.waitpid(pid, 0)
    sys.stderr.write("\nage_pty: answered %d prompt(s)\n" % answered)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
