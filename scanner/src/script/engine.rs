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
//! script that runs [`SLICE_LIMIT`] without waiting on anything, or past
//! `--script-timeout`, is stopped by an instruction hook in whatever coroutine it
//! is, and cannot catch its stop ([`super::limits`]); each script has a memory
//! budget of its own ([`super::limits::SCRIPT_MEMORY`]), so a script that allocates
//! without end fails its own allocation and no other's; and scripts see only the
//! sandbox (`sandbox.lua`): text chunks, no files or programs, read-only shared
//! libraries, globals of their own.

use super::api::{self, PortChange, Shared};
use super::limits::{Limits, Owner, Run, ScriptState};
use super::output::ScriptOutput;
use super::pattern;
use super::raw::{self, RawAccess, RawSlot};
use super::select::{self, Expr};
use super::BUILT_IN_SCRIPTS;
use crate::model::{
    Event, HostResult, PortFinding, PortState, Proto, ScanResult, ScriptSubject, SynAckPrint,
};
use crate::target::services::ServicesTable;
use crate::target::TargetSet;
use anyhow::{bail, Context, Result};
use futures_util::stream::{FuturesUnordered, StreamExt};
use mlua::{Function, Lua, MultiValue, StdLib, Table, Value};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub use super::limits::SLICE_LIMIT;

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
    /// The services table: a port's service name before version detection names it.
    pub services: Arc<ServicesTable>,
    pub debug: u8,
    pub verbose: u8,
    /// A data folder's scripts (`scripts/` of `--datadir` and the like): each replaces
    /// the built-in one of its name, and the rest are selectable as built-in ones are.
    pub script_dir: Option<std::path::PathBuf>,
}

/// One loaded script.
struct Script {
    id: String,
    description: String,
    categories: Vec<String>,
    env: Table,
    /// Whom its memory is charged to.
    owner: Owner,
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

/// A thread `stdnse.new_thread` started: its script's owner and its run.
type Thread = (
    Owner,
    Pin<Box<dyn Future<Output = mlua::Result<MultiValue>>>>,
);

/// What the engine waits on: an instance or a thread, to its end.
type Running<'a> = Pin<Box<dyn Future<Output = Finished> + 'a>>;

enum Finished {
    Instance(usize, ScriptSubject, mlua::Result<MultiValue>),
    Thread(Owner, mlua::Result<MultiValue>),
}

/// A script's source: its id and text.
pub struct Source {
    pub id: String,
    pub text: String,
}

/// Whether a `--script` item names a file or folder: only when it looks like a
/// path (a `/` in it, or a name ending in `.nse`). A bare name or category
/// (`default`, `version`, `banner`) is never looked up in the current folder.
fn looks_like_path(item: &str) -> bool {
    item.contains('/') || item.ends_with(".nse")
}

/// The scripts a `--script` item names as a file or folder, else `None`.
fn sources_at(item: &str) -> Result<Option<Vec<Source>>> {
    if !looks_like_path(item) {
        return Ok(None);
    }
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
    /// `sandbox.lua`'s `new_env(id)` and `raise_verbosity(env)`.
    new_env: Function,
    raise_verbosity: Function,
    /// The scan's raw access, while scripts run on a raw-packet scan.
    raw: RawSlot,
    /// Threads `stdnse.new_thread` started, for [`Engine::execute`] to run.
    threads: tokio::sync::Mutex<mpsc::UnboundedReceiver<Thread>>,
    /// Script ids by owner (for the messages about their threads).
    names: Rc<RefCell<BTreeMap<Owner, String>>>,
    limits: Rc<Limits>,
    /// The state itself, closed after every handle above: keep it last.
    _state: ScriptState,
}

impl Engine {
    /// Builds the state and loads the selected scripts. Errors name the bad item
    /// or script.
    pub fn new(opts: ScriptOptions) -> Result<Self> {
        let (state, lua, shared, raw, sandbox) = Self::state(&opts).map_err(lua_error)?;
        let limits = state.limits().clone();
        let (thread_starts, threads) = mpsc::unbounded_channel();
        Self::install_new_thread(&lua, limits.clone(), opts.timeout, thread_starts)
            .map_err(lua_error)?;
        let (new_env, raise_verbosity) = sandbox;
        let mut engine = Engine {
            lua,
            scripts: Vec::new(),
            shared,
            opts,
            new_env,
            raise_verbosity,
            raw,
            threads: tokio::sync::Mutex::new(threads),
            names: Rc::default(),
            limits,
            _state: state,
        };
        engine.load_selected()?;
        Ok(engine)
    }

    /// The Lua state: the safe standard libraries, the API, the prelude, then the
    /// sandbox that freezes them (see `sandbox.lua`); the limits (memory per
    /// script, the hook that stops a script) come with the state.
    #[allow(clippy::type_complexity)]
    fn state(
        opts: &ScriptOptions,
    ) -> mlua::Result<(
        ScriptState,
        Lua,
        Rc<RefCell<Shared>>,
        RawSlot,
        (Function, Function),
    )> {
        // No io, no package searchers, no debug: nothing that reaches files,
        // programs or the VM's insides.
        let libs = StdLib::TABLE
            | StdLib::STRING
            | StdLib::MATH
            | StdLib::UTF8
            | StdLib::COROUTINE
            | StdLib::OS;
        let (state, lua) = ScriptState::new(libs)?;
        // Functions that reach files or load bytecode go; `load` stays for the
        // sandbox to wrap (text only).
        for name in ["dofile", "loadfile"] {
            lua.globals().set(name, Value::Nil)?;
        }
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
        // Here the standard functions are complete: the pattern functions and the
        // looping string and table functions are replaced by budgeted versions that
        // also ask the limits every so many steps, before the API and the prelude
        // take their own copies and the sandbox freezes them.
        let clock = state.limits().clone();
        pattern::install_with_check(
            &lua,
            Some(Rc::new(move || match clock.check() {
                Some(why) => Err(mlua::Error::runtime(why)),
                None => Ok(()),
            })),
        )?;

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
        let limits = state.limits().clone();
        let stopped = lua.create_function(move |_, ()| Ok(limits.stopped()))?;
        let sandbox = lua
            .load(include_str!("sandbox.lua"))
            .set_name("sandbox")
            .call::<(Function, Function)>(stopped)?;
        Ok((state, lua, shared, raw, sandbox))
    }

    /// `stdnse.__new_thread(f, ...)`: starts `f(...)` as a coroutine of the script
    /// running now, beside its instances (see `stdnse.new_thread` in the prelude).
    fn install_new_thread(
        lua: &Lua,
        limits: Rc<Limits>,
        timeout: Option<Duration>,
        starts: mpsc::UnboundedSender<Thread>,
    ) -> mlua::Result<()> {
        let stdnse: Table = lua.globals().get("stdnse")?;
        stdnse.set(
            "__new_thread",
            lua.create_function(move |lua, (f, args): (Function, MultiValue)| {
                let owner = limits.owner_now();
                let (thread, run) = start_coroutine(lua, &limits, owner, timeout, f, args)?;
                starts
                    .send((owner, Box::pin(run)))
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
        if let Some(dir) = &self.opts.script_dir {
            let found = sources_at(&dir.display().to_string())?.unwrap_or_default();
            sources.retain(|built_in| !found.iter().any(|s| s.id == built_in.id));
            sources.extend(found);
        }
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
        self.raise_verbosity.call(script.env.clone())
    }

    /// A fresh clock for code of `owner` that runs now (a rule, a script's file).
    fn run_of(&self, owner: Owner) -> Run {
        Run {
            owner,
            slice_started: Instant::now(),
            deadline: None,
            stopped: Rc::default(),
        }
    }

    /// Runs a script's file in an environment of its own and reads its fields.
    fn load(&self, source: &Source) -> mlua::Result<Script> {
        let lua = &self.lua;
        let owner = self.limits.register();
        self.names.borrow_mut().insert(owner, source.id.clone());
        let env: Table = self.new_env.call(source.id.as_str())?;
        let run = self.run_of(owner);
        let stopped = run.stopped.clone();
        {
            let _running = self.limits.enter(run);
            lua.load(&source.text)
                .set_name(format!("@{}.nse", source.id))
                .set_mode(mlua::ChunkMode::Text)
                .set_environment(env.clone())
                .exec()?;
        }
        if let Some(why) = stopped.get() {
            return Err(mlua::Error::runtime(why));
        }
        let action: Value = env.raw_get("action")?;
        if !matches!(action, Value::Function(_)) {
            return Err(mlua::Error::runtime("it has no action function"));
        }
        let categories: Vec<String> = match env.raw_get::<Value>("categories")? {
            Value::Table(t) => t.sequence_values::<String>().collect::<mlua::Result<_>>()?,
            _ => Vec::new(),
        };
        Ok(Script {
            id: source.id.clone(),
            description: env
                .raw_get::<Option<String>>("description")?
                .unwrap_or_default(),
            categories,
            env,
            owner,
        })
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

    /// Runs the `prerule` (before the scan) or `postrule` (after it) scripts, with
    /// raw packets (`rawpacket`) through `raw` if given: what they said, in the order
    /// they ended.
    pub async fn run_phase(
        &self,
        phase: Phase,
        raw: Option<&Rc<RawAccess>>,
        notice: &mut dyn FnMut(&str),
    ) -> Result<Vec<Event>> {
        // Rules may ask for raw packets as well as actions.
        let mut runs = self.runs(raw).await;
        let (rule, subject) = match phase {
            Phase::PreScan => ("prerule", ScriptSubject::PreScan),
            Phase::PostScan => ("postrule", ScriptSubject::PostScan),
        };
        let instances = (0..self.scripts.len())
            .filter(|&index| self.rule_holds(&self.scripts[index], rule, (), notice))
            .map(|script| Instance {
                script,
                subject,
                args: Vec::new(),
            });
        runs.pending.extend(instances);
        // What they said, in the order they ended.
        let mut events = Vec::new();
        while let Some((subject, output)) = runs.next(notice).await? {
            events.push(Event::Script(subject, output));
        }
        Ok(events)
    }

    /// Runs the host and port scripts on `hosts` as `result` has them, with raw
    /// packets through `raw` if given: what they said (each host's and each port's
    /// by script name, as nmap lists them), then the port changes they asked for.
    /// Instances that fail are reported through `notice`.
    pub async fn run(
        &self,
        result: &ScanResult,
        hosts: &[Ipv4Addr],
        raw: Option<&Rc<RawAccess>>,
        notice: &mut dyn FnMut(&str),
    ) -> Result<Vec<Event>> {
        let mut runs = self.runs(raw).await;
        for &addr in hosts {
            runs.add_host(result, addr, None, true, notice)?;
        }
        let mut outputs = Vec::new();
        while let Some(output) = runs.next(notice).await? {
            outputs.push(output);
        }
        drop(runs);
        // Host by host, each host's scripts before its ports', each by name.
        outputs.sort_by(|(a, x), (b, y)| {
            subject_order(*a)
                .cmp(&subject_order(*b))
                .then_with(|| x.id.cmp(&y.id))
        });
        let mut events: Vec<Event> = outputs
            .into_iter()
            .map(|(subject, output)| Event::Script(subject, output))
            .collect();
        events.extend(self.port_changes(result));
        Ok(events)
    }

    /// Host and port scripts run as their subjects become known (see [`Runs`]), with
    /// raw packets through `raw` if given, until the runs end.
    pub async fn runs(&self, raw: Option<&Rc<RawAccess>>) -> Runs<'_> {
        Runs {
            _raw: RawLease::new(&self.raw, raw),
            threads: self.threads.lock().await,
            engine: self,
            pending: VecDeque::new(),
            running: FuturesUnordered::new(),
        }
    }

    /// Whether any selected script has a `hostrule` (runs once per host).
    pub fn has_host_scripts(&self) -> bool {
        self.scripts.iter().any(|script| {
            matches!(
                script.env.raw_get::<Value>("hostrule"),
                Ok(Value::Function(_))
            )
        })
    }

    /// The port changes scripts asked for (`nmap.set_port_state`,
    /// `nmap.set_port_version`) since the last call, on ports `result` has.
    pub fn take_port_changes(&self, result: &ScanResult) -> Vec<Event> {
        self.port_changes(result)
    }

    /// The instances that run on `addr` as `result` has it: each script whose
    /// `portrule` holds for one of `ports` (every open port if `None`) and, if `host`,
    /// each whose `hostrule` holds for the host.
    fn instances(
        &self,
        result: &ScanResult,
        addr: Ipv4Addr,
        ports: Option<&[(u16, Proto)]>,
        host: bool,
        notice: &mut dyn FnMut(&str),
    ) -> Result<Vec<Instance>> {
        let mut instances: Vec<Instance> = Vec::new();
        let Some(found) = result.hosts.get(&addr) else {
            return Ok(instances);
        };
        // The ports scripts see (nmap.get_ports): all but the folded closed and
        // filtered ones, which a -p- scan has by the thousand.
        let seen: Vec<&PortFinding> = found
            .ports
            .values()
            .filter(|f| !matches!(f.state, PortState::Closed | PortState::Filtered))
            .collect();
        let asked: Option<BTreeSet<(u16, Proto)>> = ports.map(|p| p.iter().copied().collect());
        for (index, script) in self.scripts.iter().enumerate() {
            // Each script gets host and port tables of its own: what one script
            // does to them (a field changed, a metatable set) no other sees.
            let host_table = self.host_table(addr, found).map_err(lua_error)?;
            let mut port_tables = Vec::new();
            let listed = self.lua.create_table().map_err(lua_error)?;
            for &finding in &seen {
                let table = self.port_table(finding).map_err(lua_error)?;
                listed.push(table.clone()).map_err(lua_error)?;
                port_tables.push(((finding.port, finding.proto), finding.state, table));
            }
            host_table.set("__ports", listed).map_err(lua_error)?;
            if host && self.rule_holds(script, "hostrule", (host_table.clone(),), notice) {
                instances.push(Instance {
                    script: index,
                    subject: ScriptSubject::Host(addr),
                    args: vec![Value::Table(host_table.clone())],
                });
            }
            for ((port, proto), state, port_table) in &port_tables {
                if !matches!(state, PortState::Open | PortState::OpenFiltered)
                    || asked
                        .as_ref()
                        .is_some_and(|asked| !asked.contains(&(*port, *proto)))
                {
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
                        subject: ScriptSubject::Port(addr, *port, *proto),
                        args: vec![Value::Table(host_table.clone()), Value::Table(port_table)],
                    });
                }
            }
        }
        Ok(instances)
    }

    /// Whether `script`'s `rule` (a function, if it has one) holds for `args`.
    fn rule_holds(
        &self,
        script: &Script,
        rule: &str,
        args: impl mlua::IntoLuaMulti,
        notice: &mut dyn FnMut(&str),
    ) -> bool {
        let Ok(Value::Function(function)) = script.env.raw_get::<Value>(rule) else {
            return false;
        };
        let run = self.run_of(script.owner);
        let stopped = run.stopped.clone();
        let called = {
            let _running = self.limits.enter(run);
            function.call::<Value>(args)
        };
        let called = match stopped.get() {
            Some(why) => Err(mlua::Error::runtime(why)),
            None => called,
        };
        match called {
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
    fn port_table(&self, finding: &PortFinding) -> mlua::Result<Table> {
        let t = self.lua.create_table()?;
        t.set("number", finding.port)?;
        t.set("protocol", finding.proto.as_str())?;
        t.set("state", finding.state.as_str())?;
        let version = self.lua.create_table()?;
        let service = finding.service.clone().unwrap_or_else(|| {
            crate::service::ServiceInfo::from_table(
                finding.port,
                finding.proto,
                &self.opts.services,
            )
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
        if let Some(print) = &finding.synack {
            t.set("synack", self.synack_table(print)?)?;
        }
        Ok(t)
    }

    /// `port.synack` (this scanner's, not nmap's): the SYN+ACK's p0f signature and what
    /// it matched (`os`, `class`, `generic`, `fuzzy`, `distance`).
    fn synack_table(&self, print: &SynAckPrint) -> mlua::Result<Table> {
        let t = self.lua.create_table()?;
        t.set("signature", print.signature.as_str())?;
        if let Some(matched) = &print.matched {
            t.set("os", matched.os.as_str())?;
            t.set("class", matched.class.clone())?;
            t.set("generic", matched.generic)?;
            t.set("fuzzy", matched.fuzzy)?;
            t.set("distance", matched.distance)?;
        }
        Ok(t)
    }

    /// The ports of `result` as the `nmap.set_port_state` and `nmap.set_port_version`
    /// calls made since the last time left them, each once.
    fn port_changes(&self, result: &ScanResult) -> Vec<Event> {
        let mut changed: BTreeMap<(Ipv4Addr, u16, Proto), PortFinding> = BTreeMap::new();
        for update in self.shared.borrow_mut().updates.drain(..) {
            let Some(found) = result.hosts.get(&update.addr).and_then(|h| {
                h.ports
                    .iter()
                    .find(|((p, pr), _)| *p == update.port && pr.as_str() == update.proto)
                    .map(|(_, finding)| finding)
            }) else {
                continue;
            };
            let finding = changed
                .entry((found.addr, found.port, found.proto))
                .or_insert_with(|| found.clone());
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
                        crate::service::ServiceInfo::from_table(
                            update.port,
                            finding.proto,
                            &self.opts.services,
                        )
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
        changed.into_values().map(Event::PortChanged).collect()
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

/// A Lua error as the scan's errors (Lua's own are not thread-safe).
fn lua_error(err: mlua::Error) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

/// Starts `function` with `args` as a coroutine of `owner`, under the limits
/// (its own clock; `timeout` from now): the coroutine, and its run.
fn start_coroutine(
    lua: &Lua,
    limits: &Rc<Limits>,
    owner: Owner,
    timeout: Option<Duration>,
    function: Function,
    args: MultiValue,
) -> mlua::Result<(mlua::Thread, impl Future<Output = mlua::Result<MultiValue>>)> {
    let thread = lua.create_thread(function)?;
    let run = Sliced {
        inner: thread.clone().into_async::<MultiValue>(args),
        limits: limits.clone(),
        owner,
        deadline: timeout.and_then(|limit| Instant::now().checked_add(limit)),
        stopped: Rc::default(),
    };
    Ok((thread, async move {
        match timeout {
            Some(limit) => tokio::time::timeout(limit, run)
                .await
                .unwrap_or_else(|_| Err(mlua::Error::runtime(super::limits::TIMEOUT_STOP))),
            None => run.await,
        }
    }))
}

/// Host and port scripts started as their subjects become known: a port's the moment
/// its state (or service, with `-sV`) is known, a host's once its ports are done (the
/// caller says when, [`Runs::add_host`]). A bounded number run at once
/// (`--max-script-threads`), with the threads they start (`stdnse.new_thread`), on
/// the loop that polls [`Runs::next`]; the scripts' raw access is lent for as long
/// as the runs last.
pub struct Runs<'e> {
    engine: &'e Engine,
    pending: VecDeque<Instance>,
    running: FuturesUnordered<Running<'e>>,
    threads: tokio::sync::MutexGuard<'e, mpsc::UnboundedReceiver<Thread>>,
    _raw: RawLease<'e>,
}

impl<'e> Runs<'e> {
    /// Queues the scripts whose rules hold, as `result` has `addr`: the port
    /// scripts of `ports` (every open port if `None`), and the host scripts if
    /// `host`. Rules are asked now. How many instances were queued.
    pub fn add_host(
        &mut self,
        result: &ScanResult,
        addr: Ipv4Addr,
        ports: Option<&[(u16, Proto)]>,
        host: bool,
        notice: &mut dyn FnMut(&str),
    ) -> Result<usize> {
        let instances = self.engine.instances(result, addr, ports, host, notice)?;
        let queued = instances.len();
        self.pending.extend(instances);
        Ok(queued)
    }

    /// The engine the scripts run on.
    pub fn engine(&self) -> &'e Engine {
        self.engine
    }

    /// How many instances wait for their turn.
    pub fn queued(&self) -> usize {
        self.pending.len()
    }

    /// How many instances run at once (`--max-script-threads`).
    pub fn at_once(&self) -> usize {
        self.engine.opts.max_threads.max(1)
    }

    /// Whether nothing is queued or running (threads scripts started included).
    pub fn is_idle(&mut self) -> bool {
        while let Ok((id, thread)) = self.threads.try_recv() {
            self.running
                .push(Box::pin(async move { Finished::Thread(id, thread.await) }));
        }
        self.pending.is_empty() && self.running.is_empty()
    }

    /// Runs the queued instances until one ends with something to say: it, and
    /// whom it was about; `None` once nothing is queued or running. Instances that
    /// fail are reported through `notice`. Cancel-safe: dropped while waiting, it
    /// loses nothing.
    pub async fn next(
        &mut self,
        notice: &mut dyn FnMut(&str),
    ) -> Result<Option<(ScriptSubject, ScriptOutput)>> {
        loop {
            match self.next_end(notice).await? {
                None => return Ok(None),
                Some(Ended {
                    subject: Some(subject),
                    output: Some(output),
                }) => return Ok(Some((subject, output))),
                Some(_) => {}
            }
        }
    }

    /// Runs the queued instances until one ends, said something or not (a thread a
    /// script started too): what it said and whom it was about; `None` once nothing
    /// is queued or running. Instances that fail are reported through `notice`.
    /// Cancel-safe, as [`Runs::next`].
    pub async fn next_end(&mut self, notice: &mut dyn FnMut(&str)) -> Result<Option<Ended>> {
        let engine = self.engine;
        let limit = self.at_once();
        loop {
            while self.running.len() < limit {
                let Some(Instance {
                    script: index,
                    subject,
                    args,
                }) = self.pending.pop_front()
                else {
                    break;
                };
                let script = &engine.scripts[index];
                let action: Function = script.env.raw_get("action").map_err(lua_error)?;
                let (_, run) = start_coroutine(
                    &engine.lua,
                    &engine.limits,
                    script.owner,
                    engine.opts.timeout,
                    action,
                    MultiValue::from_vec(args),
                )
                .map_err(lua_error)?;
                self.running.push(Box::pin(async move {
                    Finished::Instance(index, subject, run.await)
                }));
            }
            while let Ok((id, thread)) = self.threads.try_recv() {
                self.running
                    .push(Box::pin(async move { Finished::Thread(id, thread.await) }));
            }
            if self.running.is_empty() {
                return Ok(None);
            }
            let finished = tokio::select! {
                Some(finished) = self.running.next() => finished,
                Some((id, thread)) = self.threads.recv() => {
                    self.running.push(Box::pin(async move { Finished::Thread(id, thread.await) }));
                    continue;
                }
            };
            let (id, subject, outcome) = match finished {
                Finished::Instance(index, subject, outcome) => {
                    let id = engine.scripts[index].id.clone();
                    let outcome = outcome.and_then(|v| ScriptOutput::from_lua(&id, v));
                    (id, Some(subject), outcome)
                }
                Finished::Thread(owner, outcome) => {
                    let id = engine
                        .names
                        .borrow()
                        .get(&owner)
                        .cloned()
                        .unwrap_or_default();
                    (id, None, outcome.map(|_| None))
                }
            };
            match (outcome, subject) {
                (Ok(output), subject) => return Ok(Some(Ended { subject, output })),
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
                    let _ = engine.lua.gc_collect();
                    return Ok(Some(Ended {
                        subject,
                        output: None,
                    }));
                }
            }
        }
    }
}

/// An instance (or a thread one started) that ended.
pub struct Ended {
    /// Whom it was about; `None` for a thread.
    pub subject: Option<ScriptSubject>,
    /// What it said, if anything (a failure said nothing).
    pub output: Option<ScriptOutput>,
}

/// Where a host or port script's output is listed: by host, the host's own first,
/// then by port.
fn subject_order(subject: ScriptSubject) -> (Option<Ipv4Addr>, Option<(u16, Proto)>) {
    match subject {
        ScriptSubject::PreScan | ScriptSubject::PostScan => (None, None),
        ScriptSubject::Host(addr) => (Some(addr), None),
        ScriptSubject::Port(addr, port, proto) => (Some(addr), Some((port, proto))),
    }
}

/// Raw access lent to the scripts for one run: put in their slot, taken back when
/// the lease ends.
struct RawLease<'a>(&'a RawSlot);

impl<'a> RawLease<'a> {
    fn new(slot: &'a RawSlot, access: Option<&Rc<RawAccess>>) -> Self {
        *slot.borrow_mut() = access.cloned();
        Self(slot)
    }
}

impl Drop for RawLease<'_> {
    fn drop(&mut self) {
        *self.0.borrow_mut() = None;
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

/// A script's coroutine, run as the limits' running instance each time it is
/// resumed (a fresh slice; its deadline; its stop, which sticks).
struct Sliced<F> {
    inner: F,
    limits: Rc<Limits>,
    owner: Owner,
    deadline: Option<Instant>,
    stopped: Rc<Cell<Option<&'static str>>>,
}

impl<F: Future<Output = mlua::Result<MultiValue>> + Unpin> Future for Sliced<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let polled = {
            let _running = this.limits.enter(Run {
                owner: this.owner,
                slice_started: Instant::now(),
                deadline: this.deadline,
                stopped: this.stopped.clone(),
            });
            Pin::new(&mut this.inner).poll(cx)
        };
        match (polled, this.stopped.get()) {
            // A stopped script that swallowed its stop still ends stopped.
            (Poll::Ready(Ok(_)), Some(why)) => Poll::Ready(Err(mlua::Error::runtime(why))),
            (polled, _) => polled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_looks_like_a_path_is_read_as_one() {
        for name in ["default", "version", "banner", "http-*", "default and safe"] {
            assert!(!looks_like_path(name), "{name}");
        }
        for path in ["./default", "scripts/", "/tmp/x", "mine.nse", "dir/x.lua"] {
            assert!(looks_like_path(path), "{path}");
        }
        // A bare name is a name even if the current folder holds a file so called.
        assert!(sources_at("Cargo.toml").unwrap().is_none());
    }
}
