//! Listening sockets. Built with libc so that an IPv6 wildcard listener can
//! set IPV6_V6ONLY and sit beside the IPv4 one on the same port, as
//! mosquitto's do; then handed to mio.

use std::io;
use std::net::SocketAddr;
use std::os::fd::FromRawFd;

use mio::net::TcpListener;

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
