"""The serial console under hostile input (issue 19, finding 5): one line must never end it, and a
line too long is refused whole — its tail is never run as a request."""
import os
import threading

import pytest

from device.records.serial_console import MAX_LINE, ConsoleConfig, SerialConsole


@pytest.fixture
def console(tmp_path):
    con = SerialConsole(ConsoleConfig(tmp_path / "data", tmp_path / "exports", unlock=lambda s: True))
    assert con.handle(b"UNLOCK any")[0].startswith("OK")  # the hostile lines of a physio's own host
    return con


@pytest.mark.parametrize("line, says", [
    (b"SHOW 99999999999999999999", "SHOW needs one session id"),
    (b"EXPORT 99999999999999999999", "session ids are numbers"),
    (b"EXPORT 1,99999999999999999999999", "session ids are numbers"),
    (b"TREND 99999999999", "TREND takes an optional number of weeks"),
    (b"GET a\x00b", "control characters"),
    (b"SHOW \x1b[2J1", "control characters"),
    (b"GET ../../etc/passwd", "no folders"),
    (b"\xff\xfe", "not ASCII"),
])
def test_one_line_never_ends_the_console(console, line, says):
    out = console.handle(line)
    assert len(out) == 1 and out[0].startswith("ERR") and says in out[0], out


def test_an_unexpected_fault_is_an_error_line_not_the_end(console, monkeypatch):
    monkeypatch.setattr(console, "_hello", lambda args: 1 / 0)
    assert console.handle(b"HELLO") == ["ERR HELLO failed (ZeroDivisionError); the console goes on"]
    assert console.handle(b"HELP")[0].startswith("OK")


def _serve(console, payloads: list[bytes]) -> list[str]:
    """Feed ``payloads`` to the console over a pipe; the lines it answered."""
    rin, win = os.pipe()
    rout, wout = os.pipe()
    t = threading.Thread(target=console.serve, args=(rin, wout), daemon=True)
    t.start()
    for p in payloads:
        os.write(win, p)
    t.join(timeout=10)
    assert not t.is_alive(), "the console did not stop at QUIT"
    os.close(wout)
    data = b""
    while chunk := os.read(rout, 65536):
        data += chunk
    for fd in (rin, win, rout):
        os.close(fd)
    return data.decode().split("\r\n")[:-1]


def test_the_tail_of_a_line_too_long_is_never_run(console):
    # 4096 bytes arrive in one read (over MAX_LINE, no newline yet), then the same line goes on
    # with a request word: it was run as a request
    out = _serve(console, [b"x" * 4096 + b"HELP\n", b"HELLO\nQUIT\n"])
    assert out[0] == f"ERR line longer than {MAX_LINE} characters; one request per line"
    assert out[1].startswith('OK {"device": "pfmt"')
    assert out[2] == "OK bye" and len(out) == 3


def test_a_complete_line_too_long_is_refused(console):
    out = _serve(console, [b"HELP " + b"a" * 600 + b"\nQUIT\n"])
    assert out == [f"ERR line longer than {MAX_LINE} characters; one request per line", "OK bye"]
