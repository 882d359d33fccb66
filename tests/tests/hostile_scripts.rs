//! Hostile scripts in the lab: one scan of a lab host runs each of them beside
//! `http-title`. The scan ends in bounded time, http-title's output is there,
//! each hostile script is reported stopped or failed with its reason (or, for
//! the ones that only try to fool the API, its output shows the API unharmed),
//! and nothing was read, written or run (the files a script would read, change
//! or create are checked). Run by `cargo xtask test`.
//!
//! `pattern` and `rep-loop` spend their time inside C functions (a pathological
//! pattern, `string.rep` of an empty string): they end because the pattern
//! functions and `string.rep` have step budgets (`scanner/src/script/pattern.rs`).

use lab_tests::*;
use std::path::PathBuf;
use xtask::lab;

/// A folder of hostile scripts and the files they aim at, removed when dropped.
struct Planted(PathBuf);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A script with `body` (which defines `action`) that runs on port 80.
fn on_port_80(body: &str) -> String {
    format!(
        "categories = {{'test'}}\nportrule = function(h, p) return p.number == 80 end\n{body}\n"
    )
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn hostile_scripts_are_contained_and_http_title_still_runs() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    let planted = Planted(dir.clone());
    let secret = dir.join("secret.lua");
    std::fs::write(&secret, "return 'SECRET-READ'").unwrap();
    let target = dir.join("planted.txt");
    std::fs::write(&target, "original").unwrap();
    let marker = dir.join("ran-a-program");
    let (secret, target, marker) = (
        secret.display().to_string(),
        target.display().to_string(),
        marker.display().to_string(),
    );
    let other = lab::host("svc").addr.to_string();
    // (id, body, what the failure notice says; None: judged by its output)
    let scripts: Vec<(&str, String, Option<&str>)> = vec![
        (
            "bytecode",
            "action = function() return load(string.dump(function() return 1 end), 'x', 'b')() end".into(),
            Some("attempt to call a nil value (field 'dump')"),
        ),
        (
            "altered-bytecode",
            "action = function()
               local f, err = load('\\27Lua\\84\\0\\25\\147\\r\\n' .. ('\\255'):rep(200), 'x', 'b')
               if not f then error(err) end
               return f()
             end"
            .into(),
            Some("attempt to load a binary chunk"),
        ),
        (
            "dofile",
            format!("action = function() return dofile({secret:?}) end"),
            Some("attempt to call a nil value (global 'dofile')"),
        ),
        (
            "loadfile",
            format!("action = function() return loadfile({secret:?})() end"),
            Some("attempt to call a nil value (global 'loadfile')"),
        ),
        (
            "io-read",
            format!("action = function() return io.open({secret:?}):read('a') end"),
            Some("attempt to index a nil value (global 'io')"),
        ),
        (
            "io-write",
            format!("action = function() io.open({target:?}, 'w'):write('changed') end"),
            Some("attempt to index a nil value (global 'io')"),
        ),
        (
            "os-remove",
            format!("action = function() os.remove({target:?}) end"),
            Some("attempt to call a nil value (field 'remove')"),
        ),
        (
            "os-execute",
            format!("action = function() os.execute('touch {marker}') end"),
            Some("attempt to call a nil value (field 'execute')"),
        ),
        (
            "nested-coroutines",
            "action = function()
               coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)()
             end"
            .into(),
            Some("without waiting on anything: stopped"),
        ),
        (
            "pcall-loop",
            "action = function() while true do pcall(function() while true do end end) end end"
                .into(),
            Some("without waiting on anything: stopped"),
        ),
        (
            "pattern",
            "action = function() return ('a'):rep(40):find(('a*'):rep(30) .. 'b') end".into(),
            Some("pattern too complex"),
        ),
        (
            "rep-loop",
            "action = function() return 'length ' .. #(''):rep(1e18, '') end".into(),
            None,
        ),
        (
            "nan-sleep",
            "action = function() stdnse.sleep(0/0) end".into(),
            Some("a number is needed, not NaN"),
        ),
        (
            "tamper-find",
            "action = function() string.find = function() return 0, 1e9 end end".into(),
            Some("read-only"),
        ),
        (
            "own-find",
            "action = function(host, port)
               _G.string = { find = function() return 0, 1e9 end, sub = error }
               local s = nmap.new_socket()
               s:connect(host, port)
               s:send('GET / HTTP/1.0\\r\\n\\r\\n')
               local ok, line = s:receive_buf('\\r\\n', false)
               return 'receive_buf: ' .. tostring(line)
             end"
            .into(),
            None,
        ),
        (
            "self-reference",
            "action = function() local t = {} t[1] = t t[2] = t t.again = t return t end".into(),
            None,
        ),
        (
            "eats-memory",
            "action = function()
               local t = {}
               while true do t[#t + 1] = string.rep('x', 16 << 20) .. #t end
             end"
            .into(),
            Some("memory"),
        ),
        (
            "capture-other",
            format!(
                "action = function() return rawpacket.capture {{ proto = 'icmp', host = '{other}', icmp_id = 7 }} end"
            ),
            Some("is not a host this scan found up"),
        ),
        (
            "finalizer",
            "action = function() setmetatable({}, { __gc = function() while true do end end }) end"
                .into(),
            Some("may not set __gc"),
        ),
        (
            "stop-gc",
            "action = function() collectgarbage('stop') end".into(),
            Some("is not allowed to scripts"),
        ),
    ];
    for (id, body, _) in &scripts {
        std::fs::write(
            dir.join("scripts").join(format!("{id}.nse")),
            on_port_80(body),
        )
        .unwrap();
    }
    let web = lab::host("web").addr.to_string();
    let spec = format!("{}/,http-title", dir.join("scripts").display());
    let started = std::time::Instant::now();
    let (out, err) = scan_output_and_messages(&[
        "-sS",
        "-Pn",
        "-n",
        "-p",
        "80",
        "--script",
        &spec,
        "--script-timeout",
        "30s",
        &web,
    ])
    .unwrap();
    let elapsed = started.elapsed();
    assert!(out.contains("|_http-title: lab host web"), "{out}\n{err}");
    for (id, _, why) in &scripts {
        let Some(why) = why else { continue };
        assert!(
            err.lines().any(|l| l.contains(&format!("script {id} on "))
                && l.contains(" failed: ")
                && l.contains(why)),
            "no report that {id} failed ({why}):\n{err}"
        );
    }
    assert!(
        out.contains("|_own-find: receive_buf: HTTP/1.1 200 OK"),
        "{out}"
    );
    assert!(out.contains("(the table contains itself)"), "{out}");
    // 10^18 copies of nothing come back at once, not after 10^18 turns of a C loop.
    assert!(out.contains("|_rep-loop: length 0"), "{out}");
    // Nothing read, written or run.
    assert!(!out.contains("SECRET-READ") && !err.contains("SECRET-READ"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "original");
    assert!(!std::path::Path::new(&marker).exists());
    assert!(elapsed.as_secs() < 120, "took {elapsed:?}");
    drop(planted);
}
