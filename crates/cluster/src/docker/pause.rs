//! The pause container of an `awsvpc` task: it owns the task's network namespace (its
//! containers join it with `NetworkMode: container:<id>`, so they reach each other on
//! localhost, as in ECS) and publishes every container's ports on 127.0.0.1.
//!
//! The container itself is rendered by [`spec::render_pause`]. Its image is built here, not pulled: a 129-byte static x86-64 ELF that calls `pause()` in
//! a loop, in a one-file tarball the engine imports. It does not run on other architectures
//! (the engine then fails to start it, and the task fails with that reason).

use std::collections::HashMap;

use bollard::models::ContainerInspectResponse;

use super::spec::{self, PortPlan};
use crate::runtime::{Launch, TaskNetwork};

/// `_start: mov eax, 34 (pause); syscall; jmp _start`, in a minimal ELF64 executable.
fn pause_elf() -> Vec<u8> {
    const CODE: [u8; 9] = [0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];
    const BASE: u64 = 0x40_0000;
    let total = (64 + 56 + CODE.len()) as u64;
    let mut v = Vec::with_capacity(total as usize);
    v.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    v.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&(BASE + 120).to_le_bytes()); // entry
    v.extend_from_slice(&64u64.to_le_bytes()); // phoff
    v.extend_from_slice(&0u64.to_le_bytes()); // shoff
    v.extend_from_slice(&0u32.to_le_bytes()); // flags
    for x in [64u16, 56, 1, 0, 0, 0] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    v.extend_from_slice(&5u32.to_le_bytes()); // R+X
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend_from_slice(&BASE.to_le_bytes());
    v.extend_from_slice(&BASE.to_le_bytes());
    v.extend_from_slice(&total.to_le_bytes());
    v.extend_from_slice(&total.to_le_bytes());
    v.extend_from_slice(&0x1000u64.to_le_bytes());
    v.extend_from_slice(&CODE);
    v
}

/// A ustar archive holding `/pause` (mode 0755).
pub fn pause_tarball() -> Vec<u8> {
    let body = pause_elf();
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, s: &str| {
        h[at..at + s.len()].copy_from_slice(s.as_bytes());
    };
    put(&mut h, 0, "pause");
    put(&mut h, 100, "0000755\0");
    put(&mut h, 108, "0000000\0");
    put(&mut h, 116, "0000000\0");
    put(&mut h, 124, &format!("{:011o}\0", body.len()));
    put(&mut h, 136, "00000000000\0");
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    put(&mut h, 257, "ustar\0");
    put(&mut h, 263, "00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, &format!("{sum:06o}\0 "));
    let mut out = h.to_vec();
    out.extend_from_slice(&body);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0; 1024]);
    out
}

/// The address of the task's network namespace: the pause container's on the engine's
/// bridge network (what ECS reports from the task's ENI). `None` until the engine gave it one.
pub fn pause_network(info: &ContainerInspectResponse) -> Option<TaskNetwork> {
    let settings = info.network_settings.as_ref()?;
    let endpoint = settings
        .networks
        .as_ref()
        .and_then(|n| n.get("bridge").or_else(|| n.values().next()))?;
    let ipv4 = endpoint.ip_address.clone().filter(|ip| !ip.is_empty())?;
    let mac = endpoint.mac_address.clone().filter(|m| !m.is_empty());
    Some(TaskNetwork { ipv4, mac })
}

/// After a restart: which host port the pause container publishes for each container's ports.
pub fn pause_ports(
    launch: &Launch,
    info: &ContainerInspectResponse,
) -> HashMap<String, Vec<PortPlan>> {
    let published = info
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.clone())
        .unwrap_or_default();
    let mut out = HashMap::new();
    for c in &launch.containers {
        let mut plans = Vec::new();
        for w in spec::wanted_ports(&c.definition) {
            for container_port in w.container_ports() {
                let key = format!("{container_port}/{}", w.protocol);
                let host_port = published
                    .get(&key)
                    .and_then(|b| b.as_ref())
                    .and_then(|b| b.first())
                    .and_then(|b| b.host_port.as_deref())
                    .and_then(|p| p.parse().ok());
                if let Some(host_port) = host_port {
                    plans.push(PortPlan {
                        container_port,
                        host_port,
                        protocol: w.protocol.clone(),
                    });
                }
            }
        }
        out.insert(c.name.clone(), plans);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_binary_is_a_loadable_elf() {
        let elf = pause_elf();
        assert_eq!(elf.len(), 129);
        assert_eq!(&elf[..4], b"\x7fELF");
        // Entry point at the code right after the headers.
        assert_eq!(
            u64::from_le_bytes(elf[24..32].try_into().unwrap()),
            0x40_0078
        );
    }

    #[test]
    fn the_tarball_has_a_valid_header_checksum() {
        let t = pause_tarball();
        assert_eq!(t.len() % 512, 0);
        let mut h = t[..512].to_vec();
        let stored = u32::from_str_radix(
            std::str::from_utf8(&h[148..154])
                .unwrap()
                .trim_matches('\0'),
            8,
        )
        .unwrap();
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(stored, sum);
        assert_eq!(&t[512..516], b"\x7fELF");
    }
}
