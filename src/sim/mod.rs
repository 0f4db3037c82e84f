//! The coldplug replay engine: udevd's queue, workers and a virtual
//! clock.

pub mod cost;
pub mod engine;
pub mod prepare;
pub mod queue;
pub mod replay;
pub mod rules;

pub use cost::CostModel;
