//! Recording uevents live from NETLINK_KOBJECT_UEVENT.
//!
//! The socket is what udevd and `udevadm monitor` open
//! (`device_monitor_new_full` in systemd's device-monitor.c):
//! `socket(AF_NETLINK, SOCK_DGRAM|SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT)`
//! bound to multicast group 1 (kernel) or 2 (udevd's "libudev"
//! datagrams), with a large receive buffer (`SO_RCVBUFFORCE`, which
//! needs CAP_NET_ADMIN, else `SO_RCVBUF`) so a coldplug burst is not
//! dropped. Like sd-device we take only kernel-group messages whose
//! sender port id is 0 (the kernel), reject truncated ones (MSG_TRUNC)
//! and count `ENOBUFS` overruns, which mean events were lost.
//!
//! Every record is written to our trace with the CLOCK_MONOTONIC time
//! of its reception (the clock `udevadm monitor` prints). libudev
//! datagrams are stored in the kernel layout (`ACTION@DEVPATH\0` then
//! their properties) that our trace format holds.
//!
//! This is the only `unsafe` of the crate besides the trace mmap: raw
//! libc calls on a file descriptor this module owns.

use std::io::{self, Write};
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::trace::file::Writer;
use crate::uevent::{self, Source, MAX_RECORD};

/// `NETLINK_KOBJECT_UEVENT` (linux/netlink.h).
const NETLINK_KOBJECT_UEVENT: libc::c_int = 15;

/// Which multicast group to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Group 1: the kernel's uevents.
    Kernel,
    /// Group 2: udevd's processed events (libudev datagrams).
    Udev,
}

impl Group {
    fn mask(self) -> u32 {
        match self {
            Group::Kernel => 1,
            Group::Udev => 2,
        }
    }
}

/// A bound uevent socket.
pub struct Socket {
    fd: OwnedFd,
    group: Group,
    /// The receive buffer size the kernel granted, bytes.
    pub rcvbuf: usize,
}

/// What one receive produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Nothing within the timeout (or a signal interrupted the wait).
    Timeout,
    /// A datagram of this many bytes from this sender port id.
    Datagram {
        /// Bytes in the buffer.
        len: usize,
        /// Sender port id (0 = kernel).
        sender: u32,
        /// MSG_TRUNC was set: the buffer was too small.
        truncated: bool,
    },
    /// The receive queue overflowed: events were lost (ENOBUFS).
    Overrun,
}

fn last_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The CLOCK_MONOTONIC time, ns.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Socket {
    /// Open and bind a socket to `group`, asking for a receive buffer
    /// of `rcvbuf` bytes. Errors say what failed and why, e.g. when a
    /// sandbox forbids netlink sockets.
    pub fn open(group: Group, rcvbuf: usize) -> io::Result<Socket> {
        // SAFETY: plain socket(2); the result is checked and owned.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_KOBJECT_UEVENT,
            )
        };
        if raw < 0 {
            return Err(last_error(
                "cannot open a NETLINK_KOBJECT_UEVENT socket (is netlink \
                 allowed here? containers and seccomp profiles may forbid \
                 it)",
            ));
        }
        // SAFETY: raw is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = rcvbuf.min(i32::MAX as usize) as libc::c_int;
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: setsockopt reads one c_int we pass by pointer.
            let r = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    &size as *const libc::c_int as *const libc::c_void,
                    mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if r == 0 {
                break;
            }
        }
        // SAFETY: an all-zero sockaddr_nl is valid; we set its fields.
        let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = group.mask();
        // SAFETY: bind reads the sockaddr_nl of the given size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(last_error(&format!(
                "cannot bind the uevent socket to group {} (not permitted?)",
                group.mask()
            )));
        }
        let mut got: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes one c_int and its length.
        unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &mut got as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            )
        };
        Ok(Socket { fd, group, rcvbuf: got.max(0) as usize })
    }

    /// The group this socket listens on.
    pub fn group(&self) -> Group {
        self.group
    }

    /// Wait up to `timeout` for one datagram and read it into `buf`.
    pub fn recv(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Received> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: poll reads and writes the one pollfd we own.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(Received::Timeout);
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(Received::Timeout);
        }
        // SAFETY: zeroed sockaddr_nl and msghdr are valid initial values.
        let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name =
            &mut addr as *mut libc::sockaddr_nl as *mut libc::c_void;
        msg.msg_namelen = mem::size_of::<libc::sockaddr_nl>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: recvmsg writes at most iov_len bytes into buf and the
        // address into addr, both alive for the call.
        let n = unsafe {
            libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOBUFS) => Ok(Received::Overrun),
                Some(libc::EAGAIN) | Some(libc::EINTR) => {
                    Ok(Received::Timeout)
                }
                _ => Err(e),
            };
        }
        Ok(Received::Datagram {
            len: n as usize,
            sender: addr.nl_pid,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        })
    }
}

/// Convert a libudev datagram into the kernel layout our trace stores:
/// `ACTION@DEVPATH\0` then its properties, in udevd's order.
pub fn udev_to_kernel(
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), uevent::ParseError> {
    let ev = uevent::libudev::parse(payload)?;
    out.clear();
    uevent::kernel::encode(&ev, out);
    Ok(())
}

/// When to stop recording.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many recorded events.
    pub count: Option<u64>,
}

/// What a recording saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Events written.
    pub recorded: u64,
    /// Kernel-group datagrams from a userspace sender, skipped.
    pub foreign: u64,
    /// Truncated datagrams, skipped.
    pub truncated: u64,
    /// Receive-queue overruns (events lost).
    pub overruns: u64,
    /// udev datagrams that did not parse, skipped.
    pub malformed: u64,
}

/// Record from `sock` into `writer` until a limit is reached or `stop`
/// is set (by a signal handler, say).
pub fn record<W: Write>(
    sock: &Socket,
    writer: &mut Writer<W>,
    limits: Limits,
    stop: &AtomicBool,
) -> io::Result<Report> {
    let mut rep = Report::default();
    let mut buf = vec![0u8; 2 * MAX_RECORD];
    let mut conv = Vec::with_capacity(MAX_RECORD);
    let start = Instant::now();
    let deadline = limits.duration.map(|d| start + d);
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if limits.count.is_some_and(|c| rep.recorded >= c) {
            break;
        }
        let mut wait = Duration::from_millis(200);
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                break;
            }
            wait = wait.min(d - now);
        }
        let (len, sender, truncated) = match sock.recv(&mut buf, wait)? {
            Received::Timeout => continue,
            Received::Overrun => {
                rep.overruns += 1;
                continue;
            }
            Received::Datagram { len, sender, truncated } => {
                (len, sender, truncated)
            }
        };
        let ts = monotonic_ns();
        if truncated || len > MAX_RECORD {
            rep.truncated += 1;
            continue;
        }
        let payload = &buf[..len];
        match sock.group {
            Group::Kernel => {
                if sender != 0 {
                    rep.foreign += 1;
                    continue;
                }
                // Stored as received; the trace reader reports a bad one.
                writer.write_datagram(ts, Source::Kernel, payload)?;
            }
            Group::Udev => {
                if udev_to_kernel(payload, &mut conv).is_err() {
                    rep.malformed += 1;
                    continue;
                }
                writer.write_datagram(ts, Source::Udev, &conv)?;
            }
        }
        rep.recorded += 1;
    }
    Ok(rep)
}
