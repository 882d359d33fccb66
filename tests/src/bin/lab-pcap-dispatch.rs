//! `lab-pcap-dispatch N PER TARGET`: the classic side of `cargo xtask bench scripts`,
//! run inside the lab's scanner namespace: N libpcap handles, each with a BPF filter
//! for its own ICMP identifier, polled together; PER echo requests to TARGET per
//! identifier, one outstanding per identifier. Prints `replies=K` (or `opened=K` when
//! opening the handles ran out of time). A binary of its own, built after `cargo
//! xtask setup` has installed libpcap, so that xtask itself links no system library.

use anyhow::{Context, Result};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use xtask::bench_scripts::PCAP_BUDGET;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: lab-pcap-dispatch WAITERS PER_WAITER TARGET";
    anyhow::ensure!(args.len() == 3, "{usage}");
    let n: usize = args[0].parse().context(usage)?;
    let per: usize = args[1].parse().context(usage)?;
    let target: Ipv4Addr = args[2].parse().context(usage)?;
    run(n, per, target)
}

/// The classic side, run inside the scanner namespace: `n` libpcap handles, each
/// with a BPF filter for its own ICMP identifier, polled together; `per` echo
/// requests per identifier, one outstanding per identifier. Prints `replies=K`.
fn run(n: usize, per: usize, target: Ipv4Addr) -> Result<()> {
    raise_fd_limit(n as u64 + 64);
    let mut handles = Vec::with_capacity(n);
    let opening = Instant::now();
    for id in 1..=n {
        if opening.elapsed() > PCAP_BUDGET {
            // Opening a handle gets slower with every one open: at 10000 it takes
            // minutes before a packet is sent.
            println!(
                "opened={} stopped after {} s",
                id - 1,
                PCAP_BUDGET.as_secs()
            );
            return Ok(());
        }
        let mut capture = pcap::Capture::from_device(xtask::lab::SCANNER_IFACE)?
            .immediate_mode(true)
            .buffer_size(64 * 1024)
            .snaplen(256)
            .open()
            .with_context(|| format!("opening libpcap handle {id}"))?
            .setnonblock()?;
        capture.filter(
            &format!(
                "icmp[icmptype] == icmp-echoreply and icmp[4:2] == {id} and src host {target}"
            ),
            true,
        )?;
        handles.push(capture);
    }
    // SAFETY: a plain raw ICMP socket; the kernel writes the IP header.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    anyhow::ensure!(sock >= 0, "raw socket: {}", std::io::Error::last_os_error());
    let send = |id: u16, seq: u16| {
        let mut packet = [8u8, 0, 0, 0, 0, 0, 0, 0];
        packet[4..6].copy_from_slice(&id.to_be_bytes());
        packet[6..8].copy_from_slice(&seq.to_be_bytes());
        let sum: u32 = packet
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        let folded = !(((sum & 0xffff) + (sum >> 16)) as u16);
        packet[2..4].copy_from_slice(&folded.to_be_bytes());
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(target).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: valid buffer and address for the call's duration.
        unsafe {
            libc::sendto(
                sock,
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                0,
                &addr as *const libc::sockaddr_in as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            )
        };
    };
    let mut fds: Vec<libc::pollfd> = handles
        .iter()
        .map(|h| libc::pollfd {
            fd: h.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Like the script threads: each identifier sends, waits for its reply (up to a
    // second), and sends the next.
    let mut sent_at = vec![Instant::now(); n];
    let mut next_seq = vec![1usize; n];
    if per > 0 {
        for (id, sent) in sent_at.iter_mut().enumerate() {
            send(id as u16 + 1, 1);
            *sent = Instant::now();
        }
    }
    let mut received = 0usize;
    let mut active = if per == 0 { 0 } else { n };
    let started = Instant::now();
    while active > 0 {
        if started.elapsed() > PCAP_BUDGET {
            println!("stopped after {} s", PCAP_BUDGET.as_secs());
            break;
        }
        // SAFETY: fds is a valid array of pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        for (i, fd) in fds.iter_mut().enumerate() {
            let mut answered = false;
            if fd.revents & libc::POLLIN != 0 {
                while let Ok(_packet) = handles[i].next_packet() {
                    answered = true;
                }
            }
            fd.revents = 0;
            let late = next_seq[i] <= per && sent_at[i].elapsed() > Duration::from_secs(1);
            if (answered || late) && next_seq[i] <= per {
                received += usize::from(answered);
                next_seq[i] += 1;
                if next_seq[i] > per {
                    active -= 1;
                } else {
                    send(i as u16 + 1, next_seq[i] as u16);
                    sent_at[i] = Instant::now();
                }
            }
        }
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(sock) };
    println!("replies={received}");
    Ok(())
}

fn raise_fd_limit(wanted: u64) {
    let limit = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: wanted,
    };
    // SAFETY: a valid rlimit; failure leaves the old limit, and opening then fails
    // with a message.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
}
