//! Running scripts: one Lua 5.4 state on the scan's tokio loop, each script loaded
//! into an environment of its own, its rules asked (`prerule` once before the scan,
//! `hostrule`/`portrule` of every host and open port, `postrule` once after), and
//! each selected (script, target) pair run as a Lua coroutine, beside the threads
//! scripts start (`stdnse.new_thread`). A coroutine that calls a socket, a capture,
//! a mutex or condition variable, or `stdnse.sleep` is suspended until tokio has the
//! answer, so thousands wait at once; `--max-script-threads` bounds how many
//! instances are out.
//!
//! Containment: an error ends that instance only (reported, the scan goes on); a
//! script that runs [`SLICE_LIMIT`] without waiting on anything is stopped by an
//! instruction hook; `--script-timeout` bounds an instance's whole run; and the
//! state's memory is capped ([`MEMORY_LIMIT`]), so a script that allocates without
//! end fails its own allocation.

use super::api::{self, PortChange, Shared};
use super::output::ScriptOutput;
use super::raw::{self, RawAccess, RawSlot};
use super::select::{self, Expr};
use super::BUILT_IN_SCRIPTS;
use crate::report::ScriptSubject;
use crate::report::{HostResult, PortState, ScanResult};
use crate::target::TargetSet;
use anyhow::{bail, Context, Result};
use futures_util::stream::{FuturesUnordered, StreamExt};
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a script may run without waiting on the network or a timer.
pub const SLICE_LIMIT: Duration = Duration::from_secs(2);
/// The scripting state's memory cap.
pub const MEMORY_LIMIT: usize = 512 << 20;

/// How scripts run.
#[derive(Clone, Debug, Default)]
pub struct ScriptOptions {
    /// `--script` (`-sC` is `default`).
    pub spec: String,
    /// `--script-args`, merged with `--script-args-file`.
    pub args: BTreeMap<String, String>,
    /// `--script-timeout`: the longest one instance may run.
    pub timeout: Option<Duration>,
    /// `--max-script-threads`.
    pub max_threads: usize,
    /// Where sockets may connect: the scan's targets less its exclusions.
    pub targets: TargetSet,
    pub debug: u8,
    pub verbose: u8,
}

/// One loaded script.
struct Script {
    id: String,
    description: String,
    categories: Vec<String>,
    env: Table,
}

/// One script to run before or after the scan, on one host, or on one of its ports.
struct Instance {
    /// Index into the engine's scripts.
    script: usize,
    subject: ScriptSubject,
    /// What its action is called with: the host table, then the port table.
    args: Vec<Value>,
}

/// The scan phases without targets that scripts run in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `prerule` scripts, before host discovery.
    PreScan,
    /// `postrule` scripts, after every host is done.
    PostScan,
}

/// A thread `stdnse.new_thread` started: its script's id and its run.
type Thread = (
    String,
    Pin<Box<dyn Future<Output = mlua::Result<MultiValue>>>>,
);

/// What the engine waits on: an instance or a thread, to its end.
type Running<'a> = Pin<Box<dyn Future<Output = Finished> + 'a>>;

enum Finished {
    Instance(usize, ScriptSubject, mlua::Result<MultiValue>),
    Thread(String, mlua::Result<MultiValue>),
}

/// A script's source: its id and text.
pub struct Source {
    pub id: String,
    pub text: String,
}

/// The scripts a `--script` item names as a file or folder, else `None`.
fn sources_at(item: &str) -> Result<Option<Vec<Source>>> {
    let path = Path::new(item);
    let read = |path: &Path| -> Result<Source> {
        Ok(Source {
            id: path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("script")
                .to_string(),
            text: std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the script {}", path.display()))?,
        })
    };
    if path.is_file() {
        return Ok(Some(vec![read(path)?]));
    }
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "nse" || x == "lua"))
            .collect();
        files.sort();
        return Ok(Some(files.iter().map(|p| read(p)).collect::<Result<_>>()?));
    }
    Ok(None)
}

/// The scripting state, with the API and the scripts `--script` selects.
pub struct Engine {
    lua: Lua,
    scripts: Vec<Script>,
    shared: Rc<RefCell<Shared>>,
    opts: ScriptOptions,
    /// When the running coroutine last resumed (the hook's clock).
    slice_started: Rc<Cell<Instant>>,
    /// Makes a script's coroutine, hooked ([`Engine::coroutine_maker`]).
    coroutine_create: Function,
    /// The scan's raw access, while scripts run on a raw-packet scan.
    raw: RawSlot,
    /// Threads `stdnse.new_thread` started, for [`Engine::execute`] to run.
    threads: tokio::sync::Mutex<mpsc::UnboundedReceiver<Thread>>,
}

impl Engine {
    /// Builds the state and loads the selected scripts. Errors name the bad item
    /// or script.
    pub fn new(opts: ScriptOptions) -> Result<Self> {
        let (lua, shared, raw, slice_started) = Self::state(&opts).map_err(lua_error)?;
        let coroutine_create =
            Self::coroutine_maker(&lua, slice_started.clone()).map_err(lua_error)?;
        let (thread_starts, threads) = mpsc::unbounded_channel();
        Self::install_new_thread(
            &lua,
            coroutine_create.clone(),
            slice_started.clone(),
            opts.timeout,
            thread_starts,
        )
        .map_err(lua_error)?;
        let mut engine = Engine {
            lua,
            scripts: Vec::new(),
            shared,
            opts,
            slice_started,
            coroutine_create,
            raw,
            threads: tokio::sync::Mutex::new(threads),
        };
        engine.load_selected()?;
        Ok(engine)
    }

    /// The Lua state: the safe standard libraries, the API, the prelude, the memory
    /// cap and the hook that stops a script that never waits.
    #[allow(clippy::type_complexity)]
    fn state(
        opts: &ScriptOptions,
    ) -> mlua::Result<(Lua, Rc<RefCell<Shared>>, RawSlot, Rc<Cell<Instant>>)> {
        let libs = StdLib::TABLE
            | StdLib::STRING
            | StdLib::MATH
            | StdLib::UTF8
            | StdLib::COROUTINE
            | StdLib::OS
            | StdLib::DEBUG;
        // SAFETY: the debug library is taken out of the globals below, before any
        // script runs; only the engine keeps its sethook (see `make_coroutine`).
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        // No process control or files from scripts: only the clock of `os`.
        let os: Table = lua.globals().get("os")?;
        for unsafe_fn in [
            "execute",
            "exit",
            "remove",
            "rename",
            "tmpname",
            "getenv",
            "setlocale",
        ] {
            os.set(unsafe_fn, Value::Nil)?;
        }
        let shared = Rc::new(RefCell::new(Shared {
            targets: opts.targets.clone(),
            args: opts.args.clone(),
            debug: opts.debug,
            verbose: opts.verbose,
            ..Default::default()
        }));
        api::install(&lua, shared.clone())?;
        let raw = RawSlot::default();
        raw::install(&lua, raw.clone())?;
        lua.load(include_str!("prelude.lua"))
            .set_name("prelude")
            .exec()?;
        lua.set_memory_limit(MEMORY_LIMIT)?;
        let slice_started = Rc::new(Cell::new(Instant::now()));
        let clock = slice_started.clone();
        lua.set_hook(HOOK_EVERY, move |_, _| {
            slice_check(&clock).map(|()| VmState::Continue)
        });
        Ok((lua, shared, raw, slice_started))
    }

    /// A function that makes a script's coroutine with the slice check as its own
    /// Lua hook (coroutines do not inherit the main state's hook, and mlua keeps
    /// one Rust hook per state). The debug library leaves the globals here.
    fn coroutine_maker(lua: &Lua, clock: Rc<Cell<Instant>>) -> mlua::Result<Function> {
        let check = lua.create_function(move |_, _: MultiValue| slice_check(&clock))?;
        let debug: Table = lua.globals().get("debug")?;
        let sethook: Function = debug.get("sethook")?;
        lua.globals().set("debug", Value::Nil)?;
        lua.load(
            "local sethook, check = ...
             return function(f)
               local co = coroutine.create(f)
               sethook(co, check, '', 10000)
               return co
             end",
        )
        .set_name("engine")
        .call((sethook, check))
    }

    /// `stdnse.__new_thread(id, f, ...)`: starts `f(...)` as a coroutine of script
    /// `id` that runs beside the instances (see `stdnse.new_thread` in the prelude).
    fn install_new_thread(
        lua: &Lua,
        create: Function,
        clock: Rc<Cell<Instant>>,
        timeout: Option<Duration>,
        starts: mpsc::UnboundedSender<Thread>,
    ) -> mlua::Result<()> {
        let stdnse: Table = lua.globals().get("stdnse")?;
        stdnse.set(
            "__new_thread",
            lua.create_function(move |_, (id, f, args): (String, Function, MultiValue)| {
                let (thread, run) = start_coroutine(&create, &clock, timeout, f, args)?;
                starts
                    .send((id, Box::pin(run)))
                    .map_err(|_| mlua::Error::runtime("the script engine has stopped"))?;
                Ok(thread)
            })?,
        )
    }

    /// Loads every script `--script` names: built-in ones by name, category, glob or
    /// expression; files and folders as given.
    fn load_selected(&mut self) -> Result<()> {
        let mut expressions: Vec<Expr> = Vec::new();
        let mut sources: Vec<Source> = BUILT_IN_SCRIPTS
            .iter()
            .map(|(id, text)| Source {
                id: id.to_string(),
                text: text.to_string(),
            })
            .collect();
        let mut named_files = Vec::new();
        let items = select::items(&self.opts.spec);
        for item in &items {
            match sources_at(item)? {
                Some(found) => {
                    named_files.extend(found.iter().map(|s| s.id.clone()));
                    sources.extend(found);
                }
                None => expressions.push(select::parse(item)?),
            }
        }
        for source in sources {
            let script = self
                .load(&source)
                .map_err(lua_error)
                .with_context(|| format!("loading script {}", source.id))?;
            let chosen = named_files.contains(&script.id)
                || expressions
                    .iter()
                    .any(|e| e.selects(&script.id, &script.categories));
            if chosen && !self.scripts.iter().any(|s| s.id == script.id) {
                // A script the user named (not one a category brought in) says
                // more, as in nmap: its nmap.verbosity() is one higher.
                let named = named_files.contains(&script.id)
                    || items
                        .iter()
                        .any(|i| *i == script.id || *i == format!("{}.nse", script.id));
                if named {
                    self.raise_verbosity(&script).map_err(lua_error)?;
                }
                self.scripts.push(script);
            }
        }
        if self.scripts.is_empty() {
            bail!(
                "--script {:?} selects no script (built in: {})",
                self.opts.spec,
                BUILT_IN_SCRIPTS
                    .iter()
                    .map(|(id, _)| *id)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    }

    /// Gives `script` an `nmap` whose `verbosity()` is one above the scan's.
    fn raise_verbosity(&self, script: &Script) -> mlua::Result<()> {
        let own: Table = self
            .lua
            .load(
                "local base = ...
                 local n = setmetatable({}, { __index = base })
                 n.verbosity = function() return base.verbosity() + 1 end
                 return n",
            )
            .call(self.lua.globals().get::<Table>("nmap")?)?;
        script.env.set("nmap", own)
    }

    /// Runs a script's file in an environment of its own and reads its fields.
    fn load(&self, source: &Source) -> mlua::Result<Script> {
        let lua = &self.lua;
        let env = lua.create_table()?;
        let meta = lua.create_table()?;
        meta.set("__index", lua.globals())?;
        env.set_metatable(Some(meta));
        env.set("SCRIPT_NAME", source.id.as_str())?;
        // The script's own stdnse knows its name (for script arguments and messages).
        let bind: Function = lua
            .load(
                "local id, base = ...
                 local s = setmetatable({}, { __index = base })
                 s.get_script_args = function(...) return base.__get_script_args(id, ...) end
                 s.debug = function(...) return base.__debug(id, ...) end
                 s.verbose = function(...) return base.__verbose(id, ...) end
                 s.new_thread = base.__thread_starter(id)
                 return s",
            )
            .into_function()?;
        let own_stdnse: Table =
            bind.call((source.id.as_str(), lua.globals().get::<Table>("stdnse")?))?;
        env.set("stdnse", own_stdnse.clone())?;
        let require: Function = lua.globals().get("require")?;
        let own_require = lua.create_function(move |_, name: String| {
            if name == "stdnse" {
                Ok(Value::Table(own_stdnse.clone()))
            } else {
                require.call::<Value>(name)
            }
        })?;
        env.set("require", own_require)?;
        self.slice_started.set(Instant::now());
        lua.load(&source.text)
            .set_name(format!("@{}.nse", source.id))
            .set_environment(env.clone())
            .exec()?;
        let action: Value = env.get("action")?;
        if !matches!(action, Value::Function(_)) {
            return Err(mlua::Error::runtime("it has no action function"));
        }
        let categories: Vec<String> = match env.get::<Value>("categories")? {
            Value::Table(t) => t.sequence_values::<String>().collect::<mlua::Result<_>>()?,
            _ => Vec::new(),
        };
        Ok(Script {
            id: source.id.clone(),
            description: env
                .get::<Option<String>>("description")?
                .unwrap_or_default(),
            categories,
            env,
        })
    }

    /// Gives scripts raw packets (`rawpacket`) through `access`, or takes them away.
    pub fn set_raw_access(&self, access: Option<Rc<RawAccess>>) {
        *self.raw.borrow_mut() = access;
    }

    /// The selected scripts' ids, categories and descriptions (`--script-help`).
    pub fn help(&self) -> String {
        let mut out = String::new();
        for script in &self.scripts {
            out.push_str(&format!(
                "{}\nCategories: {}\n  {}\n\n",
                script.id,
                script.categories.join(" "),
                script.description.trim().replace('\n', "\n  ")
            ));
        }
        out
    }

    /// Runs the `prerule` (before the scan) or `postrule` (after it) scripts and
    /// records what they said in `result`.
    pub async fn run_phase(
        &self,
        phase: Phase,
        result: &mut ScanResult,
        notice: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let (rule, subject) = match phase {
            Phase::PreScan => ("prerule", ScriptSubject::PreScan),
            Phase::PostScan => ("postrule", ScriptSubject::PostScan),
        };
        let instances: Vec<Instance> = (0..self.scripts.len())
            .filter(|&index| self.rule_holds(&self.scripts[index], rule, (), notice))
            .map(|script| Instance {
                script,
                subject,
                args: Vec::new(),
            })
            .collect();
        self.execute(instances, result, notice).await
    }

    /// Runs the host and port scripts on `hosts` of `result`, and records what they
    /// said (and the port changes they asked for) in it. Instances that fail are
    /// reported through `notice`.
    pub async fn run(
        &self,
        result: &mut ScanResult,
        hosts: &[Ipv4Addr],
        notice: &mut dyn FnMut(&str),
    ) -> Result<()> {
        // Which instances run: each script's rules, asked of each host and port.
        let mut instances: Vec<Instance> = Vec::new();
        for &addr in hosts {
            let Some(host) = result.hosts.get(&addr) else {
                continue;
            };
            let host_table = self.host_table(addr, host).map_err(lua_error)?;
            // The ports scripts see (nmap.get_ports): all but the folded closed and
            // filtered ones, which a -p- scan has by the thousand.
            let mut port_tables = Vec::new();
            let listed = self.lua.create_table().map_err(lua_error)?;
            for ((port, proto), finding) in &host.ports {
                if matches!(finding.state, PortState::Closed | PortState::Filtered) {
                    continue;
                }
                let table = self.port_table(finding).map_err(lua_error)?;
                listed.push(table.clone()).map_err(lua_error)?;
                port_tables.push(((*port, *proto), finding.state, table));
            }
            host_table.set("__ports", listed).map_err(lua_error)?;
            for (index, script) in self.scripts.iter().enumerate() {
                if self.rule_holds(script, "hostrule", (host_table.clone(),), notice) {
                    instances.push(Instance {
                        script: index,
                        subject: ScriptSubject::Host(addr),
                        args: vec![Value::Table(host_table.clone())],
                    });
                }
                for ((port, proto), state, port_table) in &port_tables {
                    if !matches!(state, PortState::Open | PortState::OpenFiltered) {
                        continue;
                    }
                    let port_table = port_table.clone();
                    if self.rule_holds(
                        script,
                        "portrule",
                        (host_table.clone(), port_table.clone()),
                        notice,
                    ) {
                        instances.push(Instance {
                            script: index,
                            subject: ScriptSubject::Port(addr, *port, proto),
                            args: vec![Value::Table(host_table.clone()), Value::Table(port_table)],
                        });
                    }
                }
            }
        }
        self.execute(instances, result, notice).await?;
        // nmap lists a port's (and a host's) scripts by name.
        for addr in hosts {
            if let Some(host) = result.hosts.get_mut(addr) {
                host.scripts.sort_by(|a, b| a.id.cmp(&b.id));
                for finding in host.ports.values_mut() {
                    finding.scripts.sort_by(|a, b| a.id.cmp(&b.id));
                }
            }
        }
        self.apply_updates(result);
        Ok(())
    }

    /// Runs `instances`, a bounded number at once, with the threads they start
    /// (`stdnse.new_thread`), and records their outputs in `result`.
    async fn execute(
        &self,
        instances: Vec<Instance>,
        result: &mut ScanResult,
        notice: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let limit = self.opts.max_threads.max(1);
        let mut pending = instances.into_iter();
        let mut running: FuturesUnordered<Running> = FuturesUnordered::new();
        let mut threads = self.threads.lock().await;
        loop {
            while running.len() < limit {
                let Some(Instance {
                    script: index,
                    subject,
                    args,
                }) = pending.next()
                else {
                    break;
                };
                let script = &self.scripts[index];
                let action: Function = script.env.get("action").map_err(lua_error)?;
                let (_, run) = start_coroutine(
                    &self.coroutine_create,
                    &self.slice_started,
                    self.opts.timeout,
                    action,
                    MultiValue::from_vec(args),
                )
                .map_err(lua_error)?;
                running.push(Box::pin(async move {
                    Finished::Instance(index, subject, run.await)
                }));
            }
            while let Ok((id, thread)) = threads.try_recv() {
                running.push(Box::pin(async move { Finished::Thread(id, thread.await) }));
            }
            if running.is_empty() {
                break;
            }
            let finished = tokio::select! {
                Some(finished) = running.next() => finished,
                Some((id, thread)) = threads.recv() => {
                    running.push(Box::pin(async move { Finished::Thread(id, thread.await) }));
                    continue;
                }
            };
            let (id, subject, outcome) = match finished {
                Finished::Instance(index, subject, outcome) => {
                    let id = self.scripts[index].id.clone();
                    let outcome = outcome.and_then(|v| ScriptOutput::from_lua(&id, v));
                    (id, Some(subject), outcome)
                }
                Finished::Thread(id, outcome) => (id, None, outcome.map(|_| None)),
            };
            match (outcome, subject) {
                (Ok(Some(output)), Some(subject)) => record_output(result, subject, output),
                (Ok(_), _) => {}
                (Err(err), subject) => {
                    let target = match subject {
                        Some(subject) => subject_name(subject),
                        None => "a thread it started".to_string(),
                    };
                    notice(&format!(
                        "script {id} on {target} failed: {}",
                        first_line(&err.to_string())
                    ));
                    // What a failed script held (a heap it filled, say) goes now,
                    // not when the next script needs the room.
                    let _ = self.lua.gc_collect();
                }
            }
        }
        Ok(())
    }

    /// Whether `script`'s `rule` (a function, if it has one) holds for `args`.
    fn rule_holds(
        &self,
        script: &Script,
        rule: &str,
        args: impl mlua::IntoLuaMulti,
        notice: &mut dyn FnMut(&str),
    ) -> bool {
        let Ok(Value::Function(function)) = script.env.get::<Value>(rule) else {
            return false;
        };
        self.slice_started.set(Instant::now());
        match function.call::<Value>(args) {
            Ok(value) => !matches!(value, Value::Nil | Value::Boolean(false)),
            Err(err) => {
                notice(&format!(
                    "script {} {rule} failed: {}",
                    script.id,
                    first_line(&err.to_string())
                ));
                false
            }
        }
    }

    /// NSE's host table.
    fn host_table(&self, addr: Ipv4Addr, host: &HostResult) -> mlua::Result<Table> {
        let t = self.lua.create_table()?;
        t.set("ip", addr.to_string())?;
        t.set("name", host.ptr_name.clone().unwrap_or_default())?;
        t.set("targetname", host.hostname.clone())?;
        if let Some(mac) = host.mac {
            t.set("mac_addr", self.lua.create_string(mac)?)?;
        }
        Ok(t)
    }

    /// NSE's port table, with what version detection found.
    fn port_table(&self, finding: &crate::report::PortFinding) -> mlua::Result<Table> {
        let t = self.lua.create_table()?;
        t.set("number", finding.port)?;
        t.set("protocol", finding.proto)?;
        t.set("state", finding.state.as_str())?;
        let version = self.lua.create_table()?;
        let service = finding.service.clone().unwrap_or_else(|| {
            crate::service::ServiceInfo::from_table(finding.port, finding.proto)
        });
        t.set("service", service.name.as_str())?;
        version.set("name", service.name.as_str())?;
        version.set("name_confidence", service.conf)?;
        version.set("product", service.version.product.clone())?;
        version.set("version", service.version.version.clone())?;
        version.set("extrainfo", service.version.info.clone())?;
        version.set("hostname", service.version.hostname.clone())?;
        version.set("ostype", service.version.ostype.clone())?;
        version.set("devicetype", service.version.devicetype.clone())?;
        version.set("service_tunnel", service.tunnel.unwrap_or("none"))?;
        version.set("service_dtype", service.method)?;
        t.set("version", version)?;
        Ok(t)
    }

    /// Applies `nmap.set_port_state` and `nmap.set_port_version` calls.
    fn apply_updates(&self, result: &mut ScanResult) {
        for update in self.shared.borrow_mut().updates.drain(..) {
            let Some((_, finding)) = result.hosts.get_mut(&update.addr).and_then(|h| {
                h.ports
                    .iter_mut()
                    .find(|((p, pr), _)| *p == update.port && *pr == update.proto)
            }) else {
                continue;
            };
            match update.change {
                PortChange::State(state) => {
                    if let Some(state) = parse_state(&state) {
                        finding.state = state;
                    }
                }
                PortChange::Version {
                    name,
                    product,
                    version,
                    extrainfo,
                } => {
                    let mut service = finding.service.clone().unwrap_or_else(|| {
                        crate::service::ServiceInfo::from_table(update.port, finding.proto)
                    });
                    if let Some(name) = name {
                        service.name = name;
                    }
                    service.version.product = product.or(service.version.product);
                    service.version.version = version.or(service.version.version);
                    service.version.info = extrainfo.or(service.version.info);
                    service.method = "probed";
                    service.conf = 10;
                    finding.service = Some(service);
                }
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the state must not be cut short by the slice hook.
        self.lua.remove_hook();
    }
}

fn parse_state(state: &str) -> Option<PortState> {
    Some(match state {
        "open" => PortState::Open,
        "closed" => PortState::Closed,
        "filtered" => PortState::Filtered,
        "open|filtered" => PortState::OpenFiltered,
        _ => return None,
    })
}

/// How often the hook looks at the clock.
const HOOK_EVERY: HookTriggers = HookTriggers::new().every_nth_instruction(10_000);

/// Stops Lua code that has run [`SLICE_LIMIT`] since `clock` was set (when its
/// coroutine was last resumed).
fn slice_check(clock: &Cell<Instant>) -> mlua::Result<()> {
    if clock.get().elapsed() > SLICE_LIMIT {
        return Err(mlua::Error::runtime(format!(
            "ran {} s without waiting on anything: stopped",
            SLICE_LIMIT.as_secs()
        )));
    }
    Ok(())
}

/// A Lua error as the scan's errors (Lua's own are not thread-safe).
fn lua_error(err: mlua::Error) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

/// Starts `function` with `args` as a script coroutine made by `create` (which
/// hooks it with the slice check), bounded by `timeout`: the coroutine, and its run.
fn start_coroutine(
    create: &Function,
    clock: &Rc<Cell<Instant>>,
    timeout: Option<Duration>,
    function: Function,
    args: MultiValue,
) -> mlua::Result<(mlua::Thread, impl Future<Output = mlua::Result<MultiValue>>)> {
    let thread: mlua::Thread = create.call(function)?;
    let run = Sliced {
        inner: thread.clone().into_async::<MultiValue>(args),
        clock: clock.clone(),
    };
    Ok((thread, async move {
        match timeout {
            Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                Err(mlua::Error::runtime("ran past --script-timeout: stopped"))
            }),
            None => run.await,
        }
    }))
}

/// Puts a script's output where it belongs in `result`.
fn record_output(result: &mut ScanResult, subject: ScriptSubject, output: ScriptOutput) {
    match subject {
        ScriptSubject::PreScan => result.prescripts.push(output),
        ScriptSubject::PostScan => result.postscripts.push(output),
        ScriptSubject::Host(addr) => result.hosts.entry(addr).or_default().scripts.push(output),
        ScriptSubject::Port(addr, port, proto) => {
            let host = result.hosts.entry(addr).or_default();
            match host.ports.get_mut(&(port, proto)) {
                Some(finding) => finding.scripts.push(output),
                None => host.scripts.push(output),
            }
        }
    }
}

/// How messages name what a script ran on.
fn subject_name(subject: ScriptSubject) -> String {
    match subject {
        ScriptSubject::PreScan => "the pre-scan phase".to_string(),
        ScriptSubject::PostScan => "the post-scan phase".to_string(),
        ScriptSubject::Host(addr) => addr.to_string(),
        ScriptSubject::Port(addr, port, proto) => format!("{addr}:{port}/{proto}"),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// A script's coroutine, with the hook's clock reset each time it is resumed.
struct Sliced<F> {
    inner: F,
    clock: Rc<Cell<Instant>>,
}

impl<F: Future + Unpin> Future for Sliced<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.clock.set(Instant::now());
        Pin::new(&mut self.inner).poll(cx)
    }
}
