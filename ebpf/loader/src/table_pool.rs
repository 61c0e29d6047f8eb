//! The services' lookup-table pool mapped into this process (how tables
//! are written into it: the services module). [`Datapath`](crate::Datapath)
//! holds it, mapped on first use; it lives apart so that the datapath
//! module need not depend on the services one.
use std::ptr::NonNull;

use aya::maps::MapData;
use tern_ebpf_common::services::{LB_TABLE_ENTRIES, LB_TABLE_MAP};

use crate::Error;

/// The table pool mapped into this process.
pub(crate) struct TablePool {
    ptr: NonNull<u32>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; access
// goes through `&mut Datapath`.
#[allow(unsafe_code)]
unsafe impl Send for TablePool {}

#[allow(unsafe_code)]
impl TablePool {
    pub(crate) fn map(data: &MapData) -> Result<Self, Error> {
        use std::os::fd::AsFd;
        let len = LB_TABLE_ENTRIES as usize;
        let bytes = std::num::NonZeroUsize::new(len * 4)
            .ok_or_else(|| Error::Invalid("empty table pool".into()))?;
        // SAFETY: a shared mapping of the map's fd (created BPF_F_MMAPABLE
        // with LB_TABLE_ENTRIES u32 values); the kernel keeps the map alive
        // while the mapping exists.
        let p = unsafe {
            nix::sys::mman::mmap(
                None,
                bytes,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
                data.fd().as_fd(),
                0,
            )
        }
        .map_err(|e| Error::Invalid(format!("mmap of {LB_TABLE_MAP}: {e}")))?;
        Ok(TablePool { ptr: p.cast(), len })
    }

    pub(crate) fn write(&mut self, off: u32, ids: &[u32]) -> Result<(), Error> {
        let off = off as usize;
        if off.checked_add(ids.len()).is_none_or(|end| end > self.len) {
            return Err(Error::Invalid(format!(
                "table of {} at {off} does not fit the pool of {}",
                ids.len(),
                self.len
            )));
        }
        // SAFETY: the range is inside the mapping (checked above); u32 is
        // plain data; programs only read it.
        unsafe {
            std::ptr::copy_nonoverlapping(ids.as_ptr(), self.ptr.as_ptr().add(off), ids.len());
        }
        Ok(())
    }

    pub(crate) fn read(&self, off: u32, len: u32) -> Option<Vec<u32>> {
        let (off, len) = (off as usize, len as usize);
        if off.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: inside the mapping, as above.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) }.to_vec())
    }
}

#[allow(unsafe_code)]
impl Drop for TablePool {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len * 4) };
    }
}
