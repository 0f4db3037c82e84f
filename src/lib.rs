//! coldplug replays and simulates Linux coldplug.
//!
//! It parses recorded uevent traces without copying ([`uevent`],
//! [`trace`]), matches every MODALIAS against a kernel's
//! `modules.alias` exactly as libkmod does ([`modindex`] reads the
//! kernel's index files, [`matcher`] matches, [`resolve`] runs
//! libkmod's lookup chain), resolves modprobe.d policy,
//! and measures how long that takes during boot on large IBM Z LPARs.
//!
//! Traces come from recordings ([`record`]: live netlink, or a sysfs
//! walk) or from the generator ([`gen`]: IBM Z LPARs of any size, per
//! kernel era).
//!
//! # Example
//!
//! ```
//! use coldplug::uevent::{kernel, Action};
//!
//! let datagram = b"add@/devices/css0/0.0.0000\0ACTION=add\0\
//! DEVPATH=/devices/css0/0.0.0000\0SUBSYSTEM=css\0ST=0\0\
//! MODALIAS=css:t0\0SEQNUM=7\0";
//! let ev = kernel::parse(datagram).unwrap();
//! assert_eq!(ev.action(), Action::Add);
//! assert_eq!(ev.modalias(), Some(&b"css:t0"[..]));
//! assert_eq!(ev.get(b"ST"), Some(&b"0"[..]));
//! ```
//!
//! # Features
//! - `kmod-ffi`: link Debian's libkmod for the live oracle tests and
//!   the `libkmod` resolver backend (module `kmod_ffi`).

#![deny(missing_docs)]

pub mod gen;
#[cfg(feature = "kmod-ffi")]
pub mod kmod_ffi;
pub mod matcher;
pub mod modindex;
pub mod policy;
pub mod record;
pub mod report;
pub mod resolve;
pub mod sim;
mod swar;
#[cfg(test)]
mod test_rng;
pub mod trace;
pub mod uevent;

#[doc(hidden)]
pub mod fuzzing;
