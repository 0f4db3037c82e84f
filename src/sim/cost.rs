//! The cost model of the virtual clock. Every figure is a parameter
//! with a documented default, so a simulated boot time says exactly
//! what it assumed.

use serde::Serialize;

/// Durations in nanoseconds that the simulation charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CostModel {
    /// Rule processing of one event by a worker, without module work.
    /// Default 150 µs: a udev worker's rules pass on a simple device.
    pub event_ns: u64,
    /// One modalias lookup, when not measured. Default 10 µs: libkmod
    /// 30 with its indexes loaded, measured here on the s390x kernels
    /// (udev's kmod builtin uses libkmod, so this is what a real boot
    /// pays per lookup).
    pub lookup_ns: u64,
    /// Charge the measured CPU time of our matcher per lookup instead
    /// of `lookup_ns`. Measured times vary from run to run, so the
    /// timeline is then not reproducible.
    pub measured_lookup: bool,
    /// Fixed cost of one module insertion (`finit_module`, module
    /// init). Default 500 µs.
    pub insmod_ns: u64,
    /// Per KiB of module (`modules.size`): reading, relocating and
    /// verifying. Default 2 µs per KiB.
    pub load_ns_per_kib: u64,
    /// Running an `install` command through `/bin/sh` (fork and exec of
    /// a modprobe process). Default 3 ms.
    pub install_cmd_ns: u64,
    /// Forking a new udev worker. Default 1 ms.
    pub worker_spawn_ns: u64,
    /// Handing an event to an idle worker. Default 20 µs.
    pub handoff_ns: u64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            event_ns: 150_000,
            lookup_ns: 10_000,
            measured_lookup: false,
            insmod_ns: 500_000,
            load_ns_per_kib: 2_000,
            install_cmd_ns: 3_000_000,
            worker_spawn_ns: 1_000_000,
            handoff_ns: 20_000,
        }
    }
}

impl CostModel {
    /// Time to insert a module of `size` bytes.
    pub fn insmod(&self, size: u64) -> u64 {
        self.insmod_ns + size.div_ceil(1024) * self.load_ns_per_kib
    }

    /// Parse `key=value,...` overrides, values in µs (`measured_lookup`
    /// takes true/false). Keys are the field names without `_ns`.
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, String> {
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("cost override '{part}' is not key=value")
            })?;
            if k == "measured_lookup" {
                self.measured_lookup = v.parse().map_err(|_| {
                    format!("measured_lookup takes true or false, not '{v}'")
                })?;
                continue;
            }
            let us: f64 = v.parse().map_err(|_| {
                format!("cost '{k}' needs a number of µs, not '{v}'")
            })?;
            if !(us.is_finite() && us >= 0.0) {
                return Err(format!(
                    "cost '{k}' must be a non-negative number"
                ));
            }
            let ns = (us * 1000.0).round() as u64;
            match k {
                "event" => self.event_ns = ns,
                "lookup" => self.lookup_ns = ns,
                "insmod" => self.insmod_ns = ns,
                "load_per_kib" => self.load_ns_per_kib = ns,
                "install_cmd" => self.install_cmd_ns = ns,
                "worker_spawn" => self.worker_spawn_ns = ns,
                "handoff" => self.handoff_ns = ns,
                _ => return Err(format!("unknown cost '{k}'")),
            }
        }
        Ok(self)
    }
}

/// udevd's default number of workers
/// (`udev_config_set_default_children_max`): `MIN3(2 * cpus + 16,
/// MAX(memory / 128 MiB, 10), 2048)`.
pub fn default_children_max(cpus: u64, memory_bytes: u64) -> u64 {
    let by_cpu = 2 * cpus + 16;
    let by_mem = (memory_bytes / (128 << 20)).max(10);
    by_cpu.min(by_mem).min(2048)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_max_formula() {
        assert_eq!(default_children_max(2, 24 << 30), 20);
        assert_eq!(default_children_max(64, 1 << 30), 10);
        assert_eq!(default_children_max(4096, 1 << 40), 2048);
    }

    #[test]
    fn overrides() {
        let c = CostModel::default()
            .with_overrides("lookup=0.2,insmod=1000,measured_lookup=true")
            .unwrap();
        assert_eq!(c.lookup_ns, 200);
        assert_eq!(c.insmod_ns, 1_000_000);
        assert!(c.measured_lookup);
        assert!(CostModel::default().with_overrides("nope=1").is_err());
        assert_eq!(CostModel::default().insmod(2048), 504_000);
    }
}
