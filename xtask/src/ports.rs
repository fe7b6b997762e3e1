//! Loopback ports: whether something listens, waiting for it, a free one, and who holds one.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    port_open_addr(&format!("127.0.0.1:{port}"))
}

/// Whether something accepts connections on `addr` (`ip:port`).
pub fn port_open_addr(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// Waits until something listens on `addr`.
pub fn wait_port(addr: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if port_open_addr(addr) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("nothing listens on {addr} after {within:?}"))
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The pid of the process listening on 127.0.0.1:`port` (for peers we did not start):
/// the socket's inode from /proc/net/tcp, then the process holding that inode.
pub fn listening_pid(port: u16) -> Option<u32> {
    let tcp = fs::read_to_string("/proc/net/tcp").ok()?;
    let want = format!(":{port:04X}");
    let inode = tcp.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // local_address, st == 0A (LISTEN), inode is field 9.
        (f.get(1)?.ends_with(&want) && *f.get(3)? == "0A")
            .then(|| f.get(9).map(|s| s.to_string()))?
    })?;
    let needle = format!("socket:[{inode}]");
    for p in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy() == needle) {
                return Some(pid);
            }
        }
    }
    None
}
