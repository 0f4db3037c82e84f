//! `coldplug gen s390 [--preset P] [--era E] [sizes...] [-o FILE]`

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use coldplug::gen::emit::{
    self, DatagramSink, MonitorSink, OutputFormat, Summary, TraceSink,
};
use coldplug::gen::era::Era;
use coldplug::gen::s390::{
    ApScan, CardType, Config, ModeChoice, Phase, Preset, TriggerType, UuidMode,
};
use coldplug::trace::file::{Clock, Origin, Writer};

use super::exit::{Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum Target {
    /// An IBM Z LPAR: AP crypto cards and queues, subchannels and ccw
    /// devices, at boot and during `udevadm trigger --action=add`.
    S390(S390Args),
}

#[derive(clap::Args)]
struct S390Args {
    /// Named sizes: small, medium or max (256x256 AP, 4x65536
    /// subchannels). Size options override them.
    #[arg(long, default_value = "small")]
    preset: Preset,
    /// Kernel behaviour: 4.18, 5.10, 5.15, 6.1 or 6.12.
    #[arg(long, default_value = "6.12")]
    era: Era,
    /// Crypto adapters (0..=256).
    #[arg(long)]
    cards: Option<u16>,
    /// Domains (queues) per adapter.
    #[arg(long)]
    domains: Option<u16>,
    /// First domain id.
    #[arg(long)]
    first_domain: Option<u16>,
    /// Adapter type: cex4..cex8, or mixed (drawn per card).
    #[arg(long, default_value = "mixed")]
    card_type: CardType,
    /// Adapter mode: accel, cca, ep11, or mixed.
    #[arg(long, default_value = "mixed")]
    mode: ModeChoice,
    /// ECKD DASD devices.
    #[arg(long)]
    dasd: Option<u32>,
    /// OSA ports (three ccw devices each).
    #[arg(long)]
    osa: Option<u32>,
    /// FCP (zfcp) devices.
    #[arg(long)]
    zfcp: Option<u32>,
    /// Tape devices.
    #[arg(long)]
    tape: Option<u32>,
    /// 3270 terminals.
    #[arg(long)]
    terminals: Option<u32>,
    /// Subchannels defined in the IOCDS whose device is absent.
    #[arg(long)]
    absent_subchannels: Option<u32>,
    /// Subchannel sets in use (1..=4).
    #[arg(long)]
    ssids: Option<u8>,
    /// Seed for card types, modes, control units and UUIDs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// coldplug (what udevd sees), boot (in-kernel only) or all.
    #[arg(long, default_value = "coldplug")]
    phase: Phase,
    /// When the AP bus's first scan ends: early (before udevd) or late.
    #[arg(long, default_value = "early")]
    ap_scan: ApScan,
    /// What udevadm trigger enumerates: devices or all (+ buses and
    /// drivers, systemd's unit).
    #[arg(long, default_value = "all")]
    trigger_type: TriggerType,
    /// SYNTH_UUID of the trigger's adds: zero (bare "add" writes) or
    /// random (newest udevadm).
    #[arg(long, default_value = "zero")]
    uuid: UuidMode,
    /// Append the qeth ccwgroup add/bind pairs of zdev's group writes.
    #[arg(long)]
    qeth_groups: bool,
    /// zcrypt is built in: AP adds are followed by cex4card/cex4queue
    /// binds and BINDINGS=complete.
    #[arg(long)]
    zcrypt_builtin: bool,
    /// Append APMASK/AQMASK change events (kernels 5.19+).
    #[arg(long)]
    mask_change: bool,
    /// Events per second.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// CLOCK_MONOTONIC seconds of the first boot event.
    #[arg(long, default_value_t = 0.5)]
    boot_at: f64,
    /// CLOCK_MONOTONIC seconds of the first event udevd sees.
    #[arg(long, default_value_t = 4.0)]
    trigger_at: f64,
    /// SEQNUM of the first boot event.
    #[arg(long, default_value_t = 1)]
    first_seqnum: u64,
    /// Output format: coldplug (trace), kernel (length-prefixed
    /// datagrams) or monitor (`udevadm monitor --kernel --property`).
    #[arg(long, default_value = "coldplug")]
    format: OutputFormat,
    /// Output file (`-` for standard output).
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
    /// Print a summary to standard error.
    #[arg(short, long)]
    verbose: bool,
}

fn seconds_ns(s: f64, what: &str) -> anyhow::Result<u64> {
    anyhow::ensure!(
        s.is_finite() && (0.0..1e9).contains(&s),
        "{what} must be a non-negative number of seconds"
    );
    Ok((s * 1e9).round() as u64)
}

fn config(a: &S390Args) -> anyhow::Result<Config> {
    let mut c = Config::new(a.preset, a.era);
    let s = &mut c.sizes;
    macro_rules! set {
        ($($f:ident = $a:ident),*) => {$(
            if let Some(v) = a.$a { s.$f = v; }
        )*};
    }
    set!(
        cards = cards,
        domains = domains,
        first_domain = first_domain,
        dasd = dasd,
        osa = osa,
        zfcp = zfcp,
        tape = tape,
        terminals = terminals,
        absent = absent_subchannels,
        ssids = ssids
    );
    c.card_type = a.card_type;
    c.mode = a.mode;
    c.seed = a.seed;
    c.phase = a.phase;
    c.ap_scan = a.ap_scan;
    c.trigger_type = a.trigger_type;
    c.uuid = a.uuid;
    c.qeth_groups = a.qeth_groups;
    c.mask_change = a.mask_change;
    c.zcrypt_builtin = a.zcrypt_builtin;
    c.rate = a.rate;
    c.boot_at_ns = seconds_ns(a.boot_at, "--boot-at")?;
    c.trigger_at_ns = seconds_ns(a.trigger_at, "--trigger-at")?;
    c.first_seqnum = a.first_seqnum;
    c.validate().map_err(anyhow::Error::msg)?;
    Ok(c)
}

fn description(c: &Config) -> String {
    let s = &c.sizes;
    let n = c.counts();
    format!(
        "coldplug gen s390: era {} seed {} phase {:?} ap-scan {:?} \
         trigger {:?} uuid {:?}; {} cards x {} domains from {}, {} dasd, \
         {} osa, {} zfcp, {} tape, {} terminals, {} absent, {} ssids; \
         boot events {} (seqnum {}..), coldplug events {}",
        c.era,
        c.seed,
        c.phase,
        c.ap_scan,
        c.trigger_type,
        c.uuid,
        s.cards,
        s.domains,
        s.first_domain,
        s.dasd,
        s.osa,
        s.zfcp,
        s.tape,
        s.terminals,
        s.absent,
        s.ssids,
        n.boot,
        c.first_seqnum,
        n.coldplug
    )
    .to_lowercase()
}

fn write_to<W: Write>(
    c: &Config,
    f: OutputFormat,
    out: W,
) -> io::Result<Summary> {
    match f {
        OutputFormat::Coldplug => {
            let w = Writer::new(
                out,
                Clock::Monotonic,
                Origin::Generator,
                &description(c),
            )?;
            let mut sink = TraceSink(w);
            let s = emit::generate(c, &mut sink)?;
            sink.0.finish()?;
            Ok(s)
        }
        OutputFormat::Kernel => {
            let mut sink = DatagramSink(out);
            let s = emit::generate(c, &mut sink)?;
            sink.0.flush()?;
            Ok(s)
        }
        OutputFormat::Monitor => {
            let mut sink = MonitorSink::new(out)?;
            let s = emit::generate(c, &mut sink)?;
            sink.into_inner().flush()?;
            Ok(s)
        }
    }
}

pub fn run(args: Args) -> Outcome {
    let Target::S390(a) = args.target;
    let c = config(&a).map_err(Failure::Usage)?;
    let summary = if a.output.as_os_str() == "-" {
        let stdout = io::stdout();
        write_to(
            &c,
            a.format,
            BufWriter::with_capacity(1 << 20, stdout.lock()),
        )
    } else {
        let f = File::create(&a.output).with_context(|| {
            format!("cannot create {}", a.output.display())
        })?;
        write_to(&c, a.format, BufWriter::with_capacity(1 << 20, f))
    }
    .with_context(|| format!("cannot write {}", a.output.display()))?;
    if a.verbose {
        eprintln!(
            "coldplug: {} events, seqnum {}..{}, {:.6}..{:.6} s ({} boot \
             events {})",
            summary.events,
            summary.first_seqnum,
            summary.last_seqnum,
            summary.first_ns as f64 / 1e9,
            summary.last_ns as f64 / 1e9,
            summary.boot_events,
            if matches!(c.phase, Phase::Coldplug) {
                "counted, not emitted"
            } else {
                "emitted"
            }
        );
    }
    Ok(false)
}
