//! tern-lab: builds containerlab topologies on one Linux machine with network
//! namespaces instead of containers. Each node gets namespace `clab-LAB-NODE`
//! (containerlab's container name), links become veth pairs, FRR nodes run
//! zebra + bgpd, Tern nodes ternd, GoBGP nodes gobgpd and BIRD nodes bird
//! inside their namespace.
//!
//! ```no_run
//! use tern_lab::{Options, Topology};
//! let topo = Topology::load("lab/topologies/tern.clab.yml")?;
//! let opts = Options::default();
//! tern_lab::up(&topo, &opts)?;
//! let status = tern_lab::status(&topo, &opts)?;
//! assert!(status.healthy);
//! tern_lab::down(&topo, &opts)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;
use std::time::Duration;

mod daemons;
mod down;
mod error;
pub mod names;
mod netns;
mod pods;
mod process;
mod state;
mod status;
mod sys;
mod topology;
mod up;

pub use daemons::{BIRD_SOCKET, bird_socket, find_tern_binary};
pub use down::{DownReport, down, down_lab};
pub use error::{LabError, TopologyError, TopologyErrorKind};
pub use pods::PodState;
pub use process::ProcessRecord;
pub use state::{LabState, NodeState, Phase};
pub use status::{CheckOutput, LabStatus, NodeStatus, ProcessStatus, exec, status};
pub use topology::{
    BIRD_CONFIG_PATH, Bind, BindMode, CNI_CONF_DIR, Endpoint, ExecLine, FRR_CONFIG_PATH,
    GOBGP_CONFIG_PATH, Link, Node, PODS_LABEL, Role, TERN_CONFIG_PATH, Topology,
};
pub use up::{UpReport, up};

/// The topology file used when none is given, relative to the current
/// directory (the repository root).
pub const DEFAULT_TOPOLOGY: &str = "lab/topologies/tern.clab.yml";

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where lab state lives: `STATE_ROOT/LAB/state.json`, logs and pid files
    /// in `STATE_ROOT/LAB/NODE/`. Default /run/tern-lab.
    pub state_root: PathBuf,
    /// How long `up` waits for every daemon to answer. Default 60 s.
    pub ready_timeout: Duration,
    /// How long a process gets between SIGTERM and SIGKILL. Default 5 s.
    pub stop_timeout: Duration,
    /// Where ternd and tern are; `None` means $TERN_BIN_DIR, then the
    /// directory of the running executable, then PATH.
    pub tern_bin_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state_root: PathBuf::from(names::DEFAULT_STATE_ROOT),
            ready_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(5),
            tern_bin_dir: None,
        }
    }
}

impl Options {
    /// The state of lab `lab`, if it is up (or crashed part-way).
    pub fn load_state(&self, lab: &str) -> Result<Option<LabState>, LabError> {
        LabState::load(&self.state_root, lab)
    }
}
