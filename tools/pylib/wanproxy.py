"""wanproxy: a wide-area link on one machine (volmig-wanproxy, tools/wanproxy/main.cpp) for the
bench and the tests. Standard library only.

    with WanProxy(server_port, mbit=1000, delay_ms=5) as link:   # RTT 10 ms
        url = f"http://127.0.0.1:{link.port}"                      # clients connect here
        link.cut_after(100 << 20)                                  # reset every connection later
        print(link.stats())                                        # up_bytes, down_bytes, ...

The proxy's binary is $VOLMIG_WANPROXY, else build/bin/volmig-wanproxy of this checkout.
"""
import json
import os
import socket
import subprocess

_HERE = os.path.dirname(os.path.abspath(__file__))


def wanproxy_binary():
    found = os.environ.get("VOLMIG_WANPROXY") or os.path.join(_HERE, "..", "..", "build", "bin", "volmig-wanproxy")
    if not os.path.exists(found):
        raise FileNotFoundError(f"volmig-wanproxy not found at {found}: build the tree (cmake --build build) or set VOLMIG_WANPROXY")
    return os.path.abspath(found)


class WanProxy:
    """Starts volmig-wanproxy in front of 127.0.0.1:`target_port`; stops it on close()."""

    def __init__(self, target_port, mbit=0, delay_ms=0, window="6M", target_host="127.0.0.1"):
        self.mbit, self.delay_ms, self.window = mbit, delay_ms, window
        self.proc = subprocess.Popen(
            [wanproxy_binary(), "--listen", "127.0.0.1:0", "--connect", f"{target_host}:{target_port}",
             "--mbit", str(mbit), "--delay-ms", str(delay_ms), "--window", str(window), "--control", "127.0.0.1:0"],
            stdout=subprocess.PIPE, text=True)
        self.port = self.control_port = None
        try:
            for _ in range(2):
                line = self.proc.stdout.readline().split()
                if len(line) != 2:
                    raise RuntimeError(f"volmig-wanproxy did not start (it printed {line!r})")
                port = int(line[1].rsplit(":", 1)[1])
                if line[0] == "listening":
                    self.port = port
                elif line[0] == "control":
                    self.control_port = port
        except Exception:
            self.close()
            raise
        self._control = socket.create_connection(("127.0.0.1", self.control_port), timeout=10)
        self._replies = self._control.makefile("r")

    def command(self, line):
        self._control.sendall((line + "\n").encode())
        reply = self._replies.readline()
        if not reply:
            raise RuntimeError(f"volmig-wanproxy closed its control port (command {line!r})")
        return json.loads(reply)

    def stats(self):
        """{"up_bytes", "down_bytes", "connections", "open", "cuts"}: bytes delivered each way."""
        return self.command("stats")

    def cut(self):
        """Resets every open connection now; returns how many."""
        return self.command("cut")["cut"]

    def cut_after(self, nbytes):
        """Resets every open connection once `nbytes` more client->server bytes have passed."""
        return self.command(f"cut-after {int(nbytes)}")

    def reset(self):
        return self.command("reset")

    def close(self):
        if getattr(self, "_control", None):
            self._control.close()
            self._control = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
