"""A network of one host for a test process: only 127.0.0.1 (and the hosts named in `allow`) is reachable.
No dependencies: `tests/runall_kernel.py` imports it, and the Colab/Kaggle runtime test runs it in a kernel's startup."""
import errno, socket

def _local(host) -> bool:
    h = host.decode() if isinstance(host, bytes) else str(host)
    return h in ('localhost', '::1', '') or h.startswith('127.')

def install_network_guard(allow=()):
    """Only 127.0.0.1 is reachable: other names don't resolve and connections to other addresses fail at once. The
    hosts in `allow` (a package registry, say) resolve, and their addresses can be reached."""
    real_gai, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex
    allowed_ips = set()
    def getaddrinfo(host, *a, **kw):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _local(name) and name not in allow and name not in allowed_ips:
            raise socket.gaierror(socket.EAI_NONAME, f'{name}: no network here (only 127.0.0.1 is reachable)')
        res = real_gai(host, *a, **kw)
        if name in allow: allowed_ips.update(r[4][0] for r in res)
        return res
    def _check(sock, addr):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(addr[0]) and addr[0] not in allowed_ips:
            raise OSError(errno.ENETUNREACH, f'{addr[0]}: no network here (only 127.0.0.1 is reachable)')
    def connect(self, addr): _check(self, addr); return real_connect(self, addr)
    def connect_ex(self, addr):
        try: _check(self, addr)
        except OSError as e: return e.errno
        return real_connect_ex(self, addr)
    socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = getaddrinfo, connect, connect_ex
