//! The IPAM file of an older tern-cni (`DATADIR/ipam.json`), read once into
//! ternd's endpoint registry, which now holds the pods' addresses: the
//! first command that finds the file takes the flock on `DATADIR/lock` (the
//! one older plugins held for their whole command, so that none of them is
//! half-way), hands the allocations to ternd (all or none: ternd refuses
//! the file if one of them clashes with what it holds) and renames the file
//! to `ipam.json.imported`. Until that succeeds the file stays where it is
//! and every ADD is refused (DEL and CHECK go on): an address it lists is
//! never handed out twice.
//! An import repeated after a crash before the rename changes nothing
//! (ternd skips the keys it holds with the same addresses).
use std::fs::{File, OpenOptions};

use nix::fcntl::{Flock, FlockArg};
use tern_control::IpamFile;

use crate::{
    spec::{CniError, Code, Network},
    ternd,
};

/// Name of the older plugin's state file in the data directory.
pub const IPAM_FILE: &str = "ipam.json";

/// What the file is renamed to once ternd has its allocations.
pub const IMPORTED: &str = "ipam.json.imported";

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> CniError {
    move |e| CniError::new(Code::Io, what).details(e.to_string())
}

/// Imports `DATADIR/ipam.json` into ternd when it exists; nothing to do
/// (the usual case) costs one stat.
pub fn import_ipam_file(net: &Network) -> Result<(), CniError> {
    let dir = &net.data_dir;
    let path = dir.join(IPAM_FILE);
    if !path.exists() {
        return Ok(());
    }
    let lock_path = dir.join("lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(format!("cannot open {}", lock_path.display())))?;
    let _lock = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| {
        CniError::new(Code::Io, format!("cannot lock {}", lock_path.display()))
            .details(e.to_string())
    })?;
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        // Another plugin imported it while this one waited for the lock.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
    };
    let file: IpamFile = serde_json::from_slice(&bytes).map_err(|e| {
        CniError::new(
            Code::Io,
            format!(
                "IPAM file {} of an older tern-cni is corrupt; fix or remove it",
                path.display()
            ),
        )
        .details(e.to_string())
    })?;
    let n = file.allocations.len();
    ternd::import(&net.socket, file).map_err(|mut e| {
        e.msg = format!(
            "cannot hand the IPAM file {} of an older tern-cni to ternd: {}",
            path.display(),
            e.msg
        );
        e
    })?;
    let done = dir.join(IMPORTED);
    std::fs::rename(&path, &done)
        .and_then(|()| File::open(dir)?.sync_all())
        .map_err(io_err(format!(
            "ternd took {} but it cannot be renamed to {}",
            path.display(),
            done.display()
        )))?;
    eprintln!(
        "tern-cni: {n} allocation(s) of {} handed to ternd; the file is now {}",
        path.display(),
        done.display()
    );
    Ok(())
}
