"""SFTP request sizes: what a server advertises (``limits@openssh.com``, as OpenSSH's client
asks), and, from a server that advertises nothing, how much one read returns. Larger requests
made transfers up to 5 times faster (docs/platform.md); a write larger than a server takes
fails, a read larger than it gives comes back short."""
from __future__ import annotations

import errno
import socket

import paramiko
import paramiko.sftp

NETWORK_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT, errno.ECONNREFUSED, errno.ECONNABORTED,
                  errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOTCONN}

SAFE_REQUEST = 32768  # SFTP v3: every server handles packets of at least 34000 bytes
MAX_REQUEST = 261120  # never ask for more than OpenSSH's own read limit


def server_limits(sftp: paramiko.SFTPClient) -> tuple[int, int]:
    """(max read, max write) request sizes the server advertises via limits@openssh.com."""
    try:
        t, msg = sftp._request(paramiko.sftp.CMD_EXTENDED, "limits@openssh.com")
    except (IOError, paramiko.SSHException):
        return SAFE_REQUEST, SAFE_REQUEST  # not offered: stay within what every server accepts
    if t != paramiko.sftp.CMD_EXTENDED_REPLY:
        return SAFE_REQUEST, SAFE_REQUEST
    msg.get_int64()  # the largest packet: not needed, the request sizes follow
    max_read, max_write = msg.get_int64(), msg.get_int64()
    return (min(max_read, MAX_REQUEST) if max_read else SAFE_REQUEST,
            min(max_write, MAX_REQUEST) if max_write else SAFE_REQUEST)


def largest_read(sftp: paramiko.SFTPClient, handle: paramiko.SFTPFile) -> int:
    """What one read request returns when asked for OpenSSH's largest, on a server that does not
    advertise its limits (ProFTPD, gesftpserver: 32 KiB requests made their downloads 3 to 5
    times slower). One request at offset 0 of a file longer than that; a shorter answer is the
    server's cap. A refused request keeps the 32 KiB every server takes."""
    try:
        t, msg = sftp._request(paramiko.sftp.CMD_READ, handle.handle, paramiko.sftp.int64(0), MAX_REQUEST)
    except (EOFError, paramiko.SSHException, ConnectionError, socket.timeout):
        raise  # the network's: retried as any other
    except OSError as e:
        if e.errno in NETWORK_ERRNOS:
            raise
        return SAFE_REQUEST
    return max(SAFE_REQUEST, len(msg.get_string())) if t == paramiko.sftp.CMD_DATA else SAFE_REQUEST
