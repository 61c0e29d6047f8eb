//! Per-interface packet and byte counters: the TCX programs from
//! ebpf/programs/src/counters.rs and the per-CPU map they fill.
use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{MapData, PerCpuHashMap},
    programs::{
        ProgramError, SchedClassifier, TcAttachType, TestRun, TestRunOptions,
        tc::SchedClassifierLinkId,
    },
};
use tern_ebpf_common::{IF_COUNTERS_MAP, IfCounters, PROG_COUNT_EGRESS, PROG_COUNT_INGRESS};

/// Errors of the eBPF loader.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("loading the eBPF object failed: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {name}: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error("eBPF object has no {0}")]
    Missing(&'static str),
    #[error("eBPF map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("pinning under {path}: {source}")]
    Pin {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("attaching to {ifname} ({dir}): {source}")]
    Attach {
        ifname: String,
        dir: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error("interface {0} is not attached")]
    NotAttached(String),
    #[error("{0}")]
    Invalid(String),
}

/// The two directions a TC program sees a packet in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn program(self) -> &'static str {
        match self {
            Direction::Ingress => PROG_COUNT_INGRESS,
            Direction::Egress => PROG_COUNT_EGRESS,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
    fn attach_type(self) -> TcAttachType {
        match self {
            Direction::Ingress => TcAttachType::Ingress,
            Direction::Egress => TcAttachType::Egress,
        }
    }
}

/// One interface the counters are attached to.
#[derive(Debug)]
struct Attachment {
    ifindex: u32,
    ingress: SchedClassifierLinkId,
    egress: SchedClassifierLinkId,
}

/// The loaded counter programs, their map and the interfaces they watch.
///
/// Dropping it detaches every program (the TCX links are owned here) and
/// removes the map's pin.
pub struct CounterPrograms {
    ebpf: Ebpf,
    pin: Option<PathBuf>,
    attached: BTreeMap<String, Attachment>,
}

impl std::fmt::Debug for CounterPrograms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterPrograms")
            .field("pin", &self.pin)
            .field("attached", &self.attached)
            .finish()
    }
}

/// The bpffs directory of one daemon instance. bpffs is shared by every
/// network namespace, so the instance name keeps daemons apart.
pub fn pin_dir(bpffs: &Path, instance: &str) -> PathBuf {
    bpffs.join("tern").join(instance)
}

impl CounterPrograms {
    /// Loads both programs into the kernel. With `pin_dir`, the counter map
    /// is pinned there as `if_counters` (a stale pin from an earlier run is
    /// replaced: counters start from zero with each daemon start).
    pub fn load(pin_dir: Option<&Path>) -> Result<Self, Error> {
        let mut ebpf = crate::load_object(crate::COUNTERS_OBJ)?;
        for dir in [Direction::Ingress, Direction::Egress] {
            let name = dir.program();
            let prog: &mut SchedClassifier = ebpf
                .program_mut(name)
                .ok_or(Error::Missing(name))?
                .try_into()
                .map_err(|source| Error::Program { name, source })?;
            prog.load()
                .map_err(|source| Error::Program { name, source })?;
        }
        let pin = match pin_dir {
            None => None,
            Some(dir) => {
                let path = dir.join("if_counters");
                fs::create_dir_all(dir).map_err(|source| Error::Pin {
                    path: dir.to_owned(),
                    source,
                })?;
                match fs::remove_file(&path) {
                    Ok(()) => tracing::info!(path = %path.display(), "replaced stale pin"),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => return Err(Error::Pin { path, source }),
                }
                let map = ebpf
                    .map(IF_COUNTERS_MAP)
                    .ok_or(Error::Missing(IF_COUNTERS_MAP))?;
                map.pin(&path).map_err(|e| Error::Pin {
                    path: path.clone(),
                    source: io::Error::other(e),
                })?;
                Some(path)
            }
        };
        Ok(Self {
            ebpf,
            pin,
            attached: BTreeMap::new(),
        })
    }

    /// Attaches the counters on ingress and egress of `ifname` (TCX on
    /// kernels >= 6.6). Attaching an interface twice is a no-op.
    pub fn attach(&mut self, ifname: &str) -> Result<u32, Error> {
        if let Some(a) = self.attached.get(ifname) {
            return Ok(a.ifindex);
        }
        let ingress = self.attach_one(ifname, Direction::Ingress)?;
        let egress = match self.attach_one(ifname, Direction::Egress) {
            Ok(id) => id,
            Err(e) => {
                let _ = self.detach_one(Direction::Ingress, ingress);
                return Err(e);
            }
        };
        let ifindex = ifindex_of(ifname).unwrap_or(0);
        self.attached.insert(
            ifname.to_owned(),
            Attachment {
                ifindex,
                ingress,
                egress,
            },
        );
        tracing::info!(ifname, ifindex, "counters attached (ingress, egress)");
        Ok(ifindex)
    }

    /// Detaches the counters from `ifname`.
    pub fn detach(&mut self, ifname: &str) -> Result<(), Error> {
        let a = self
            .attached
            .remove(ifname)
            .ok_or_else(|| Error::NotAttached(ifname.to_owned()))?;
        // The interface may be gone already (its links died with it).
        let _ = self.detach_one(Direction::Ingress, a.ingress);
        let _ = self.detach_one(Direction::Egress, a.egress);
        Ok(())
    }

    /// Detaches every interface and removes the map's pin: what a daemon
    /// does on a clean stop, even while clients still hold a reference.
    pub fn shutdown(&mut self) {
        let names: Vec<String> = self.attached.keys().cloned().collect();
        for n in names {
            let _ = self.detach(&n);
        }
        if let Some(path) = self.pin.take() {
            let _ = fs::remove_file(path);
        }
    }

    /// Interfaces the counters are attached to, with their ifindex.
    pub fn attached(&self) -> impl Iterator<Item = (&str, u32)> {
        self.attached.iter().map(|(n, a)| (n.as_str(), a.ifindex))
    }

    /// The counts of one interface, summed over CPUs (zero if none yet).
    pub fn read(&self, ifindex: u32) -> Result<IfCounters, Error> {
        let map = self.map()?;
        match map.get(&ifindex, 0) {
            Ok(values) => {
                let mut sum = IfCounters::default();
                for v in values.iter() {
                    sum.add(v);
                }
                Ok(sum)
            }
            Err(aya::maps::MapError::KeyNotFound) => Ok(IfCounters::default()),
            Err(source) => Err(Error::Map {
                name: IF_COUNTERS_MAP,
                source,
            }),
        }
    }

    /// Runs one program on `packet` through BPF_PROG_TEST_RUN, as if the
    /// loopback device (ifindex 1 in any namespace) had seen it. Returns the
    /// program's verdict.
    pub fn test_run(&self, dir: Direction, packet: &[u8]) -> Result<i32, Error> {
        let name = dir.program();
        let prog: &SchedClassifier = self
            .ebpf
            .program(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(|source| Error::Program { name, source })?;
        let mut out = vec![0u8; packet.len() + 256];
        let res = prog
            .test_run(TestRunOptions {
                data_in: Some(packet),
                data_out: Some(&mut out),
                ..TestRunOptions::new()
            })
            .map_err(|source| Error::Program { name, source })?;
        // The kernel hands back the verdict as the program's u32 return.
        Ok(res.return_value as i32)
    }

    fn map(&self) -> Result<PerCpuHashMap<&MapData, u32, IfCounters>, Error> {
        let map = self
            .ebpf
            .map(IF_COUNTERS_MAP)
            .ok_or(Error::Missing(IF_COUNTERS_MAP))?;
        PerCpuHashMap::try_from(map).map_err(|source| Error::Map {
            name: IF_COUNTERS_MAP,
            source,
        })
    }

    fn prog_mut(&mut self, dir: Direction) -> Result<&mut SchedClassifier, Error> {
        let name = dir.program();
        self.ebpf
            .program_mut(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(|source| Error::Program { name, source })
    }

    fn attach_one(&mut self, ifname: &str, dir: Direction) -> Result<SchedClassifierLinkId, Error> {
        self.prog_mut(dir)?
            .attach(ifname, dir.attach_type())
            .map_err(|source| Error::Attach {
                ifname: ifname.to_owned(),
                dir: dir.name(),
                source,
            })
    }

    fn detach_one(&mut self, dir: Direction, id: SchedClassifierLinkId) -> Result<(), Error> {
        let name = dir.program();
        self.prog_mut(dir)?
            .detach(id)
            .map_err(|source| Error::Program { name, source })
    }
}

impl Drop for CounterPrograms {
    fn drop(&mut self) {
        if let Some(path) = &self.pin {
            let _ = fs::remove_file(path);
        }
    }
}

/// The interface index of `ifname` in the current network namespace (not
/// through /sys, which may belong to another namespace).
fn ifindex_of(ifname: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(ifname).ok()
}
