//! The project's own probe database (`fingerprints/service-probes`) against answers
//! written from each protocol's specification and the usual servers' greetings: for
//! every service the database covers, the answer a server gives to the probe meant
//! for it names the right service and product. The lab's daemons are checked live by
//! the lab tests; these cover the services the lab does not run.

use scanner::service::load_database;
use scanner::service::probes::Transport;

/// (transport, probe, answer, service, product, version)
type Case = (
    Transport,
    &'static str,
    Vec<u8>,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

fn bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn cases() -> Vec<Case> {
    use Transport::{Tcp, Udp};
    // An SMB 2 NEGOTIATE response: NetBIOS length, the 64-byte SMB 2 header
    // (command 0), then the response body (structure size 65).
    let mut smb2 = b"\xfeSMB\x40\x00".to_vec();
    smb2.extend([0u8; 6]); // credit charge, status
    smb2.extend([0u8; 2]); // command: NEGOTIATE
    smb2.extend([0u8; 50]); // the rest of the header
    smb2.extend(b"\x41\x00\x01\x00\xff\x02");
    smb2.extend([0u8; 58]);
    let mut smb = (smb2.len() as u32).to_be_bytes().to_vec();
    smb.extend(smb2);
    // A MongoDB OP_REPLY to isMaster: header (opcode 1), reply fields, BSON.
    let bson = bytes(&[
        b"\x08ismaster\x00\x01",
        b"\x10maxWireVersion\x00\x15\x00\x00\x00",
        b"\x01ok\x00\x00\x00\x00\x00\x00\x00\xf0\x3f",
    ]);
    let mut doc = ((bson.len() + 5) as u32).to_le_bytes().to_vec();
    doc.extend(&bson);
    doc.push(0);
    let mut reply = vec![0u8; 4]; // length, not checked
    reply.extend(b"\x01\x00\x00\x00\x4e\x5c\x00\x00\x01\x00\x00\x00");
    reply.extend([0u8; 20]);
    reply.extend(doc);
    let mut ntp = vec![0x24u8, 2, 6, 0xe9];
    ntp.extend([0u8; 44]);
    // BIND 9.18's answer to version.bind CH TXT as the coverage lab's bind9 gave it
    // (header, the question, then the TXT record naming the version).
    let bind_udp = bytes(&[
        b"\x5c\x4e\x85\x00\x00\x01\x00\x01\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03",
        b"\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00\x00\x19\x189.18.49-1~deb12u3-Debian",
    ]);
    let mut bind_tcp = (bind_udp.len() as u16).to_be_bytes().to_vec();
    bind_tcp.extend(&bind_udp);
    // A build that does not say Debian.
    let bind_plain = bytes(&[
        b"\x5c\x4e\x85\x00\x00\x01\x00\x01\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03",
        b"\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00\x00\x07\x069.20.4",
    ]);
    vec![
        (Udp, "DNSVersionBindUDP", bind_udp, "domain", Some("ISC BIND"), Some("9.18.49-1~deb12u3")),
        (Tcp, "DNSVersionBindTCP", bind_tcp, "domain", Some("ISC BIND"), Some("9.18.49-1~deb12u3")),
        (Udp, "DNSVersionBindUDP", bind_plain, "domain", Some("ISC BIND"), Some("9.20.4")),
        (Tcp, "GetRequest", b"HTTP/1.1 400 Bad Request\r\nServer: squid/5.7\r\nMime-Version: 1.0\r\n\r\n".to_vec(), "http-proxy", Some("Squid http proxy"), Some("5.7")),
        (Tcp, "NULL", b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n".to_vec(), "ssh", Some("OpenSSH"), Some("9.6p1 Ubuntu 3ubuntu13.5")),
        (Tcp, "NULL", b"SSH-2.0-OpenSSH_8.9\r\n".to_vec(), "ssh", Some("OpenSSH"), Some("8.9")),
        (Tcp, "NULL", b"SSH-2.0-dropbear_2022.83\r\n".to_vec(), "ssh", Some("Dropbear sshd"), Some("2022.83")),
        (Tcp, "NULL", b"220 (vsFTPd 3.0.5)\r\n".to_vec(), "ftp", Some("vsftpd"), Some("3.0.5")),
        (Tcp, "NULL", b"220 ProFTPD 1.3.8 Server (Debian) [::ffff:10.0.0.1]\r\n".to_vec(), "ftp", Some("ProFTPD"), Some("1.3.8")),
        (Tcp, "NULL", b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n".to_vec(), "smtp", Some("Postfix smtpd"), None),
        (Tcp, "NULL", b"220 mx.example.org ESMTP Exim 4.96 Sat, 28 Nov 2026 10:00:00 +0000\r\n".to_vec(), "smtp", Some("Exim smtpd"), Some("4.96")),
        (Tcp, "NULL", b"+OK Dovecot (Debian) ready.\r\n".to_vec(), "pop3", Some("Dovecot pop3d"), None),
        (Tcp, "NULL", b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n".to_vec(), "imap", Some("Dovecot imapd"), None),
        (Tcp, "NULL", b"J\x00\x00\x00\x0a8.0.36\x00\x08\x00\x00\x00abcdefgh\x00".to_vec(), "mysql", Some("MySQL"), Some("8.0.36")),
        (Tcp, "NULL", b"[\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB-0+deb12u1\x00\x08\x00\x00\x00".to_vec(), "mysql", Some("MariaDB"), Some("10.11.6")),
        (Tcp, "NULL", b"RFB 003.008\n".to_vec(), "vnc", Some("VNC"), None),
        (Tcp, "NULL", b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23".to_vec(), "telnet", None, None),
        (Tcp, "GetRequest", b"HTTP/1.1 200 OK\r\nDate: x\r\nServer: Apache/2.4.62 (Debian)\r\n\r\n".to_vec(), "http", Some("Apache httpd"), Some("2.4.62")),
        (Tcp, "GetRequest", b"HTTP/1.1 404 Not Found\r\nServer: Microsoft-IIS/10.0\r\n\r\n".to_vec(), "http", Some("Microsoft IIS httpd"), Some("10.0")),
        (Tcp, "GetRequest", b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n\r\n".to_vec(), "http", Some("SimpleHTTPServer"), Some("0.6")),
        (Tcp, "GetRequest", b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n<html><center>The plain HTTP request was sent to HTTPS port</center>".to_vec(), "ssl/http", Some("nginx"), None),
        (Tcp, "TLSSessionReq", b"\x16\x03\x03\x00\x51\x02\x00\x00\x4d\x03\x03abcdefgh".to_vec(), "ssl", Some("TLS"), None),
        (Tcp, "TLSSessionReq", b"\x15\x03\x03\x00\x02\x02\x28".to_vec(), "ssl", None, None),
        (Tcp, "RTSPRequest", b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: GStreamer RTSP server\r\n\r\n".to_vec(), "rtsp", Some("GStreamer rtspd"), None),
        (Tcp, "PostgresStartup", b"R\x00\x00\x00\x0c\x00\x00\x00\x05salt".to_vec(), "postgresql", Some("PostgreSQL DB"), None),
        (Tcp, "PostgresStartup", b"E\x00\x00\x00\x55SFATAL\x00VFATAL\x00C28000\x00Mno pg_hba.conf entry\x00\x00".to_vec(), "postgresql", Some("PostgreSQL DB"), None),
        (Tcp, "MongoIsMaster", reply, "mongodb", Some("MongoDB"), None),
        (Tcp, "LDAPSearchReq", b"0\x0c\x02\x01\x07e\x07\x0a\x01\x00\x04\x00\x04\x00".to_vec(), "ldap", Some("LDAP directory"), None),
        (Tcp, "SMBNegotiate", smb, "microsoft-ds", None, None),
        (Tcp, "RDPConnect", b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00".to_vec(), "ms-wbt-server", None, None),
        (Tcp, "MQTTConnect", b"\x20\x02\x00\x00".to_vec(), "mqtt", None, None),
        (Tcp, "SIPOptions", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP nm\r\nServer: Asterisk PBX 20.5.0\r\n\r\n".to_vec(), "sip", Some("Asterisk PBX"), Some("20.5.0")),
        (Tcp, "RedisInfo", b"-NOAUTH Authentication required.\r\n".to_vec(), "redis", Some("Redis key-value store"), None),
        (Tcp, "MemcachedVersion", b"VERSION 1.6.21\r\n".to_vec(), "memcached", Some("Memcached"), Some("1.6.21")),
        (Udp, "NTPRequest", ntp, "ntp", Some("NTP"), None),
        (Udp, "SIPOptionsUDP", b"SIP/2.0 200 OK\r\nUser-Agent: FPBX-16.0.40\r\n\r\n".to_vec(), "sip", Some("FPBX-16.0.40"), None),
        (Udp, "MemcachedVersionUDP", b"\x5c\x4e\x00\x00\x00\x01\x00\x00VERSION 1.6.21\r\n".to_vec(), "memcached", Some("Memcached"), Some("1.6.21")),
    ]
}

#[test]
fn every_covered_service_is_named_from_its_answer() {
    let db = load_database(None).unwrap();
    let mut wrong = Vec::new();
    for (transport, probe, answer, service, product, version) in cases() {
        let probe = db
            .probe(transport, probe)
            .unwrap_or_else(|| panic!("the database has no {transport:?} probe {probe}"));
        let hit = db.match_response(probe, &answer, None);
        let right = hit.as_ref().is_some_and(|hit| {
            hit.service == service
                && (product.is_none() || hit.info.product.as_deref() == product)
                && (version.is_none() || hit.info.version.as_deref() == version)
        });
        match hit {
            _ if right => {}
            other => wrong.push(format!(
                "{} answered {:?}: expected {service} {product:?} {version:?}, got {other:?}",
                probe.name,
                String::from_utf8_lossy(&answer)
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_issue_s_services_all_have_lines() {
    let db = load_database(None).unwrap();
    let named = |service: &str| {
        db.probes
            .iter()
            .any(|p| p.matches.iter().any(|m| m.service == service))
    };
    for service in [
        "ssh",
        "http",
        "ssl/http",
        "ftp",
        "smtp",
        "pop3",
        "imap",
        "telnet",
        "domain",
        "snmp",
        "ntp",
        "redis",
        "memcached",
        "mysql",
        "postgresql",
        "mongodb",
        "ldap",
        "microsoft-ds",
        "ms-wbt-server",
        "vnc",
        "sip",
        "mqtt",
        "rtsp",
        "ssl",
    ] {
        assert!(named(service), "no match line names {service}");
    }
}
