//! The coldplug replay engine: udevd's queue, workers and a virtual
//! clock.

pub mod queue;
