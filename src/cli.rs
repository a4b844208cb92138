//! Flags to `Config`. Validation only: nothing here opens a socket or
//! reads a file (ripgrep's split between raw flags and runtime config).
//!
//! The letters and long names are those of the original C nftop; see
//! `USAGE` for the meanings we chose where it was ambiguous.

use crate::error::{Error, Result};
use crate::route::IfMatch;
use crate::vocab::{parse_bps, parse_if, parse_interval, parse_sort, AgeFmt, Mode, SortCol};
use lexopt::prelude::*;
use std::ffi::OsString;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub const USAGE: &str = "\
nftop: live bandwidth of netfilter conntrack entries (tx, rx, sum per connection)

usage: nftop [-46dbBcILnNMPrRSVw] [-a 0|1|2] [-i IF] [-o IF] [-s [+]COL]
             [-t BPS] [-u SECONDS] [--json] [--count N] [more options]

  -4, --ipv4            only IPv4 connections
  -6, --ipv6            only IPv6 connections (-4 -6 together: both)
  -d, --dev             per-interface table instead of connections
  -H, --by-host         per-device table: one row per machine (its MAC from
                        the neighbour table, else its address; the router
                        is local), with its busiest remote
  -b, --bytes           bytes per second instead of bits
  -B, --bps             raw numbers: no K/M/G scaling
  -c, --continuous      plain lines, one per connection, a blank line
                        between refreshes; no header, no screen control
  -I, --id              show the conntrack id column
  -L, --loopback        include connections on loopback interfaces
  -n, --numeric-local   do not resolve local addresses
  -N, --numeric-remote  do not resolve remote addresses
  -M, --machine         -c with raw numbers and a leading unix time
                        (fixed columns, see README)
  -P, --numeric-port    numeric ports (no /etc/services names)
  -r, --redact-local    hide local addresses, MACs and names everywhere
  -R, --redact-remote   hide remote addresses and names everywhere
  -S, --si              IEC binary units Ki/Mi/Gi (1024); default is
                        SI K/M/G (1000)
  -a, --age 0|1|2       age column: 0 none, 1 seconds, 2 DD HH:MM:SS
  -t, --threshold BPS   show connections with sum >= BPS bits/s
                        (suffix k, M, G allowed); -t 0 shows idle ones;
                        default: hide idle connections
  -u, --update SECONDS  refresh interval, fractions allowed (default 1)
  -f, --filter EXPR     only connections matching EXPR: terms ANDed, not
                        or ! negates: host NAME|ADDR|CIDR, port N, sport N,
                        dport N, proto P, in IF, out IF, state S, mark
                        N[/MASK], zone N, nat, closed, or a name word
  -i, --in IF           only connections entering through IF
  -o, --out IF          only connections leaving through IF
                        (IF may end in + to match a prefix: wwan+)
  -s, --sort [+]COL     sort column: id in out sport dport rx tx sum age
                        proto; descending, +COL ascending (default sum)
  -V, --verbose         show the protocol state column
  -w, --wide            one line per connection (both ends)
  -v, --version         print the version
  -h, --help            this help

  --json                JSON lines: \"conn\", \"dev\" and \"tick\" objects (README)
  --mark                show the conntrack mark column (hex; key m)
  --wan IF              uplinks are the interfaces matching IF (name or
                        prefix+), not those holding a default route
  --count N             exit after N refreshes
  --capacity N          flow table size (default: nf_conntrack_max)
  --hosts PATH          hosts file for names (default /etc/hosts)
  --leases PATH         DHCP leases for names (default on OpenWrt:
                        /tmp/dhcp.leases; elsewhere none)
  --no-dns              no reverse DNS (hosts and leases still used)
  --no-color            no colour (also: NO_COLOR in the environment)
  --cpu PCT             cap nftop's CPU at PCT % of one core, the kernel's
                        dump included: the interval stretches while a
                        refresh costs more (default 25; 0 = no cap)
  --linger SECONDS      keep ended connections visible, marked closed
                        (default 5; 0 hides them, their bytes still count)
  --no-events           do not read conntrack DESTROY events (totals then
                        miss connections that end between refreshes)
  --event-buffer BYTES  the kernel's buffer for DESTROY events (default
                        16777216): smaller saves memory on a small router,
                        larger loses fewer events in bursts of connections
  --enable-acct         turn net.netfilter.nf_conntrack_acct (and with -a
                        nf_conntrack_timestamp) on, restore them on exit
  --metrics ADDR:PORT   serve Prometheus metrics at http://ADDR:PORT/metrics
                        (numeric address: 127.0.0.1:9100, a LAN address;
                        the page shows every device's MAC and name)
  --metrics-hosts N     at most N device series (default 256), the rest
                        summed as host other
  --metrics-no-names    device series without MAC and name labels
  --ipfix ADDR:PORT     send IPFIX flow records over UDP to a collector
                        (nfcapd, nfacctd): per direction, per refresh
  --ipfix-domain N      IPFIX observation domain id (default 0)
  -q, --quiet           print nothing (with --metrics or --ipfix: a
                        headless exporter)
  --read-only           the k key deletes nothing (nftop then never writes
                        to the conntrack table)
  --user NAME           run as NAME (or UID[:GID]) after start, keeping
                        only CAP_NET_ADMIN (default nobody)

keys (screen mode): q quit, p pause, h help, d devices, w wide, a age,
  H devices by host, b bytes, B raw, S units, V state, I id, r/R redact, n/N numeric,
  l loopback, 4/6/0 family, u interval, t threshold, < > sort column,
  ! reverse sort, Up/Down/PgUp/PgDn/Home/End select, Enter details,
  k delete the selected connection (asks y/N), Ctrl-L repaint,
  Ctrl-Z suspend (fg resumes);
  grouped on the h screen
";

#[derive(Debug, Clone)]
pub struct Config {
    pub ipv4: bool,
    pub ipv6: bool,
    pub dev: bool,
    /// `-H`: the per-device table.
    pub by_host: bool,
    pub bytes: bool,
    pub raw: bool,
    pub mode: Mode,
    pub show_id: bool,
    pub loopback: bool,
    pub numeric_local: bool,
    pub numeric_remote: bool,
    pub numeric_port: bool,
    pub redact_local: bool,
    pub redact_remote: bool,
    pub iec: bool,
    pub age: AgeFmt,
    /// Minimum sum in bits/s; None hides only idle connections.
    pub threshold: Option<u64>,
    pub interval: f64,
    pub in_if: Option<IfMatch>,
    pub out_if: Option<IfMatch>,
    /// Uplinks by name instead of "holds a default route".
    pub wan: Option<IfMatch>,
    pub sort: SortCol,
    pub ascending: bool,
    pub show_state: bool,
    /// `--mark`: the conntrack mark column.
    pub show_mark: bool,
    pub wide: bool,
    pub count: Option<u64>,
    pub capacity: Option<usize>,
    /// `--hosts`/`--leases`: None for the default path, which is read
    /// only when root or a system account owns it (infile.rs).
    pub hosts: Option<String>,
    pub leases: Option<String>,
    /// `--user`: who nftop runs as after start (None: nobody).
    pub user: Option<String>,
    pub dns: bool,
    pub color: bool,
    /// Seconds a closed connection stays visible.
    pub linger: u32,
    /// `-f EXPR`: the filter expression, parsed.
    pub filter: Option<crate::filter::Expr>,
    /// CPU budget in percent of one core; 0 = none.
    pub cpu: u32,
    /// Read conntrack DESTROY events (credit connections that end between
    /// refreshes).
    pub events: bool,
    /// `--event-buffer`: the event socket's receive buffer in bytes.
    pub event_buffer: usize,
    /// Turn accounting (and with -a, timestamps) on; restore on exit.
    pub enable_acct: bool,
    /// `--read-only`: no deleting from the screen.
    pub read_only: bool,
    /// `--metrics`: where the Prometheus responder listens.
    pub metrics: Option<std::net::SocketAddr>,
    pub metrics_hosts: usize,
    /// `--metrics-no-names`: device series labelled by address only.
    pub metrics_no_names: bool,
    /// `--ipfix`: the collector, and the observation domain id.
    pub ipfix: Option<std::net::SocketAddr>,
    pub ipfix_domain: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ipv4: true,
            ipv6: true,
            dev: false,
            by_host: false,
            bytes: false,
            raw: false,
            mode: Mode::Screen,
            show_id: false,
            loopback: false,
            numeric_local: false,
            numeric_remote: false,
            numeric_port: false,
            redact_local: false,
            redact_remote: false,
            iec: false,
            age: AgeFmt::Off,
            threshold: None,
            interval: 1.0,
            in_if: None,
            out_if: None,
            wan: None,
            sort: SortCol::Sum,
            ascending: false,
            show_state: false,
            show_mark: false,
            wide: false,
            count: None,
            capacity: None,
            hosts: None,
            leases: None,
            user: None,
            dns: true,
            color: true,
            linger: 5,
            filter: None,
            cpu: 25,
            events: true,
            event_buffer: crate::events::DEFAULT_BUFFER,
            enable_acct: false,
            read_only: false,
            metrics: None,
            metrics_hosts: 256,
            metrics_no_names: false,
            ipfix: None,
            ipfix_domain: 0,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Action {
    Run(Box<Config>),
    Help,
    Version,
}

pub fn parse<I>(args: I) -> Result<Action>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut c = Config::default();
    let (mut only4, mut only6) = (false, false);
    let (mut continuous, mut machine, mut json, mut quiet) = (false, false, false, false);
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            Short('4') | Long("ipv4") => only4 = true,
            Short('6') | Long("ipv6") => only6 = true,
            Short('d') | Long("dev") => c.dev = true,
            Short('H') | Long("by-host") => c.by_host = true,
            Short('b') | Long("bytes") => c.bytes = true,
            Short('B') | Long("bps") => c.raw = true,
            Short('c') | Long("continuous") => continuous = true,
            Short('I') | Long("id") => c.show_id = true,
            Short('L') | Long("loopback") => c.loopback = true,
            Short('n') | Long("numeric-local") => c.numeric_local = true,
            Short('N') | Long("numeric-remote") => c.numeric_remote = true,
            Short('M') | Long("machine") => machine = true,
            Short('P') | Long("numeric-port") => c.numeric_port = true,
            Short('r') | Long("redact-local") => c.redact_local = true,
            Short('R') | Long("redact-remote") => c.redact_remote = true,
            Short('S') | Long("si") => c.iec = true,
            Short('V') | Long("verbose") => c.show_state = true,
            Short('w') | Long("wide") => c.wide = true,
            Long("mark") => c.show_mark = true,
            Short('a') | Long("age") => c.age = parse_age(&value(&mut p)?)?,
            Short('t') | Long("threshold") => c.threshold = Some(parse_bps(&value(&mut p)?)?),
            Short('u') | Long("update") => c.interval = parse_interval(&value(&mut p)?)?,
            Short('i') | Long("in") => c.in_if = Some(parse_if(&value(&mut p)?, "--in")?),
            Short('o') | Long("out") => c.out_if = Some(parse_if(&value(&mut p)?, "--out")?),
            Short('s') | Long("sort") => (c.sort, c.ascending) = parse_sort(&value(&mut p)?)?,
            Short('v') | Long("version") => return Ok(Action::Version),
            Short('h') | Long("help") => return Ok(Action::Help),
            Long("json") => json = true,
            Long("wan") => c.wan = Some(parse_if(&value(&mut p)?, "--wan")?),
            Long("count") => c.count = Some(parse_count(&value(&mut p)?)?),
            Long("capacity") => c.capacity = Some(parse_capacity(&value(&mut p)?)?),
            Long("hosts") => c.hosts = Some(value(&mut p)?),
            Long("leases") => c.leases = Some(value(&mut p)?),
            Long("user") => c.user = Some(value(&mut p)?),
            Long("no-dns") => c.dns = false,
            Long("no-color") => c.color = false,
            Long("linger") => c.linger = parse_linger(&value(&mut p)?)?,
            Long("cpu") => c.cpu = parse_cpu(&value(&mut p)?)?,
            Short('f') | Long("filter") => c.filter = crate::filter::Expr::parse(&value(&mut p)?)?,
            Long("no-events") => c.events = false,
            Long("event-buffer") => {
                let v = value(&mut p)?;
                c.event_buffer = parse_size(&v, "--event-buffer", "bytes", 4096, 1 << 28)?
            }
            Long("enable-acct") => c.enable_acct = true,
            Long("read-only") => c.read_only = true,
            Long("metrics") => c.metrics = Some(parse_addr(&value(&mut p)?, "--metrics")?),
            Long("ipfix") => c.ipfix = Some(parse_addr(&value(&mut p)?, "--ipfix")?),
            Long("ipfix-domain") => c.ipfix_domain = parse_domain(&value(&mut p)?)?,
            Long("metrics-hosts") => c.metrics_hosts = parse_metrics_hosts(&value(&mut p)?)?,
            Long("metrics-no-names") => c.metrics_no_names = true,
            Short('q') | Long("quiet") => quiet = true,
            _ => return Err(arg.unexpected().into()),
        }
    }
    if only4 != only6 {
        c.ipv4 = only4;
        c.ipv6 = only6;
    }
    if c.dev && c.by_host {
        return Err(Error::usage(
            "-d/--dev and -H/--by-host are two tables: pick one",
        ));
    }
    if json && (continuous || machine) {
        return Err(Error::usage(
            "--json cannot be combined with -c/--continuous or -M/--machine: pick one output",
        ));
    }
    c.mode = if quiet {
        Mode::Quiet
    } else if json {
        Mode::Json
    } else if machine {
        c.raw = true;
        Mode::Machine
    } else if continuous {
        Mode::Continuous
    } else {
        Mode::Screen
    };
    Ok(Action::Run(Box::new(c)))
}

fn value(p: &mut lexopt::Parser) -> Result<String> {
    let v = p.value()?;
    v.into_string()
        .map_err(|v| lexopt::Error::NonUnicodeValue(v).into())
}

fn parse_age(s: &str) -> Result<AgeFmt> {
    match s {
        "0" => Ok(AgeFmt::Off),
        "1" => Ok(AgeFmt::Seconds),
        "2" => Ok(AgeFmt::Dhms),
        _ => Err(Error::usage(format!(
            "invalid value '{s}' for '--age': pick one of 0 (off), 1 (seconds), 2 (DD HH:MM:SS)"
        ))),
    }
}

fn parse_addr(s: &str, flag: &str) -> Result<std::net::SocketAddr> {
    s.parse().map_err(|_| {
        Error::usage(format!(
            "invalid value '{s}' for '{flag}': want ADDR:PORT with a numeric address, e.g. 192.0.2.1:4739 or [2001:db8::1]:4739"
        ))
    })
}

fn parse_domain(s: &str) -> Result<u32> {
    s.parse().map_err(|_| {
        Error::usage(format!(
            "invalid value '{s}' for '--ipfix-domain': want an observation domain id from 0 to 4294967295"
        ))
    })
}

fn parse_metrics_hosts(s: &str) -> Result<usize> {
    match s.parse::<usize>() {
        Ok(n) if n <= 65536 => Ok(n),
        _ => Err(Error::usage(format!(
            "invalid value '{s}' for '--metrics-hosts': want a number of device series from 0 to 65536"
        ))),
    }
}

fn parse_cpu(s: &str) -> Result<u32> {
    match s.trim_end_matches('%').parse::<u32>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(Error::usage(format!(
            "invalid value '{s}' for '--cpu': want a percentage of one core from 0 (no cap) to 100"
        ))),
    }
}

fn parse_linger(s: &str) -> Result<u32> {
    match s.parse::<u32>() {
        Ok(n) if n <= 3600 => Ok(n),
        _ => Err(Error::usage(format!(
            "invalid value '{s}' for '--linger': want whole seconds from 0 to 3600"
        ))),
    }
}

fn parse_count(s: &str) -> Result<u64> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Error::usage(format!(
            "invalid value '{s}' for '--count': want a number of refreshes, 1 or more"
        ))),
    }
}

fn parse_capacity(s: &str) -> Result<usize> {
    parse_size(s, "--capacity", "connections", 16, 16_777_216)
}

/// A number in `lo..=hi`; the error names `flag` and the unit.
fn parse_size(s: &str, flag: &str, unit: &str, lo: usize, hi: usize) -> Result<usize> {
    match s.parse::<usize>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(Error::usage(format!(
            "invalid value '{s}' for '{flag}': want a number of {unit} from {lo} to {hi}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::parse_decimal;

    fn cfg(args: &[&str]) -> Config {
        match parse(args.iter().copied()).unwrap() {
            Action::Run(c) => *c,
            a => panic!("unexpected {a:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        let e = parse(args.iter().copied()).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        e.msg
    }

    #[test]
    fn decimals_parse_without_the_float_parser() {
        for (s, v) in [
            ("2", 2.0),
            ("0.5", 0.5),
            (".25", 0.25),
            ("3.", 3.0),
            ("0.1", 0.1),
            ("3600", 3600.0),
            ("1.0000000001", 1.0),
            ("007", 7.0),
        ] {
            assert_eq!(parse_decimal(s), Some(v), "{s}");
        }
        for s in [
            "",
            ".",
            "-1",
            "+1",
            "1e3",
            "inf",
            "nan",
            "1.2.3",
            " 1",
            "1,5",
            "0x10",
            "1_000",
            "9999999999999999",
        ] {
            assert_eq!(parse_decimal(s), None, "{s:?}");
        }
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]);
        assert!(c.ipv4 && c.ipv6);
        assert_eq!(c.mode, Mode::Screen);
        assert_eq!(c.sort, SortCol::Sum);
        assert!(!c.ascending);
        assert_eq!(c.threshold, None);
        assert_eq!(c.interval, 1.0);
    }

    #[test]
    fn every_short_flag_sets_its_field() {
        let c = cfg(&["-4"]);
        assert!(c.ipv4 && !c.ipv6);
        let c = cfg(&["-6"]);
        assert!(!c.ipv4 && c.ipv6);
        let c = cfg(&["-4", "-6"]);
        assert!(c.ipv4 && c.ipv6);
        assert!(cfg(&["-d"]).dev);
        assert!(cfg(&["-b"]).bytes);
        assert!(cfg(&["-B"]).raw);
        assert_eq!(cfg(&["-c"]).mode, Mode::Continuous);
        assert!(cfg(&["-I"]).show_id);
        assert!(cfg(&["-L"]).loopback);
        assert!(cfg(&["-n"]).numeric_local);
        assert!(cfg(&["-N"]).numeric_remote);
        let m = cfg(&["-M"]);
        assert_eq!(m.mode, Mode::Machine);
        assert!(m.raw, "-M implies -B");
        assert!(cfg(&["-P"]).numeric_port);
        assert!(cfg(&["-r"]).redact_local);
        assert!(cfg(&["-R"]).redact_remote);
        assert!(cfg(&["-S"]).iec);
        assert!(cfg(&["-V"]).show_state);
        assert!(cfg(&["-w"]).wide);
        assert_eq!(cfg(&["-a", "0"]).age, AgeFmt::Off);
        assert_eq!(cfg(&["-a", "1"]).age, AgeFmt::Seconds);
        assert_eq!(cfg(&["-a2"]).age, AgeFmt::Dhms);
        assert_eq!(cfg(&["-t", "0"]).threshold, Some(0));
        assert_eq!(cfg(&["-t", "1000000"]).threshold, Some(1_000_000));
        assert_eq!(cfg(&["-t", "1.5M"]).threshold, Some(1_500_000));
        assert_eq!(cfg(&["-u", "0.5"]).interval, 0.5);
        assert_eq!(
            cfg(&["-i", "vlan+"]).in_if,
            Some(IfMatch {
                name: "vlan".into(),
                prefix: true
            })
        );
        let c = cfg(&["-i", "lan0", "-o", "wwan+"]);
        assert!(c.in_if.unwrap().matches("lan0"));
        let o = c.out_if.unwrap();
        assert!(o.matches("wwan0") && o.matches("wwan12") && !o.matches("wan0"));
        assert_eq!(cfg(&["-s", "+id"]).sort, SortCol::Id);
        assert!(cfg(&["-s", "+id"]).ascending);
        assert_eq!(cfg(&["-s", "dport"]).sort, SortCol::Dport);
        assert!(!cfg(&["-s", "dport"]).ascending);
        assert!(matches!(parse(["-v"]).unwrap(), Action::Version));
        assert!(matches!(parse(["-h"]).unwrap(), Action::Help));
    }

    #[test]
    fn long_names_match_short_letters() {
        let pairs: [(&str, &str); 19] = [
            ("-4", "--ipv4"),
            ("-6", "--ipv6"),
            ("-d", "--dev"),
            ("-b", "--bytes"),
            ("-B", "--bps"),
            ("-c", "--continuous"),
            ("-I", "--id"),
            ("-L", "--loopback"),
            ("-n", "--numeric-local"),
            ("-N", "--numeric-remote"),
            ("-M", "--machine"),
            ("-P", "--numeric-port"),
            ("-r", "--redact-local"),
            ("-R", "--redact-remote"),
            ("-S", "--si"),
            ("-V", "--verbose"),
            ("-w", "--wide"),
            ("-v", "--version"),
            ("-h", "--help"),
        ];
        for (s, l) in pairs {
            let a = format!("{:?}", parse([s]).unwrap());
            let b = format!("{:?}", parse([l]).unwrap());
            assert_eq!(a, b, "{s} vs {l}");
        }
        let with_values: [(&str, &str, &str); 7] = [
            ("-a", "--age", "2"),
            ("-t", "--threshold", "5k"),
            ("-u", "--update", "2.5"),
            ("-i", "--in", "eth0"),
            ("-o", "--out", "wan+"),
            ("-s", "--sort", "+sport"),
            ("-u", "--update=", "3"),
        ];
        for (s, l, v) in with_values {
            let a = format!("{:?}", parse([s, v]).unwrap());
            let b = if l.ends_with('=') {
                format!("{:?}", parse([format!("{l}{v}")]).unwrap())
            } else {
                format!("{:?}", parse([l, v]).unwrap())
            };
            assert_eq!(a, b, "{s} vs {l}");
        }
    }

    #[test]
    fn new_flags() {
        assert_eq!(cfg(&["--json"]).mode, Mode::Json);
        assert_eq!(cfg(&["--count", "3"]).count, Some(3));
        assert_eq!(cfg(&["--capacity", "1024"]).capacity, Some(1024));
        assert_eq!(cfg(&["--leases", "/x"]).leases.as_deref(), Some("/x"));
        assert_eq!(cfg(&["--hosts", "/h"]).hosts.as_deref(), Some("/h"));
        assert_eq!(cfg(&["--user", "dnsmasq"]).user.as_deref(), Some("dnsmasq"));
        assert!(!cfg(&["--no-dns"]).dns);
        assert!(cfg(&["--mark"]).show_mark);
        assert!(!cfg(&["--no-color"]).color);
        assert!(cfg(&["--wan", "wwan+"]).wan.unwrap().matches("wwan3"));
        assert_eq!(cfg(&["--linger", "0"]).linger, 0);
        assert_eq!(
            (
                cfg(&[]).cpu,
                cfg(&["--cpu", "10"]).cpu,
                cfg(&["--cpu", "0"]).cpu
            ),
            (25, 10, 0)
        );
        let m = err(&["--cpu", "150"]);
        assert!(m.contains("'150'") && m.contains("--cpu"), "{m}");
        assert_eq!(cfg(&[]).linger, 5);
        assert!(!cfg(&["--no-events"]).events);
        assert!(cfg(&["--enable-acct"]).enable_acct);
        assert!(cfg(&["--read-only"]).read_only);
        assert_eq!(cfg(&["-q"]).mode, Mode::Quiet);
        let m = cfg(&["--metrics", "[::]:9101", "--metrics-hosts", "3"]);
        assert_eq!((m.metrics.unwrap().port(), m.metrics_hosts), (9101, 3));
        assert!(!m.metrics_no_names && cfg(&["--metrics-no-names"]).metrics_no_names);
        let x = cfg(&[
            "--ipfix",
            "[2001:db8::9]:4739",
            "--ipfix-domain",
            "4294967295",
        ]);
        assert_eq!((x.ipfix.unwrap().port(), x.ipfix_domain), (4739, u32::MAX));
        for bad in [
            &["--metrics", "localhost:9100"][..],
            &["--metrics", "9100"],
            &["--metrics-hosts", "x"],
            &["--ipfix", "collector:4739"],
            &["--ipfix-domain", "-1"],
        ] {
            assert!(parse(bad.iter().copied()).is_err(), "{bad:?}");
        }
        let m = err(&["--ipfix", "collector:4739"]);
        assert!(
            m.contains("'collector:4739'") && m.contains("--ipfix"),
            "{m}"
        );
        let m = err(&["--ipfix-domain", "4294967296"]);
        assert!(
            m.contains("'4294967296'") && m.contains("4294967295"),
            "{m}"
        );
        assert!(cfg(&["-H"]).by_host && cfg(&["--by-host"]).by_host);
        assert_eq!(cfg(&["--event-buffer", "4096"]).event_buffer, 4096);
    }

    #[test]
    fn bad_values_quote_input_and_choices() {
        let m = err(&["-s", "bogus"]);
        assert!(m.contains("'bogus'") && m.contains("id, in, out"), "{m}");
        let m = err(&["-a", "3"]);
        assert!(m.contains("'3'") && m.contains("0 (off)"), "{m}");
        let m = err(&["-u", "0"]);
        assert!(m.contains("'0'") && m.contains("0.1"), "{m}");
        let m = err(&["-u", "abc"]);
        assert!(m.contains("'abc'"), "{m}");
        let m = err(&["-t", "-5"]);
        assert!(m.contains("'-5'"), "{m}");
        let m = err(&["-t", "fast"]);
        assert!(m.contains("'fast'"), "{m}");
        let m = err(&["-i", "a/b"]);
        assert!(m.contains("'a/b'"), "{m}");
        let m = err(&["-o", "averyveryverylongname"]);
        assert!(m.contains("1-15"), "{m}");
        let m = err(&["--count", "0"]);
        assert!(m.contains("'0'"), "{m}");
        let m = err(&["--linger", "-1"]);
        assert!(m.contains("'-1'") && m.contains("--linger"), "{m}");
        let m = err(&["--capacity", "3"]);
        assert!(m.contains("'3'"), "{m}");
        let m = err(&["--event-buffer", "3"]);
        assert!(
            m.contains("'3' for '--event-buffer'") && m.contains("bytes"),
            "{m}"
        );
        let m = err(&["--json", "-c"]);
        assert!(m.contains("--json"), "{m}");
        let m = err(&["--bogus"]);
        assert!(m.contains("--bogus"), "{m}");
        let m = err(&["-u"]);
        assert!(m.contains("-u"), "{m}");
        for m in [err(&["-x"]), err(&["-s", "x"])] {
            assert!(!m.contains('\n'), "one line: {m}");
        }
    }
}
