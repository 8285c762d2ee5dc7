//! Dynamic host ports, picked the way the ECS agent picks them (`docs/ecs-agent-runtime.md`
//! §8): from the kernel's ephemeral range, sequentially from the last port handed out, each
//! candidate tested by binding a listener on `127.0.0.1` and dropping it at once, under one
//! lock so two tasks starting together never get the same port. One picker serves the whole
//! process ([`HostPorts::process`]): every Docker runtime in it, a reset's fresh one and a test
//! binary's several included, hands out ports after the last one any of them did, as one ECS
//! agent does for its host. Two pickers starting over at the range's first port would give it
//! twice while the first container was not yet bound to it (`port is already allocated`).
//!
//! What it does not do: it does not keep ports reserved. A port is free when tested and is
//! handed to Docker right after; starting from the last assigned port + 1 keeps recently
//! handed-out ports (whose containers may not be listening yet) at the back of the queue, as
//! in the agent. It does not ask Docker to pick (`HostPort` empty): the agent stopped doing
//! that in 1.70.0 because Docker's choice could collide across IPv4 and IPv6.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::Mutex;

use super::spec::{PortPlan, WantedPort};

/// Where the kernel keeps the ephemeral port range.
const KERNEL_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
/// The agent's range when the kernel's cannot be read.
const FALLBACK_RANGE: (u16, u16) = (49153, 65535);

/// Hands out dynamic host ports (one per process: the last assigned port is shared state).
#[derive(Debug)]
pub struct HostPorts {
    range: (u16, u16),
    last: Mutex<Option<u16>>,
}

impl Default for HostPorts {
    fn default() -> Self {
        Self::new()
    }
}

impl HostPorts {
    /// Ports from the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`),
    /// or 49153–65535 when it cannot be read.
    pub fn new() -> Self {
        let range = std::fs::read_to_string(KERNEL_RANGE)
            .ok()
            .and_then(|s| parse_range(&s))
            .unwrap_or(FALLBACK_RANGE);
        Self::with_range(range.0, range.1)
    }

    /// The process's picker, over the kernel's range: what every Docker runtime uses.
    pub fn process() -> &'static HostPorts {
        static PROCESS: std::sync::OnceLock<HostPorts> = std::sync::OnceLock::new();
        PROCESS.get_or_init(HostPorts::new)
    }

    /// Ports from `first..=last` (swapped when given the wrong way round).
    pub fn with_range(first: u16, last: u16) -> Self {
        HostPorts {
            range: (first.min(last).max(1), first.max(last).max(1)),
            last: Mutex::new(None),
        }
    }

    /// The range ports come from, inclusive.
    pub fn range(&self) -> (u16, u16) {
        self.range
    }

    /// One free host port for `protocol` (`udp`, else TCP).
    ///
    /// # Errors
    ///
    /// `HostConfigError: error retrieving docker port map: …` when every port of the range is
    /// taken.
    pub fn pick(&self, protocol: &str) -> Result<u16, String> {
        self.pick_range(1, protocol)
    }

    /// The first of `n` contiguous free host ports for `protocol` (a `containerPortRange`).
    /// The search starts after the last port handed out and wraps around the range once; a
    /// run of ports never wraps.
    ///
    /// # Errors
    ///
    /// `HostConfigError: error retrieving docker port map: …` when no `n` contiguous ports of
    /// the range are free (or `n` is 0).
    pub fn pick_range(&self, n: u16, protocol: &str) -> Result<u16, String> {
        let (lo, hi) = self.range;
        let fail = || {
            format!(
                "HostConfigError: error retrieving docker port map: {n} contiguous host ports \
                 are unavailable in {lo}-{hi} ({})",
                proto(protocol)
            )
        };
        if n == 0 {
            return Err(fail());
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let start = match *last {
            Some(p) if (lo..hi).contains(&p) => p + 1,
            _ => lo,
        };
        for (from, to) in [(start, hi), (lo, start.saturating_sub(1))] {
            if from > to {
                continue;
            }
            let mut run = 0u16;
            let mut port = from;
            loop {
                if free(port, protocol) {
                    run += 1;
                    if run == n {
                        *last = Some(port);
                        return Ok(port + 1 - n);
                    }
                } else {
                    run = 0;
                }
                if port == to {
                    break;
                }
                port += 1;
            }
        }
        Err(fail())
    }

    /// Host ports for what a container asks for ([`super::spec::wanted_ports`]): an explicit
    /// `hostPort` is used as given (the backend validated it), the others are picked; a
    /// `containerPortRange` gets a contiguous host range of its length. For an `awsvpc` task
    /// the caller clears `host_port` first (its `hostPort` only repeats the container port,
    /// which several local tasks could not all have).
    ///
    /// # Errors
    ///
    /// The [`HostPorts::pick_range`] error.
    pub fn assign(&self, wanted: &[WantedPort]) -> Result<Vec<PortPlan>, String> {
        let mut out = Vec::new();
        for w in wanted {
            let first = match w.host_port {
                Some(h) => h,
                None => {
                    let n = u16::try_from(w.count.max(1)).unwrap_or(u16::MAX);
                    i32::from(self.pick_range(n, &w.protocol)?)
                }
            };
            out.extend(w.container_ports().enumerate().map(|(i, p)| PortPlan {
                container_port: p,
                host_port: first + i32::try_from(i).unwrap_or(0),
                protocol: w.protocol.clone(),
            }));
        }
        Ok(out)
    }
}

fn proto(protocol: &str) -> &'static str {
    if protocol.eq_ignore_ascii_case("udp") {
        "udp"
    } else {
        "tcp"
    }
}

/// Whether `port` can be bound on `127.0.0.1` right now.
fn free(port: u16, protocol: &str) -> bool {
    let addr = (Ipv4Addr::LOCALHOST, port);
    if proto(protocol) == "udp" {
        UdpSocket::bind(addr).is_ok()
    } else {
        TcpListener::bind(addr).is_ok()
    }
}

/// `"32768\t60999\n"` → (32768, 60999).
fn parse_range(s: &str) -> Option<(u16, u16)> {
    let mut it = s.split_whitespace().map(str::parse::<u16>);
    let lo = it.next()?.ok()?;
    let hi = it.next()?.ok()?;
    (0 < lo && lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A range of `len` ports starting at a port the OS just had free.
    fn scratch(len: u16) -> HostPorts {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let p = l.local_addr().expect("addr").port().min(65535 - len);
        HostPorts::with_range(p, p + len - 1)
    }

    #[test]
    fn kernel_range_parses() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("1024 1024"), Some((1024, 1024)));
        assert_eq!(parse_range("60999 32768"), None);
        assert_eq!(parse_range("garbage"), None);
        let (lo, hi) = HostPorts::new().range();
        assert!(0 < lo && lo <= hi);
    }

    /// Two runtimes of one process (a reset's fresh one, a test binary's several clusters) share
    /// the picker: the second does not start over at the range's first port and hand out what
    /// the first just gave a container that is not bound yet.
    #[test]
    fn every_runtime_of_the_process_shares_one_picker() {
        let (first, second) = (HostPorts::process(), HostPorts::process());
        assert!(std::ptr::eq(first, second));
        let a = first.pick("tcp").expect("a");
        let b = second.pick("tcp").expect("b");
        assert_ne!(a, b, "the same port handed out twice");
    }

    #[test]
    fn picks_differ_and_increase() {
        let ports = scratch(200);
        let a = ports.pick("tcp").expect("a");
        let b = ports.pick("tcp").expect("b");
        let c = ports.pick("udp").expect("c");
        assert!(a < b && b < c, "{a} {b} {c}");
        let (lo, hi) = ports.range();
        assert!((lo..=hi).contains(&a) && (lo..=hi).contains(&c));
    }

    #[test]
    fn a_held_port_is_skipped() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let p = held.local_addr().expect("addr").port();
        if p >= 65535 - 20 {
            return; // no room after it for the test
        }
        let ports = HostPorts::with_range(p, p + 20);
        let got = ports.pick("tcp").expect("pick");
        assert!(got > p && got <= p + 20, "{got} after held {p}");
        // Only the held port in range: the error the agent reports.
        let only = HostPorts::with_range(p, p);
        let err = only.pick("tcp").expect_err("held");
        assert!(
            err.starts_with("HostConfigError: error retrieving docker port map: "),
            "{err}"
        );
        // A held UDP port is skipped for UDP.
        let held = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let p = held.local_addr().expect("addr").port();
        assert!(HostPorts::with_range(p, p).pick("udp").is_err());
    }

    #[test]
    fn picks_wrap_once() {
        let ports = scratch(3);
        let (lo, hi) = ports.range();
        *ports.last.lock().expect("lock") = Some(hi);
        let got = ports.pick("tcp").expect("wraps to the start");
        assert!((lo..=hi).contains(&got));
    }

    #[test]
    fn ranges_are_contiguous_and_avoid_held_ports() {
        let ports = scratch(40);
        let (lo, _) = ports.range();
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, lo + 2));
        let first = ports.pick_range(5, "tcp").expect("range");
        if held.is_ok() {
            // lo..lo+2 is too short before the held port.
            assert!(first > lo + 2, "{first}");
        }
        for p in first..first + 5 {
            assert!(free(p, "tcp"), "{p} handed out while taken");
        }
        assert!(ports.pick_range(0, "tcp").is_err());
        assert!(ports.pick_range(41, "tcp").is_err());
    }

    #[test]
    fn assign_keeps_explicit_ports_and_picks_the_rest() {
        let ports = scratch(50);
        let wanted = [
            WantedPort {
                container_port: 80,
                count: 1,
                host_port: Some(8080),
                protocol: "tcp".into(),
            },
            WantedPort {
                container_port: 7000,
                count: 3,
                host_port: None,
                protocol: "tcp".into(),
            },
        ];
        let got = ports.assign(&wanted).expect("assign");
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].host_port, 8080);
        let first = got[1].host_port;
        let pairs: Vec<(i32, i32)> = got[1..]
            .iter()
            .map(|p| (p.container_port, p.host_port))
            .collect();
        assert_eq!(pairs, [(7000, first), (7001, first + 1), (7002, first + 2)]);
    }
}
