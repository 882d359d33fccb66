//! `lab-xdp-drop IFACE`: attaches an XDP program that drops every IPv4 frame to IFACE
//! (in the network namespace it runs in) and, until killed, prints every 20 ms a line
//! `<nanoseconds since start> <frames dropped>`. `cargo xtask bench sweep` runs it in
//! the lab's sink host, so senders can be measured at their full rate without a TCP
//! stack answering, and without the measurement costing the senders CPU time.

use std::io::Write;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let iface = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: lab-xdp-drop IFACE"))?;
    let sink = scanner::io::xdp::DropAll::attach(&iface)?;
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    loop {
        writeln!(out, "{} {}", started.elapsed().as_nanos(), sink.dropped())?;
        out.flush()?;
        std::thread::sleep(Duration::from_millis(20));
    }
}
