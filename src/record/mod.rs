//! Recording traces: live from the uevent netlink socket
//! ([`netlink`]), or from a sysfs tree as the synthetic `add` events a
//! coldplug would cause ([`sysfs`]).

pub mod netlink;
pub mod sysfs;
