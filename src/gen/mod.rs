//! Synthetic uevent traces of IBM Z LPARs: the AP bus (crypto cards and
//! queues) and the channel subsystem (subchannels, ccw devices), at boot
//! and during `udevadm trigger --action=add`, per kernel era.
//!
//! [`era`] holds the per-kernel behaviour table with its commits,
//! [`s390`] the LPAR model and presets, [`emit`] the streaming emitter
//! and its output sinks.
//!
//! ```
//! use coldplug::gen::{emit, era::Era, s390::{Config, Preset}};
//!
//! let cfg = Config::new(Preset::Small, Era::V6_12);
//! let mut n = 0;
//! emit::generate(&cfg, &mut |_ts: u64, dgram: &[u8]| {
//!     coldplug::uevent::kernel::parse(dgram).unwrap();
//!     n += 1;
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!(n, cfg.counts().coldplug);
//! ```

pub mod emit;
pub mod era;
pub mod s390;
