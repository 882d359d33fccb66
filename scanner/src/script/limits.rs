//! The limits every script runs under inside the one Lua state: its own memory
//! budget and its time.
//!
//! - Memory: the state is made here with an allocator of our own
//!   ([`ScriptState::new`]). Each block carries the owner it was charged to (the
//!   script running when it was allocated, or the engine), so a free credits the
//!   right script; a growth past a script's [`SCRIPT_MEMORY`] is refused (Lua
//!   then collects and, failing that, raises a memory error in that script), a free
//!   or a shrink never is. One script's runaway allocation cannot take memory
//!   another needs. The engine's own allocations have no budget.
//! - Time: an instruction-count hook set on the main thread before anything else,
//!   so every coroutine inherits it (Lua 5.4 copies a thread's hook into the
//!   threads it creates), stops the instance running now once it has run
//!   [`SLICE_LIMIT`] without waiting, or past its deadline (`--script-timeout`).
//!   A stopped instance stays stopped: the hook raises again at each count, and
//!   the sandbox's `pcall`/`xpcall`/`coroutine.resume` re-raise ([`Limits::stopped`]).
//!
//! What this module does not do: decide which functions scripts see (the sandbox).

use mlua::{ffi, Lua};
use std::alloc::{self, Layout};
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::ptr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The memory one script (all its instances and threads together) may hold.
pub const SCRIPT_MEMORY: usize = 256 << 20;
/// How long a script may run without waiting on the network or a timer.
pub const SLICE_LIMIT: Duration = Duration::from_secs(2);
/// How many Lua instructions run between two looks at the clock.
const HOOK_EVERY: c_int = 1000;
/// The owner header in front of each block (keeps Lua's 16-byte alignment).
const HEADER: usize = 16;
const ALIGN: usize = 16;

/// Who a block is charged to: 0 is the engine, `n` the script registered n-th.
pub type Owner = u32;
/// The engine: the prelude, the tables it builds; no budget.
pub const ENGINE: Owner = 0;

/// Why an instance was stopped.
pub const SLICE_STOP: &str = "ran 2 s without waiting on anything: stopped";
pub const TIMEOUT_STOP: &str = "ran past --script-timeout: stopped";

/// One instance's clock, as the hook reads it while that instance runs.
#[derive(Debug)]
pub struct Run {
    /// Who its allocations are charged to.
    pub owner: Owner,
    /// When it last resumed.
    pub slice_started: Instant,
    /// `--script-timeout`'s end, if any.
    pub deadline: Option<Instant>,
    /// Set once it is stopped, with why; kept across resumes.
    pub stopped: Rc<Cell<Option<&'static str>>>,
}

/// The state's limits: what the allocator and the hook read (through the
/// allocator's user data pointer).
#[derive(Debug, Default)]
pub struct Limits {
    /// Bytes held by each owner (index: the owner).
    used: RefCell<Vec<usize>>,
    /// The instance running now, if any.
    running: RefCell<Option<Run>>,
    /// Set while the state closes: the hook does nothing.
    closing: Cell<bool>,
}

impl Limits {
    /// A new owner with its own budget.
    pub fn register(&self) -> Owner {
        let mut used = self.used.borrow_mut();
        if used.is_empty() {
            used.push(0);
        }
        used.push(0);
        Owner::try_from(used.len() - 1).unwrap_or(Owner::MAX)
    }

    /// Bytes `owner` holds now.
    pub fn used_by(&self, owner: Owner) -> usize {
        self.used.borrow().get(owner as usize).copied().unwrap_or(0)
    }

    /// Makes `run` the running instance until the guard is dropped (which puts
    /// back the one that ran before: a rule call may happen inside a poll).
    pub fn enter(&self, run: Run) -> RunGuard<'_> {
        let before = self.running.replace(Some(run));
        RunGuard {
            limits: self,
            before,
        }
    }

    /// Why the running instance was stopped, if it was.
    pub fn stopped(&self) -> Option<&'static str> {
        self.running
            .try_borrow()
            .ok()?
            .as_ref()
            .and_then(|run| run.stopped.get())
    }

    /// The hook's test: stops the running instance past its slice or deadline
    /// (also asked by long C-side calls, see `pattern`).
    pub fn check(&self) -> Option<&'static str> {
        if self.closing.get() {
            return None;
        }
        let running = self.running.try_borrow().ok()?;
        let run = running.as_ref()?;
        if let Some(why) = run.stopped.get() {
            return Some(why);
        }
        let now = Instant::now();
        let why = if run.deadline.is_some_and(|d| now >= d) {
            TIMEOUT_STOP
        } else if now.duration_since(run.slice_started) > SLICE_LIMIT {
            SLICE_STOP
        } else {
            return None;
        };
        run.stopped.set(Some(why));
        Some(why)
    }

    /// Who runs now (whom the next allocation is charged to).
    pub fn owner_now(&self) -> Owner {
        match self.running.try_borrow() {
            Ok(running) => running.as_ref().map_or(ENGINE, |run| run.owner),
            Err(_) => ENGINE,
        }
    }

    /// Moves `grow` bytes onto `owner` (or `shrink` off it); false if that would
    /// pass its budget (only growth is ever refused).
    fn charge(&self, owner: Owner, shrink: usize, grow: usize) -> bool {
        let Ok(mut used) = self.used.try_borrow_mut() else {
            return owner == ENGINE || grow <= shrink;
        };
        let Some(held) = used.get_mut(owner as usize) else {
            return true;
        };
        let after = held.saturating_sub(shrink).saturating_add(grow);
        if owner != ENGINE && grow > shrink && after > SCRIPT_MEMORY {
            return false;
        }
        *held = after;
        true
    }
}

/// Puts back the instance that ran before (see [`Limits::enter`]).
pub struct RunGuard<'a> {
    limits: &'a Limits,
    before: Option<Run>,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.limits.running.try_borrow_mut() {
            *running = self.before.take();
        }
    }
}

/// The Lua state with its limits: made with our allocator and hook, closed when
/// dropped (drop it after every handle into it: keep it the engine's last field).
pub struct ScriptState {
    state: *mut ffi::lua_State,
    limits: Rc<Limits>,
}

impl ScriptState {
    /// A state with the base library and `libs`, the allocator and the hook; and
    /// the `mlua` handle to it.
    pub fn new(libs: mlua::StdLib) -> mlua::Result<(Self, Lua)> {
        let limits = Rc::new(Limits::default());
        limits.register();
        let ud = Rc::as_ptr(&limits) as *mut c_void;
        // SAFETY: `ud` points at `limits`, which this struct keeps alive until after
        // `lua_close`; the allocator and hook only read it through shared refs.
        let state = unsafe { ffi::lua_newstate(allocate, ud) };
        if state.is_null() {
            return Err(mlua::Error::runtime("cannot create the scripting state"));
        }
        // SAFETY: a fresh state; the base library is what mlua itself opens first
        // (unprotected, as mlua does: a new state has the memory for it).
        let lua = unsafe {
            ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, HOOK_EVERY);
            ffi::luaL_requiref(state, c"_G".as_ptr(), ffi::luaopen_base, 1);
            ffi::lua_settop(state, -2);
            Lua::init_from_ptr(state)
        };
        let this = ScriptState { state, limits };
        lua.load_std_libs(libs)?;
        Ok((this, lua))
    }

    pub fn limits(&self) -> &Rc<Limits> {
        &self.limits
    }
}

impl Drop for ScriptState {
    fn drop(&mut self) {
        self.limits.closing.set(true);
        // SAFETY: the state is ours (mlua does not close a state it did not make),
        // and every handle into it was dropped before this (field order).
        unsafe { ffi::lua_close(self.state) };
    }
}

/// The limits of the state `l` belongs to.
///
/// # Safety
/// `l` is a state made by [`ScriptState::new`].
unsafe fn limits_of<'a>(l: *mut ffi::lua_State) -> Option<&'a Limits> {
    let mut ud = ptr::null_mut();
    ffi::lua_getallocf(l, &mut ud);
    (ud as *const Limits).as_ref()
}

/// The count hook: raises the stop in the running instance's code.
unsafe extern "C-unwind" fn hook(l: *mut ffi::lua_State, _: *mut ffi::lua_Debug) {
    let Some(why) = limits_of(l).and_then(Limits::check) else {
        return;
    };
    // Nothing with a destructor lives in this frame past here: `lua_error` jumps.
    ffi::lua_pushlstring(l, why.as_ptr().cast(), why.len());
    ffi::lua_error(l);
}

/// Lua's allocator (`lua_Alloc`): each block is `HEADER` bytes of owner, then
/// what Lua asked for.
unsafe extern "C-unwind" fn allocate(
    ud: *mut c_void,
    block: *mut c_void,
    old_size: usize,
    new_size: usize,
) -> *mut c_void {
    let Some(limits) = (ud as *const Limits).as_ref() else {
        return ptr::null_mut();
    };
    let layout = |size: usize| {
        size.checked_add(HEADER)
            .and_then(|total| Layout::from_size_align(total, ALIGN).ok())
    };
    if block.is_null() {
        // A new block (`old_size` is then a type tag, not a size).
        if new_size == 0 {
            return ptr::null_mut();
        }
        let Some(new_layout) = layout(new_size) else {
            return ptr::null_mut();
        };
        let owner = limits.owner_now();
        if !limits.charge(owner, 0, new_layout.size()) {
            return ptr::null_mut();
        }
        let base = alloc::alloc(new_layout);
        if base.is_null() {
            limits.charge(owner, new_layout.size(), 0);
            return ptr::null_mut();
        }
        base.cast::<Owner>().write(owner);
        return base.add(HEADER).cast();
    }
    let base = block.cast::<u8>().sub(HEADER);
    let held_by = base.cast::<Owner>().read();
    let Some(old_layout) = layout(old_size) else {
        return ptr::null_mut();
    };
    if new_size == 0 {
        limits.charge(held_by, old_layout.size(), 0);
        alloc::dealloc(base, old_layout);
        return ptr::null_mut();
    }
    let Some(new_layout) = layout(new_size) else {
        return ptr::null_mut();
    };
    // A block that grows is charged to who runs now (a script growing the engine's
    // table pays for it); a shrink stays with its owner and is never refused.
    let payer = match limits.owner_now() {
        running if running != ENGINE && new_size > old_size => running,
        _ => held_by,
    };
    let (old_total, new_total) = (old_layout.size(), new_layout.size());
    if payer == held_by {
        if !limits.charge(payer, old_total, new_total) {
            return ptr::null_mut();
        }
    } else {
        limits.charge(held_by, old_total, 0);
        if !limits.charge(payer, 0, new_total) {
            limits.charge(held_by, 0, old_total);
            return ptr::null_mut();
        }
    }
    let moved = alloc::realloc(base, old_layout, new_total);
    if moved.is_null() {
        // Lua only sees a failure of a growth: put the charges back.
        limits.charge(payer, new_total, 0);
        limits.charge(held_by, 0, old_total);
        return ptr::null_mut();
    }
    moved.cast::<Owner>().write(payer);
    moved.add(HEADER).cast()
}
