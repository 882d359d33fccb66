//! An AF_PACKET raw socket bound to one interface: the send fallback where AF_XDP is
//! not available, the ARP resolver's socket, and the receive fallback where the XDP
//! classifier cannot be loaded.
//!
//! [`RawPacketSocket`] is the plain non-blocking socket (sender threads use it);
//! [`PacketSocket`] registers one with tokio so reads wait on the loop.

use super::{FrameBatch, FrameSender};
use anyhow::{Context, Result};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::SystemTime;
use tokio::io::unix::AsyncFd;

/// Receive nothing: a socket bound with protocol 0 only sends.
pub const SEND_ONLY: u16 = 0;
/// Receive every frame (ETH_P_ALL).
pub const ALL_FRAMES: u16 = 0x0003;
/// The ioctl that reads the kernel's receive time of the last frame read (as a
/// timespec; `SIOCGSTAMPNS_OLD` of linux/sockios.h, which libc does not name).
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
/// Bytes of a receiving socket's buffer.
const RECEIVE_BUFFER: libc::c_int = 16 << 20;

/// A non-blocking AF_PACKET socket.
pub struct RawPacketSocket {
    fd: OwnedFd,
}

impl RawPacketSocket {
    /// Opens a raw socket on interface `ifindex` receiving frames of `ethertype`
    /// ([`SEND_ONLY`] for none).
    pub fn open(ifindex: u32, ethertype: u16) -> Result<Self> {
        let protocol = i32::from(ethertype.to_be());
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EPERM) {
                return Err(err).context("a raw packet socket needs CAP_NET_RAW: run as root");
            }
            return Err(err).context("socket(AF_PACKET)");
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: zeroed sockaddr_ll is valid; the fields we need are set below.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = ethertype.to_be();
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: addr is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error())
                .context("binding the packet socket to its interface");
        }
        let one: libc::c_int = 1;
        // Skip the qdisc layer on send, as masscan and ZMap do. Best effort.
        // SAFETY: setsockopt with a valid int option.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                &one as *const _ as *const libc::c_void,
                4,
            )
        };
        if ethertype != SEND_ONLY {
            // A receive buffer that holds a burst of replies while the loop is busy
            // elsewhere (the default holds a few hundred frames). Best effort: beyond
            // the system's limit only with CAP_NET_ADMIN, which the scan has here.
            let bytes: libc::c_int = RECEIVE_BUFFER;
            for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
                // SAFETY: setsockopt with a valid int option.
                let rc = unsafe {
                    libc::setsockopt(
                        fd.as_raw_fd(),
                        libc::SOL_SOCKET,
                        option,
                        &bytes as *const _ as *const libc::c_void,
                        4,
                    )
                };
                if rc == 0 {
                    break;
                }
            }
        }
        Ok(Self { fd })
    }

    /// Sends one frame.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: frame is a valid buffer of frame.len() bytes.
        let rc = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads one frame if one is waiting.
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for buf.len() bytes.
        let rc = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }
}

impl AsRawFd for RawPacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl FrameSender for RawPacketSocket {
    fn send(&mut self, batch: &FrameBatch) -> io::Result<usize> {
        let mut iovecs: Vec<libc::iovec> = (0..batch.len())
            .map(|i| {
                let frame = batch.frame(i);
                libc::iovec {
                    iov_base: frame.as_ptr() as *mut libc::c_void,
                    iov_len: frame.len(),
                }
            })
            .collect();
        // SAFETY: zeroed mmsghdr is valid; each points at one iovec that outlives the call.
        let mut messages: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iov| {
                let mut msg: libc::mmsghdr = unsafe { std::mem::zeroed() };
                msg.msg_hdr.msg_iov = iov;
                msg.msg_hdr.msg_iovlen = 1;
                msg
            })
            .collect();
        // SAFETY: messages is a valid array of messages.len() entries.
        let rc = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                messages.as_mut_ptr(),
                messages.len() as u32,
                0,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => Ok(0),
                _ => Err(err),
            };
        }
        Ok(rc as usize)
    }

    fn name(&self) -> &'static str {
        "AF_PACKET"
    }
}

/// A packet socket whose reads wait on the tokio loop.
pub struct PacketSocket {
    fd: AsyncFd<RawPacketSocket>,
}

impl PacketSocket {
    /// Opens a raw socket (see [`RawPacketSocket::open`]) and registers it with tokio.
    /// Must be called on the tokio runtime.
    pub fn open(ifindex: u32, ethertype: u16) -> Result<Self> {
        let socket = RawPacketSocket::open(ifindex, ethertype)?;
        // SAFETY: the socket owns an open descriptor, the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register(socket) }
            .context("registering the packet socket with tokio")?;
        Ok(Self { fd })
    }

    /// Sends one frame.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.fd.get_ref().send_frame(frame)
    }

    /// Waits for the next frame and copies it into `buf`, returning its length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|socket| socket.get_ref().recv_now(buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// As [`Self::recv`], with when the kernel received the frame (its timestamp,
    /// `SIOCGSTAMPNS`; now, where it has none): a frame may wait in the socket's
    /// queue for a while before it is read.
    pub async fn recv_stamped(&self, buf: &mut [u8]) -> io::Result<(usize, SystemTime)> {
        let len = self.recv(buf).await?;
        let mut stamp = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: SIOCGSTAMPNS writes one timespec to the pointer given.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCGSTAMPNS, &mut stamp) };
        let arrived = if rc == 0 {
            super::kernel_time(stamp.tv_sec, stamp.tv_nsec)
        } else {
            SystemTime::now()
        };
        Ok((len, arrived))
    }
}

impl FrameSender for PacketSocket {
    fn send(&mut self, batch: &FrameBatch) -> io::Result<usize> {
        self.fd.get_mut().send(batch)
    }

    fn name(&self) -> &'static str {
        "AF_PACKET"
    }
}
