"""A TCP proxy on 127.0.0.1 that counts the bytes it forwards and can reset every connection
once a number of client->server bytes have passed: the cut of a stream part-way, for the
resume scenarios. The same small interface as tools/pylib/wanproxy.py's WanProxy (port,
stats(), cut(), cut_after(n)), without delay or bandwidth shaping.

    with CutProxy(b.port) as p:
        a.peers["host-b"] = f"http://127.0.0.1:{p.port}"
        p.cut_after(100 * MiB)
"""
import select
import socket
import struct
import threading


class CutProxy:
    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.up = self.down = self.connections = self.cuts = 0
        self.cut_at = None  # up-bytes count at which every open connection is reset
        self.open = set()
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stats(self):
        with self.lock:
            return {"up_bytes": self.up, "down_bytes": self.down, "connections": self.connections, "cuts": self.cuts}

    def cut_after(self, n):
        with self.lock:
            self.cut_at = self.up + n

    def cut(self):
        with self.lock:
            self._reset_all()

    def _reset_all(self):  # with self.lock
        for s in list(self.open):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.cuts += 1
        self.cut_at = None

    def _accept(self):
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += 1
                self.open.update((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client, server):
        try:
            while True:
                readable, _, _ = select.select([client, server], [], [], 1.0)
                if self.closing:
                    return
                for s in readable:
                    data = s.recv(1 << 20)
                    if not data:
                        return
                    (server if s is client else client).sendall(data)
                    with self.lock:
                        if s is client:
                            self.up += len(data)
                            if self.cut_at is not None and self.up >= self.cut_at:
                                self._reset_all()
                                return
                        else:
                            self.down += len(data)
        except OSError:
            return
        finally:
            with self.lock:
                self.open.discard(client)
                self.open.discard(server)
            for s in (client, server):
                try:
                    s.close()  # a clean end passes on as a clean end; a cut was reset above
                except OSError:
                    pass

    def close(self):
        self.closing = True
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            for s in list(self.open):
                try:
                    s.close()
                except OSError:
                    pass
