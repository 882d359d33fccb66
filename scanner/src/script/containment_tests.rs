//! Hostile scripts against the engine, without a network: each runs as a
//! pre-scan script (so no lab is needed) beside well-behaved ones, and must end
//! as a Lua error of its own while the others' output is there.

use super::engine::{Engine, Phase, ScriptOptions};
use super::output::ScriptOutput;
use crate::model::{Collector, Event, EventSink, Proto, ScanResult};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A folder of scripts for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str, scripts: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("scanner-containment-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (id, action) in scripts {
            let text = format!(
                "categories = {{'test'}}\nprerule = function() return true end\n{action}\n"
            );
            std::fs::write(dir.join(format!("{id}.nse")), text).unwrap();
        }
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the pre-scan phase gave: outputs by id, and the notices (failures).
struct Ran {
    outputs: Vec<ScriptOutput>,
    notices: Vec<String>,
    took: Duration,
}

impl Ran {
    fn output(&self, id: &str) -> String {
        self.outputs
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.output.clone())
            .unwrap_or_else(|| panic!("no output of {id}: {:?}", self.notices))
    }

    /// The notice that says `id` failed, which must contain `why`.
    fn failed(&self, id: &str, why: &str) {
        assert!(
            self.notices
                .iter()
                .any(|n| n.starts_with(&format!("script {id} ")) && n.contains(why)),
            "no notice that {id} failed with {why:?}: {:?}",
            self.notices
        );
    }
}

/// Runs `scripts` (id, body defining `action`) as pre-scan scripts.
fn run(name: &str, scripts: &[(&str, &str)], timeout: Option<Duration>) -> Ran {
    let dir = Dir::new(name, scripts);
    let engine = Engine::new(ScriptOptions {
        spec: format!("{}/", dir.0.display()),
        timeout,
        max_threads: 64,
        ..Default::default()
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut notices = Vec::new();
    let started = Instant::now();
    let events = runtime
        .block_on(engine.run_phase(Phase::PreScan, None, &mut |n: &str| {
            notices.push(n.to_string())
        }))
        .unwrap();
    let outputs = events
        .into_iter()
        .filter_map(|event| match event {
            Event::Script(_, output) => Some(output),
            _ => None,
        })
        .collect();
    Ran {
        outputs,
        notices,
        took: started.elapsed(),
    }
}

#[test]
fn no_bytecode_and_no_files() {
    let ran = run(
        "bytecode",
        &[
            (
                "dump",
                "action = function()
                   local f, err = load(string.dump(function() return 1 end), 'x', 'b')
                   return tostring(f) .. ' ' .. tostring(err)
                 end",
            ),
            (
                "binary",
                "action = function()
                   local f, err = load('\\27Lua\\84\\0' .. ('\\255'):rep(64), 'x', 'b')
                   if f then f() end
                   return 'load: ' .. tostring(f) .. ' / ' .. tostring(err)
                 end",
            ),
            (
                "files",
                "action = function()
                   return table.concat({ tostring(dofile), tostring(loadfile), tostring(io),
                     tostring(os.execute), tostring(debug), tostring(package.loadlib) }, ' ')
                 end",
            ),
            (
                "text",
                "action = function() return load('return 6 * 7')() end",
            ),
        ],
        None,
    );
    ran.failed("dump", "attempt to call a nil value");
    assert!(
        ran.output("binary")
            .contains("load: nil / attempt to load a binary chunk (mode is 't')"),
        "{}",
        ran.output("binary")
    );
    assert_eq!(ran.output("files"), "nil nil nil nil nil nil");
    assert_eq!(ran.output("text"), "42");
}

#[test]
fn stops_hold_in_coroutines_and_under_pcall() {
    let started = Instant::now();
    let ran = run(
        "loops",
        &[
            (
                "nested",
                "action = function()
                   coroutine.wrap(function()
                     coroutine.wrap(function() while true do end end)()
                   end)()
                 end",
            ),
            (
                "pcalls",
                "action = function()
                   while true do pcall(function() while true do end end) end
                 end",
            ),
            (
                "xpcalls",
                "action = function()
                   while true do
                     xpcall(function() while true do end end, function() while true do end end)
                   end
                 end",
            ),
            (
                "resumes",
                "action = function()
                   while true do
                     coroutine.resume(coroutine.create(function() while true do end end))
                   end
                 end",
            ),
            (
                "closes",
                "action = function()
                   while true do
                     pcall(function()
                       local x <close> = setmetatable({}, { __close = function()
                         while true do pcall(error, 'again') end
                       end })
                       while true do end
                     end)
                   end
                 end",
            ),
            (
                "threads",
                "action = function()
                   stdnse.new_thread(function() while true do pcall(function() while true do end end) end end)
                   return 'started'
                 end",
            ),
            ("fine", "action = function() return 'fine' end"),
        ],
        None,
    );
    for id in ["nested", "pcalls", "xpcalls", "resumes", "closes"] {
        ran.failed(id, "without waiting on anything: stopped");
    }
    assert_eq!(ran.output("threads"), "started");
    assert!(
        ran.notices.iter().any(|n| n
            == "script threads on a thread it started failed: runtime error: ran 2 s without waiting on anything: stopped"),
        "{:?}",
        ran.notices
    );
    assert_eq!(ran.output("fine"), "fine");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        ran.took
    );
}

#[test]
fn script_timeout_ends_a_script_that_never_waits() {
    let ran = run(
        "timeout",
        &[
            (
                "spins",
                "action = function() while true do pcall(function() while true do end end) end end",
            ),
            ("sleeps", "action = function() stdnse.sleep(1/0) end"),
        ],
        Some(Duration::from_millis(300)),
    );
    ran.failed("spins", "ran past --script-timeout: stopped");
    ran.failed("sleeps", "ran past --script-timeout: stopped");
    assert!(ran.took < Duration::from_secs(2), "{:?}", ran.took);
}

#[test]
fn no_panic_from_script_values() {
    let ran = run(
        "values",
        &[
            ("nan", "action = function() stdnse.sleep(0/0) end"),
            (
                "negative",
                "action = function() stdnse.sleep(-1) return 'woke' end",
            ),
            ("word", "action = function() stdnse.sleep('soon') end"),
            (
                "timeouts",
                "action = function()
                   local s = nmap.new_socket()
                   s:set_timeout(-5) s:set_timeout(1e300) s:set_timeout(1/0)
                   local ok, err = pcall(s.set_timeout, s, 0/0)
                   local c, why = s:connect('198.18.0.10', 0/0)
                   return tostring(ok) .. ' ' .. tostring(c) .. ' ' .. tostring(why)
                 end",
            ),
            (
                "ports",
                "action = function()
                   nmap.set_port_state('198.18.0.10', { number = 1e30, protocol = 'tcp' }, 'open')
                 end",
            ),
        ],
        None,
    );
    ran.failed("nan", "stdnse.sleep (seconds): a number is needed, not NaN");
    ran.failed("word", "stdnse.sleep (seconds): a number is needed");
    assert_eq!(ran.output("negative"), "woke");
    assert_eq!(
        ran.output("timeouts"),
        "false false ERROR: connect wants a host and a port"
    );
    ran.failed("ports", "");
}

#[test]
fn scripts_cannot_change_what_others_see() {
    let ran = run(
        "tamper",
        &[
            (
                "a-tampers",
                "action = function()
                   local out = {}
                   for _, f in ipairs({
                     function() string.find = function() return 0, 99 end end,
                     function() rawset(string, 'find', nil) end,
                     function() nmap.new_socket = nil end,
                     function() table.concat = nil end,
                     function() setmetatable(string, {}) end,
                     function() getmetatable('').__index = { upper = function() return 'x' end } end,
                     function() stdnse.output_table = nil end,
                     function() package.loaded.stdnse = {} end,
                     function() collectgarbage('stop') end,
                     function() setmetatable({}, { __gc = function() while true do end end }) end,
                   }) do
                     out[#out + 1] = tostring((pcall(f)))
                   end
                   -- Its own globals and tables are its own to change, as in nmap.
                   _G.shared_x = 1
                   counter = 2
                   local t = setmetatable({}, { __index = function() return 5 end })
                   rawset(t, 'a', 1)
                   return table.concat(out, ' ') .. ' | ' .. shared_x .. counter .. t.a .. t.b
                 end",
            ),
            (
                "b-looks",
                "action = function()
                   return table.concat({ type(string.find), tostring(shared_x), tostring(counter),
                     type(nmap.new_socket), ('x'):upper(), type(stdnse.output_table),
                     type(require('stdnse').output_table), tostring(collectgarbage('count') > 0) }, ' ')
                 end",
            ),
        ],
        None,
    );
    assert_eq!(
        ran.output("a-tampers"),
        "false false false false false false false false false false | 1215"
    );
    assert_eq!(
        ran.output("b-looks"),
        "function nil nil function X function function true"
    );
}

#[test]
fn each_script_has_its_own_memory() {
    // Three scripts hold 200 MiB each at once: more than one cap for all, less
    // than each one's own; and one that eats without end fails alone.
    let holds = "action = function()
                   local t = {}
                   for i = 1, 10 do t[i] = string.rep(string.char(64 + i), 20 << 20) end
                   stdnse.sleep(0.3)
                   return 'held ' .. #t
                 end";
    let ran = run(
        "memory",
        &[
            ("hold1", holds),
            ("hold2", holds),
            ("hold3", holds),
            (
                "eats",
                "action = function()
                   stdnse.sleep(0.1)
                   local t = {}
                   while true do t[#t + 1] = string.rep('x', 16 << 20) .. #t end
                 end",
            ),
        ],
        None,
    );
    for id in ["hold1", "hold2", "hold3"] {
        assert_eq!(ran.output(id), "held 10");
    }
    ran.failed("eats", "memory");
}

#[test]
fn output_is_bounded() {
    let ran = run(
        "output",
        &[
            (
                "cycle",
                "action = function() local t = {} t[1] = t t[2] = t t.self = t return t end",
            ),
            (
                "deep",
                "action = function()
                   local t = {} local top = t
                   for i = 1, 100 do t.next = {} t = t.next end
                   return top
                 end",
            ),
            (
                "wide",
                "action = function() local t = {} for i = 1, 200000 do t[i] = i end return t end",
            ),
            (
                "long",
                "action = function() return string.rep('y', 3 << 20) end",
            ),
            (
                "sneaky",
                "action = function()
                   local t = stdnse.output_table()
                   t.a = 1
                   getmetatable(t).__ordered_values = setmetatable({}, { __index = function()
                     while true do end
                   end })
                   return t
                 end",
            ),
        ],
        None,
    );
    let cycle = ran.output("cycle");
    assert!(cycle.contains("(the table contains itself)"), "{cycle}");
    assert!(ran.output("deep").contains("nested deeper than 16 levels"));
    let wide = ran.output("wide");
    assert!(wide.contains("output truncated: more than 10000 entries"));
    assert!(wide.lines().count() < 10_010);
    let long = ran.output("long");
    assert!(long.len() < (1 << 20) + 100, "{}", long.len());
    assert!(long.ends_with("output truncated: more than 1048576 bytes"));
    assert_eq!(ran.output("sneaky"), "\n  a: nil");
    assert!(ran.took < Duration::from_secs(10), "{:?}", ran.took);
}

#[test]
fn host_and_port_tables_are_each_scripts_own() {
    let dir = Dir::new("tables", &[]);
    let rule = "categories = {'test'}\nportrule = function(host, port)";
    std::fs::write(
        dir.0.join("a-changes.nse"),
        format!("{rule} host.ip = '198.18.0.99' port.number = 1 setmetatable(host, {{ __index = function() return 'x' end }}) return true end\naction = function() return 'changed' end\n"),
    )
    .unwrap();
    std::fs::write(
        dir.0.join("b-reads.nse"),
        format!("{rule} return port.number == 80 end\naction = function(host, port) return host.ip .. ' ' .. port.number .. ' ' .. tostring(host.nothing) end\n"),
    )
    .unwrap();
    let engine = Engine::new(ScriptOptions {
        spec: format!("{}/", dir.0.display()),
        max_threads: 4,
        ..Default::default()
    })
    .unwrap();
    let addr: std::net::Ipv4Addr = "198.18.0.10".parse().unwrap();
    let mut result = ScanResult::default();
    result.hosts.entry(addr).or_default().ports.insert(
        (80, Proto::Tcp),
        crate::model::PortFinding::tcp(
            addr,
            80,
            crate::model::PortState::Open,
            crate::model::Reason::SynAck,
            None,
        ),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut notices = Vec::new();
    let events = runtime
        .block_on(engine.run(&result, &[addr], None, &mut |n: &str| {
            notices.push(n.to_string())
        }))
        .unwrap();
    let mut nothing = crate::model::collector::NoWriter;
    let mut collector = Collector::new(result, false, &mut nothing);
    for event in events {
        collector.emit(event).unwrap();
    }
    let result = collector.into_result();
    let outputs: Vec<String> = result.hosts[&addr].ports[&(80, Proto::Tcp)]
        .scripts
        .iter()
        .map(|o| format!("{}: {}", o.id, o.output))
        .collect();
    assert_eq!(
        outputs,
        vec!["a-changes: changed", "b-reads: 198.18.0.10 80 nil"],
        "{notices:?}"
    );
}
