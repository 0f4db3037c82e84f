//! `coldplug record -o FILE [--duration S] [--count N] [--udev]`
//! `coldplug record --sysfs [ROOT] -o FILE`

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use coldplug::gen::s390::{TriggerType, UuidMode};
use coldplug::record::{netlink, sysfs};
use coldplug::trace::file::{Clock, Origin, Writer};
use coldplug::uevent::Source;

use super::exit::{Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// Output trace file (`-` for standard output).
    #[arg(short, long)]
    output: PathBuf,
    /// Stop after this many seconds.
    #[arg(long, conflicts_with = "sysfs")]
    duration: Option<f64>,
    /// Stop after this many events.
    #[arg(long, conflicts_with = "sysfs")]
    count: Option<u64>,
    /// Listen to udevd's group (2, libudev datagrams) instead of the
    /// kernel's (1).
    #[arg(long, conflicts_with = "sysfs")]
    udev: bool,
    /// Receive buffer to ask for, bytes (SO_RCVBUFFORCE as root).
    #[arg(long, default_value_t = 128 << 20)]
    rcvbuf: usize,
    /// Instead of listening, walk this sysfs tree (default /sys) and
    /// write the `add` events `udevadm trigger --action=add` would
    /// cause, in its order, without writing anything to sysfs.
    #[arg(long, num_args = 0..=1, default_missing_value = "/sys")]
    sysfs: Option<PathBuf>,
    /// With --sysfs: devices, or all (+ modules, buses, drivers).
    #[arg(long, default_value = "all", requires = "sysfs")]
    trigger_type: TriggerType,
    /// With --sysfs: SYNTH_UUID zero or random.
    #[arg(long, default_value = "zero", requires = "sysfs")]
    uuid: UuidMode,
    /// With --sysfs: seed for random UUIDs.
    #[arg(long, default_value_t = 1, requires = "sysfs")]
    seed: u64,
    /// With --sysfs: SEQNUM of the first event.
    #[arg(long, default_value_t = 1, requires = "sysfs")]
    first_seqnum: u64,
    /// With --sysfs: subsystems enumerated first, as udevadm trigger
    /// --prioritized-subsystem (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "sysfs")]
    prioritized_subsystem: Vec<String>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn open_output(p: &Path) -> anyhow::Result<Box<dyn Write>> {
    Ok(if p.as_os_str() == "-" {
        Box::new(BufWriter::new(io::stdout()))
    } else {
        let f = File::create(p)
            .with_context(|| format!("cannot create {}", p.display()))?;
        Box::new(BufWriter::with_capacity(1 << 20, f))
    })
}

fn run_sysfs(a: &Args, root: &Path) -> Outcome {
    let out = open_output(&a.output)?;
    let desc = format!(
        "coldplug record --sysfs {}: udevadm trigger --type={} \
         --action=add, synthesized",
        root.display(),
        match a.trigger_type {
            TriggerType::All => "all",
            TriggerType::Devices => "devices",
        }
    );
    let mut w = Writer::new(out, Clock::None, Origin::Sysfs, &desc)?;
    let opts = sysfs::SynthOptions {
        uuid: a.uuid,
        seed: a.seed,
        first_seqnum: a.first_seqnum,
    };
    let rep = sysfs::synthesize(
        root,
        a.trigger_type,
        &a.prioritized_subsystem,
        opts,
        |d| w.write_datagram(0, Source::Kernel, d),
    )
    .with_context(|| format!("cannot walk {}", root.display()))?;
    w.finish()?;
    for (dev, why) in &rep.skipped {
        eprintln!("coldplug: skipped {dev}: {why}");
    }
    eprintln!(
        "coldplug: {} events from {} ({} skipped)",
        rep.events,
        root.display(),
        rep.skipped.len()
    );
    Ok(false)
}

pub fn run(a: Args) -> Outcome {
    if let Some(root) = &a.sysfs {
        return run_sysfs(&a, root);
    }
    let group =
        if a.udev { netlink::Group::Udev } else { netlink::Group::Kernel };
    let sock = netlink::Socket::open(group, a.rcvbuf).map_err(|e| {
        Failure::Usage(anyhow::anyhow!("cannot record uevents: {e}"))
    })?;
    let limits = netlink::Limits {
        duration: a
            .duration
            .map(|s| {
                anyhow::ensure!(
                    s.is_finite() && s >= 0.0,
                    "--duration must be a non-negative number of seconds"
                );
                Ok(Duration::from_secs_f64(s))
            })
            .transpose()?,
        count: a.count,
    };
    let out = open_output(&a.output)?;
    let desc = format!(
        "coldplug record: NETLINK_KOBJECT_UEVENT group {}",
        if a.udev { "2 (udev)" } else { "1 (kernel)" }
    );
    let mut w = Writer::new(out, Clock::Monotonic, Origin::Netlink, &desc)?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_signal as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_signal as *const () as libc::sighandler_t,
        );
    }
    let rep = netlink::record(&sock, &mut w, limits, &STOP)?;
    w.finish()?;
    eprintln!(
        "coldplug: {} events recorded (receive buffer {} bytes); {} \
         overruns, {} truncated, {} from userspace senders, {} malformed",
        rep.recorded,
        sock.rcvbuf,
        rep.overruns,
        rep.truncated,
        rep.foreign,
        rep.malformed
    );
    if rep.overruns > 0 {
        eprintln!(
            "coldplug: warning: the receive queue overflowed, events were \
             lost; raise --rcvbuf"
        );
    }
    Ok(false)
}
