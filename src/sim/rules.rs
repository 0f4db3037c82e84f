//! Rule-driven module loads: the udev rules that call the kmod builtin
//! on something other than a device's MODALIAS.
//!
//! A rules file is TOML:
//!
//! ```toml
//! # s390-tools' zdev and the vfio_ap discussion: load vfio_ap once the
//! # AP bus says every queue is bound, instead of by device table.
//! [[rule]]
//! match = { ACTION = "change", SUBSYSTEM = "ap", BINDINGS = "complete" }
//! load = ["vfio_ap"]
//! ```
//!
//! A rule matches an event when every key is present with exactly that
//! value (`ACTION`, `DEVPATH` and the other header fields included; a
//! value ending in `*` matches by prefix). Each matching rule loads its
//! modules in order through the same path as a MODALIAS load
//! (`kmod load NAME` with `KMOD_PROBE_APPLY_BLACKLIST`), on every
//! action — unlike 80-drivers.rules, which loads only on `add`.

use serde::Deserialize;

use crate::uevent::Uevent;

/// One rule.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Keys and values that must all match.
    #[serde(rename = "match")]
    pub matches: std::collections::BTreeMap<String, String>,
    /// Module names (or aliases) to load, in order.
    pub load: Vec<String>,
}

/// A rules file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The rules, in file order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

impl Rules {
    /// Parse a rules file.
    pub fn parse(text: &str) -> Result<Rules, toml::de::Error> {
        toml::from_str(text)
    }

    /// The modules the rules load for `ev`, in order.
    pub fn loads<'r, 'e>(
        &'r self,
        ev: &'e Uevent<'e>,
    ) -> impl Iterator<Item = &'r str> + use<'r, 'e> {
        self.rules
            .iter()
            .filter(move |r| r.matches.iter().all(|(k, v)| matches(ev, k, v)))
            .flat_map(|r| r.load.iter().map(String::as_str))
    }
}

fn matches(ev: &Uevent<'_>, key: &str, want: &str) -> bool {
    let got = match key {
        "ACTION" => Some(ev.action().as_bytes()),
        "DEVPATH" => Some(ev.devpath()),
        "SUBSYSTEM" => ev.subsystem(),
        _ => ev.get(key.as_bytes()),
    };
    let Some(got) = got else { return false };
    match want.strip_suffix('*') {
        Some(prefix) => got.starts_with(prefix.as_bytes()),
        None => got == want.as_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uevent::kernel;

    #[test]
    fn matches_bindings_complete() {
        let rules = Rules::parse(
            r#"
[[rule]]
match = { ACTION = "change", SUBSYSTEM = "ap", BINDINGS = "complete" }
load = ["vfio_ap"]
[[rule]]
match = { DEVPATH = "/devices/ap/card*" }
load = ["a", "b"]
"#,
        )
        .unwrap();
        let ev = kernel::parse(
            b"change@/devices/ap\0ACTION=change\0DEVPATH=/devices/ap\0\
SUBSYSTEM=ap\0BINDINGS=complete\0COMPLETECOUNT=1\0SEQNUM=9\0",
        )
        .unwrap();
        assert_eq!(rules.loads(&ev).collect::<Vec<_>>(), ["vfio_ap"]);
        let ev = kernel::parse(
            b"add@/devices/ap/card03\0ACTION=add\0DEVPATH=/devices/ap/card03\0\
SUBSYSTEM=ap\0SEQNUM=1\0",
        )
        .unwrap();
        assert_eq!(rules.loads(&ev).collect::<Vec<_>>(), ["a", "b"]);
        assert!(Rules::parse("[[rule]]\nmatch={}\nload=[]\nx=1").is_err());
    }
}
