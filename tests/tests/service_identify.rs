//! The project's own probe database names the lab's TCP daemons (service, product,
//! version where the daemon says it), probing each open port as `-sV` will. The
//! lab-scanner namespace is entered by the test itself, so the connects go into the
//! lab. Run by `cargo xtask test`.

use lab_tests::*;
use scanner::service::identify::identify_tcp;
use scanner::service::probes::ProbeDb;
use scanner::service::OWN_DATABASE;
use std::net::SocketAddr;
use xtask::lab;

/// Runs `f` on a tokio runtime in the lab's scanner namespace (a thread of its own,
/// so the test process's other threads stay where they are).
fn in_lab<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let ns =
            std::fs::File::open(format!("/run/netns/{}", lab::SCANNER_NS)).expect("lab namespace");
        // SAFETY: setns on this thread only, with a valid namespace descriptor.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns into {} (needs root)", lab::SCANNER_NS);
        f()
    })
    .join()
    .expect("lab thread")
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn own_database_names_the_lab_daemons() {
    require_lab();
    let web = lab::host("web").addr;
    let svc = lab::host("svc").addr;
    let dns = lab::host("dns").addr;
    // (address, port, service, product, whether a version must be found)
    let cases = vec![
        (web, 22, "ssh", "OpenSSH", true),
        (web, 80, "http", "nginx", true),
        (svc, 21, "ftp", "vsftpd", true),
        (svc, 6379, "redis", "Redis key-value store", true),
        (svc, 11211, "memcached", "Memcached", true),
        (dns, 53, "domain", "dnsmasq", true),
    ];
    // All ports at once, as the engine will: each waits out its own greeting.
    let results = in_lab(move || {
        let db = std::sync::Arc::new(
            ProbeDb::parse(OWN_DATABASE, "fingerprints/service-probes").unwrap(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (addr, port, service, product, versioned) in cases {
                let db = db.clone();
                tasks.spawn(async move {
                    let found = identify_tcp(&db, SocketAddr::from((addr, port))).await;
                    (addr, port, service, product, versioned, found)
                });
            }
            let mut results = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                results.push(joined.expect("identify task"));
            }
            results
        })
    });
    for (addr, port, service, product, versioned, found) in results {
        let found = found.unwrap_or_else(|| panic!("{addr}:{port}: nothing matched"));
        assert_eq!(found.service, service, "{addr}:{port}: {found:?}");
        assert!(!found.soft, "{addr}:{port}: only a soft match: {found:?}");
        assert_eq!(
            found.info.product.as_deref(),
            Some(product),
            "{addr}:{port}"
        );
        if versioned {
            assert!(
                found.info.version.is_some(),
                "{addr}:{port}: no version: {found:?}"
            );
        }
    }
}
