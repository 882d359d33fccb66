//! Scripts (`--script`, `-sC`) in the lab: the shipped scripts say what the lab's
//! daemons are (and what nmap's own scripts of the same names say); scripts that
//! error, loop, allocate without end or sleep past `--script-timeout` are stopped
//! and reported while the others and the scan go on; sockets reach only the scan's
//! targets; selection, arguments, help and every output format. Run by
//! `cargo xtask test`.

use lab_tests::*;
use std::path::PathBuf;
use xtask::lab;
use xtask::nmap_xml::script_outputs;

/// A folder of scripts written for a test, removed when dropped.
struct ScriptDir(PathBuf);

impl ScriptDir {
    fn new(name: &str, scripts: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("scanner-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in scripts {
            std::fs::write(dir.join(file), text).unwrap();
        }
        ScriptDir(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ScriptDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the scanner with `args` in the lab; stdout and stderr.
fn scan_both(args: &[&str]) -> (String, String) {
    scan_output_and_messages(args).unwrap()
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn shipped_scripts_describe_the_lab_as_nmaps_do() {
    require_lab();
    let web = lab::host("web").addr.to_string();
    let svc = lab::host("svc").addr.to_string();
    let scripts = "http-title,ftp-anon,redis-info";
    let (ours, _) = scan_both(&[
        "-sV",
        "--script",
        scripts,
        "-n",
        "-p",
        "21,80,443,6379",
        &web,
        &svc,
    ]);
    for line in [
        "|_http-title: lab host web",
        "| ftp-anon: Anonymous FTP login allowed (FTP code 230)",
        "| redis-info: ",
        "|   Version: ",
        "|_  Role: master",
    ] {
        assert!(ours.contains(line), "{line:?} missing from:\n{ours}");
    }
    // The other socket scripts: a certificate over TLS, memcached's stats, headers.
    let (more, _) = scan_both(&[
        "-sV",
        "--script",
        "ssl-cert,memcached-info,http-headers",
        "-n",
        "-p",
        "80,443,11211",
        &web,
        &svc,
    ]);
    for line in [
        "| ssl-cert: Subject: commonName=web.lab.test",
        "|   Version: 1.",
        "|   Process ID: ",
        "|   Server: nginx/",
        "|_  (Request type: HEAD)",
    ] {
        assert!(more.contains(line), "{line:?} missing from:\n{more}");
    }
    // Inside TLS too (443).
    assert_eq!(
        ours.matches("|_http-title: lab host web").count(),
        2,
        "{ours}"
    );
    // nmap's scripts of the same names, on the same ports: the same first lines.
    let theirs = nmap_xml_with(&[
        "-sV",
        "--script",
        scripts,
        "-n",
        "-Pn",
        "-p",
        "21,80,443,6379",
        &web,
        &svc,
    ])
    .unwrap();
    for needle in [
        r#"<script id="http-title" output="lab host web""#,
        r#"<script id="ftp-anon" output="Anonymous FTP login allowed (FTP code 230)"#,
    ] {
        assert!(theirs.contains(needle), "nmap no longer says {needle}");
    }
    let (xml, _) = scan_both(&[
        "-sV",
        "--script",
        scripts,
        "-n",
        "-p",
        "21,80,6379",
        "-oX",
        "-",
        &web,
        &svc,
    ]);
    for needle in [
        r#"<script id="http-title" output="lab host web">"#,
        r#"<script id="ftp-anon" output="Anonymous FTP login allowed (FTP code 230)"#,
        r#"<elem key="Version">"#,
    ] {
        assert!(
            xml.contains(needle),
            "{needle} missing from our XML:\n{xml}"
        );
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn ssh_dns_and_tls_scripts_say_what_nmaps_say() {
    require_lab();
    let dns = lab::host("dns").addr.to_string();
    let web = lab::host("web").addr.to_string();
    let args = [
        "-sS",
        "-sU",
        "--script",
        "ssh2-enum-algos,dns-nsid,ssl-cert",
        "-n",
        "-Pn",
        "-p",
        "T:22,443,U:53",
    ];
    let targets = [dns.as_str(), web.as_str()];
    let theirs = nmap_xml_with(&[&args[..], &targets].concat()).unwrap();
    let (ours, _) = scan_both(&[&args[..], &["-oX", "-"], &targets].concat());
    let (ours, theirs) = (script_outputs(&ours), script_outputs(&theirs));
    for id in ["ssh2-enum-algos", "dns-nsid", "ssl-cert"] {
        let of = |all: &std::collections::BTreeMap<String, String>| {
            all.iter()
                .filter(|(key, _)| key.ends_with(&format!(" {id}")))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let (ours, theirs) = (of(&ours), of(&theirs));
        assert!(!theirs.is_empty(), "nmap's {id} said nothing");
        assert_eq!(ours, theirs, "{id}: ours vs nmap's");
    }
    // Brought in by -sC rather than named, ssl-cert says less, in nmap and here.
    let short = ["-sS", "-sC", "-n", "-Pn", "-p", "443", web.as_str()];
    let theirs = script_outputs(&nmap_xml_with(&short).unwrap());
    let (ours, _) = scan_both(&[&short[..], &["-oX", "-"]].concat());
    let ours = script_outputs(&ours);
    let key = format!("{web} 443/tcp ssl-cert");
    assert!(
        theirs[&key].starts_with("Subject: ") && !theirs[&key].contains("MD5"),
        "{theirs:?}"
    );
    assert_eq!(ours.get(&key), theirs.get(&key));
    let title = format!("{web} 443/tcp http-title");
    assert_eq!(
        ours.get(&title),
        theirs.get(&title),
        "http-title over TLS without -sV"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn misbehaving_scripts_are_stopped_and_the_rest_go_on() {
    require_lab();
    let dir = ScriptDir::new(
        "hostile-scripts",
        &[
            ("loops.nse", "categories = {'test'}\nportrule = function(h, p) return p.number == 22 end\naction = function() while true do end end\n"),
            ("eats.nse", "categories = {'test'}\nportrule = function(h, p) return p.number == 22 end\naction = function() local t = {} local s = string.rep('x', 16 << 20) while true do t[#t + 1] = s .. #t end end\n"),
            ("fails.nse", "categories = {'test'}\nportrule = function() return true end\naction = function(h, p) error('boom on ' .. p.number) end\n"),
            ("sleeps.nse", "categories = {'test'}\nhostrule = function() return true end\naction = function() stdnse.sleep(60) return 'woke' end\n"),
            ("bad-rule.nse", "categories = {'test'}\nportrule = function() error('rule broke') end\naction = function() return 'never' end\n"),
            ("outside.nse", "categories = {'test'}\nhostrule = function() return true end\naction = function(host)\n  local s = nmap.new_socket()\n  local ok, err = s:connect('198.18.0.11', 22)\n  return 'outside ' .. tostring(ok) .. ' / ' .. tostring(err) .. ' / ' .. tostring(stdnse.get_script_args('greeting'))\nend\n"),
        ],
    );
    let web = lab::host("web").addr.to_string();
    let spec = format!("{},http-title", dir.path());
    let started = std::time::Instant::now();
    let (out, err) = scan_both(&[
        "-sV",
        "--script",
        &spec,
        "--script-timeout",
        "3s",
        "--script-args",
        "greeting=hello",
        "-n",
        "-p",
        "22,80",
        &web,
    ]);
    let elapsed = started.elapsed();
    for (script, why) in [
        ("loops", "without waiting on anything: stopped"),
        ("eats", "memory error"),
        ("fails", "boom on 22"),
        ("sleeps", "ran past --script-timeout"),
        ("bad-rule", "portrule failed: "),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("script {script}")) && l.contains(why)),
            "no report that {script} was stopped ({why}):\n{err}"
        );
    }
    // The well-behaved script and the scan itself are unharmed.
    assert!(out.contains("|_http-title: lab host web"), "{out}");
    assert!(out.contains("ssh ") && out.contains("OpenSSH"), "{out}");
    // A socket may not leave the scan's targets; arguments reach scripts.
    assert!(
        out.contains("|_outside: outside false / ERROR: the address is not one of the scan's targets / hello"),
        "{out}"
    );
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn threads_locks_and_scan_phases() {
    require_lab();
    let dir = ScriptDir::new(
        "phases",
        &[
            (
                "pre.nse",
                r#"categories = {'test'}
prerule = function() return true end
action = function()
  nmap.registry.seen = {}
  return 'registry ready'
end
"#,
            ),
            (
                "workers.nse",
                r#"categories = {'test'}
hostrule = function() return true end
action = function(host)
  local results, threads = {}, {}
  local condvar = nmap.condvar(results)
  local lock = nmap.mutex("counter")
  local inside, most = 0, 0
  local function worker(port)
    lock("lock")
    inside = inside + 1
    if inside > most then most = inside end
    stdnse.sleep(0.05)
    inside = inside - 1
    lock("done")
    local s = nmap.new_socket()
    s:set_timeout(2000)
    local ok = s:connect(host.ip, port)
    results[#results + 1] = port .. (ok and '=open' or '=closed')
    s:close()
    condvar("signal")
  end
  local started = nmap.clock_ms()
  for _, port in ipairs({22, 80, 443, 81}) do
    local co = stdnse.new_thread(worker, port)
    threads[co] = true
  end
  repeat
    for co in pairs(threads) do
      if coroutine.status(co) == 'dead' then threads[co] = nil end
    end
    if next(threads) then condvar("wait") end
  until next(threads) == nil
  table.sort(results)
  nmap.registry.seen[#nmap.registry.seen + 1] = host.ip
  local p = nmap.get_ports(host, nil, 'tcp', 'open')
  local open = {}
  while p do open[#open + 1] = p.number p = nmap.get_ports(host, p, 'tcp', 'open') end
  return table.concat(results, ' ') .. ' most=' .. most .. ' open=' .. table.concat(open, ',')
end
"#,
            ),
            (
                "post.nse",
                r#"categories = {'test'}
postrule = function() return nmap.registry.seen ~= nil end
action = function()
  local t = stdnse.output_table()
  t.hosts = nmap.registry.seen
  return t
end
"#,
            ),
        ],
    );
    let web = lab::host("web").addr.to_string();
    let win = lab::host("win").addr.to_string();
    let xml_path = std::env::temp_dir().join(format!("scanner-phases-{}.xml", std::process::id()));
    let xml_arg = xml_path.to_str().unwrap();
    let (out, err) = scan_both(&[
        "--script",
        dir.path(),
        "-n",
        "-p",
        "22,80,443",
        "-oX",
        xml_arg,
        &web,
        &win,
    ]);
    // prerule first, postrule last, each in its own section; the registry is shared.
    assert!(
        out.starts_with("Pre-scan script results:\n|_pre: registry ready\n"),
        "{out}\n{err}"
    );
    // Both hosts, in the order their host scripts ended (which host's ports were
    // done first is the network's choice).
    let seen_in = |first: &str, second: &str| {
        out.contains(&format!(
            "Post-scan script results:\n| post: \n|   hosts: \n|     {first}\n|_    {second}\n"
        ))
    };
    assert!(seen_in(&web, &win) || seen_in(&win, &web), "{out}");
    // Four threads per host, each a connect, joined with a condition variable; the
    // mutex lets one in at a time; nmap.get_ports walks the open ports.
    assert!(
        out.contains("|_workers: 22=open 443=open 80=open 81=closed most=1 open=22,80,443"),
        "{out}"
    );
    assert!(
        out.contains("|_workers: 22=open 443=closed 80=open 81=closed most=1 open=22,80"),
        "{out}"
    );
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let _ = std::fs::remove_file(&xml_path);
    assert!(
        xml.contains(
            "<prescript><script id=\"pre\" output=\"registry ready\"></script></prescript>"
        ),
        "{xml}"
    );
    assert!(xml.contains("<postscript><script id=\"post\""), "{xml}");
    assert_valid_nmap_xml(&xml);
    // JSON lines: the pre- and post-scan results carry their phase, not a host.
    let json = scan_json(&["--script", dir.path(), "-n", "-p", "22", &web]).unwrap();
    let phases: Vec<&str> = json.lines().filter(|l| l.contains("\"phase\"")).collect();
    assert_eq!(phases.len(), 2, "{json}");
    assert!(
        phases[0].contains("\"phase\":\"prescan\"") && phases[0].contains("registry ready"),
        "{json}"
    );
    assert!(
        phases[1].contains("\"phase\":\"postscan\"") && !phases[1].contains("\"addr\""),
        "{json}"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn selection_help_and_outputs() {
    require_lab();
    // -sC is the default category: http-title and ftp-anon, not banner.
    let svc = lab::host("svc").addr.to_string();
    let (out, _) = scan_both(&["-sC", "-n", "-p", "21,22", &svc]);
    assert!(
        out.contains("| ftp-anon: ") && !out.contains("banner"),
        "{out}"
    );
    // Expressions over names and categories.
    let (out, _) = scan_both(&[
        "--script",
        "(banner or redis-*) and not default",
        "-n",
        "-p",
        "22,6379",
        &svc,
    ]);
    assert!(
        out.contains("|_banner: SSH-2.0-OpenSSH") && out.contains("| redis-info:"),
        "{out}"
    );
    // --script-help lists what it selects.
    let (help, _) = scan_both(&["--script-help", "default"]);
    assert!(
        help.contains("http-title\nCategories: default discovery safe"),
        "{help}"
    );
    // A selection that matches nothing is an error that names what there is.
    let bad = scan_unprivileged(&["--script", "no-such-script", "198.18.0.10"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("selects no script (built in: banner"),
        "{bad:?}"
    );
    // JSON: a line per script result, with the host and port it is about.
    let json = scan_json(&["--script", "banner", "-n", "-p", "22", &svc]).unwrap();
    let line = json
        .lines()
        .find(|l| l.contains("\"script\""))
        .unwrap_or_else(|| panic!("no script line in {json}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        (v["port"].as_u64(), v["script"]["id"].as_str()),
        (Some(22), Some("banner"))
    );
    // XML with scripts still validates against nmap's DTD.
    let (xml, _) = scan_both(&[
        "-sV",
        "--script",
        "redis-info,banner",
        "-n",
        "-p",
        "6379",
        "-oX",
        "-",
        &svc,
    ]);
    assert_valid_nmap_xml(&xml);
}

#[test]
#[ignore = "needs target/release/scanner: run with `cargo xtask test`"]
fn names_and_categories_never_resolve_to_files_in_the_current_folder() {
    // A folder holding what a bare name or category would have found as a path.
    let planted = "description = 'planted'\ncategories = {'default', 'version'}\nportrule = function() return true end\naction = function() return 'planted' end\n";
    let cwd = ScriptDir::new(
        "planted-cwd",
        &[("banner", planted), ("http-title", planted)],
    );
    for folder in ["default", "version"] {
        std::fs::create_dir_all(cwd.0.join(folder)).unwrap();
        std::fs::write(cwd.0.join(folder).join("x.nse"), planted).unwrap();
    }
    for (spec, expected) in [
        ("default", "http-title\nCategories: default discovery safe"),
        (
            "version",
            "http-server-header\nCategories: version safe discovery",
        ),
        ("banner", "banner\nCategories: discovery safe"),
    ] {
        let out = std::process::Command::new(scanner_binary())
            .args(["--script-help", spec])
            .current_dir(&cwd.0)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains(expected) && !help.contains("planted"),
            "--script-help {spec}:\n{help}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A path is still a path when it looks like one.
    let out = std::process::Command::new(scanner_binary())
        .args(["--script-help", "./default/x.nse"])
        .current_dir(&cwd.0)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("planted"));
}
