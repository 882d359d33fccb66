//! The lab's hostile services: TCP servers that misbehave the ways real ones do, for
//! version detection to survive. `cargo xtask lab up` starts them (this same binary,
//! `xtask hostile-services`) in the hostile host's namespace, in the background.
//!
//! Each port's behaviour, and what a scanner should make of it, is in [`SERVICES`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// How one hostile service behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Sends back whatever it is sent (RFC 862).
    Echo,
    /// A banner that never ends: `220 ` and then bytes for as long as anyone reads.
    EndlessBanner,
    /// 4 KiB of binary garbage on connect, then silence for a second, then close.
    Garbage,
    /// A mail server's greeting, one byte every 100 ms.
    SlowDrip,
    /// Reads the request, starts an HTTP answer, then resets the connection.
    ResetMidAnswer,
    /// Answers anything with a TLS record header followed by garbage, then closes.
    TlsGarbage,
    /// Closes every connection at once without a word (as TCP wrappers do).
    CloseAtOnce,
    /// Accepts and never says anything.
    Silent,
}

/// The hostile host's ports, what each does, and the service name a scanner should
/// report for it (`None`: any name, as long as the port is reported open).
pub const SERVICES: &[(u16, Behaviour, Option<&str>)] = &[
    (7, Behaviour::Echo, Some("echo")),
    (1001, Behaviour::EndlessBanner, None),
    (1002, Behaviour::Garbage, None),
    (2525, Behaviour::SlowDrip, Some("smtp")),
    (1004, Behaviour::ResetMidAnswer, None),
    (8443, Behaviour::TlsGarbage, Some("ssl")),
    (1006, Behaviour::CloseAtOnce, Some("tcpwrapped")),
    (1007, Behaviour::Silent, None),
];

/// The slow-drip service's greeting.
pub const SLOW_BANNER: &[u8] = b"220 drip.lab.test ESMTP Postfix\r\n";

/// Serves every hostile port until killed (the lab's teardown kills it).
pub fn serve() -> anyhow::Result<()> {
    let mut threads = Vec::new();
    for &(port, behaviour, _) in SERVICES {
        let listener = TcpListener::bind(("0.0.0.0", port))?;
        threads.push(std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = handle(stream, behaviour);
                });
            }
        }));
    }
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}

/// Some bytes that look random enough (xorshift), reproducibly.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn handle(mut stream: TcpStream, behaviour: Behaviour) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    match behaviour {
        Behaviour::Echo => loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            stream.write_all(&buf[..n])?;
        },
        Behaviour::EndlessBanner => {
            stream.write_all(b"220 ")?;
            let chunk = vec![b'A'; 16 * 1024];
            loop {
                stream.write_all(&chunk)?;
            }
        }
        Behaviour::Garbage => {
            stream.write_all(&garbage(4096, 0x5c4e))?;
            std::thread::sleep(Duration::from_secs(1));
            Ok(())
        }
        Behaviour::SlowDrip => {
            for byte in SLOW_BANNER {
                stream.write_all(&[*byte])?;
                std::thread::sleep(Duration::from_millis(100));
            }
            // Then wait for the client to leave.
            while stream.read(&mut buf)? > 0 {}
            Ok(())
        }
        Behaviour::ResetMidAnswer => {
            stream.set_read_timeout(Some(Duration::from_millis(500)))?;
            let _ = stream.read(&mut buf);
            stream.write_all(b"HTTP/1.1 200 OK\r\nServer: half")?;
            reset(&stream);
            Ok(())
        }
        Behaviour::TlsGarbage => {
            stream.set_read_timeout(Some(Duration::from_millis(500)))?;
            let _ = stream.read(&mut buf);
            let mut answer = b"\x16\x03\x01\x00\x40".to_vec();
            answer.extend(garbage(64, 0x7a5));
            stream.write_all(&answer)?;
            Ok(())
        }
        Behaviour::CloseAtOnce => Ok(()),
        Behaviour::Silent => {
            while stream.read(&mut buf)? > 0 {}
            Ok(())
        }
    }
}

/// Closes `stream` with a reset (SO_LINGER 0) instead of a FIN.
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a valid socket descriptor with a properly sized struct.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn garbage_is_reproducible_and_not_text() {
        let a = super::garbage(4096, 1);
        assert_eq!(a, super::garbage(4096, 1));
        assert!(a.iter().filter(|b| **b >= 0x80).count() > 1000);
    }
}
