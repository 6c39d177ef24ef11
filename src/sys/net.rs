//! Sockets through libc, where std and mio cannot do what mosquitto does.
//! Listening sockets: TCP ones are built with libc so that an IPv6 wildcard
//! listener can set IPV6_V6ONLY and sit beside the IPv4 one on the same
//! port, as mosquitto's do; then handed to mio. Unix socket listeners too.
//! Outgoing: non-blocking connects for bridges, bound connects for the
//! clients' `-A`; and the C library's wording of errors.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::net::{TcpListener, UnixListener};

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_int_opt(
    fd: libc::c_int,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt with a pointer to a live c_int and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// Opens a non-blocking listening socket on `addr`.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2) call; the fd is owned below.
    let fd = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // From here the std listener owns and closes the fd on every path.
    // SAFETY: fd is a fresh socket we own.
    let std_listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if family == libc::AF_INET6 {
        set_int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    let (sa, len) = sockaddr_of(addr);
    // SAFETY: bind with a filled sockaddr of the given length.
    let rc = unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) };
    cvt(rc)?;
    // SAFETY: listen(2) on our bound socket.
    cvt(unsafe { libc::listen(fd, 1024) })?;
    Ok(TcpListener::from_std(std_listener))
}

/// The longest socket path the kernel takes (sun_path less its NUL).
fn max_unix_path_len() -> usize {
    std::mem::size_of::<libc::sockaddr_un>() - std::mem::offset_of!(libc::sockaddr_un, sun_path) - 1
}

/// The socket file a unix listener created, identified by device and inode
/// so that only that file is removed when the listener is dropped, not one
/// a newer broker has put at the same path meanwhile.
#[derive(Debug)]
pub struct UnixSocketFile {
    pub path: PathBuf,
    id: Option<(u64, u64)>,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl Drop for UnixSocketFile {
    fn drop(&mut self) {
        // Best effort: after the privilege drop the directory may not be
        // writable any more.
        if self.id.is_some() && file_id(&self.path) == self.id {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Opens a non-blocking unix stream listening socket at `path`, replacing a
/// stale socket left there (by a broker that did not shut down cleanly).
/// Anything else at the path is left alone and is an error, unlike
/// mosquitto, which unlinks whatever is there. The error is the log line.
pub fn listen_unix(path: &Path) -> Result<(UnixListener, UnixSocketFile), String> {
    if path.as_os_str().len() > max_unix_path_len() {
        return Err(format!(
            "Error: Path to unix socket is too long \"{}\".",
            path.display()
        ));
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let _ = fs::remove_file(path);
        }
        Ok(_) => {
            return Err(format!(
                "Error: \"{}\" exists and is not a socket; not replacing it with a unix socket.",
                path.display()
            ))
        }
        // Missing (the usual case) or not inspectable: bind says why.
        Err(_) => {}
    }
    crate::notice!("Opening unix listen socket on path {}.", path.display());
    // Members of the socket's group may connect, others may not, as with
    // mosquitto. umask is per process; nothing else creates files during
    // start-up, and the old mask is back right after the bind.
    // SAFETY: umask(2) cannot fail and has no memory effects.
    let old = unsafe { libc::umask(0o007) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    // mosquitto's wording: strerror(3), without Rust's "(os error N)".
    let listener = bound.map_err(|e| format!("Error binding unix socket: {}", strerror(&e)))?;
    let file = UnixSocketFile {
        path: path.to_path_buf(),
        id: file_id(path),
    };
    Ok((listener, file))
}

/// `addr` in the C layout, with its length (for bind/connect via libc).
pub fn sockaddr_of(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; we fill the family's
    // fields through properly typed pointers into it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for it.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Starts a non-blocking connection to `addr` (optionally from `bind`);
/// it completes when the socket becomes writable.
pub fn connect(addr: SocketAddr, bind: Option<SocketAddr>) -> io::Result<mio::net::TcpStream> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the fd is owned right below.
    let fd = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: fd is a fresh socket we own; std closes it on every path.
    let std_stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    if let Some(b) = bind {
        let (sa, len) = sockaddr_of(b);
        // SAFETY: bind with a filled sockaddr of the given length.
        cvt(unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) })?;
    }
    let (sa, len) = sockaddr_of(addr);
    // SAFETY: connect with a filled sockaddr of the given length.
    let rc = unsafe { libc::connect(fd, (&sa as *const libc::sockaddr_storage).cast(), len) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(mio::net::TcpStream::from_std(std_stream))
}

/// Fills `buf` with random bytes from the kernel (for generated client ids).
pub fn random_bytes(buf: &mut [u8]) {
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < buf.len() as isize {
        // Uniqueness, not secrecy, is what matters for an id: fall back to
        // the clock and a counter.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
}

/// `addr` moved onto `interface`'s address of the same family, for
/// `bind_interface` (binding to the device itself would need root, so the
/// interface's address is bound instead, as mosquitto does). With
/// `explicit` (the listener names an address too) that address must be the
/// interface's. Err holds the warning to log.
pub fn interface_addr(
    interface: &str,
    addr: SocketAddr,
    explicit: bool,
) -> Result<SocketAddr, String> {
    let mut found = None;
    for candidate in interface_addresses(interface)? {
        if candidate.is_ipv4() != addr.is_ipv4() {
            continue;
        }
        if !explicit || candidate.ip() == addr.ip() {
            found = Some(candidate);
            break;
        }
        found.get_or_insert(candidate);
    }
    match found {
        Some(a) if explicit && a.ip() != addr.ip() => Err(format!(
            "Interface address for {interface} does not match specified listener address ({}).",
            addr.ip()
        )),
        Some(mut a) => {
            a.set_port(addr.port());
            Ok(a)
        }
        None => Err(format!(
            "Interface {interface} does not support {} configuration.",
            if addr.is_ipv4() { "IPv4" } else { "IPv6" }
        )),
    }
}

/// The IPv4 and IPv6 addresses of the interface named `name` (compared
/// without case, as mosquitto does), with IPv6 scope ids so link-local
/// addresses can be bound.
fn interface_addresses(name: &str) -> Result<Vec<SocketAddr>, String> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(format!("Error: {}", io::Error::last_os_error()));
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive
        // until freeifaddrs; its name is a NUL-terminated C string and its
        // address, when not null, is a sockaddr of the family it names.
        unsafe {
            let ifa = &*cur;
            let ifname = std::ffi::CStr::from_ptr(ifa.ifa_name).to_string_lossy();
            if ifname.eq_ignore_ascii_case(name) && !ifa.ifa_addr.is_null() {
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                        out.push(SocketAddr::from((ip, 0)));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                        out.push(SocketAddr::V6(std::net::SocketAddrV6::new(
                            ip,
                            0,
                            0,
                            sin6.sin6_scope_id,
                        )));
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The C library's wording of an IO error, without Rust's "(os error N)".
pub fn strerror(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock {
        return "Connection timed out".to_owned();
    }
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(pos) => text[..pos].to_owned(),
        None => text,
    }
}

/// Connect from a chosen local address (`-A`), which std cannot do: make the
/// socket, bind it, connect without blocking and wait for the result.
pub fn connect_bound(
    local: IpAddr,
    remote: SocketAddr,
    timeout: Duration,
) -> io::Result<std::net::TcpStream> {
    let family = if remote.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket we own; OwnedFd closes it on error paths.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let (la, llen) = sockaddr_of(SocketAddr::new(local, 0));
    // SAFETY: la/llen describe a valid sockaddr for this family.
    if unsafe { libc::bind(fd, (&la as *const libc::sockaddr_storage).cast(), llen) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (ra, rlen) = sockaddr_of(remote);
    // SAFETY: as above.
    let rc = unsafe { libc::connect(fd, (&ra as *const libc::sockaddr_storage).cast(), rlen) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        let n = super::poll::poll(std::slice::from_mut(&mut pfd), ms)?;
        if n == 0 {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let mut soerr: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: soerr/len are valid out-parameters for SO_ERROR.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut soerr as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        if soerr != 0 {
            return Err(io::Error::from_raw_os_error(soerr));
        }
    }
    let stream = std::net::TcpStream::from(owned);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("net-unit-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A path of exactly `len` bytes inside `dir`.
    fn path_of_len(dir: &Path, len: usize) -> PathBuf {
        let base = dir.as_os_str().len() + 1;
        assert!(len > base + 1, "temp dir path too long for this test");
        dir.join("s".repeat(len - base))
    }

    #[test]
    fn longest_path_that_fits_sun_path_binds_one_more_byte_does_not() {
        let dir = temp_dir("len");
        let max = max_unix_path_len();
        let ok = path_of_len(&dir, max);
        let (_l, file) = listen_unix(&ok).unwrap();
        assert_eq!(file.path, ok);
        let long = path_of_len(&dir, max + 1);
        match listen_unix(&long) {
            Err(e) => assert!(
                e.starts_with("Error: Path to unix socket is too long"),
                "{e}"
            ),
            Ok(_) => panic!("{} bytes accepted", max + 1),
        }
        assert!(!long.exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn drop_removes_only_the_socket_it_created() {
        let dir = temp_dir("drop");
        let path = dir.join("s.sock");
        let (l, file) = listen_unix(&path).unwrap();
        drop(l);
        drop(file);
        assert!(!path.exists(), "own socket removed");

        // Another broker replaced the file meanwhile: it stays.
        let (_l, file) = listen_unix(&path).unwrap();
        let (_l2, file2) = listen_unix(&path).unwrap();
        drop(file);
        assert!(path.exists(), "a newer socket at the path is left alone");
        drop(file2);
        assert!(!path.exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_not_replaced() {
        let dir = temp_dir("regular");
        let path = dir.join("data");
        fs::write(&path, "keep").unwrap();
        assert!(listen_unix(&path).unwrap_err().contains("is not a socket"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "keep");
        let _ = fs::remove_dir_all(&dir);
    }
}
