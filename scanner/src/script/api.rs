//! The native half of the script API, with nmap's names: `nmap.new_socket()` (TCP,
//! UDP and TLS sockets whose blocking-looking calls suspend the script's coroutine
//! until tokio has the answer), `nmap.clock_ms`, `nmap.registry`,
//! `nmap.set_port_state`/`set_port_version`, the waiting under `nmap.condvar` and
//! `nmap.mutex`, and `stdnse.sleep`,
//! `get_script_args`, `debug`/`verbose`. The rest (`shortport`, output tables) is
//! Lua, in `prelude.lua`.
//!
//! A TLS socket also gives the server's certificate (`get_ssl_certificate`).
//!
//! A socket connects only to the scan's targets: a script cannot reach an address
//! the user did not name, nor one the user excluded.

use crate::service::tls;
use crate::target::TargetSet;
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, UserData, UserDataMethods, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;

/// nmap's default socket timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a socket keeps unread (a script reading an endless stream is cut here).
const MAX_BUFFER: usize = 1 << 20;
/// The longest a socket timeout or a sleep may be.
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// The most port changes (`nmap.set_port_state`, `set_port_version`) kept.
const MAX_UPDATES: usize = 1 << 16;

/// What a script changed about a port (`nmap.set_port_state`, `set_port_version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortUpdate {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub proto: String,
    pub change: PortChange,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortChange {
    State(String),
    Version {
        name: Option<String>,
        product: Option<String>,
        version: Option<String>,
        extrainfo: Option<String>,
    },
}

/// What the native API shares with the engine.
#[derive(Debug, Default)]
pub struct Shared {
    /// Where sockets may connect.
    pub targets: TargetSet,
    /// `--script-args`.
    pub args: BTreeMap<String, String>,
    /// `-d` level, for `stdnse.debug`.
    pub debug: u8,
    /// `-v` level, for `stdnse.verbose`.
    pub verbose: u8,
    pub updates: Vec<PortUpdate>,
    /// Coroutines waiting on a condition variable or mutex, by its id (in order).
    pub waiters: HashMap<u64, VecDeque<oneshot::Sender<()>>>,
}

impl Shared {
    /// Wakes the first waiter on `id`, or all of them.
    fn wake(&mut self, id: u64, all: bool) {
        let Some(queue) = self.waiters.get_mut(&id) else {
            return;
        };
        // A waiter whose script has gone (timed out) no longer listens: skip it.
        while let Some(waiter) = queue.pop_front() {
            if waiter.send(()).is_ok() && !all {
                break;
            }
        }
        if queue.is_empty() {
            self.waiters.remove(&id);
        }
    }
}

enum Conn {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Udp(UdpSocket),
}

/// An NSE socket.
struct Socket {
    conn: Option<Conn>,
    timeout: Duration,
    /// Bytes received and not yet handed to the script.
    buffer: Vec<u8>,
    shared: Rc<RefCell<Shared>>,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    /// `nmap.new_socket(proto)`'s protocol, for a connect that names none.
    proto: Option<String>,
    /// `string.find` as it was when the API was installed (`receive_buf`'s
    /// delimiter is a Lua pattern): what a script does to its globals later
    /// cannot change it.
    find: mlua::Function,
}

/// NSE's `false, "message"` pair.
fn failure(lua: &Lua, message: &str) -> mlua::Result<MultiValue> {
    (false, lua.create_string(message)?).into_lua_multi(lua)
}

/// The address of a host argument: a host table (`host.ip`) or a string.
fn address_of(value: &Value) -> Option<Ipv4Addr> {
    match value {
        Value::Table(t) => t.get::<String>("ip").ok()?.parse().ok(),
        Value::String(s) => s.to_str().ok()?.parse().ok(),
        _ => None,
    }
}

/// The number of a port argument: a port table (`port.number`) or a number.
fn port_of(value: &Value) -> Option<u16> {
    match value {
        Value::Table(t) => t.get::<u16>("number").ok(),
        Value::Integer(n) => u16::try_from(*n).ok(),
        Value::Number(n) if n.fract() == 0.0 && (0.0..=65535.0).contains(n) => Some(*n as u16),
        _ => None,
    }
}

/// A duration a script gave in `unit`s (1.0 for seconds, 0.001 for milliseconds):
/// a number, at least 0, at most [`MAX_WAIT`]; anything else (NaN, a string) is an
/// error that names `what`.
pub fn duration_of(value: &Value, unit: f64, what: &str) -> mlua::Result<Duration> {
    let n = match value {
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        _ => f64::NAN,
    };
    if n.is_nan() {
        let given = match value {
            Value::Number(_) => "NaN".to_string(),
            other => format!("a {}", other.type_name()),
        };
        return Err(mlua::Error::runtime(format!(
            "{what}: a number is needed, not {given}"
        )));
    }
    let seconds = (n * unit).clamp(0.0, MAX_WAIT.as_secs_f64());
    Ok(Duration::try_from_secs_f64(seconds).unwrap_or(MAX_WAIT))
}

/// The span `string.find` reported (1-based `start`, `end` inclusive) as a byte
/// range of `len` bytes, if it is one (a replaced or broken find may say anything).
fn found_span(start: Option<i64>, end: Option<i64>, len: usize) -> Option<(usize, usize)> {
    let start = usize::try_from(start?).ok()?;
    let end = usize::try_from(end?).ok()?;
    (start >= 1 && end <= len && start <= end + 1).then(|| (start - 1, end))
}

async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    out.extend_from_slice(&chunk[..n]);
    Ok(n)
}

async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, data: &[u8]) -> std::io::Result<()> {
    stream.write_all(data).await
}

impl Socket {
    /// Reads once more into the buffer: Ok(false) at the end of the stream.
    async fn fill(&mut self) -> Result<bool, &'static str> {
        if self.buffer.len() >= MAX_BUFFER {
            return Err("ERROR: receive buffer full");
        }
        let timeout = self.timeout;
        let buffer = &mut self.buffer;
        let read = async {
            match self.conn.as_mut() {
                Some(Conn::Tcp(s)) => read_some(s, buffer).await,
                Some(Conn::Tls(s)) => read_some(s.as_mut(), buffer).await,
                Some(Conn::Udp(s)) => {
                    let mut datagram = vec![0u8; 65536];
                    let n = s.recv(&mut datagram).await?;
                    buffer.extend_from_slice(&datagram[..n]);
                    Ok(n.max(1))
                }
                None => Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "")),
            }
        };
        match tokio::time::timeout(timeout, read).await {
            Err(_) => Err("TIMEOUT"),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotConnected => {
                Err("ERROR: not connected")
            }
            Ok(Err(_)) => Err("EOF"),
        }
    }

    /// Hands the script `n` bytes of the buffer (all of it for `None`).
    fn take(&mut self, lua: &Lua, n: Option<usize>) -> mlua::Result<MultiValue> {
        let n = n.unwrap_or(self.buffer.len()).min(self.buffer.len());
        let data: Vec<u8> = self.buffer.drain(..n).collect();
        (true, lua.create_string(&data)?).into_lua_multi(lua)
    }

    /// Fills the buffer until `enough` says so, or the stream ends with some data.
    async fn receive_until(
        &mut self,
        lua: &Lua,
        enough: impl Fn(&[u8]) -> Option<usize>,
    ) -> mlua::Result<MultiValue> {
        loop {
            if let Some(n) = enough(&self.buffer) {
                return self.take(lua, Some(n));
            }
            match self.fill().await {
                Ok(true) => {}
                Ok(false) if !self.buffer.is_empty() => return self.take(lua, None),
                Ok(false) => return failure(lua, "EOF"),
                Err(_) if !self.buffer.is_empty() => return self.take(lua, None),
                Err(message) => return failure(lua, message),
            }
        }
    }
}

impl UserData for Socket {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method_mut(
            "connect",
            |lua, mut this, (host, port, proto): (Value, Value, Option<String>)| async move {
                let port_table = port.clone();
                let (Some(addr), Some(port)) = (address_of(&host), port_of(&port)) else {
                    return failure(&lua, "ERROR: connect wants a host and a port");
                };
                if !this.shared.borrow().targets.contains(addr) {
                    return failure(&lua, "ERROR: the address is not one of the scan's targets");
                }
                let peer = SocketAddr::from((addr, port));
                let timeout = this.timeout;
                // nmap's order: the argument, the port table's protocol, the socket's.
                let from_table = match &port_table {
                    Value::Table(t) => t.get::<Option<String>>("protocol").ok().flatten(),
                    _ => None,
                };
                let proto = proto
                    .or(from_table)
                    .or_else(|| this.proto.clone())
                    .unwrap_or_else(|| "tcp".into());
                let conn = match proto.as_str() {
                    "udp" => {
                        let socket = UdpSocket::bind(("0.0.0.0", 0)).await;
                        match socket {
                            Ok(s) if s.connect(peer).await.is_ok() => Conn::Udp(s),
                            _ => return failure(&lua, "ERROR: UDP socket"),
                        }
                    }
                    "tcp" | "ssl" => {
                        let stream =
                            match tokio::time::timeout(timeout, TcpStream::connect(peer)).await {
                                Err(_) => return failure(&lua, "TIMEOUT"),
                                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                                    return failure(&lua, "ERROR: connection refused")
                                }
                                Ok(Err(_)) => return failure(&lua, "ERROR: connect failed"),
                                Ok(Ok(s)) => s,
                            };
                        if proto == "tcp" {
                            Conn::Tcp(stream)
                        } else {
                            match tls::connect(peer, stream).await {
                                Some(session) => Conn::Tls(Box::new(session)),
                                None => return failure(&lua, "ERROR: TLS handshake failed"),
                            }
                        }
                    }
                    other => return failure(&lua, &format!("ERROR: unknown protocol {other}")),
                };
                this.local = match &conn {
                    Conn::Tcp(s) => s.local_addr().ok(),
                    Conn::Tls(s) => s.get_ref().0.local_addr().ok(),
                    Conn::Udp(s) => s.local_addr().ok(),
                };
                this.peer = Some(peer);
                this.conn = Some(conn);
                this.buffer.clear();
                true.into_lua_multi(&lua)
            },
        );
        methods.add_async_method_mut("send", |lua, mut this, data: mlua::String| async move {
            let data = data.as_bytes().to_vec();
            let sent = match this.conn.as_mut() {
                Some(Conn::Tcp(s)) => write_all(s, &data).await.is_ok(),
                Some(Conn::Tls(s)) => write_all(s.as_mut(), &data).await.is_ok(),
                Some(Conn::Udp(s)) => s.send(&data).await.is_ok(),
                None => return failure(&lua, "ERROR: not connected"),
            };
            if sent {
                true.into_lua_multi(&lua)
            } else {
                failure(&lua, "ERROR: send failed")
            }
        });
        methods.add_async_method_mut("receive", |lua, mut this, ()| async move {
            this.receive_until(&lua, |b| (!b.is_empty()).then_some(b.len()))
                .await
        });
        methods.add_async_method_mut("receive_bytes", |lua, mut this, n: usize| async move {
            this.receive_until(&lua, |b| (b.len() >= n.max(1)).then_some(b.len()))
                .await
        });
        methods.add_async_method_mut("receive_lines", |lua, mut this, n: usize| async move {
            this.receive_until(&lua, |b| {
                let lines = b.iter().filter(|&&c| c == b'\n').count();
                (lines >= n.max(1)).then_some(b.len())
            })
            .await
        });
        methods.add_async_method_mut(
            "receive_buf",
            |lua, mut this, (delimiter, keep): (String, Option<bool>)| async move {
                // The delimiter is a Lua pattern, found by string.find.
                let find = this.find.clone();
                loop {
                    let text = lua.create_string(&this.buffer)?;
                    let (start, end): (Option<i64>, Option<i64>) =
                        find.call((text, delimiter.as_str()))?;
                    if let Some((before, end)) = found_span(start, end, this.buffer.len()) {
                        let upto = if keep.unwrap_or(false) { end } else { before };
                        let data: Vec<u8> = this.buffer[..upto].to_vec();
                        this.buffer.drain(..end);
                        return (true, lua.create_string(&data)?).into_lua_multi(&lua);
                    }
                    match this.fill().await {
                        Ok(true) => {}
                        Ok(false) => return failure(&lua, "EOF"),
                        Err(message) => return failure(&lua, message),
                    }
                }
            },
        );
        methods.add_method_mut("set_timeout", |_, this, ms: Value| {
            this.timeout = duration_of(&ms, 0.001, "set_timeout (milliseconds)")?
                .max(Duration::from_millis(1));
            Ok(())
        });
        methods.add_method("get_info", |lua, this, ()| match (this.local, this.peer) {
            (Some(local), Some(peer)) => (
                true,
                local.ip().to_string(),
                local.port(),
                peer.ip().to_string(),
                peer.port(),
            )
                .into_lua_multi(lua),
            _ => failure(lua, "ERROR: not connected"),
        });
        methods.add_method("get_ssl_certificate", |lua, this, ()| {
            let Some(Conn::Tls(session)) = &this.conn else {
                return Ok(Value::Nil);
            };
            let Some(cert) = tls::certificate_of(session) else {
                return Ok(Value::Nil);
            };
            // NSE's shape: subject and issuer by attribute name, pubkey, validity.
            let table = lua.create_table()?;
            for (key, fields) in [
                ("subject", &cert.subject_fields),
                ("issuer", &cert.issuer_fields),
            ] {
                let name = lua.create_table()?;
                for (attribute, value) in fields {
                    name.set(attribute.as_str(), value.as_str())?;
                }
                table.set(key, name)?;
            }
            table.set("subject_text", cert.subject)?;
            table.set("issuer_text", cert.issuer)?;
            table.set("protocol", cert.protocol)?;
            let pubkey = lua.create_table()?;
            pubkey.set("type", cert.key_type)?;
            pubkey.set("bits", cert.key_bits)?;
            table.set("pubkey", pubkey)?;
            table.set("sig_algorithm", cert.signature_algorithm)?;
            table.set("alt_names", cert.alt_names)?;
            table.set("md5", cert.md5)?;
            table.set("sha1", cert.sha1)?;
            let validity = lua.create_table()?;
            validity.set("notBefore", cert.not_before)?;
            validity.set("notAfter", cert.not_after)?;
            table.set("validity", validity)?;
            Ok(Value::Table(table))
        });
        methods.add_method_mut("close", |lua, this, ()| {
            this.conn = None;
            this.buffer.clear();
            true.into_lua_multi(lua)
        });
    }
}

/// An error once a script has asked for [`MAX_UPDATES`] port changes.
fn too_many_updates(shared: &RefCell<Shared>) -> mlua::Result<()> {
    if shared.borrow().updates.len() >= MAX_UPDATES {
        return Err(mlua::Error::runtime(format!(
            "more than {MAX_UPDATES} port changes: refused"
        )));
    }
    Ok(())
}

/// Installs the `nmap` and `stdnse` natives into `lua`'s globals (taking
/// `string.find` and `string.format` as they are now).
pub fn install(lua: &Lua, shared: Rc<RefCell<Shared>>) -> mlua::Result<()> {
    let string: Table = lua.globals().get("string")?;
    let find: mlua::Function = string.get("find")?;
    let format: mlua::Function = string.get("format")?;
    let nmap = lua.create_table()?;
    let for_sockets = shared.clone();
    nmap.set(
        "new_socket",
        lua.create_function(move |_, proto: Option<String>| {
            Ok(Socket {
                find: find.clone(),
                proto,
                conn: None,
                timeout: DEFAULT_TIMEOUT,
                buffer: Vec::new(),
                shared: for_sockets.clone(),
                local: None,
                peer: None,
            })
        })?,
    )?;
    nmap.set(
        "clock_ms",
        lua.create_function(|_, ()| Ok(crate::text::unix_time() * 1000.0))?,
    )?;
    nmap.set("registry", lua.create_table()?)?;
    let for_state = shared.clone();
    nmap.set(
        "set_port_state",
        lua.create_function(move |_, (host, port, state): (Value, Table, String)| {
            if let Some(addr) = address_of(&host) {
                too_many_updates(&for_state)?;
                for_state.borrow_mut().updates.push(PortUpdate {
                    addr,
                    port: port.get("number")?,
                    proto: port.get("protocol")?,
                    change: PortChange::State(state),
                });
            }
            Ok(())
        })?,
    )?;
    let for_version = shared.clone();
    nmap.set(
        "set_port_version",
        lua.create_function(move |_, (host, port): (Value, Table)| {
            if let Some(addr) = address_of(&host) {
                too_many_updates(&for_version)?;
                let version: Table = port.get("version")?;
                for_version.borrow_mut().updates.push(PortUpdate {
                    addr,
                    port: port.get("number")?,
                    proto: port.get("protocol")?,
                    change: PortChange::Version {
                        name: version.get("name")?,
                        product: version.get("product")?,
                        version: version.get("version")?,
                        extrainfo: version.get("extrainfo")?,
                    },
                });
            }
            Ok(())
        })?,
    )?;
    let levels = shared.clone();
    nmap.set(
        "debugging",
        lua.create_function(move |_, ()| Ok(levels.borrow().debug))?,
    )?;
    let levels = shared.clone();
    nmap.set(
        "verbosity",
        lua.create_function(move |_, ()| Ok(levels.borrow().verbose))?,
    )?;
    // The natives under nmap.condvar and nmap.mutex (prelude.lua): wait on an id
    // until woken, and wake one or all waiters of an id.
    let for_wait = shared.clone();
    nmap.set(
        "__wait",
        lua.create_async_function(move |_, id: u64| {
            let (tx, rx) = oneshot::channel();
            for_wait
                .borrow_mut()
                .waiters
                .entry(id)
                .or_default()
                .push_back(tx);
            async move {
                let _ = rx.await;
                Ok(())
            }
        })?,
    )?;
    let for_wake = shared.clone();
    nmap.set(
        "__wake",
        lua.create_function(move |_, (id, all): (u64, bool)| {
            for_wake.borrow_mut().wake(id, all);
            Ok(())
        })?,
    )?;
    lua.globals().set("nmap", nmap)?;

    let stdnse = lua.create_table()?;
    stdnse.set(
        "sleep",
        lua.create_async_function(|_, seconds: Value| async move {
            let wait = duration_of(&seconds, 1.0, "stdnse.sleep (seconds)")?;
            tokio::time::sleep(wait).await;
            Ok(())
        })?,
    )?;
    let for_args = shared.clone();
    // These take the script's name first; each script's own `stdnse` binds it.
    stdnse.set(
        "__get_script_args",
        lua.create_function(move |lua, mut names: MultiValue| {
            let args = &for_args.borrow().args;
            let script: Option<String> = match names.pop_front() {
                Some(Value::String(s)) => Some(s.to_str()?.to_string()),
                _ => None,
            };
            let mut out = Vec::new();
            for name in names {
                let name = match name {
                    Value::String(s) => s.to_str()?.to_string(),
                    _ => {
                        out.push(Value::Nil);
                        continue;
                    }
                };
                let qualified = script.as_ref().map(|s| format!("{s}.{name}"));
                let value = qualified
                    .and_then(|q| args.get(&q).cloned())
                    .or_else(|| args.get(&name).cloned());
                out.push(match value {
                    Some(v) => Value::String(lua.create_string(&v)?),
                    None => Value::Nil,
                });
            }
            Ok(MultiValue::from_vec(out))
        })?,
    )?;
    for (name, is_debug) in [("__debug", true), ("__verbose", false)] {
        let levels = shared.clone();
        let format = format.clone();
        stdnse.set(
            name,
            lua.create_function(move |_, args: MultiValue| {
                let mut args: Vec<Value> = args.into_vec();
                let script = match args.first() {
                    Some(Value::String(s)) => s.to_str()?.to_string(),
                    _ => String::new(),
                };
                if !args.is_empty() {
                    args.remove(0);
                }
                let level = match args.first() {
                    Some(Value::Integer(n)) => {
                        let n = *n;
                        args.remove(0);
                        n
                    }
                    _ => 1,
                };
                let shared = levels.borrow();
                let current = if is_debug {
                    shared.debug
                } else {
                    shared.verbose
                };
                if i64::from(current) >= level && !args.is_empty() {
                    let line: mlua::String = format.call(MultiValue::from_vec(args))?;
                    let line = line.to_string_lossy();
                    eprintln!("scanner: script {script}: {line}");
                }
                Ok(())
            })?,
        )?;
    }
    lua.globals().set("stdnse", stdnse)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_broken_find_says_is_checked() {
        assert_eq!(found_span(Some(3), Some(4), 10), Some((2, 4)));
        // An empty match at the end, and right at the start.
        assert_eq!(found_span(Some(11), Some(10), 10), Some((10, 10)));
        assert_eq!(found_span(Some(1), Some(0), 10), Some((0, 0)));
        for (start, end) in [
            (Some(0), Some(99)),
            (Some(5), Some(11)),
            (Some(-1), Some(2)),
        ] {
            assert_eq!(found_span(start, end, 10), None, "{start:?} {end:?}");
        }
        assert_eq!(found_span(Some(6), Some(3), 10), None);
        assert_eq!(found_span(None, Some(3), 10), None);
    }

    #[test]
    fn durations_from_scripts() {
        let secs = |v: Value| duration_of(&v, 1.0, "sleep");
        assert!(secs(Value::Number(f64::NAN)).is_err());
        assert!(secs(Value::Boolean(true)).is_err());
        assert_eq!(secs(Value::Number(-1.0)).unwrap(), Duration::ZERO);
        assert_eq!(secs(Value::Number(f64::INFINITY)).unwrap(), MAX_WAIT);
        assert_eq!(secs(Value::Integer(i64::MAX)).unwrap(), MAX_WAIT);
        assert_eq!(
            duration_of(&Value::Integer(1500), 0.001, "t").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(port_of(&Value::Number(f64::NAN)), None);
        assert_eq!(port_of(&Value::Number(80.0)), Some(80));
        assert_eq!(port_of(&Value::Number(80.5)), None);
    }
}
