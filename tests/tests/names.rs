//! Host names as targets, resolved through the lab's DNS (dnsmasq on the dns host):
//! the output names them as nmap does, ndiff agrees with nmap given the same names,
//! and a name that does not resolve is an error naming it. Run by `cargo xtask test`.

use lab_tests::*;
use std::process::Command;

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn names_resolve_and_appear_in_the_output_as_nmap_writes_them() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = dir.join("scanner.xml");
    let names = ["web.lab.test", "far.lab.test", "svc"];
    let found = scan(&[
        "-sS",
        "-p",
        "21,22,80,443",
        "-oX",
        ours.to_str().unwrap(),
        names[0],
        names[1],
        names[2],
    ])
    .unwrap();
    let hosts = vec![
        "198.18.0.10".to_string(),
        "198.18.1.10".to_string(),
        "198.18.0.11".to_string(),
    ];
    assert!(differences(&truth(&hosts, "21,22,80,443"), &found).is_empty());
    let xml = std::fs::read_to_string(&ours).unwrap();
    assert!(
        xml.contains(r#"<hostname name="web.lab.test" type="user"/>"#),
        "{xml}"
    );
    let theirs = nmap_xml(&names, "21,22,80,443", "-sS").unwrap();
    assert_ndiff_agrees(&theirs, &ours);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_name_that_does_not_resolve_is_an_error_naming_it() {
    require_lab();
    let out = Command::new("ip")
        .args(["netns", "exec", xtask::lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(["-sS", "-p", "22", "web.lab.test", "nosuchhost.lab.test"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot resolve target \"nosuchhost.lab.test\""));
}
