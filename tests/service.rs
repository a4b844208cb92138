//! The OpenWrt service (openwrt/files/nftop.init, nftop.config):
//! shellcheck-clean, and under a stub of procd's and UCI's shell functions
//! it builds the command line the UCI file asks for; the real binary
//! accepts that command line.

use crate::common::{bin, netns_ok, root, Bed};
use std::process::Command;

/// The parts of /lib/functions.sh and /lib/functions/procd.sh the script
/// uses: config_get reads `option` lines of the section from $UCI_FILE;
/// procd_* print what they are given.
const STUB: &str = r#"
config_load() { :; }
config_get() {
    _v=$(awk -v s="$2" -v o="$3" '
        $1 == "config" { sec = $3; gsub(/'"'"'/, "", sec) }
        $1 == "option" && sec == s && $2 == o {
            $1 = ""; $2 = ""; sub(/^ +/, ""); gsub(/'"'"'/, ""); print; exit
        }' "$UCI_FILE")
    [ -n "$_v" ] || _v=$4
    eval "$1=\$_v"
}
config_get_bool() {
    config_get "$@"
    eval "case \$$1 in 1|on|true|yes|enabled) $1=1 ;; *) $1=0 ;; esac"
}
procd_open_instance() { echo instance; }
procd_set_param() { _k=$1; shift; echo "set $_k${*:+ $*}"; }
procd_append_param() { _k=$1; shift; echo "append $_k${*:+ $*}"; }
procd_close_instance() { echo close; }
procd_add_reload_trigger() { echo "trigger $*"; }
"#;

/// Runs start_service with `uci` as /etc/config/nftop: (stdout, stderr,
/// its return code).
fn start(uci: &str) -> (String, String, i32) {
    let dir = std::env::temp_dir().join(format!("nftop-svc-{}-{}", std::process::id(), uci.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nftop");
    std::fs::write(&conf, uci).unwrap();
    let init = root().join("openwrt/files/nftop.init");
    let script = format!("{STUB}\n. '{}'\nstart_service\necho rc=$?", init.display());
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("UCI_FILE", &conf)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let rc = out
        .lines()
        .find_map(|l| l.strip_prefix("rc="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    (out, String::from_utf8_lossy(&o.stderr).into_owned(), rc)
}

#[test]
fn the_init_script_is_shellcheck_clean() {
    let o = Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(root().join("openwrt/files/nftop.init"))
        .output()
        .expect("shellcheck (make deps installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn the_service_runs_what_the_uci_file_says() {
    // As installed: disabled, so no instance.
    let shipped = std::fs::read_to_string(root().join("openwrt/files/nftop.config")).unwrap();
    let (out, _, rc) = start(&shipped);
    assert_eq!((rc, out.contains("instance")), (0, false), "{out}");
    // Enabled with every option.
    let uci = "config nftop 'main'\n\toption enabled '1'\n\toption metrics '192.0.2.1:9464'\n\
               \toption interval '2'\n\toption metrics_hosts '16'\n\toption wan 'wwan+'\n\
               \toption metrics_no_names '1'\n\
               \toption ipfix '192.0.2.9:4739'\n\toption ipfix_domain '42'\n";
    let (out, err, rc) = start(uci);
    assert_eq!(rc, 0, "{out}{err}");
    let want = [
        "instance",
        "set command /usr/sbin/nftop --quiet -u 2",
        "append command --metrics 192.0.2.1:9464",
        "append command --metrics-hosts 16",
        "append command --metrics-no-names",
        "append command --ipfix 192.0.2.9:4739",
        "append command --ipfix-domain 42",
        "append command --wan wwan+",
        "set respawn",
        "set stderr 1",
        "close",
    ];
    let got: Vec<&str> = out.lines().filter(|l| !l.starts_with("rc=")).collect();
    assert_eq!(got, want);
    // The shipped file, only enabled: the defaults.
    let (out, _, _) = start(&shipped.replace("option enabled '0'", "option enabled '1'"));
    assert!(
        out.contains(
            "set command /usr/sbin/nftop --quiet -u 1\nappend command --metrics 127.0.0.1:9464\n"
        ),
        "{out}"
    );
    // IPFIX alone is enough.
    let (out, _, rc) =
        start("config nftop 'main'\n\toption enabled '1'\n\toption ipfix '[2001:db8::9]:4739'\n");
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("append command --ipfix [2001:db8::9]:4739\n"),
        "{out}"
    );
    assert!(!out.contains("--metrics"), "{out}");
    // Enabled with nothing to export: a message naming the option.
    let (out, err, rc) = start("config nftop 'main'\n\toption enabled 'yes'\n");
    assert_eq!(rc, 1, "{out}");
    assert!(
        err.contains("nftop.main.metrics") && err.contains("nftop.main.ipfix"),
        "{err}"
    );
}

/// The command line the service builds is one the real binary runs.
#[test]
fn the_service_command_line_runs() {
    if !netns_ok("the_service_command_line_runs") {
        return;
    }
    let bed = Bed::up();
    let uci = "config nftop 'main'\n\toption enabled '1'\n\toption metrics '127.0.0.1:9464'\n\
               \toption metrics_no_names '1'\n\toption wan 'wan+'\n\toption ipfix '127.0.0.1:4739'\n\toption ipfix_domain '3'\n";
    let (out, _, _) = start(uci);
    let mut args: Vec<String> = out
        .lines()
        .filter_map(|l| {
            l.strip_prefix("set command ")
                .or(l.strip_prefix("append command "))
        })
        .flat_map(|l| l.split_whitespace().map(String::from))
        .collect();
    assert_eq!(args.remove(0), "/usr/sbin/nftop");
    args.extend(["--count".into(), "2".into()]);
    let o = Command::new("ip")
        .args(["netns", "exec", &bed.ns("rtr"), bin()])
        .args(&args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty(), "--quiet prints nothing");
}
