//! The Parquet output (`-oP`), read back by DuckDB and pyarrow (which `cargo xtask
//! setup` installs): a sweep's two shards each write a file, the files query together
//! as one table equal to the lab's truth, each row equals the JSON line of the same
//! finding with typed columns (port an unsigned 16-bit integer, time a UTC
//! timestamp, the shard), and an `-sV` scan's rows carry the service, product and
//! version nmap's database names. Run by `cargo xtask test`.

use lab_tests::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use xtask::lab;

/// What pyarrow reads from `file`: each row as (address, port, state, reason, ttl,
/// shard, service, product), plus the column types, as JSON.
const PYARROW: &str = r#"
import json, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
rows = [[r["address"], r["port"], r["state"], r["reason"], r["ttl"], r["shard"],
         r["service"], r["product"]] for r in table.to_pylist()]
types = {f.name: str(f.type) for f in table.schema}
print(json.dumps({"rows": rows, "types": types}))
"#;

/// What DuckDB makes of all of `files` queried as one table.
const DUCKDB: &str = r#"
import json, sys, duckdb
files = "[" + ",".join("'" + f.replace("'", "''") + "'" for f in sys.argv[1:]) + "]"
count, addresses, shards, port_type = duckdb.sql(
    "SELECT count(*), count(DISTINCT address), count(DISTINCT shard), any_value(typeof(port)) "
    f"FROM read_parquet({files})").fetchall()[0]
print(json.dumps([count, addresses, shards, port_type]))
"#;

fn python(script: &str, args: &[&Path]) -> serde_json::Value {
    let python = xtask::tools_python();
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup`",
        python.display()
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn shards_write_parquet_that_duckdb_and_pyarrow_read_as_the_truth() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-parquet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    let mut all_json = BTreeSet::new();
    for shard in ["0/2", "1/2"] {
        let index = &shard[..1];
        let parquet = dir.join(format!("shard-{index}.parquet"));
        let json = scan_output(&[
            "--sweep",
            "--allow-reserved-targets",
            "--no-progress",
            "--seed",
            "3",
            "--shard",
            shard,
            "-p",
            "80",
            "-oP",
            parquet.to_str().unwrap(),
            "-oJ",
            "-",
            "198.19.0.0/20",
        ])
        .unwrap();
        let read = python(PYARROW, &[&parquet]);
        let types = &read["types"];
        assert_eq!(types["port"], "uint16", "{types}");
        assert_eq!(types["time"], "timestamp[us, tz=UTC]", "{types}");
        let from_parquet: BTreeSet<String> = read["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r[5], shard, "the shard column");
                format!(
                    "{}:{} {} {} {}",
                    r[0].as_str().unwrap(),
                    r[1],
                    r[2].as_str().unwrap(),
                    r[3].as_str().unwrap(),
                    r[4]
                )
            })
            .collect();
        let from_json: BTreeSet<String> = json
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                format!(
                    "{}:{} {} {} {}",
                    v["addr"].as_str().unwrap(),
                    v["port"],
                    v["state"].as_str().unwrap(),
                    v["reason"].as_str().unwrap(),
                    v["ttl"]
                )
            })
            .collect();
        assert_eq!(
            from_parquet, from_json,
            "shard {shard}: Parquet rows and JSON lines"
        );
        all_json.extend(from_json);
        files.push(parquet);
    }
    let paths: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let together = python(DUCKDB, &paths);
    assert_eq!(together[0], 4096, "{together}");
    assert_eq!(together[1], 4096, "{together}");
    assert_eq!(together[2], 2, "{together}");
    assert_eq!(together[3], "USMALLINT", "{together}");
    assert_eq!(all_json.len(), sweep_truth("198.19.0.0/20").len());

    // Version detection's fields, from an nmap-style scan.
    let web = lab::host("web").addr.to_string();
    let parquet = dir.join("web.parquet");
    scan_output(&[
        "-sS",
        "-sV",
        "-n",
        "-p",
        "22,80",
        "-oP",
        parquet.to_str().unwrap(),
        &web,
    ])
    .unwrap();
    let read = python(PYARROW, &[&parquet]);
    let rows = read["rows"].as_array().unwrap();
    let http = rows.iter().find(|r| r[1] == 80).expect("port 80");
    assert_eq!(
        (http[6].as_str(), http[7].as_str()),
        (Some("http"), Some("nginx")),
        "{http}"
    );
    let ssh = rows.iter().find(|r| r[1] == 22).expect("port 22");
    assert_eq!(ssh[7].as_str(), Some("OpenSSH"), "{ssh}");
    assert!(
        rows.iter().all(|r| r[5].is_null()),
        "no shard outside a sweep"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
