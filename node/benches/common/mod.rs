//! What the benches share: CPU time from /proc, the load average, random
//! data. (The files benches include it by path.)
// Each bench uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

/// Clock ticks per second of `/proc/self/stat` (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// This process's CPU time (user + system) so far.
pub fn cpu_time() -> Duration {
    cpu_time_of("self").expect("/proc/self/stat (Linux only)")
}

/// The CPU time (user + system, all threads) so far of process `pid`
/// (`"self"` for this one), from `/proc/<pid>/stat`.
pub fn cpu_time_of(pid: &str) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces; utime and stime are fields 14 and 15 of the whole line.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Ok(Duration::from_secs_f64(ticks as f64 / USER_HZ))
}

/// `len` pseudo-random bytes (xorshift, the same every run).
pub fn random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
