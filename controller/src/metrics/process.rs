//! The `process_*` metrics client_golang's process collector exports on Linux, with its names,
//! types and help texts, read from `/proc` of this process at every scrape (as Go's procfs
//! does). A file that cannot be read leaves its metrics out, as client_golang does without
//! `ReportErrors`.

use std::fmt;
use std::path::Path;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// `AT_PAGESZ` and `AT_CLKTCK` in the auxiliary vector.
const AT_PAGESZ: u64 = 6;
const AT_CLKTCK: u64 = 17;

/// Reads `/proc/self` on each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// One reading; `None` where the source could not be read.
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot {
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<f64>,
    pub virtual_memory: Option<f64>,
    pub virtual_memory_max: Option<f64>,
    pub resident_memory: Option<f64>,
    pub start_time: Option<f64>,
    pub network_receive: Option<f64>,
    pub network_transmit: Option<f64>,
}

impl Snapshot {
    /// Read the process `root` describes (`/proc/self`), with `/proc/stat` for the boot time.
    pub fn read(root: &Path, proc_stat: &Path) -> Self {
        let text = |p: &Path| std::fs::read_to_string(p).ok();
        let auxv = std::fs::read(root.join("auxv")).ok();
        let page_size = auxv.as_deref().and_then(|a| auxv_value(a, AT_PAGESZ));
        let ticks = auxv
            .as_deref()
            .and_then(|a| auxv_value(a, AT_CLKTCK))
            .unwrap_or(100);
        let stat = text(&root.join("stat")).and_then(|s| Stat::parse(&s));
        let limits = text(&root.join("limits"));
        let boot_time = text(proc_stat).and_then(|s| boot_time(&s));
        let netstat = text(&root.join("net/netstat"));
        let ticks = ticks as f64;
        Self {
            cpu_seconds: stat.as_ref().map(|s| (s.utime + s.stime) as f64 / ticks),
            open_fds: std::fs::read_dir(root.join("fd"))
                .ok()
                .map(|d| d.count() as u64),
            max_fds: limits
                .as_deref()
                .and_then(|l| soft_limit(l, "Max open files")),
            virtual_memory: stat.as_ref().map(|s| s.vsize as f64),
            virtual_memory_max: limits
                .as_deref()
                .and_then(|l| soft_limit(l, "Max address space")),
            resident_memory: stat
                .as_ref()
                .zip(page_size)
                .map(|(s, p)| s.rss.saturating_mul(p) as f64),
            start_time: stat
                .as_ref()
                .zip(boot_time)
                .map(|(s, b)| b as f64 + s.starttime as f64 / ticks),
            network_receive: netstat.as_deref().and_then(|n| ip_ext(n, "InOctets")),
            network_transmit: netstat.as_deref().and_then(|n| ip_ext(n, "OutOctets")),
        }
    }
}

/// The fields of `/proc/<pid>/stat` the collector uses.
#[derive(Debug, PartialEq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
    rss: u64,
}

impl Stat {
    /// `pid (comm) state ppid …`: the command may hold spaces and parentheses, so the fields
    /// are counted from the last `)`.
    fn parse(s: &str) -> Option<Self> {
        let (_, rest) = s.rsplit_once(')')?;
        // rest[0] is field 3 (state).
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n.checked_sub(3)?)?.parse::<u64>().ok();
        Some(Self {
            utime: field(14)?,
            stime: field(15)?,
            starttime: field(22)?,
            vsize: field(23)?,
            // A negative rss (never seen) would not parse: leave resident memory out then.
            rss: field(24)?,
        })
    }
}

/// `btime` of `/proc/stat`: boot time, seconds since the epoch.
fn boot_time(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of `name` in `/proc/<pid>/limits`; `unlimited` is the largest uint64, as Go's
/// procfs reads it.
fn soft_limit(limits: &str, name: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let value = line.get(name.len()..)?.split_whitespace().next()?;
    if value == "unlimited" {
        Some(u64::MAX as f64)
    } else {
        value.parse::<u64>().ok().map(|v| v as f64)
    }
}

/// `IpExt: … <column> …` of `/proc/<pid>/net/netstat` (a header line, then a values line).
fn ip_ext(netstat: &str, column: &str) -> Option<f64> {
    let mut lines = netstat.lines().filter(|l| l.starts_with("IpExt:"));
    let header = lines.next()?;
    let values = lines.next()?;
    let i = header.split_whitespace().position(|c| c == column)?;
    values
        .split_whitespace()
        .nth(i)?
        .parse::<u64>()
        .ok()
        .map(|v| v as f64)
}

/// The value of `key` in an auxiliary vector (native-endian pairs of machine words).
fn auxv_value(auxv: &[u8], key: u64) -> Option<u64> {
    const WORD: usize = std::mem::size_of::<usize>();
    auxv.chunks_exact(2 * WORD).find_map(|pair| {
        let (k, v) = pair.split_at(WORD);
        let word = |b: &[u8]| -> Option<u64> {
            let arr: [u8; WORD] = b.try_into().ok()?;
            u64::try_from(usize::from_ne_bytes(arr)).ok()
        };
        (word(k)? == key).then(|| word(v)).flatten()
    })
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: Option<f64>,
) -> Result<(), fmt::Error> {
    let Some(v) = v else { return Ok(()) };
    let m = ConstCounter::new(v);
    m.encode(encoder.encode_descriptor(name, help, None, m.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: Option<f64>,
) -> Result<(), fmt::Error> {
    let Some(v) = v else { return Ok(()) };
    let m = ConstGauge::new(v);
    m.encode(encoder.encode_descriptor(name, help, None, m.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = Snapshot::read(Path::new("/proc/self"), Path::new("/proc/stat"));
        // Counter names without `_total`: the encoder appends it.
        counter(
            &mut e,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            s.cpu_seconds,
        )?;
        gauge(
            &mut e,
            "process_open_fds",
            "Number of open file descriptors.",
            s.open_fds.map(|n| n as f64),
        )?;
        gauge(
            &mut e,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            s.max_fds,
        )?;
        gauge(
            &mut e,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            s.virtual_memory,
        )?;
        gauge(
            &mut e,
            "process_virtual_memory_max_bytes",
            "Maximum amount of virtual memory available in bytes.",
            s.virtual_memory_max,
        )?;
        gauge(
            &mut e,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            s.resident_memory,
        )?;
        gauge(
            &mut e,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            s.start_time,
        )?;
        counter(
            &mut e,
            "process_network_receive_bytes",
            "Number of bytes received by the process over the network.",
            s.network_receive,
        )?;
        counter(
            &mut e,
            "process_network_transmit_bytes",
            "Number of bytes sent by the process over the network.",
            s.network_transmit,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_counted_from_the_last_paren() {
        // comm with spaces and a ')' inside; fields 3.. as the kernel writes them.
        let line = "4242 (con (tr) ller) S 1 4242 4242 0 -1 4194560 6120 0 0 0 \
                    150 37 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                utime: 150,
                stime: 37,
                starttime: 123456,
                vsize: 987654321,
                rss: 2048,
            })
        );
        assert_eq!(Stat::parse("4242 (x) S 1 2"), None);
        assert_eq!(Stat::parse("garbage"), None);
    }

    #[test]
    fn limits_soft_values() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n\
                      Max address space         unlimited            unlimited            bytes     \n";
        assert_eq!(soft_limit(limits, "Max open files"), Some(1024.0));
        assert_eq!(
            soft_limit(limits, "Max address space"),
            Some(18446744073709551615.0)
        );
        assert_eq!(soft_limit(limits, "Max locked memory"), None);
    }

    #[test]
    fn netstat_ip_ext_columns() {
        let netstat = "TcpExt: SyncookiesSent SyncookiesRecv\nTcpExt: 0 0\n\
                       IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets\n\
                       IpExt: 0 0 0 0 0 0 123456 7890\n";
        assert_eq!(ip_ext(netstat, "InOctets"), Some(123456.0));
        assert_eq!(ip_ext(netstat, "OutOctets"), Some(7890.0));
        assert_eq!(ip_ext(netstat, "Nope"), None);
        assert_eq!(ip_ext("IpExt: InOctets\n", "InOctets"), None);
    }

    #[test]
    fn boot_time_line() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1796100000\nprocesses 9\n"),
            Some(1796100000)
        );
        assert_eq!(boot_time("cpu 1\n"), None);
    }

    #[test]
    fn auxv_pairs() {
        let mut a = Vec::new();
        for (k, v) in [(33usize, 1usize), (6, 4096), (17, 100), (0, 0)] {
            a.extend_from_slice(&k.to_ne_bytes());
            a.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(auxv_value(&a, AT_PAGESZ), Some(4096));
        assert_eq!(auxv_value(&a, AT_CLKTCK), Some(100));
        assert_eq!(auxv_value(&a, 99), None);
    }

    /// This test process, read for real: what `ps` would say, within reason.
    #[test]
    fn own_process_reads() {
        let s = Snapshot::read(Path::new("/proc/self"), Path::new("/proc/stat"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let start = s.start_time.unwrap_or_default();
        assert!(start > now - 3600.0 && start <= now + 1.0, "{s:?}");
        assert!(s.resident_memory.unwrap_or_default() > 1e6, "{s:?}");
        assert!(s.virtual_memory.unwrap_or_default() >= s.resident_memory.unwrap_or_default());
        assert!(s.open_fds.unwrap_or_default() >= 3, "{s:?}");
        assert!(s.max_fds.unwrap_or_default() >= s.open_fds.unwrap_or_default() as f64);
        assert!(
            s.cpu_seconds.is_some() && s.virtual_memory_max.is_some(),
            "{s:?}"
        );
    }
}
