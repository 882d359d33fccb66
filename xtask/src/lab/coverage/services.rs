//! What the coverage lab runs: each daemon's packages, configuration, command line
//! and ports ([`SERVICES`]). Configurations are written from the daemons' own
//! documentation; `{dir}` stands for the daemon's folder, `{addr}` for its address,
//! `{addr:NAME}` for daemon NAME's address and `{unpacked}` for the folder its
//! unpacked packages are in (see [`CoverageService`]).

use super::CoverageService;

/// The daemons of the coverage lab, in address order.
pub const SERVICES: &[CoverageService] = &[
    CoverageService {
        name: "apache",
        packages: &["apache2"],
        unpack: &[],
        files: &[
            ("httpd.conf", APACHE_CONF),
            ("htdocs/index.html", "coverage apache2\n"),
        ],
        prepare: "mkdir -p {dir}/logs",
        start: "/usr/sbin/apache2 -f {dir}/httpd.conf -DFOREGROUND",
        tcp: &[80],
        udp: &[],
    },
    CoverageService {
        name: "lighttpd",
        packages: &["lighttpd"],
        unpack: &[],
        files: &[
            ("lighttpd.conf", LIGHTTPD_CONF),
            ("htdocs/index.html", "coverage lighttpd\n"),
        ],
        // It opens its log after dropping to www-data.
        prepare: "mkdir -p {dir}/logs && chown www-data:www-data {dir}/logs",
        start: "/usr/sbin/lighttpd -D -f {dir}/lighttpd.conf",
        tcp: &[80],
        udp: &[],
    },
    CoverageService {
        name: "bind",
        packages: &["bind9"],
        unpack: &[],
        files: &[("named.conf", NAMED_CONF), ("coverage.zone", NAMED_ZONE)],
        prepare: "mkdir -p {dir}/data && chown bind:bind {dir}/data",
        start: "/usr/sbin/named -f -u bind -c {dir}/named.conf -L {dir}/data/named.log",
        tcp: &[53],
        udp: &[53],
    },
    CoverageService {
        name: "squid",
        packages: &["squid"],
        unpack: &[],
        files: &[("squid.conf", SQUID_CONF)],
        prepare: "mkdir -p {dir}/logs && chown -R proxy:proxy {dir}/logs",
        start: "/usr/sbin/squid -N -f {dir}/squid.conf",
        tcp: &[3128],
        udp: &[],
    },
    CoverageService {
        name: "mosquitto",
        packages: &["mosquitto"],
        unpack: &[],
        files: &[("mosquitto.conf", MOSQUITTO_CONF)],
        // It writes its pid file after dropping to its user.
        prepare: "chown mosquitto {dir}",
        start: "/usr/sbin/mosquitto -c {dir}/mosquitto.conf",
        tcp: &[1883],
        udp: &[],
    },
    CoverageService {
        name: "exim",
        packages: &["exim4-daemon-light"],
        unpack: &[],
        files: &[("exim4.conf", EXIM_CONF)],
        prepare: "mkdir -p {dir}/spool {dir}/exim-log && chown -R Debian-exim:Debian-exim {dir}/spool {dir}/exim-log",
        start: "/usr/sbin/exim4 -C {dir}/exim4.conf -bdf -q30m",
        tcp: &[25],
        udp: &[],
    },
    CoverageService {
        name: "dovecot",
        packages: &["dovecot-imapd", "dovecot-pop3d"],
        unpack: &[],
        files: &[("dovecot.conf", DOVECOT_CONF)],
        prepare: "mkdir -p {dir}/run {dir}/state {dir}/mail && chown nobody:nogroup {dir}/mail",
        start: "/usr/sbin/dovecot -F -c {dir}/dovecot.conf",
        tcp: &[110, 143],
        udp: &[],
    },
    CoverageService {
        name: "unbound",
        packages: &["unbound"],
        unpack: &[],
        files: &[("unbound.conf", UNBOUND_CONF)],
        prepare: "",
        start: "/usr/sbin/unbound -d -c {dir}/unbound.conf",
        tcp: &[53],
        udp: &[53],
    },
    CoverageService {
        name: "ngircd",
        packages: &["ngircd"],
        unpack: &[],
        files: &[("ngircd.conf", NGIRCD_CONF)],
        prepare: "",
        start: "/usr/sbin/ngircd -n -f {dir}/ngircd.conf",
        tcp: &[6667],
        udp: &[],
    },
    CoverageService {
        name: "rsync",
        packages: &["rsync"],
        unpack: &[],
        files: &[
            ("rsyncd.conf", RSYNCD_CONF),
            ("share/readme.txt", "coverage rsync\n"),
        ],
        prepare: "",
        start: "/usr/bin/rsync --daemon --no-detach --config={dir}/rsyncd.conf",
        tcp: &[873],
        udp: &[],
    },
    CoverageService {
        name: "gitdaemon",
        packages: &["git"],
        unpack: &[],
        files: &[],
        prepare: GIT_REPO_SCRIPT,
        // /usr/bin/git, not a newer git earlier in PATH: Debian's is what users meet.
        start: "/usr/bin/git daemon --reuseaddr --listen={addr} --port=9418 --base-path={dir}/repos --export-all --user=nobody --group=nogroup --pid-file={dir}/git-daemon.pid --verbose {dir}/repos",
        tcp: &[9418],
        udp: &[],
    },
    CoverageService {
        name: "slapd",
        packages: &["slapd"],
        unpack: &[],
        files: &[("slapd.conf", SLAPD_CONF)],
        prepare: "mkdir -p {dir}/data {dir}/run && chown openldap:openldap {dir}/data {dir}/run",
        // Any -d keeps it in the foreground; 0 keeps it quiet.
        start: "/usr/sbin/slapd -d 0 -h ldap://{addr}:389/ -u openldap -g openldap -f {dir}/slapd.conf",
        tcp: &[389],
        udp: &[],
    },
    CoverageService {
        name: "cups",
        packages: &["cups-daemon"],
        unpack: &[],
        files: &[
            ("cups-files.conf", CUPS_FILES_CONF),
            ("cupsd.conf", CUPSD_CONF),
        ],
        prepare: "mkdir -p {dir}/etc/ppd {dir}/spool/tmp {dir}/cache {dir}/state {dir}/logs",
        start: "/usr/sbin/cupsd -f -c {dir}/cupsd.conf -s {dir}/cups-files.conf",
        tcp: &[631],
        udp: &[],
    },
    CoverageService {
        name: "samba",
        packages: &["samba"],
        unpack: &[],
        files: &[("smb.conf", SMB_CONF)],
        prepare: "mkdir -p {dir}/private {dir}/lock {dir}/state {dir}/cache {dir}/run {dir}/ncalrpc {dir}/logs {dir}/share",
        start: "/usr/sbin/smbd --foreground --no-process-group --debug-stdout -s {dir}/smb.conf",
        tcp: &[139, 445],
        udp: &[],
    },
    CoverageService {
        name: "nmbd",
        packages: &["samba"],
        unpack: &[],
        files: &[("smb.conf", NMB_CONF)],
        prepare: "mkdir -p {dir}/private {dir}/lock {dir}/state {dir}/cache {dir}/run {dir}/ncalrpc {dir}/logs",
        // It binds 0.0.0.0:137 and :138 as well, and keeps /run/samba/nmbd/unexpected
        // (fixed): one per machine.
        start: "/usr/sbin/nmbd --foreground --no-process-group --debug-stdout -s {dir}/smb.conf",
        tcp: &[],
        udp: &[137],
    },
    CoverageService {
        name: "mariadb",
        packages: &["mariadb-server"],
        unpack: &[],
        files: &[("init.sql", MARIADB_INIT)],
        prepare: "mkdir -p {dir}/data {dir}/run {dir}/tmp && chown mysql:mysql {dir}/data {dir}/run {dir}/tmp\n\
                  /usr/bin/mariadb-install-db --no-defaults --datadir={dir}/data --user=mysql --auth-root-authentication-method=normal --skip-test-db >{dir}/install-db.log 2>&1",
        // --no-defaults must come first: /etc/mysql is not read.
        start: "/usr/sbin/mariadbd --no-defaults --datadir={dir}/data --socket={dir}/run/mysqld.sock --pid-file={dir}/run/mysqld.pid --bind-address={addr} --port=3306 --user=mysql --skip-name-resolve --tmpdir={dir}/tmp --init-file={dir}/init.sql --innodb-buffer-pool-size=32M",
        tcp: &[3306],
        udp: &[],
    },
    CoverageService {
        name: "postgres",
        packages: &["postgresql-15"],
        unpack: &[],
        files: &[],
        prepare: "mkdir -p {dir}/data {dir}/run && chown postgres:postgres {dir}/data {dir}/run && chmod 700 {dir}/data\n\
                  /usr/sbin/runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D {dir}/data -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >{dir}/initdb.log\n\
                  echo 'host all all 0.0.0.0/0 scram-sha-256' >>{dir}/data/pg_hba.conf",
        // The cluster binaries themselves, not Debian's pg_ctlcluster (it wants /etc/postgresql);
        // postgres refuses to run as root.
        start: "/usr/bin/setpriv --reuid=postgres --regid=postgres --init-groups /usr/lib/postgresql/15/bin/postgres -D {dir}/data -c listen_addresses={addr} -c port=5432 -c unix_socket_directories={dir}/run",
        tcp: &[5432],
        udp: &[],
    },
    CoverageService {
        name: "nodeexporter",
        packages: &["prometheus-node-exporter"],
        unpack: &[],
        files: &[],
        prepare: "",
        start: "/usr/bin/prometheus-node-exporter --web.listen-address={addr}:9100 --no-collector.systemd",
        tcp: &[9100],
        udp: &[],
    },
    CoverageService {
        name: "prosody",
        packages: &["prosody"],
        unpack: &[],
        files: &[("prosody.cfg.lua", PROSODY_CONF)],
        prepare: "mkdir -p {dir}/data",
        // The attributes of its stream headers come in an order that changes from start to
        // start (Lua seeds its string hashing at random), and what nmap's database says with it.
        start: "/usr/bin/prosody -F --config {dir}/prosody.cfg.lua",
        tcp: &[5222, 5269],
        udp: &[],
    },
    CoverageService {
        name: "coturn",
        packages: &["coturn"],
        unpack: &[],
        files: &[("turnserver.conf", TURNSERVER_CONF)],
        prepare: "",
        start: "/usr/bin/turnserver -c {dir}/turnserver.conf",
        tcp: &[3478],
        udp: &[3478],
    },
    CoverageService {
        name: "tftpd",
        packages: &["tftpd-hpa"],
        unpack: &[],
        files: &[("root/hello.txt", "coverage tftpd\n")],
        prepare: "",
        start: "/usr/sbin/in.tftpd -L -u tftp -a {addr}:69 -s {dir}/root",
        tcp: &[],
        udp: &[69],
    },
    CoverageService {
        name: "nrpe",
        packages: &["nagios-nrpe-server"],
        unpack: &[],
        files: &[("nrpe.cfg", NRPE_CONF)],
        prepare: "",
        start: "/usr/sbin/nrpe -c {dir}/nrpe.cfg -f",
        tcp: &[5666],
        udp: &[],
    },
    CoverageService {
        name: "zabbix",
        packages: &["zabbix-agent"],
        unpack: &[],
        files: &[("zabbix_agentd.conf", ZABBIX_AGENTD_CONF)],
        prepare: "",
        start: "/usr/sbin/zabbix_agentd -f -c {dir}/zabbix_agentd.conf",
        tcp: &[10050],
        udp: &[],
    },
    CoverageService {
        name: "munin",
        packages: &["munin-node"],
        unpack: &[],
        files: &[("munin-node.conf", MUNIN_NODE_CONF)],
        prepare: "",
        start: "/usr/sbin/munin-node --config {dir}/munin-node.conf",
        tcp: &[4949],
        udp: &[],
    },
    CoverageService {
        name: "xrdp",
        packages: &["xrdp"],
        unpack: &[],
        files: &[("xrdp.ini", XRDP_INI)],
        prepare: "openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=coverage.lab.test -keyout {dir}/key.pem -out {dir}/cert.pem 2>/dev/null",
        // It makes /run/xrdp/sockdir (fixed): one per machine.
        start: "/usr/sbin/xrdp -n -c {dir}/xrdp.ini",
        tcp: &[3389],
        udp: &[],
    },
    CoverageService {
        name: "vnc",
        packages: &["tigervnc-standalone-server", "tigervnc-tools"],
        unpack: &[],
        files: &[],
        prepare: "echo coverage | /usr/bin/vncpasswd -f >{dir}/passwd && chmod 600 {dir}/passwd",
        // Display :1 makes /tmp/.X1-lock (fixed): one per machine.
        // -listen tcp: its X11 display on TCP 6001 too (access control on: a remote
        // client is refused, as on any X server reachable from a network).
        start: "/usr/bin/Xvnc :1 -rfbport 5901 -interface {addr} -localhost=0 -SecurityTypes VncAuth -PasswordFile {dir}/passwd -listen tcp -geometry 800x600 -depth 24 -desktop coverage",
        tcp: &[5901, 6001],
        udp: &[],
    },
    CoverageService {
        name: "chrony",
        packages: &[],
        unpack: &["chrony"],
        files: &[("chrony.conf", CHRONY_CONF)],
        prepare: "",
        // From the package unpacked by setup (installing it would remove systemd-timesyncd);
        // -x: never touch the clock; -u nobody: its own user _chrony is made by its postinst.
        start: "{unpacked}/usr/sbin/chronyd -4 -d -x -u nobody -f {dir}/chrony.conf",
        tcp: &[],
        udp: &[123],
    },
    CoverageService {
        name: "rpcbind",
        packages: &["rpcbind"],
        unpack: &[],
        files: &[],
        prepare: "",
        // It binds every address of its namespace (its -h crashes) and keeps
        // /run/rpcbind.sock and /run/rpcbind (fixed): one per machine.
        start: "/usr/sbin/rpcbind -f",
        tcp: &[111],
        udp: &[111],
    },
    CoverageService {
        name: "telnetd",
        packages: &["inetutils-telnetd", "socat"],
        unpack: &[],
        files: &[],
        prepare: "",
        // inetutils' telnetd runs from inetd only: socat hands it each connection's socket
        // as its standard streams (nofork), as inetd would.
        start: "/usr/bin/socat TCP-LISTEN:23,bind={addr},reuseaddr,fork EXEC:/usr/sbin/telnetd,nofork",
        tcp: &[23],
        udp: &[],
    },
    CoverageService {
        name: "proftpd",
        packages: &[],
        unpack: &[
            "proftpd-core",
            "libhashkit2",
            "libmemcached11",
            "libmemcachedutil2",
            "libpcre2-posix3",
        ],
        files: &[
            ("proftpd.conf", PROFTPD_CONF),
            ("ftproot/readme.txt", "coverage proftpd\n"),
        ],
        prepare: "",
        // From the packages unpacked by setup (installing proftpd-basic would remove vsftpd).
        start: "env LD_LIBRARY_PATH={unpacked}/usr/lib/x86_64-linux-gnu {unpacked}/usr/sbin/proftpd -n -c {dir}/proftpd.conf",
        tcp: &[21],
        udp: &[],
    },
    CoverageService {
        name: "stunnel",
        packages: &["stunnel4"],
        unpack: &[],
        files: &[("stunnel.conf", STUNNEL_CONF)],
        prepare: "openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=coverage.lab.test -keyout {dir}/key.pem -out {dir}/cert.pem 2>/dev/null",
        start: "/usr/bin/stunnel4 {dir}/stunnel.conf",
        tcp: &[443, 993, 995],
        udp: &[],
    },
    CoverageService {
        name: "kerberos",
        packages: &["krb5-kdc"],
        unpack: &[],
        files: &[("krb5.conf", KRB5_CONF), ("kdc.conf", KDC_CONF)],
        prepare: "KRB5_CONFIG={dir}/krb5.conf KRB5_KDC_PROFILE={dir}/kdc.conf /usr/sbin/kdb5_util create -s -r COVERAGE.LAB.TEST -P coverage >/dev/null",
        start: "env KRB5_CONFIG={dir}/krb5.conf KRB5_KDC_PROFILE={dir}/kdc.conf /usr/sbin/krb5kdc -n -r COVERAGE.LAB.TEST",
        tcp: &[88],
        udp: &[88],
    },
    CoverageService {
        name: "avahi",
        packages: &["avahi-daemon"],
        unpack: &[],
        files: &[("avahi-daemon.conf", AVAHI_CONF)],
        prepare: "",
        // Its pid file's path is fixed (/run/avahi-daemon/pid): a mount namespace of its
        // own gives it a private one, so an avahi-daemon of the machine's is no matter.
        start: "unshare -m --propagation private sh -c 'mkdir -p /run/avahi-daemon && mount -t tmpfs coverage /run/avahi-daemon && exec /usr/sbin/avahi-daemon --no-drop-root --no-chroot --no-rlimits -f {dir}/avahi-daemon.conf'",
        tcp: &[],
        udp: &[5353],
    },
    CoverageService {
        name: "dropbear",
        packages: &["dropbear-bin"],
        unpack: &[],
        files: &[],
        prepare: "/usr/bin/dropbearkey -t ed25519 -f {dir}/host_ed25519 >/dev/null 2>&1",
        start: "/usr/sbin/dropbear -F -E -s -p {addr}:22 -r {dir}/host_ed25519 -P {dir}/dropbear.pid",
        tcp: &[22],
        udp: &[],
    },
    CoverageService {
        name: "openvpn",
        packages: &["openvpn"],
        unpack: &[],
        files: &[("udp.conf", OPENVPN_UDP_CONF), ("tcp.conf", OPENVPN_TCP_CONF)],
        prepare: "openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=vpn.coverage.lab.test -keyout {dir}/key.pem -out {dir}/cert.pem 2>/dev/null",
        // One OpenVPN 2.6 serves one transport: two servers, each with its own tun.
        start: "/usr/sbin/openvpn --config {dir}/udp.conf & exec /usr/sbin/openvpn --config {dir}/tcp.conf",
        tcp: &[1194],
        udp: &[1194],
    },
    CoverageService {
        name: "kamailio",
        packages: &["kamailio"],
        unpack: &[],
        files: &[("kamailio.cfg", KAMAILIO_CFG)],
        prepare: "",
        start: "/usr/sbin/kamailio -DD -E -f {dir}/kamailio.cfg -Y {dir} -P {dir}/kamailio.pid",
        tcp: &[5060],
        udp: &[5060],
    },
    CoverageService {
        name: "minidlna",
        packages: &["minidlna"],
        unpack: &[],
        files: &[("minidlna.conf", MINIDLNA_CONF)],
        prepare: "mkdir -p {dir}/media {dir}/db",
        // -S: in the foreground, as under systemd.
        start: "/usr/sbin/minidlnad -S -f {dir}/minidlna.conf -P {dir}/minidlna.pid",
        // Its SSDP socket is bound to the multicast group only: UDP 1900 of its address
        // is closed to a unicast M-SEARCH.
        tcp: &[8200],
        udp: &[],
    },
];

/// Exim as a receiving MTA that relays for nobody; no STARTTLS.
const EXIM_CONF: &str = "keep_environment =
primary_hostname = mail.coverage.lab.test
spool_directory = {dir}/spool
log_file_path = {dir}/exim-log/%slog
pid_file_path = {dir}/exim.pid
daemon_smtp_ports = 25
local_interfaces = <; {addr}
tls_advertise_hosts =
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  deny message = relay not permitted
";

/// Dovecot's IMAP and POP3 in one process, plain text, any user with one password.
const DOVECOT_CONF: &str = "base_dir = {dir}/run
state_dir = {dir}/state
instance_name = coverage-dovecot
protocols = imap pop3
listen = {addr}
ssl = no
disable_plaintext_auth = no
log_path = {dir}/dovecot.log
mail_location = maildir:{dir}/mail/%u
passdb {
  driver = static
  args = password=coverage
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home={dir}/mail/%u
}
";

/// A resolver for one local zone that tells its version (as Debian ships it).
const UNBOUND_CONF: &str = "server:
  interface: {addr}
  port: 53
  do-ip6: no
  access-control: 0.0.0.0/0 allow
  username: \"\"
  chroot: \"\"
  directory: \"{dir}\"
  pidfile: \"{dir}/unbound.pid\"
  logfile: \"\"
  use-syslog: no
  hide-version: no
  num-threads: 1
  do-not-query-localhost: yes
  local-zone: \"coverage.test.\" static
  local-data: \"coverage.test. IN A {addr}\"
remote-control:
  control-enable: no
";

/// An IRC server that looks nothing up about its clients and limits none.
const NGIRCD_CONF: &str = "[Global]
  Name = irc.coverage.lab.test
  Info = coverage lab IRC
  Listen = {addr}
  Ports = 6667
  PidFile = {dir}/ngircd.pid
  ServerUID = irc
  ServerGID = irc
[Limits]
  MaxConnectionsIP = 0
[Options]
  PAM = no
  Ident = no
  DNS = no
";

/// Apache with the Debian build's modules, its headers saying "Apache/VERSION (Debian)".
const APACHE_CONF: &str = "ServerRoot /etc/apache2
ServerName coverage.lab.test
Listen {addr}:80
PidFile {dir}/apache2.pid
Mutex file:{dir}
DefaultRuntimeDir {dir}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
User www-data
Group www-data
ServerTokens OS
ErrorLog {dir}/logs/error.log
DocumentRoot {dir}/htdocs
<Directory />
  Require all granted
</Directory>
DirectoryIndex index.html
TypesConfig /etc/mime.types
";

const LIGHTTPD_CONF: &str = "server.document-root = \"{dir}/htdocs\"
server.bind = \"{addr}\"
server.port = 80
server.pid-file = \"{dir}/lighttpd.pid\"
server.errorlog = \"{dir}/logs/error.log\"
server.username = \"www-data\"
server.groupname = \"www-data\"
server.modules = ( \"mod_staticfile\" )
index-file.names = ( \"index.html\" )
mimetype.assign = ( \".html\" => \"text/html\" )
";

/// An authoritative server for one small zone, its version string left as Debian
/// builds it; no rndc.
const NAMED_CONF: &str = "options {
  directory \"{dir}/data\";
  pid-file \"{dir}/data/named.pid\";
  session-keyfile \"{dir}/data/session.key\";
  managed-keys-directory \"{dir}/data\";
  listen-on port 53 { {addr}; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  dnssec-validation no;
};
controls { };
zone \"coverage.test\" {
  type primary;
  file \"{dir}/coverage.zone\";
};
";

const NAMED_ZONE: &str = "$TTL 300
@   IN SOA ns.coverage.test. hostmaster.coverage.test. ( 1 3600 600 86400 300 )
    IN NS  ns.coverage.test.
ns  IN A   {addr}
";

/// A memory-only cache that serves nobody (its error pages still name it).
const SQUID_CONF: &str = "http_port {addr}:3128
http_access deny all
cache_effective_user proxy
pid_filename {dir}/squid.pid
access_log {dir}/logs/access.log
cache_log {dir}/logs/cache.log
cache_store_log none
coredump_dir {dir}
visible_hostname coverage.lab.test
shutdown_lifetime 1 seconds
";

const MOSQUITTO_CONF: &str = "listener 1883 {addr}
allow_anonymous true
pid_file {dir}/mosquitto.pid
persistence false
log_dest stderr
user mosquitto
";

/// An rsync daemon with one read-only module, transfers as nobody.
const RSYNCD_CONF: &str = "pid file = {dir}/rsyncd.pid
lock file = {dir}/rsyncd.lock
log file = {dir}/rsyncd.log
address = {addr}
port = 873
use chroot = no
uid = nobody
gid = nogroup
read only = yes
[pub]
  path = {dir}/share
  comment = coverage lab files
";

/// Makes a bare repository with one commit for git-daemon to serve; owned by nobody,
/// whom the daemon runs as (git refuses repositories of another owner).
const GIT_REPO_SCRIPT: &str = "mkdir -p {dir}/repos
/usr/bin/git init -q --bare {dir}/repos/project.git
cd {dir}/repos/project.git
/usr/bin/git symbolic-ref HEAD refs/heads/main
blob=$(echo coverage | /usr/bin/git hash-object -w --stdin)
tree=$(printf '100644 blob %s\\tREADME\\n' $blob | /usr/bin/git mktree)
commit=$(GIT_AUTHOR_NAME=lab GIT_AUTHOR_EMAIL=lab@coverage.lab.test GIT_COMMITTER_NAME=lab GIT_COMMITTER_EMAIL=lab@coverage.lab.test GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z' /usr/bin/git commit-tree $tree -m coverage)
/usr/bin/git update-ref refs/heads/main $commit
chown -R nobody:nogroup {dir}/repos
";

/// OpenLDAP with one empty MDB database that anyone may read.
const SLAPD_CONF: &str = "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/run/slapd.pid
argsfile {dir}/run/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix \"dc=coverage,dc=test\"
rootdn \"cn=admin,dc=coverage,dc=test\"
rootpw coverage
directory {dir}/data
access to * by * read
";

/// Where cupsd keeps its state: all in its folder.
const CUPS_FILES_CONF: &str = "SystemGroup root
User lp
Group lp
ServerRoot {dir}/etc
RequestRoot {dir}/spool
TempDir {dir}/spool/tmp
CacheDir {dir}/cache
StateDir {dir}/state
AccessLog {dir}/logs/access_log
ErrorLog {dir}/logs/error_log
PageLog {dir}/logs/page_log
FileDevice No
";

/// A print server with no printers that browses nothing and lets anyone read
/// (it will not start without a local socket too).
const CUPSD_CONF: &str = "LogLevel warn
Listen {addr}:631
Listen {dir}/cups.sock
ServerName coverage.lab.test
Browsing No
BrowseLocalProtocols none
WebInterface Yes
<Location />
  Order allow,deny
  Allow all
</Location>
";

/// The `[global]` settings smbd and nmbd share: workgroup COVERAGE, the daemon's
/// address only, every folder under `{dir}`, no printers.
macro_rules! samba_global {
    ($netbios_name:literal) => {
        concat!(
            "[global]
  workgroup = COVERAGE
  netbios name = ",
            $netbios_name,
            "
  server role = standalone server
  interfaces = {addr}
  bind interfaces only = yes
  private dir = {dir}/private
  lock directory = {dir}/lock
  state directory = {dir}/state
  cache directory = {dir}/cache
  pid directory = {dir}/run
  ncalrpc dir = {dir}/ncalrpc
  log file = {dir}/logs/log.%m
  load printers = no
"
        )
    };
}

/// Samba as a standalone file server with one public share that guests may read.
const SMB_CONF: &str = concat!(
    samba_global!("COVSMB"),
    "  smb ports = 445 139
  passdb backend = tdbsam:{dir}/private/passdb.tdb
  map to guest = Bad User
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  usershare path =
[public]
  path = {dir}/share
  guest ok = yes
  read only = yes
"
);

/// Samba's NetBIOS name server for the workgroup COVERAGE.
const NMB_CONF: &str = samba_global!("COVNMB");

/// Run at each start: an account for any host, so that the scanner
/// gets the server's greeting rather than "Host ... is not allowed to connect".
const MARIADB_INIT: &str = "CREATE USER IF NOT EXISTS 'coverage'@'%' IDENTIFIED BY 'coverage';
";

/// An XMPP server for one virtual host, no TLS, in the foreground as root
/// (mod_posix, which would daemonize and change user, is off).
const PROSODY_CONF: &str = "daemonize = false
pidfile = \"{dir}/prosody.pid\"
data_path = \"{dir}/data\"
log = { { levels = { min = \"info\" }, to = \"console\" } }
interfaces = { \"{addr}\" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_require_encryption = false
s2s_require_encryption = false
s2s_secure_auth = false
authentication = \"internal_hashed\"
modules_enabled = { \"disco\", \"roster\", \"saslauth\", \"ping\", \"version\", \"uptime\", \"time\" }
modules_disabled = { \"posix\" }
VirtualHost \"coverage.lab.test\"
";

/// A STUN/TURN server without authentication, TLS or its telnet CLI.
const TURNSERVER_CONF: &str = "listening-port=3478
listening-ip={addr}
relay-ip={addr}
realm=coverage.lab.test
server-name=coverage.lab.test
fingerprint
no-auth
no-tls
no-dtls
no-cli
no-multicast-peers
userdb={dir}/turndb
pidfile={dir}/turnserver.pid
log-file=stdout
simple-log
";

/// Nagios' remote plugin executor, for any client (a /0 mask would match none).
const NRPE_CONF: &str = "pid_file={dir}/nrpe.pid
server_port=5666
server_address={addr}
nrpe_user=nagios
nrpe_group=nagios
allowed_hosts=0.0.0.0/1,128.0.0.0/1
dont_blame_nrpe=0
allow_bash_command_substitution=0
command_timeout=60
connection_timeout=300
disable_syslog=1
log_file={dir}/nrpe.log
command[check_users]=/usr/lib/nagios/plugins/check_users -w 5 -c 10
";

/// A passive Zabbix agent that answers any server, as root.
const ZABBIX_AGENTD_CONF: &str = "PidFile={dir}/zabbix_agentd.pid
LogType=console
ListenIP={addr}
ListenPort=10050
Server=0.0.0.0/0
ServerActive=
Hostname=coverage
AllowRoot=1
";

/// A munin node for any client, its plugins Debian's (/etc/munin/plugins).
const MUNIN_NODE_CONF: &str = "log_level 4
log_file {dir}/munin-node.log
pid_file {dir}/munin-node.pid
background 0
setsid 0
user root
group root
host_name coverage.lab.test
cidr_allow 0.0.0.0/0
host {addr}
port 4949
";

/// xrdp's listener only (no sesman: nothing logs in), TLS with our own certificate.
const XRDP_INI: &str = "[Globals]
ini_version=1
fork=true
port=tcp://{addr}:3389
security_layer=negotiate
crypt_level=high
certificate={dir}/cert.pem
key_file={dir}/key.pem
ssl_protocols=TLSv1.2, TLSv1.3
[Logging]
LogFile={dir}/xrdp.log
LogLevel=INFO
EnableSyslog=false
EnableConsole=true
ConsoleLevel=INFO
[Channels]
[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
ip=127.0.0.1
port=-1
code=20
";

/// An NTP server that serves its own clock at stratum 10 and never sets it.
const CHRONY_CONF: &str = "bindaddress {addr}
port 123
allow all
cmdport 0
bindcmdaddress /
local stratum 10
driftfile {dir}/chrony.drift
pidfile {dir}/chronyd.pid
logdir {dir}
";

/// ProFTPD as Debian configures it, anonymous read-only, everything in its folder.
const PROFTPD_CONF: &str = "ServerName \"Debian\"
ServerType standalone
DefaultServer on
DefaultAddress {addr}
SocketBindTight on
Port 21
UseIPv6 off
User nobody
Group nogroup
UseReverseDNS off
PidFile {dir}/proftpd.pid
ScoreboardFile {dir}/proftpd.scoreboard
DelayTable {dir}/proftpd.delay
SystemLog {dir}/proftpd.log
TransferLog {dir}/xferlog
WtmpLog off
ControlsEngine off
DefaultRoot ~
<Anonymous {dir}/ftproot>
  User nobody
  Group nogroup
  UserAlias anonymous nobody
  RequireValidShell off
  <Limit WRITE>
    DenyAll
  </Limit>
</Anonymous>
";

/// TLS in front of the apache and dovecot daemons: HTTPS, IMAPS and POP3S with a
/// self-signed certificate.
const STUNNEL_CONF: &str = "foreground = yes
pid =
cert = {dir}/cert.pem
key = {dir}/key.pem
[https]
accept = {addr}:443
connect = {addr:apache}:80
[imaps]
accept = {addr}:993
connect = {addr:dovecot}:143
[pop3s]
accept = {addr}:995
connect = {addr:dovecot}:110
";

/// MIT Kerberos: one realm, its database and stash in the daemon's folder, logging to
/// its output.
const KRB5_CONF: &str = "[libdefaults]
  default_realm = COVERAGE.LAB.TEST
[realms]
  COVERAGE.LAB.TEST = {
    kdc = {addr}
  }
[logging]
  kdc = STDERR
";

/// The KDC's own profile: UDP and TCP port 88, everything under `{dir}`.
const KDC_CONF: &str = "[kdcdefaults]
  kdc_ports = 88
  kdc_tcp_ports = 88
[realms]
  COVERAGE.LAB.TEST = {
    database_name = {dir}/principal
    key_stash_file = {dir}/stash
    acl_file = {dir}/kadm5.acl
    kdc_ports = 88
    kdc_tcp_ports = 88
  }
";

/// Avahi publishing its workstation record on the lab's link only, without D-Bus.
const AVAHI_CONF: &str = "[server]
host-name=coverage
use-ipv4=yes
use-ipv6=no
enable-dbus=no
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[publish]
publish-workstation=yes
publish-hinfo=yes
[reflector]
[rlimits]
";

/// An OpenVPN server in TLS mode (no tls-auth, so it answers any client's reset) over
/// one transport, with its own tun device and client subnet.
macro_rules! openvpn_conf {
    ($proto:literal, $dev:literal, $subnet:literal) => {
        concat!(
            "proto ",
            $proto,
            "
local {addr}
port 1194
dev ",
            $dev,
            "
dev-type tun
topology subnet
server ",
            $subnet,
            " 255.255.255.0
ca {dir}/cert.pem
cert {dir}/cert.pem
key {dir}/key.pem
dh none
verb 3
"
        )
    };
}

const OPENVPN_UDP_CONF: &str = openvpn_conf!("udp4", "tun0", "10.99.0.0");
const OPENVPN_TCP_CONF: &str = openvpn_conf!("tcp4-server", "tun1", "10.99.1.0");

/// A SIP proxy that answers OPTIONS with 200 and anything else with 404, statelessly
/// (its Server header is Kamailio's default).
const KAMAILIO_CFG: &str = "#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:{addr}:5060
listen=tcp:{addr}:5060
mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"
loadmodule \"sl.so\"
loadmodule \"textops.so\"
request_route {
  if (is_method(\"OPTIONS\")) {
    sl_send_reply(\"200\", \"OK\");
    exit;
  }
  sl_send_reply(\"404\", \"Not here\");
}
";

/// A DLNA media server (as NAS boxes run) with an empty video folder; its HTTP side
/// (UPnP descriptions, a status page) on 8200.
const MINIDLNA_CONF: &str = "media_dir=V,{dir}/media
db_dir={dir}/db
log_dir={dir}
listening_ip={addr}
port=8200
friendly_name=coverage
inotify=no
";
